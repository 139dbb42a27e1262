"""Hashing of client secrets and user passwords with argon2id, and a cache of recent verifications.

Argon2 costs tens of milliseconds per verification by design, which would cap client-credentials
throughput at a few dozen tokens per second per core. `VerificationCache` remembers, for a short
TTL, that a given (client_id, SHA-256 of the presented secret) matched a given stored hash. The
clear secret is never kept, a changed stored hash misses the cache, and the TTL bounds how long a
remembered success outlives anything else. Passwords of users are never cached.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from oidcgate.idp.ttl_cache import ThreadSafeTtlCache


@dataclass(frozen=True)
class Argon2Cost:
    """argon2id parameters for new hashes. The defaults are argon2-cffi's (RFC 9106 low-memory profile);
    tests lower them through `OIDCGATE_IDP_ARGON2_*` to stay fast. Existing hashes keep their own cost."""

    time_cost: int = 3
    memory_cost: int = 65536  # KiB
    parallelism: int = 4


class SecretHasher:
    def __init__(self, cost: Argon2Cost = Argon2Cost()) -> None:
        self._hasher = PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_cost,
                                      parallelism=cost.parallelism)

    def hash(self, secret: str) -> str:
        return self._hasher.hash(secret)

    def verify(self, stored_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, secret)
        except (VerificationError, InvalidHashError):
            return False


class VerificationCache:
    """Successful secret verifications for `ttl` seconds, at most `max_entries` of them (oldest dropped)."""

    def __init__(self, ttl: float = 30.0, max_entries: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # (client id, SHA-256 of the secret) -> the stored hash it matched
        self._verified: ThreadSafeTtlCache[tuple[str, str], str] = ThreadSafeTtlCache(ttl, max_entries, clock)

    @staticmethod
    def _key(client_id: str, secret: str) -> tuple[str, str]:
        return client_id, hashlib.sha256(secret.encode("utf-8")).hexdigest()

    def hit(self, client_id: str, secret: str, stored_hash: str) -> bool:
        return self._verified.get(self._key(client_id, secret)) == stored_hash

    def remember(self, client_id: str, secret: str, stored_hash: str) -> None:
        self._verified.put(self._key(client_id, secret), stored_hash)

    def forget(self, client_id: str) -> None:
        self._verified.discard(lambda key: key[0] == client_id)


def digest(value: str) -> str:
    """SHA-256 hex digest, for long random values (codes, refresh tokens, session ids)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
