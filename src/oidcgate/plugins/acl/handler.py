"""The acl plugin's handler (Kong's PRIORITY 950: after authentication, before rate limiting).

Refusals are Kong's: 403 `You cannot consume this service` for groups that do not pass; without
anyone to check (no consumer and no authenticated groups) 401 `Unauthorized`, or 403 when a credential
was accepted but carried no groups. A request let through gets its groups upstream in
`X-Consumer-Groups` (a consumer's) or `X-Authenticated-Groups` (a token's), unless
`hide_groups_header`. Decisions and header fields are computed once per set of groups; the decision
depends on nothing but who earlier plugins attached (`memo_inputs`), so a repeat request gets it
replayed by the engine.
"""

from __future__ import annotations

from oidcgate import __version__
from oidcgate.plugins.acl.groups import blocked, found
from oidcgate.plugins.acl.schema import ACLConfig
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.consumer_headers import header_field
from oidcgate.plugins.pdk import Context, MemoInputs, PluginEnv

FORBIDDEN = {"message": "You cannot consume this service"}
UNAUTHORIZED = {"message": "Unauthorized"}
_MEMO_MAX = 4096
FOREVER = float("inf")


class ACLHandler(Plugin[ACLConfig]):
    NAME = "acl"
    PRIORITY = 950
    VERSION = __version__
    CONFIG = ACLConfig

    def __init__(self, config: ACLConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        self.deny = config.deny is not None
        self.listed = frozenset(config.deny if config.deny is not None else config.allow or ())
        # (groups, header) -> None when blocked, else the fields to add (empty with hide_groups_header)
        self.decided: dict[tuple[tuple[str, ...], str], tuple[bytes, ...] | None] = {}

    def memo_inputs(self) -> MemoInputs:
        """The consumer (its ACL credentials and groups are the snapshot's), credential and authenticated
        groups: the decision holds as long as the snapshot (this instance) lives."""
        return MemoInputs(who=True)

    async def access(self, ctx: Context) -> None:
        config = self.config
        have = found(ctx, config.include_consumer_groups, config.always_use_authenticated_groups)
        if have.groups is None or (not have.groups and not self.deny):  # nothing to allow: Kong's 403 or 401
            raise ctx.exit(403, FORBIDDEN) if ctx.credential is not None else ctx.exit(401, UNAUTHORIZED)
        key = (have.groups, have.header)
        try:
            decided = self.decided[key]
        except KeyError:
            decided = self._decide(*key)
        if decided is None:
            raise ctx.exit(403, FORBIDDEN)
        if decided:
            ctx.service_request.headers.extend(decided)
        ctx.reuse_until(FOREVER)

    def _decide(self, groups: tuple[str, ...], header: str) -> tuple[bytes, ...] | None:
        decided = None if blocked(groups, self.listed, self.deny) else (
            () if self.config.hide_groups_header else header_field(header, ", ".join(groups)))
        if len(self.decided) >= _MEMO_MAX:
            self.decided.clear()
        self.decided[(groups, header)] = decided
        return decided
