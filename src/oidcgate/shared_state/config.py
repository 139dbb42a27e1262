"""Kong's `redis` configuration object (Kong 3.8+ `redis` in rate-limiting, openid-connect, ...).

Plugins embed it as their `redis` field, so a Kong configuration carries over. Sentinel and cluster
modes are not built: their fields are refused as unknown rather than silently ignored.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from oidcgate.config.types import REFERENCEABLE, Hostname, Port, TimeoutMs

# What a configuration may put before a feature's keys (several gateways, or tests, on one Redis).
KeyPrefix = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\s]+$")]


class RedisConfig(BaseModel):
    """Where a feature's shared state lives, and how long any call to it may take."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Hostname = Field("127.0.0.1", description="Redis host.")
    port: Port = Field(6379, description="Redis port.")
    database: int = Field(0, ge=0, le=2**31 - 1, description="Redis database number.")
    username: str | None = Field(None, min_length=1, json_schema_extra=REFERENCEABLE,
                                 description="ACL user (Redis 6+); none: the default user.")
    password: str | None = Field(None, min_length=1, json_schema_extra=REFERENCEABLE,
                                 description="Password; accepts {vault://env/...}.")
    ssl: bool = Field(False, description="Connect with TLS.")
    ssl_verify: bool = Field(False, description="Verify the server certificate (with ssl).")
    server_name: Hostname | None = Field(None, description="SNI and the name to verify, with ssl.")
    connect_timeout: TimeoutMs = Field(2000, description="Connect timeout, ms.")
    send_timeout: TimeoutMs = Field(2000, description="Send timeout, ms.")
    read_timeout: TimeoutMs = Field(2000, description="Read timeout, ms.")
    keepalive_pool_size: int = Field(256, ge=1, le=10_000, description="Connections per worker and address.")

    def address(self) -> str:
        """Where this points, for messages and logs (never the credentials)."""
        return f"{self.host}:{self.port}/{self.database}"
