"""What a request is counted as (Kong's `limit_by`), falling back to the client IP as Kong does: the
forwarded one (`kong.client.get_forwarded_ip`), so that the clients of a trusted load balancer are not all
counted as the balancer."""

from __future__ import annotations

from oidcgate.plugins.pdk import Context
from oidcgate.plugins.rate_limiting.schema import RateLimitingConfig


def identifier(ctx: Context, config: RateLimitingConfig) -> str:
    found: str | None = None
    limit_by = config.limit_by
    if limit_by == "consumer":
        found = ctx.consumer.id if ctx.consumer is not None else _credential(ctx)
    elif limit_by == "credential":
        found = _credential(ctx)
    elif limit_by == "service":
        found = ctx.service.id if ctx.service is not None else None
    elif limit_by == "header" and config.header_name is not None:  # the schema requires it for "header"
        found = ctx.request.headers.get(config.header_name)
    elif limit_by == "path":
        found = config.path if ctx.request.path == config.path else None
    elif limit_by == "consumer-group":
        groups = ctx.consumer_groups  # the consumer's, or those an authentication plugin set (by name)
        found = groups[0].id if groups else None
    return found if found is not None else ctx.request.forwarded_ip


def _credential(ctx: Context) -> str | None:
    value = ctx.credential.get("id") if ctx.credential else None
    return None if value is None else str(value)
