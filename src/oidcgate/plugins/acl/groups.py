"""Which groups a request has and what they decide, free of I/O (Kong's `acl/groups.lua`).

A request with a consumer has the groups of the consumer's ACL credentials (and, with
`include_consumer_groups`, the names of its consumer groups); a request without one has the
authenticated groups an authentication plugin found (openid-connect's `authenticated_groups_claim`).
"""

from __future__ import annotations

from dataclasses import dataclass

from oidcgate.plugins.pdk import Context

CONSUMER_GROUPS = "X-Consumer-Groups"
AUTHENTICATED_GROUPS = "X-Authenticated-Groups"


@dataclass(frozen=True, slots=True)
class Found:
    groups: tuple[str, ...] | None  # None: nobody is known with groups (Kong's 401/403, see Rules.refusal)
    header: str  # the upstream header that lists them


def found(ctx: Context, include_consumer_groups: bool, always_authenticated: bool) -> Found:
    consumer = ctx.consumer
    if consumer is None or always_authenticated:
        identity = ctx.identity
        return Found(identity.authenticated_groups if identity is not None else None, AUTHENTICATED_GROUPS)
    groups = ctx.consumers.acl_groups(consumer.id)
    if include_consumer_groups:
        groups = (*groups, *(group.name for group in ctx.consumers.groups(consumer.id)))
    return Found(groups, CONSUMER_GROUPS)


def blocked(groups: tuple[str, ...], listed: frozenset[str], deny: bool) -> bool:
    """Allow: blocked unless one group is listed. Deny: blocked if one is."""
    hit = not listed.isdisjoint(groups)
    return hit if deny else not hit
