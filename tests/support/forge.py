"""Tokens made by the tests themselves: properly signed ones with their own keys, and the classic forgeries
(`alg: none`, HS256 keyed with the provider's public key, a tampered payload)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, JWKRegistry, Key, RSAKey


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key(kid: str = "test-rsa") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


def ec_key(kid: str = "test-ec") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})


def load_private(jwk: dict[str, Any]) -> Key:
    return JWKRegistry.import_key(jwk)


def jwks(*keys: Key) -> dict[str, Any]:
    return {"keys": [dict(key.as_dict(private=False)) for key in keys]}


def claims(issuer: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "client-1", "client_id": "client-1", "aud": "api://default",
            "iat": now, "exp": now + 300, "scope": "orders:read", **extra}


def sign(payload: dict[str, Any], key: Key, alg: str | None = None, typ: str | None = "JWT", **header: Any) -> str:
    """A JWS over `payload`. `typ`: "JWT" as most providers write it, "at+jwt" as RFC 9068 does, None for none."""
    alg = alg or str(key.get("alg"))
    head = {"alg": alg, **({"kid": key.kid} if key.kid else {}), "typ": typ, **header}
    head = {name: value for name, value in head.items() if value is not None}  # kid=None: no kid
    return jws.serialize_compact(head, json.dumps(payload).encode(), key, algorithms=[alg])


def unsigned(payload: dict[str, Any], kid: str | None = None) -> str:
    """`alg: none` (RFC 7519 §6): no signature at all."""
    head = {"alg": "none", "typ": "JWT", **({"kid": kid} if kid else {})}
    return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}."


def hs256_with_public_key(payload: dict[str, Any], public: RSAKey) -> str:
    """The key-confusion attack: HMAC-SHA256 keyed with the RSA public key's PEM."""
    head = {"alg": "HS256", "typ": "JWT", "kid": public.kid}
    signing_input = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(payload).encode())}"
    pem = public.as_pem(private=False)
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload with `changes` applied."""
    head, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(changes)
    return f"{head}.{b64(json.dumps(decoded).encode())}.{signature}"
