"""The authorization code flow with PKCE, free of I/O: RFC 6749 §4.1 (https://www.rfc-editor.org/rfc/rfc6749#section-4.1),
RFC 7636 (PKCE), OpenID Connect Core §3.1 (https://openid.net/specs/openid-connect-core-1_0.html#CodeFlowAuth)
and the advice of RFC 9700 (state bound to the browser, PKCE S256, nonce, exact redirect URI).

- `begin`: the authorization URL, and what the encrypted authorization cookie keeps until the
  callback (`Pending`: state, nonce, PKCE verifier, the URL first asked for);
- `callback_of` / `check_callback`: a request that comes back from the provider, judged against that
  cookie, before any token request is made;
- `check_id_token`: the claims of an ID token whose signature verified (§3.1.3.7).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

import orjson

from oidcgate.plugins.openid_connect.errors import OIDCError


class SignInFailed(OIDCError):
    """A sign-in that cannot go on (a refused or forged callback, a bad ID token): 401, never a redirect."""

    status = 401
    error = None


class SignInForbidden(SignInFailed):
    status = 403


@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-in under way: what the authorization cookie holds between redirect and callback."""

    state: str
    nonce: str
    verifier: str | None
    url: str  # the URL the browser first asked for, query included
    redirect_uri: str
    created: float

    def to_bytes(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_bytes(cls, data: bytes) -> Pending | None:
        try:
            pending = cls(**orjson.loads(data))
        except (ValueError, TypeError):
            return None
        return pending if isinstance(pending.created, int | float) else None


def challenge(verifier: str) -> str:
    """RFC 7636 §4.2, S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def begin(endpoint: str, client_id: str, redirect_uri: str, scopes: Sequence[str], *, pkce: bool,
          extra: Sequence[tuple[str, str]], url: str, now: float) -> tuple[str, Pending]:
    """The authorization request's URL (§4.1.1 + OIDC §3.1.2.1) and the sign-in to remember."""
    pending = Pending(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                      verifier=secrets.token_urlsafe(48) if pkce else None, url=url, redirect_uri=redirect_uri,
                      created=now)
    params = [("response_type", "code"), ("client_id", client_id), ("redirect_uri", redirect_uri),
              ("scope", " ".join(scopes)), ("state", pending.state), ("nonce", pending.nonce)]
    if pending.verifier is not None:
        params += [("code_challenge", challenge(pending.verifier)), ("code_challenge_method", "S256")]
    params += extra
    separator = "&" if "?" in endpoint else "?"
    return f"{endpoint}{separator}{urlencode(params)}", pending


@dataclass(frozen=True, slots=True)
class Callback:
    """The provider's answer in the redirect URI's query: a code, or an error (§4.1.2, §4.1.2.1)."""

    state: str | None
    code: str | None
    error: str | None


CALLBACK_ARGS = ("state", "code", "error")  # (the query arguments a callback is told by)


def callback_of(query: Mapping[str, list[str]]) -> Callback | None:
    """The callback a request carries (`code` and `state`, or `error`), or None for any other request."""
    if not ("state" in query and "code" in query) and "error" not in query:
        return None
    for name in CALLBACK_ARGS:
        if len(query.get(name, ())) > 1:
            raise SignInFailed(f"the callback has more than one {name} parameter")
    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0] if values else None
    return Callback(one("state"), one("code"), one("error"))


_SAFE_ERROR = frozenset("abcdefghijklmnopqrstuvwxyz_")


def check_callback(callback: Callback, pending: Pending | None, now: float, lifetime: float) -> str:
    """The code to exchange, once the callback proves to answer this browser's own sign-in; else raises.

    The order matters: a provider's error is reported as such; anything else needs the authorization
    cookie (missing: the sign-in did not start in this browser, or its callback was already used), a
    fresh one, and the very state it holds (compared in constant time).
    """
    if callback.error is not None:
        error = callback.error if set(callback.error) <= _SAFE_ERROR and len(callback.error) <= 64 else "error"
        if error == "access_denied":
            raise SignInForbidden("the identity provider answered access_denied: the user or the provider "
                                  "refused the sign-in")
        raise SignInFailed(f"the identity provider answered {error}")
    if pending is None:
        raise SignInFailed("the authorization cookie is missing or invalid: this sign-in was not started in "
                           "this browser, or its callback was already used")
    if now >= pending.created + lifetime:
        raise SignInFailed("the sign-in took too long (authorization_rolling_timeout)")
    if callback.state is None or not hmac.compare_digest(callback.state.encode(), pending.state.encode()):
        raise SignInFailed("the state does not match the authorization cookie")
    if not callback.code:
        raise SignInFailed("the callback has no code")
    return callback.code


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SignInFailed(f"the ID token's {name} claim is missing or not a number")
    return value


def check_id_token(claims: Mapping[str, Any], *, issuers: frozenset[str], client_id: str, nonce: str | None,
                   leeway: float, now: float) -> None:
    """OIDC Core §3.1.3.7 on verified claims: iss, aud (and azp), exp, iat, nonce; raises SignInFailed.

    `nonce` None is a refresh (§12.2): the new ID token carries none, or the one of the sign-in."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss.rstrip("/") not in issuers:
        raise SignInFailed("the ID token's issuer is not the provider's")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if client_id not in audiences:
        raise SignInFailed("the ID token's audience does not contain the client id")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise SignInFailed("the ID token's azp is not the client id")
    if now >= _number(claims, "exp") + leeway:
        raise SignInFailed("the ID token has expired")
    if _number(claims, "iat") > now + leeway:
        raise SignInFailed("the ID token is issued in the future")
    if nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            raise SignInFailed("the ID token's nonce does not match this sign-in")
