"""The cluster cache: Kong's `cluster_cache_strategy: redis` with `cluster_cache_redis`.

Tokens obtained with client credentials and introspection results, shared by every worker of every data
plane, so a client costs one token request per token lifetime for the whole cluster, not one per worker
per node (Kong shares introspection results only; tokens are oidcgate's addition).

- **What.** A fact and when it was learnt, as the worker caches hold them (`cache.Seen`): each route judges
  it by its own settings on every lookup (`fresh`), as it judges its worker's entries.
- **Names.** HMAC-SHA256, under a key HKDF-SHA256 derives from `session_secret`, of the kind, the
  provider and the worker cache's key (itself a hash): Redis never holds a client id, secret or token in
  a name, and without the secret nobody can tell which credential an entry answers, nor guess a secret
  offline from a name.
- **Values.** JSON sealed with AES-256-GCM (`session.codec.Sealer`, its own key from `session_secret`),
  the entry's name inside: an entry copied under another name, tampered with, or sealed with another
  secret does not open, and counts as a miss.
- **Once per cluster.** A miss takes a Redis lock (`Keyspace.lock`) for the name, looks again, and only
  then asks the provider: concurrent first requests on every node wait for one provider call. A waiter
  gives up after `wait` (the provider's timeout and a second) and asks itself.
- **Redis down.** The worker's own cache, exactly as without the cluster cache (logged at most every
  LOG_EVERY seconds, naming the address, never the password): it is a cache, never a reason to refuse
  a request or to let one through.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import Field

from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.shared_state import KeyPrefix, Keyspace, RedisConfig, RedisUnavailable

log = logging.getLogger("oidcgate.plugins.openid_connect.cluster_cache")
FEATURE = "oidc-cache"
LOG_EVERY = 10.0
_NAMES_SALT = b"oidcgate openid-connect cluster cache names v1"

Entry = dict[str, Any]  # what one entry holds: JSON values only
Fresh = Callable[[Entry], bool]  # may this route use the entry now?
Make = Callable[[], Awaitable[tuple[Entry, float]]]  # ask the provider: (entry, seconds to keep it)


class ClusterCacheRedis(RedisConfig):
    """Kong's `cluster_cache_redis` object, and oidcgate's `prefix` (several gateways or tests on one Redis)."""

    prefix: KeyPrefix | None = Field(None, description="Prefix of the cluster cache's keys.")


class ClusterCache:
    """One plugin configuration's view of the cluster cache (entries of one provider)."""

    def __init__(self, redis: ClusterCacheRedis, secret: str, provider: str, wait: float) -> None:
        self.keys = Keyspace(redis, FEATURE, redis.prefix or "")
        self.wait = wait
        self._sealer = Sealer(secret, "cluster-cache")
        self._names = HKDF(algorithm=hashes.SHA256(), length=32, salt=_NAMES_SALT,
                           info=b"names").derive(secret.encode())
        self._provider = provider.encode()
        self._logged_at = -LOG_EVERY

    def name(self, kind: str, key: bytes) -> str:
        """The Redis name of the entry for `key` (a worker cache's key) of this kind and provider."""
        digest = hmac.new(self._names, b"\0".join((kind.encode(), self._provider, key)), hashlib.sha256)
        return f"{kind}:{digest.hexdigest()}"

    async def once(self, kind: str, key: bytes, fresh: Fresh, make: Make) -> Entry:
        """The cluster's entry for `key` if this route may use it, else `make()`'s, made once for the
        cluster and kept for the seconds it says; without Redis, `make()`'s. make's exceptions propagate."""
        name = self.name(kind, key)
        made: Entry | None = None
        try:
            found = await self._load(name, fresh)
            if found is not None:
                return found
            async with self.keys.lock(f"lock:{name}", int((self.wait + 1) * 1000), self.wait):
                # Held, or waited as long as a provider call may take: either way, look again first.
                found = await self._load(name, fresh)
                if found is not None:
                    return found
                made, ttl = await make()
                if ttl > 0:
                    await self.keys.set(name, self._sealer.seal(orjson.dumps({"name": name, "value": made})),
                                        int(ttl * 1000))
                return made
        except RedisUnavailable as exc:
            self._down(exc)
            return made if made is not None else (await make())[0]

    async def _load(self, name: str, fresh: Fresh) -> Entry | None:
        raw = await self.keys.get(name)
        if raw is None:
            return None
        opened = self._sealer.open(raw.decode("ascii", "replace"))
        try:
            entry = orjson.loads(opened) if opened is not None else None
            value = entry["value"] if isinstance(entry, dict) and entry.get("name") == name else None
            return value if isinstance(value, dict) and fresh(value) else None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):  # not one of ours: a miss
            return None

    def _down(self, exc: RedisUnavailable) -> None:
        now = time.monotonic()
        if now - self._logged_at >= LOG_EVERY:
            self._logged_at = now
            log.warning("openid-connect cluster cache: %s; this worker uses its own cache", exc)
