"""The `config` of rate-limiting: Kong's fields and defaults (3.8+, with the `redis` object)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from oidcgate.config.types import HeaderName
from oidcgate.plugins.base import PluginConfig
from oidcgate.shared_state import RedisConfig

PERIODS = ("second", "minute", "hour", "day", "month", "year")
LimitBy = Literal["consumer", "credential", "ip", "service", "header", "path", "consumer-group"]
Limit = int | None


def _limit(description: str) -> Any:
    return Field(default=None, gt=0, description=f"Requests allowed per {description}.")


class RateLimitingConfig(PluginConfig):
    second: Limit = _limit("second")
    minute: Limit = _limit("minute")
    hour: Limit = _limit("hour")
    day: Limit = _limit("day")
    month: Limit = _limit("month (calendar month, UTC)")
    year: Limit = _limit("year (calendar year, UTC)")
    limit_by: LimitBy = Field(default="consumer", description=(
        "What is counted: `consumer` (else the credential, else the client IP), `credential`, `ip`, `service`, "
        "`header` (the value of `header_name`), `path` (requests to `path`), `consumer-group` (the consumer's "
        "first consumer group by name). Without the entity, the client IP is counted, as in Kong: the forwarded "
        "one (Kong's `get_forwarded_ip`), so that clients behind a proxy listed in `trusted_ips` count apart."))
    header_name: HeaderName | None = Field(default=None, description="The header counted with `limit_by: header`.")
    path: str | None = Field(default=None, pattern=r"^/[^?#\s]*$", description="The path counted with `limit_by: path`.")
    policy: Literal["local", "redis", "cluster"] = Field(default="local", description=(
        "`local`: counters in each worker process (a limit of N is N per worker); `redis`: shared by every worker "
        "of every data plane, exact. Kong's `cluster` (counters in Kong's database) is not available."))
    fault_tolerant: bool = Field(default=True, description=(
        "When Redis cannot be reached: let requests through (logged) instead of answering 500."))
    redis: RedisConfig = Field(default_factory=lambda: RedisConfig.model_validate({}), description="Where the `redis` policy counts.")
    hide_client_headers: bool = Field(default=False, description="Do not send the rate-limit headers to clients.")
    error_code: int = Field(default=429, ge=400, le=599, description="The status of a refused request.")
    error_message: str = Field(default="API rate limit exceeded", min_length=1, max_length=1024,
                               description="The message of a refused request.")
    sync_rate: float = Field(default=-1, description=(
        "Kong's batching of counter updates; only -1 (every request is counted at once) is available."))

    @field_validator("policy")
    @classmethod
    def _no_cluster(cls, value: str) -> str:
        if value == "cluster":
            raise ValueError("policy 'cluster' is not available (it counts in Kong's database): use 'redis' "
                             "for a limit shared by every data plane, or 'local'")
        return value

    @field_validator("sync_rate")
    @classmethod
    def _sync_rate(cls, value: float) -> float:
        if value != -1:
            raise ValueError("only -1 is available: every request is counted when it arrives")
        return value

    @model_validator(mode="after")
    def _limits(self) -> RateLimitingConfig:
        errors = []
        limits = self.limits()
        if not limits:
            errors.append("at least one of these fields must be non-empty: " + ", ".join(f"'{p}'" for p in PERIODS))
        for i, (lower, low) in enumerate(limits):
            for upper, high in limits[i + 1:]:
                if high < low:
                    errors.append(f"the limit for {upper} ({high}) cannot be lower than the limit for {lower} ({low})")
        if self.limit_by == "header" and self.header_name is None:
            errors.append("header_name: required field missing (limit_by is 'header')")
        if self.limit_by == "path" and self.path is None:
            errors.append("path: required field missing (limit_by is 'path')")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def limits(self) -> list[tuple[str, int]]:
        """The configured (period, limit) pairs, shortest period first."""
        return [(period, limit) for period in PERIODS if (limit := getattr(self, period)) is not None]
