"""Which groups a request has and what they decide, free of I/O (Kong's `acl/groups.lua` and handler).

- A request with a consumer and a credential has the groups of the consumer's ACL credentials.
- A request without a consumer has the authenticated groups an authentication plugin found
  (openid-connect's `authenticated_groups_claim`).
- Kong's anonymous case: a consumer without a credential (an authentication plugin's `anonymous`) has the
  authenticated groups when some were found, else the anonymous consumer's ACL groups. With
  `always_use_authenticated_groups` the authenticated groups win over any consumer's, when there are any.
- `include_consumer_groups` adds the names of the request's consumer groups (the consumer's, or those an
  authentication plugin set, e.g. from openid-connect's `consumer_groups_claim`).
"""

from __future__ import annotations

from dataclasses import dataclass

from oidcgate.plugins.pdk import Context

CONSUMER_GROUPS = "X-Consumer-Groups"
AUTHENTICATED_GROUPS = "X-Authenticated-Groups"


@dataclass(frozen=True, slots=True)
class Found:
    groups: tuple[str, ...] | None  # None: nobody is known with groups (Kong's 401/403, see the handler)
    header: str  # the upstream header that lists them


def found(ctx: Context, include_consumer_groups: bool, always_authenticated: bool) -> Found:
    consumer = ctx.consumer
    identity = ctx.identity
    authenticated = identity.authenticated_groups if identity is not None else None
    extra = tuple(group.name for group in ctx.consumer_groups) if include_consumer_groups else ()
    if consumer is None or (authenticated is not None and (ctx.credential is None or always_authenticated)):
        if extra:
            return Found((*(authenticated or ()), *extra), AUTHENTICATED_GROUPS)
        return Found(authenticated, AUTHENTICATED_GROUPS)
    return Found((*ctx.consumers.acl_groups(consumer.id), *extra), CONSUMER_GROUPS)


def blocked(groups: tuple[str, ...], listed: frozenset[str], deny: bool) -> bool:
    """Allow: blocked unless one group is listed. Deny: blocked if one is."""
    hit = not listed.isdisjoint(groups)
    return hit if deny else not hit
