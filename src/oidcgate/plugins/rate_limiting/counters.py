"""Where requests are counted: per worker (`local`) or in Redis (`redis`), one fixed-window counter per
identifier and period.

Both add first and decide after (a count above the limit is refused), so concurrent requests never
pass a limit; a refused request takes its counts back, so that (as in Kong) it does not use up the
quota of the other periods. In Redis, every data plane adds to the same keys in one round trip
(`Keyspace.incr`: INCRBY and EXPIRE NX, pipelined), so a limit of N is exactly N across them.
"""

from __future__ import annotations

from collections.abc import Sequence

from oidcgate.shared_state import Keyspace, RedisConfig

Counter = tuple[str, int, int]  # (key, window start, window end)


class LocalCounters:
    """This worker's counters, bounded: past windows are dropped first, then the oldest counters."""

    def __init__(self, max_counters: int = 100_000) -> None:
        self.max_counters = max_counters
        self.counts: dict[str, tuple[int, int, int]] = {}  # key -> (window start, window end, count)

    def add(self, counters: Sequence[Counter], now: int, amount: int = 1) -> list[int]:
        counts = self.counts
        found = []
        for key, start, end in counters:
            entry = counts.get(key)
            if entry is None or entry[0] != start:
                if entry is None and len(counts) >= self.max_counters:
                    self._make_room(now)
                entry = (start, end, 0)
            entry = (start, end, max(0, entry[2] + amount))
            counts[key] = entry
            found.append(entry[2])
        return found

    def _make_room(self, now: int) -> None:
        counts = self.counts
        for key in [key for key, (_, end, _) in counts.items() if end <= now]:
            del counts[key]
        while len(counts) >= self.max_counters:
            del counts[next(iter(counts))]


class RedisCounters:
    """The counters of every data plane, in Redis (database, address and timeouts from the `redis` object)."""

    def __init__(self, config: RedisConfig) -> None:
        self.space = Keyspace(config, "rate-limiting")

    async def add(self, counters: Sequence[Counter], now: int, amount: int = 1) -> list[int]:
        """Raises RedisUnavailable."""
        return await self.space.incr([(key, max(1, end - now)) for key, _, end in counters], amount)
