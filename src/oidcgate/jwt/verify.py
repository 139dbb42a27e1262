"""JWT access-token verification, free of I/O: signature (RFC 7515/7518) and claims (RFC 7519 §4.1,
RFC 9068 §4), with joserfc. Refusals raise `TokenError`, which each caller turns into its own answer.

Signatures: the token's `alg` must be on an allow-list built from the provider (its
`id_token_signing_alg_values_supported` and the `alg` of its JWKS keys, intersected with the
asymmetric algorithms), and must fit the type of the key it is checked with. `none` and the HMAC
family are never on the list, so neither an unsigned token nor an HS256 token "signed" with the
provider's public key verifies. A `kid` the key ring does not know raises `UnknownKey`, so the caller
can refresh the keys once and retry.

Signature and claims are checked apart: a verified signature can be cached and shared (the plugin
shares it by all routes of an issuer), while `leeway`, the accepted issuers and the required audience
are the caller's `ClaimPolicy` (per route in the plugin), checked on every use (cheap).
A JWT must carry `exp` (RFC 9068 §2.2), and a bearer JWT must be typed as an access token (RFC 9068
§2.1, §4: `typ` at+jwt), or, where the caller allows the generic `JWT` (or no `typ`, as Okta, Keycloak,
Auth0 and Entra ID issue), at least not be an ID token: OpenID Connect Core §2 and §3.1.3.6 give only
ID tokens `nonce`, `at_hash` and `c_hash`, and Keycloak marks its ID tokens with a `typ` claim "ID".
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from oidcgate.jwt.claims import Requirement, claim_at, claim_values, satisfied
from oidcgate.jwt.errors import TokenError, UnknownKey

RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALG_BY_CURVE = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
OKP_ALGS = frozenset({"EdDSA", "Ed25519"})
ASYMMETRIC_ALGS = RSA_ALGS | frozenset(EC_ALG_BY_CURVE.values()) | OKP_ALGS
_REGISTRY = jws.JWSRegistry(algorithms=sorted(ASYMMETRIC_ALGS), strict_check_header=False)


def key_algorithms(key: Key) -> frozenset[str]:
    """The signature algorithms a key can verify (its `alg` parameter narrows them further)."""
    kty = key.key_type
    if kty == "RSA":
        algs = RSA_ALGS
    elif kty == "EC":
        alg = EC_ALG_BY_CURVE.get(str(key.get("crv")))
        algs = frozenset({alg}) if alg else frozenset()
    elif kty == "OKP" and key.get("crv") == "Ed25519":
        algs = OKP_ALGS
    else:  # "oct" (HMAC secrets) and anything unknown: never for tokens from a provider
        algs = frozenset()
    declared = key.get("alg")
    return algs & {declared} if declared else algs


@dataclass(frozen=True)
class KeyRing:
    """The verification keys of one provider and the algorithms allowed with them."""

    keys: tuple[Key, ...] = ()
    algorithms: frozenset[str] = frozenset()
    by_kid: Mapping[str, tuple[Key, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.keys)


def build_key_ring(jwks_documents: Iterable[Mapping[str, Any]], advertised: Sequence[str] | None = None) -> KeyRing:
    """Import the signing keys of JWKS documents, skipping encryption keys and what cannot be imported.

    Allowed algorithms: the provider's advertised ones and its keys' declared ones (asymmetric only);
    when it declares none, whatever its key types support.
    """
    keys: list[Key] = []
    for document in jwks_documents:
        for raw in document.get("keys") or []:
            if not isinstance(raw, Mapping) or raw.get("use", "sig") != "sig":
                continue
            try:
                key = JWKRegistry.import_key(dict(raw))
            except (JoseError, ValueError, TypeError, KeyError):
                continue
            if key_algorithms(key):
                keys.append(key)
    declared = {str(k.get("alg")) for k in keys if k.get("alg")}
    allowed = (set(advertised or ()) | declared) & ASYMMETRIC_ALGS
    if not allowed:
        allowed = set().union(*(key_algorithms(k) for k in keys)) if keys else set()
    by_kid: dict[str, tuple[Key, ...]] = {}
    for key in keys:
        if key.kid:
            by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
    return KeyRing(tuple(keys), frozenset(allowed), by_kid)


def _b64json(segment: str) -> Any:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise TokenError("the token is not a well-formed JWT") from None


def looks_like_jwt(token: str) -> bool:
    """A JWS compact serialization has three dot-separated parts; anything else is opaque."""
    return token.count(".") == 2


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a JWT, NOT verified (for display and for choosing a key)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("the token is not a JWT (expected three dot-separated parts)")
    header, claims = _b64json(parts[0]), _b64json(parts[1])
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenError("the token's header and payload must be JSON objects")
    return header, claims


@dataclass(frozen=True, slots=True)
class Verified:
    """What a JWT with a valid signature says: its claims, and its header's `typ` (None when absent)."""

    claims: dict[str, Any]
    typ: str | None


def verify_signature(token: str, ring: KeyRing) -> Verified:
    """The claims of `token` once its signature verifies with a key of `ring`; raises TokenError.

    Raises UnknownKey when the token names a `kid` the ring does not have.
    """
    header, _ = unverified_parts(token)
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ring.algorithms:
        raise TokenError("the token's signature algorithm is not accepted")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        raise TokenError("the token's typ is not a string")
    kid = header.get("kid")
    if kid is not None:
        if not isinstance(kid, str):
            raise TokenError("the token's kid is not a string")
        candidates = ring.by_kid.get(kid)
        if candidates is None:
            raise UnknownKey("the token is signed with an unknown key")
    else:
        candidates = ring.keys
    for key in candidates:
        if alg not in key_algorithms(key):
            continue
        try:
            signature = jws.deserialize_compact(token, key, algorithms=[alg], registry=_REGISTRY)
        except (JoseError, ValueError, TypeError):
            continue
        try:
            claims = orjson.loads(signature.payload or b"")
        except ValueError:
            raise TokenError("the token's payload is not JSON") from None
        if not isinstance(claims, dict):
            raise TokenError("the token's payload is not a JSON object")
        return Verified(claims, typ)
    raise TokenError("the token's signature is invalid")


ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})  # compared case-insensitively (RFC 9068 §4)
GENERIC_TYPES = frozenset({"jwt", "application/jwt"})
ID_TOKEN_CLAIMS = ("nonce", "at_hash", "c_hash")


def check_access_token_type(verified: Verified, generic_allowed: bool) -> None:
    """Refuse a bearer JWT that is not an access token (see the module docstring); raises TokenError.

    `generic_allowed`: also accept `typ` JWT or no `typ`, unless the claims are an ID token's.
    """
    typ = None if verified.typ is None else verified.typ.lower()
    if typ in ACCESS_TOKEN_TYPES:
        return
    if typ is not None and typ not in GENERIC_TYPES:
        raise TokenError("the token's typ is not at+jwt: it is not an access token")
    if not generic_allowed:
        raise TokenError("the token's typ is JWT where an access token's is at+jwt" if typ else
                         "the token has no typ where an access token's is at+jwt")
    claims = verified.claims
    kind = claims.get("typ")
    if any(name in claims for name in ID_TOKEN_CLAIMS) or (isinstance(kind, str) and kind.lower() == "id"):
        raise TokenError("the token is an ID token, not an access token")


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    """What a caller accepts in a token's registered claims (the plugin: one per route)."""

    issuers: frozenset[str] | None  # None: any issuer (only `oidcgate token decode --jwks` does that)
    leeway: int = 0
    audience: Requirement | None = None
    audience_path: tuple[str, ...] = ("aud",)


def number_claim(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim (`exp`, `nbf`, `iat`): None when absent; raises TokenError when not a number."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError(f"the token's {name} claim is not a number")
    return value


def check_claims(claims: Mapping[str, Any], policy: ClaimPolicy, now: float, *,
                 introspected: bool = False) -> None:
    """`iss`, `exp`, `nbf`, `iat` (with leeway) and the required audience; raises TokenError.

    A JWT must have `iss` and `exp`; `introspected=True` is for introspection responses, where RFC 7662
    makes both optional (when present they are checked all the same).
    """
    iss = claims.get("iss")
    if iss is None and introspected:
        pass
    elif policy.issuers is not None and (not isinstance(iss, str) or iss.rstrip("/") not in policy.issuers):
        raise TokenError("the token's issuer is not accepted")
    exp = number_claim(claims, "exp")
    if exp is None and not introspected:
        raise TokenError("the token has no exp claim")
    if exp is not None and now >= exp + policy.leeway:
        raise TokenError("the token has expired")
    nbf = number_claim(claims, "nbf")
    if nbf is not None and now + policy.leeway < nbf:
        raise TokenError("the token is not valid yet")
    iat = number_claim(claims, "iat")
    if iat is not None and iat > now + policy.leeway:
        raise TokenError("the token is issued in the future")
    if policy.audience is not None and not satisfied(
            policy.audience, claim_values(claim_at(claims, policy.audience_path))):
        raise TokenError("the token's audience is not accepted")
