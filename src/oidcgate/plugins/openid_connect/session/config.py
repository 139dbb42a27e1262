"""The session settings Kong's openid-connect config carries: the `redis` object (Kong 3.8+) with its
`prefix`, and the cookie attributes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from oidcgate.shared_state import RedisConfig

SameSite = Literal["Strict", "Lax", "None", "Default"]  # Kong's values; "Default" sends no attribute
SessionStorage = Literal["cookie", "memcache", "memcached", "redis"]
STORAGES_SUPPORTED = ("cookie", "redis")


class SessionRedis(RedisConfig):
    """Kong's `redis` object of openid-connect: where `session_storage: redis` keeps sessions."""

    prefix: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[^\s]+$",
                               description="Prefix of the session keys (several gateways or tests on one Redis).")

# RFC 6265 §4.1.1: a cookie name is an RFC 2616 token; path and domain must not break the attribute list.
CookieName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")]
CookiePath = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=r"^/[\x21-\x3a\x3c-\x7e]*$")]
CookieDomain = Annotated[str, StringConstraints(min_length=1, max_length=253, pattern=r"^\.?[A-Za-z0-9.-]+$")]
QueryArgName = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[^\s&=#]+$")]
QueryArgValue = Annotated[str, StringConstraints(max_length=2048)]
