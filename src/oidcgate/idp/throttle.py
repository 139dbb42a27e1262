"""Brute-force protection: failed authentications slow down one identity as seen from one address.

An identity is keyed with the address the attempts come from (`Key`): client ids are public (they
are in every token) and usernames are easy to guess, so a count per name alone would let anyone
lock its owner out. After `threshold` consecutive failures of one key, it is slowed for a delay that
doubles with each further failure, up to `max_delay`; a success resets it. What "slowed" means is
the caller's choice (see `Provider.authenticate_client` and `SignIn.check_password`). State
lives in this process, bounded to `max_entries` keys (the least recently failed go first), so each
server process throttles on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Key = tuple[str, str, str]  # (kind, name, source address), e.g. ("user", "alice", "192.0.2.7")


@dataclass
class _Failures:
    count: int
    blocked_until: float


class FailureThrottle:
    def __init__(self, threshold: int = 5, base_delay: float = 1.0, max_delay: float = 300.0,
                 max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Key, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def delay(self, key: Key) -> float:
        """Seconds until `key` is no longer slowed; 0.0 when it is not."""
        with self._lock:
            entry = self._entries.get(key)
            remaining = entry.blocked_until - self._clock() if entry else 0.0
        return max(remaining, 0.0)

    def retry_after(self, key: Key) -> int | None:
        """Whole seconds to wait before `key` may try again; None when it may try now."""
        remaining = self.delay(key)
        return math.ceil(remaining) if remaining > 0 else None

    def failed(self, key: Key) -> None:
        with self._lock:
            entry = self._entries.pop(key, None) or _Failures(0, 0.0)
            entry.count += 1
            if entry.count >= self.threshold:
                excess = min(entry.count - self.threshold, 30)
                entry.blocked_until = self._clock() + min(self.base_delay * 2**excess, self.max_delay)
            self._entries[key] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def succeeded(self, key: Key) -> None:
        with self._lock:
            self._entries.pop(key, None)
