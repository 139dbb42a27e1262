"""private_key_jwt client authentication: a JWT signed by the client's own key.

RFC 7523 §2.2 and §3 (https://www.rfc-editor.org/rfc/rfc7523#section-3), as profiled by OpenID
Connect Core §9. Only asymmetric algorithms are accepted (client_secret_jwt is not offered). Replay
protection (the `jti` seen before) is the caller's: it needs storage.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from oidcgate.idp.protocol.rfc6749_errors import InvalidClient

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_LIFETIME = 3600  # an assertion valid for longer than this is refused (seconds)
LEEWAY = 60  # clock skew tolerated (seconds)


@dataclass(frozen=True)
class VerifiedAssertion:
    jti: str
    exp: int


def unverified_issuer(assertion: str) -> str | None:
    """The `iss` of an assertion, read only to find which client's keys verify it."""
    try:
        payload = json.loads(jws.extract_compact(assertion.encode("ascii")).payload)
    except (JoseError, ValueError, UnicodeError):
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


def load_client_keys(jwks: dict[str, Any]) -> KeySet:
    """A client's registered public keys; private members, if any were registered, are ignored."""
    keys = KeySet.import_key_set({"keys": jwks["keys"]})
    return KeySet.import_key_set({"keys": [key.as_dict(private=False) for key in keys]})


def verify(assertion: str, *, client_id: str, keys: KeySet, audiences: Collection[str], now: int) -> VerifiedAssertion:
    """§3: signature, iss = sub = client_id, aud names this server, exp is near, jti is present."""
    try:
        claims = jwt.decode(assertion, keys, algorithms=list(ALGORITHMS)).claims
    except (JoseError, ValueError, TypeError) as exc:
        raise InvalidClient("client_assertion signature is not valid for the client's keys") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("client_assertion iss and sub must both be the client_id")
    audience = claims.get("aud")
    audience_values = audience if isinstance(audience, list) else [audience]
    if not any(value in audiences for value in audience_values):
        raise InvalidClient("client_assertion aud must be the token endpoint URL or the issuer")
    exp, nbf, iat, jti = claims.get("exp"), claims.get("nbf"), claims.get("iat"), claims.get("jti")
    if not isinstance(exp, int) or exp + LEEWAY <= now:
        raise InvalidClient("client_assertion has expired or lacks exp")
    if exp - now > MAX_LIFETIME + LEEWAY:
        raise InvalidClient(f"client_assertion exp is more than {MAX_LIFETIME} s away")
    if any(isinstance(value, int) and value > now + LEEWAY for value in (nbf, iat)):
        raise InvalidClient("client_assertion is not valid yet")
    if not isinstance(jti, str) or not jti:
        raise InvalidClient("client_assertion lacks jti")
    return VerifiedAssertion(jti=jti, exp=exp)
