"""The `config` of acl: Kong's fields and defaults."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from oidcgate.plugins.base import PluginConfig

Group = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class ACLConfig(PluginConfig):
    allow: list[Group] | None = Field(default=None, description=(
        "Groups allowed to consume the service or route. Exactly one of `allow` and `deny` is set."))
    deny: list[Group] | None = Field(default=None, description=(
        "Groups not allowed to consume the service or route. Exactly one of `allow` and `deny` is set."))
    hide_groups_header: bool = Field(default=False, description=(
        "Do not send `X-Consumer-Groups` (or `X-Authenticated-Groups`) to the upstream."))
    include_consumer_groups: bool = Field(default=False, description=(
        "Also match the names of the consumer's consumer groups, besides its ACL groups."))
    always_use_authenticated_groups: bool = Field(default=False, description=(
        "Check the authenticated groups (openid-connect's `authenticated_groups_claim`) even when a consumer "
        "is attached."))

    @model_validator(mode="after")
    def _exactly_one(self) -> ACLConfig:
        if (self.allow is None) == (self.deny is None):
            raise ValueError("exactly one of these fields must be non-empty: 'allow', 'deny'")
        return self
