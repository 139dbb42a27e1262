"""Who a request is, from its claims (Kong's `consumers.lua` and the mapping steps of its handler).

- **Consumer** (`consumer_claim`, `consumer_by`, `by_username_ignore_case`, `consumer_optional`): the
  claim's value looked up by each field in turn; none matches: 403, or no consumer when optional.
- **Consumer groups** (`consumer_groups_claim`, `consumer_groups_optional`): the claim's values that
  name consumer groups become the request's groups (Kong's `set_authenticated_consumer_groups`), with or
  without a consumer; none matches: 403, or the consumer's own groups when optional.
- **Credential** (`credential_claim`): what `X-Credential-Identifier` and rate limits by credential
  see: the claim's value, else the token's `client_id`.
- **Anonymous** (`anonymous`): the consumer (by id, then username) a request goes on as when
  authentication fails. A configured one that does not exist is Kong's 500, logged.
"""

from __future__ import annotations

import logging
from typing import Any

from oidcgate.config.entities import Consumer, ConsumerGroup
from oidcgate.jwt.claims import claim_at, claim_values
from oidcgate.plugins.openid_connect.errors import InsufficientScope, Misconfigured
from oidcgate.plugins.openid_connect.schema import OpenIDConnectConfig
from oidcgate.plugins.pdk import ConsumerIndex

log = logging.getLogger("oidcgate.plugins.openid_connect")


class Mapping:
    """One configuration's mapping rules, compiled once."""

    def __init__(self, config: OpenIDConnectConfig) -> None:
        self.consumer_path = tuple(config.consumer_claim) if config.consumer_claim else None
        self.consumer_by = tuple(config.consumer_by)
        self.ignore_case = config.by_username_ignore_case
        self.consumer_optional = config.consumer_optional
        self.groups_path = tuple(config.consumer_groups_claim) if config.consumer_groups_claim else None
        self.groups_optional = config.consumer_groups_optional
        self.credential_path = tuple(config.credential_claim)
        self.anonymous = config.anonymous

    def consumer(self, consumers: ConsumerIndex, claims: dict[str, Any]) -> Consumer | None:
        """The consumer named by `consumer_claim`, or None if not configured (or optional and not found)."""
        if self.consumer_path is None:
            return None
        value = claim_at(claims, self.consumer_path)
        if isinstance(value, str) and value:
            for field in self.consumer_by:
                found = (consumers.find_username_ignore_case(value) if field == "username" and self.ignore_case
                         else consumers.find(field, value))
                if found is not None:
                    return found
        if self.consumer_optional:
            return None
        raise InsufficientScope("no consumer matches the token")

    def groups(self, consumers: ConsumerIndex, claims: dict[str, Any]) -> tuple[ConsumerGroup, ...] | None:
        """The consumer groups the token names, by name; None: not configured, or optional and none found."""
        if self.groups_path is None:
            return None
        found = {group.name: group for name in claim_values(claim_at(claims, self.groups_path))
                 if (group := consumers.group_named(name)) is not None}
        if found:
            return tuple(found[name] for name in sorted(found))
        if self.groups_optional:
            return None
        raise InsufficientScope("no consumer group matches the token")

    def credential(self, claims: dict[str, Any], method: str) -> dict[str, Any]:
        """Kong's virtual credential: `credential_claim`'s value (a scalar), else the token's client_id."""
        value = claim_at(claims, self.credential_path)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            value = claims.get("client_id")
        return {"id": value, "issuer": claims.get("iss"), "method": method}

    def anonymous_consumer(self, consumers: ConsumerIndex) -> Consumer:
        """The `anonymous` consumer, by id then username; Misconfigured (logged) when there is none."""
        assert self.anonymous is not None
        found = consumers.find("id", self.anonymous) or consumers.find("username", self.anonymous)
        if found is None:
            log.error("openid-connect: the anonymous consumer %r does not exist", self.anonymous)
            raise Misconfigured("the anonymous consumer does not exist")
        return found
