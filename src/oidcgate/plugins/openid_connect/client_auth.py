"""Client authentication at the provider's endpoints: RFC 6749 §2.3.1 (`client_secret_basic`,
`client_secret_post`) and RFC 7523 §2.2 (`private_key_jwt`, https://www.rfc-editor.org/rfc/rfc7523).

Used twice: with the credentials a request brings (to get it a token), and with the plugin's own
client (to call the introspection endpoint). The Basic form urlencodes id and secret before base64,
as §2.3.1 requires, so secrets with `:` or non-ASCII characters survive.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

from joserfc import jwt
from joserfc.jwk import JWKRegistry

from oidcgate.jwt.verify import key_algorithms

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME = 60  # seconds
_PREFERRED_ALGS = ("RS256", "ES256", "ES384", "ES512", "ES256K", "EdDSA")  # one per key type and curve


def basic_authorization(client_id: str, client_secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def secret_method(configured: Sequence[str] | None, supported: Sequence[str]) -> str:
    """`client_secret_basic` or `client_secret_post`: the configured one, else what the provider lists.

    RFC 8414 §2 makes `client_secret_basic` the default when the provider lists nothing.
    """
    for method in configured or ():
        if method in ("client_secret_basic", "client_secret_post"):
            return method
    if "client_secret_post" in supported and "client_secret_basic" not in supported:
        return "client_secret_post"
    return "client_secret_basic"


@dataclass(frozen=True)
class ClientAuth:
    """How one client authenticates: its id, and a secret or a private JWK, by `method`."""

    client_id: str
    method: str
    secret: str | None = field(default=None, repr=False)
    jwk: dict[str, Any] | None = field(default=None, repr=False)

    def apply(self, data: dict[str, str], headers: dict[str, str], audience: str) -> None:
        """Add this client's authentication to a form request (`audience`: for private_key_jwt)."""
        if self.method == "client_secret_basic":
            headers["Authorization"] = basic_authorization(self.client_id, self.secret or "")
        elif self.method == "client_secret_post":
            data["client_id"], data["client_secret"] = self.client_id, self.secret or ""
        else:
            data["client_id"] = self.client_id
            data["client_assertion_type"] = ASSERTION_TYPE
            data["client_assertion"] = self.assertion(audience)

    def assertion(self, audience: str) -> str:
        """RFC 7523 §3: iss = sub = client_id, aud = the provider's token endpoint, short-lived, unique jti."""
        key = JWKRegistry.import_key(dict(self.jwk or {}))
        alg = str(key.get("alg") or next(a for a in _PREFERRED_ALGS if a in key_algorithms(key)))
        now = int(time.time())
        claims = {"iss": self.client_id, "sub": self.client_id, "aud": audience, "iat": now,
                  "exp": now + ASSERTION_LIFETIME, "jti": secrets.token_urlsafe(24)}
        header = {"alg": alg, **({"kid": key.kid} if key.kid else {})}
        return jwt.encode(header, claims, key, algorithms=[alg])
