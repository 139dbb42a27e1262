"""The rate-limiting plugin's handler (Kong's PRIORITY 910: after authentication and acl).

`access` counts the request in every configured period and refuses it with `error_code` (429) and
`error_message` once one count is above its limit, with `Retry-After`; otherwise Kong's headers go on
the answer (`RateLimit-Limit`/`-Remaining`/`-Reset` for the period closest to its limit,
`X-RateLimit-Limit-<Period>`/`X-RateLimit-Remaining-<Period>` for each), unless `hide_client_headers`:
they are known in `access`, so they are set from there (replacing the upstream's own, as Kong's
header_filter does) and the response is never held for a response phase. The counting is the
plugin's fast path: it has no recorded decision to replay, every request is counted.

Redis unreachable (`policy: redis`): with `fault_tolerant` the request goes through without headers and
the failure is logged (at most once per LOG_EVERY seconds per instance, naming the address, never
the password); without it, Kong's 500 `An unexpected error occurred`.
"""

from __future__ import annotations

import logging
import time

from oidcgate import __version__
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.pdk import Context, PluginEnv
from oidcgate.plugins.rate_limiting.counters import Counter, LocalCounters, RedisCounters
from oidcgate.plugins.rate_limiting.identifier import identifier
from oidcgate.plugins.rate_limiting.schema import RateLimitingConfig
from oidcgate.plugins.rate_limiting.windows import window
from oidcgate.shared_state import RedisUnavailable

log = logging.getLogger("oidcgate.plugins.rate_limiting")
NAME = "rate-limiting"
LOG_EVERY = 10.0
UNEXPECTED = {"message": "An unexpected error occurred"}


class RateLimitingHandler(Plugin[RateLimitingConfig]):
    NAME = NAME
    PRIORITY = 910
    VERSION = __version__
    CONFIG = RateLimitingConfig

    def __init__(self, config: RateLimitingConfig, env: PluginEnv, *, instance_id: str | None = None) -> None:
        super().__init__(config, env, instance_id=instance_id)
        self.limits = config.limits()
        self.names = [(f"X-RateLimit-Limit-{p.capitalize()}", f"X-RateLimit-Remaining-{p.capitalize()}")
                      for p, _ in self.limits]
        # Local counters live in the worker, kept across configuration reloads (one set per plugin entity).
        self.counters: LocalCounters | RedisCounters = (
            RedisCounters(config.redis) if config.policy == "redis"
            else env.state(NAME).setdefault(instance_id or "", LocalCounters()))
        self.body = {"message": config.error_message}
        self.logged_at = -LOG_EVERY
        self._second = -1
        self._windows: list[tuple[str, int, int]] = []

    def windows(self, now: int) -> list[tuple[str, int, int]]:
        """(period, start, end) of each limit's current window, computed once per second."""
        if now != self._second:
            self._windows = [(period, *window(period, now)) for period, _ in self.limits]
            self._second = now
        return self._windows

    async def access(self, ctx: Context) -> None:
        now = int(time.time())
        route = ctx.route.id or ""
        service = ctx.service.id if ctx.service is not None else ""
        who = identifier(ctx, self.config)
        counters: list[Counter] = [(f"{route}:{service}:{who}:{start}:{period}", start, end)
                                   for period, start, end in self.windows(now)]
        try:
            counts = await self._add(counters, now)
        except RedisUnavailable as exc:
            self._redis_down(exc)
            if self.config.fault_tolerant:
                return
            raise ctx.exit(500, UNEXPECTED) from None
        headers, reset, refused = self._headers(counts, counters, now)
        if refused:
            await self._take_back(counters, now)
            raise ctx.exit(self.config.error_code, self.body, {**headers, "Retry-After": str(reset)})
        ctx.set_response_headers(headers.items())

    def _headers(self, counts: list[int], counters: list[Counter], now: int) -> tuple[dict[str, str], int, bool]:
        """Kong's headers, the seconds until the tightest window resets, and whether a limit was passed."""
        headers: dict[str, str] = {}
        tightest: tuple[int, int, int, int] | None = None  # (remaining, -window size, limit, reset)
        refused = False
        for (_, limit), (limit_name, remaining_name), count, (_key, start, end) in zip(
                self.limits, self.names, counts, counters, strict=True):
            refused = refused or count > limit
            remaining = max(0, limit - count)
            candidate = (remaining, start - end, limit, max(1, end - now))
            if tightest is None or candidate[:2] < tightest[:2]:
                tightest = candidate
            headers[limit_name] = str(limit)
            headers[remaining_name] = str(remaining)
        assert tightest is not None
        if self.config.hide_client_headers:
            return {}, tightest[3], refused
        headers.update({"RateLimit-Limit": str(tightest[2]), "RateLimit-Remaining": str(tightest[0]),
                        "RateLimit-Reset": str(tightest[3])})
        return headers, tightest[3], refused

    async def _take_back(self, counters: list[Counter], now: int) -> None:
        """A refused request does not count (Kong's behaviour), so other periods keep their quota."""
        try:
            await self._add(counters, now, -1)
        except RedisUnavailable as exc:
            self._redis_down(exc)

    async def _add(self, counters: list[Counter], now: int, amount: int = 1) -> list[int]:
        """Count in this worker or in Redis, as the policy says; raises RedisUnavailable."""
        if isinstance(self.counters, LocalCounters):
            return self.counters.add(counters, now, amount)
        return await self.counters.add(counters, now, amount)

    def _redis_down(self, exc: RedisUnavailable) -> None:
        if time.monotonic() - self.logged_at >= LOG_EVERY:
            self.logged_at = time.monotonic()
            log.error("rate-limiting: %s; requests are %s", exc,
                      "let through (fault_tolerant)" if self.config.fault_tolerant else "answered 500")
