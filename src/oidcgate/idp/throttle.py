"""Brute-force protection: failed authentications slow down one identity (a client id, a username).

After `threshold` consecutive failures, the identity is refused without checking its credentials
for a delay that doubles with each further failure, up to `max_delay`; a success resets it. Other
identities are unaffected. State lives in this process (bounded to `max_entries` identities), so
each server process throttles on its own.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


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
        self._entries: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, identity: str) -> int | None:
        """Whole seconds to wait before `identity` may try again; None when it may try now."""
        with self._lock:
            entry = self._entries.get(identity)
            remaining = entry.blocked_until - self._clock() if entry else 0.0
        return math.ceil(remaining) if remaining > 0 else None

    def failed(self, identity: str) -> None:
        with self._lock:
            entry = self._entries.pop(identity, None) or _Failures(0, 0.0)
            entry.count += 1
            if entry.count >= self.threshold:
                excess = min(entry.count - self.threshold, 30)
                entry.blocked_until = self._clock() + min(self.base_delay * 2**excess, self.max_delay)
            self._entries[identity] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def succeeded(self, identity: str) -> None:
        with self._lock:
            self._entries.pop(identity, None)
