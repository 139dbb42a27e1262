"""Decode a JWT for a human: header and claims as JSON, labelled UNVERIFIED unless keys were given.

With `--jwks URL` and/or `--issuer URL` the signature is verified the way the openid-connect plugin
does it, against the issuer's discovery document or the JWKS: both use `oidcgate.jwt` (same
allow-list, same claim checks), so the CLI needs nothing of the plugin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from oidcgate.jwt.errors import TokenError
from oidcgate.jwt.verify import ClaimPolicy, build_key_ring, check_claims, unverified_parts, verify_signature
from oidcgate.oidc import DISCOVERY_SUFFIX

UNVERIFIED = "UNVERIFIED: decoded only; nothing proves who issued this token or that it is intact"


class VerificationFailed(Exception):
    pass


@dataclass(frozen=True)
class Keys:
    """Where the keys came from, the JWKS documents and the algorithms the provider advertises."""

    source: str
    documents: list[dict[str, Any]]
    advertised: list[str] | None
    issuer: str | None


def clean(token: str) -> str:
    """The token without white space or a leading `Bearer `."""
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    return token


def _times(claims: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name in ("iat", "nbf", "exp"):
        value = claims.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                out[name] = datetime.fromtimestamp(value, UTC).isoformat()
            except (OverflowError, OSError, ValueError):
                out[name] = "out of range"
    return out


def describe(token: str) -> dict[str, Any]:
    """The unverified view: header, claims and readable times. Raises TokenError if it is not a JWT."""
    header, claims = unverified_parts(token)
    return {"verified": False, "warning": UNVERIFIED, "header": header, "claims": claims, "times": _times(claims)}


def _get_json(client: httpx.Client, url: str) -> dict[str, Any]:
    try:
        response = client.get(url)
    except httpx.HTTPError as exc:
        raise VerificationFailed(f"cannot fetch {url}: {exc}") from None
    if response.status_code != 200:
        raise VerificationFailed(f"{url} answered HTTP {response.status_code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise VerificationFailed(f"{url} did not answer a JSON object")
    return body


def fetch_keys(issuer: str | None, jwks_uri: str | None, timeout: float = 10.0) -> Keys:
    """The JWKS named by `jwks_uri`, or the one the issuer's discovery document names."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        advertised, issuer_name = None, None
        if issuer is not None:
            base = issuer.rstrip("/").removesuffix(DISCOVERY_SUFFIX)
            doc = _get_json(client, base + DISCOVERY_SUFFIX)
            issuer_name = doc.get("issuer") if isinstance(doc.get("issuer"), str) else base
            algs = doc.get("id_token_signing_alg_values_supported")
            advertised = [a for a in algs if isinstance(a, str)] if isinstance(algs, list) else None
            if jwks_uri is None:
                jwks_uri = doc.get("jwks_uri") if isinstance(doc.get("jwks_uri"), str) else None
                if jwks_uri is None:
                    raise VerificationFailed(f"the discovery document of {base} names no jwks_uri")
        assert jwks_uri is not None
        return Keys(jwks_uri, [_get_json(client, jwks_uri)], advertised, issuer_name)


def verify(token: str, keys: Keys, issuer: str | None, now: float) -> dict[str, Any]:
    """The verified view; raises VerificationFailed with the reason."""
    try:
        claims = verify_signature(token, build_key_ring(keys.documents, keys.advertised)).claims
        issuers = frozenset(i.rstrip("/") for i in (issuer, keys.issuer) if i)
        check_claims(claims, ClaimPolicy(issuers or None), now)  # no issuer given: the times only
    except TokenError as exc:
        raise VerificationFailed(exc.description) from None
    header, _ = unverified_parts(token)
    return {"verified": True, "verified_with": keys.source, "header": header, "claims": claims,
            "times": _times(claims)}
