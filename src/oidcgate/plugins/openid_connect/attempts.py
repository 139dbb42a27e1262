"""Refused client credentials per client address, counted before they reach the provider.

Client ids are public (every token names one), and providers lock a client out after a few wrong
secrets (Okta, the embedded provider), so one address sending new wrong secrets through the gateway
could lock any client out. The gateway counts, per client address (`pdk.Request.forwarded_ip`, which
honours `trusted_ips`), the attempts the provider refused: after LIMIT in a WINDOW that began with the
address's first attempt, the address gets 429 with Retry-After and the provider is not called.
Attempts still in flight count too, so a concurrent burst cannot pass the limit either. Addresses are
counted, never client ids: the right secret from any other address goes through at once. A repeated
wrong secret is answered from the negative cache (`cache_ttl_neg`) and costs nothing. Memory is
bounded: past `max_entries` addresses, the oldest are forgotten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from oidcgate.plugins.openid_connect.cache import DEFAULT_MAX_ENTRIES, TTLCache

LIMIT = 10  # refused attempts per address and window
WINDOW = 60.0  # seconds


@dataclass(slots=True)
class _Count:
    started: float
    failures: int = 0
    pending: int = 0


class FailedAttempts:
    """Refused and pending client-credentials attempts per address, in fixed windows."""

    __slots__ = ("_counts", "limit", "window")

    def __init__(self, limit: int = LIMIT, window: float = WINDOW, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.limit, self.window = limit, window
        self._counts: TTLCache[_Count] = TTLCache(max_entries)

    def retry_after(self, address: str, now: float) -> int | None:
        """Seconds before `address` may try again, or None when it may try now."""
        count = self._counts.get(address, now)
        if count is None or count.failures + count.pending < self.limit:
            return None
        if count.failures < self.limit:
            return 1  # the attempts in flight may yet succeed
        return max(1, math.ceil(count.started + self.window - now))

    def begin(self, address: str, now: float) -> None:
        """An attempt goes to the provider."""
        count = self._counts.get(address, now)
        if count is None:
            count = _Count(now)
            self._counts.put(address, count, now + self.window, now)
        count.pending += 1

    def end(self, address: str, failed: bool, now: float) -> None:
        """The provider answered; `failed`: it refused the credentials."""
        count = self._counts.get(address, now)
        if count is not None:  # (else its window is over, or it was forgotten)
            count.pending = max(0, count.pending - 1)
            count.failures += failed

    def __len__(self) -> int:
        return len(self._counts)
