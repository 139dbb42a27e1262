"""Signing keys: generation (joserfc), persistence (one row per key) and the in-memory key ring.

RS256 (RSA 2048) by default, ES256 (P-256) per authorization server. A rotation makes a new key
the signing key; the old one stays in the JWKS until every token it signed has expired (its
`publish_until`), then it is dropped. Key ids are RFC 7638 thumbprints.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from joserfc import jwk
from joserfc.jwk import Key, KeySet

from oidcgate.idp.storage.store import AuthServer, SigningKey, Store

ALGORITHMS = ("RS256", "ES256")
RELOAD_INTERVAL = 2.0  # seconds before a server process sees a rotation made by another process
PUBLISH_GRACE = 60 + int(RELOAD_INTERVAL)  # tokens signed just before a rotation was seen, and clock skew


def generate(alg: str) -> Key:
    """A new private signing key for `alg`, with its thumbprint as `kid`."""
    parameters: Any = {"alg": alg, "use": "sig"}
    if alg == "RS256":
        key: Key = jwk.generate_key("RSA", 2048, parameters=parameters)
    elif alg == "ES256":
        key = jwk.generate_key("EC", "P-256", parameters=parameters)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}; use one of {', '.join(ALGORITHMS)}")
    key.ensure_kid()
    return key


def new_row(server_id: str, alg: str, now: int) -> SigningKey:
    key = generate(alg)
    assert key.kid is not None
    return SigningKey(kid=key.kid, server_id=server_id, alg=alg, private_jwk=dict(key.as_dict(private=True)),
                      created_at=now, retired_at=None, publish_until=None)


def retired_key_lifetime(server: AuthServer) -> int:
    """How long a retired key must stay published: the longest-lived token it may have signed."""
    return max(server.access_token_lifetime, server.id_token_lifetime) + PUBLISH_GRACE


@dataclass(frozen=True)
class _ServerKeys:
    signing: Key
    published: KeySet
    jwks: dict[str, Any]
    loaded_at: float


class KeyRing:
    """Each server's signing key and published keys, reloaded from the store every `reload_interval`."""

    def __init__(self, store: Store, reload_interval: float = RELOAD_INTERVAL) -> None:
        self._store = store
        self._reload_interval = reload_interval
        self._servers: dict[str, _ServerKeys] = {}
        self._parsed: dict[str, Key] = {}  # by kid: importing a private key costs milliseconds
        self._lock = threading.Lock()

    def _load(self, server_id: str) -> _ServerKeys:
        now = time.time()
        rows = [row for row in self._store.keys(server_id) if row.publish_until is None or row.publish_until > now]
        if not rows:
            raise LookupError(f"authorization server {server_id!r} has no signing key")
        keys = [self._parsed.get(row.kid) or jwk.import_key(row.private_jwk) for row in rows]
        self._parsed = {key.kid: key for key in keys if key.kid}
        active = [key for key, row in zip(keys, rows, strict=True) if row.retired_at is None] or keys
        public = [dict(key.as_dict(private=False)) for key in keys]
        return _ServerKeys(signing=active[-1], published=KeySet.import_key_set({"keys": public}),
                           jwks={"keys": public}, loaded_at=time.monotonic())

    def _get(self, server_id: str) -> _ServerKeys:
        with self._lock:
            loaded = self._servers.get(server_id)
            if loaded is None or time.monotonic() - loaded.loaded_at >= self._reload_interval:
                loaded = self._servers[server_id] = self._load(server_id)
            return loaded

    def invalidate(self, server_id: str) -> None:
        with self._lock:
            self._servers.pop(server_id, None)

    def signing_key(self, server_id: str) -> Key:
        return self._get(server_id).signing

    def verification_keys(self, server_id: str) -> KeySet:
        return self._get(server_id).published

    def jwks(self, server_id: str) -> dict[str, Any]:
        return self._get(server_id).jwks

    def algorithms(self, server_id: str) -> set[str]:
        return {str(key["alg"]) for key in self._get(server_id).jwks["keys"]}
