"""The code flow's pure parts: the authorization URL, callback judgement, ID token claim checks."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from oidcgate.plugins.openid_connect import authcode
from oidcgate.plugins.openid_connect.authcode import Callback, Pending, SignInFailed, SignInForbidden

NOW = 1_700_000_000.0
ISSUERS = frozenset({"http://idp"})


def test_the_authorization_url_carries_state_nonce_pkce_and_extra_args() -> None:
    url, pending = authcode.begin("http://idp/authorize?x=1", "web", "http://gw/app", ["openid", "email"], pkce=True,
                                  extra=[("prompt", "login")], url="/app?a=1", now=NOW)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "web" and query["x"] == "1"
    assert query["redirect_uri"] == "http://gw/app" and query["scope"] == "openid email"
    assert (query["state"], query["nonce"]) == (pending.state, pending.nonce) and query["prompt"] == "login"
    digest = hashlib.sha256(pending.verifier.encode()).digest()  # type: ignore[union-attr]
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert query["code_challenge_method"] == "S256"
    assert Pending.from_bytes(pending.to_bytes()) == pending and pending.url == "/app?a=1"
    no_pkce, plain = authcode.begin("http://idp/a", "web", "http://gw/", [], pkce=False, extra=[], url="/", now=NOW)
    assert "code_challenge" not in no_pkce and plain.verifier is None


def pending(state: str = "good-state") -> Pending:
    return Pending(state, "n", "v", "/app", "http://gw/app", NOW)


@pytest.mark.parametrize(("callback", "cookie", "now", "message"), [
    (Callback("good-state", "c", "access_denied"), pending(), NOW, "access_denied"),
    (Callback("good-state", "c", "server_error"), pending(), NOW, "answered server_error"),
    (Callback("good-state", "c", "<script>"), pending(), NOW, "answered error"),
    (Callback("good-state", "c", None), None, NOW, "authorization cookie is missing"),
    (Callback("evil-state", "c", None), pending(), NOW, "state does not match"),
    (Callback(None, "c", None), pending(), NOW, "state does not match"),
    (Callback("good-state", "c", None), pending(), NOW + 601, "took too long"),
    (Callback("good-state", "", None), pending(), NOW, "no code"),
])
def test_callbacks_that_must_not_reach_the_token_endpoint(callback: Callback, cookie: Pending | None, now: float,
                                                           message: str) -> None:
    with pytest.raises(SignInFailed, match=message) as raised:
        authcode.check_callback(callback, cookie, now, 600)
    assert raised.value.status == (403 if callback.error == "access_denied" else 401)
    assert isinstance(raised.value, SignInForbidden) == (callback.error == "access_denied")


def test_a_matching_callback_gives_its_code_and_other_requests_are_not_callbacks() -> None:
    assert authcode.check_callback(Callback("good-state", "the-code", None), pending(), NOW, 600) == "the-code"
    assert authcode.callback_of({"code": ["c"]}) is None and authcode.callback_of({"q": ["1"]}) is None
    assert authcode.callback_of({"error": ["access_denied"]}) == Callback(None, None, "access_denied")
    with pytest.raises(SignInFailed, match="more than one state"):
        authcode.callback_of({"code": ["c"], "state": ["a", "b"]})


def claims(**changes: Any) -> dict[str, Any]:
    return {"iss": "http://idp", "aud": "web", "exp": NOW + 60, "iat": NOW, "nonce": "n", **changes}


@pytest.mark.parametrize(("changes", "message"), [
    ({"iss": "http://evil"}, "issuer"),
    ({"aud": "other"}, "audience"),
    ({"aud": ["web", "other"]}, "azp"),
    ({"aud": ["web", "other"], "azp": "other"}, "azp"),
    ({"exp": NOW - 1}, "expired"),
    ({"exp": None}, "exp claim is missing"),
    ({"iat": NOW + 120}, "future"),
    ({"nonce": "replayed"}, "nonce"),
    ({"nonce": None}, "nonce"),
])
def test_id_token_claims_that_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SignInFailed, match=message):
        authcode.check_id_token(claims(**changes), issuers=ISSUERS, client_id="web", nonce="n", leeway=0, now=NOW)


def test_id_token_claims_that_are_accepted() -> None:
    authcode.check_id_token(claims(), issuers=ISSUERS, client_id="web", nonce="n", leeway=0, now=NOW)
    authcode.check_id_token(claims(aud=["web", "api"], azp="web", exp=NOW - 5), issuers=ISSUERS, client_id="web",
                            nonce="n", leeway=10, now=NOW)
    authcode.check_id_token(claims(nonce=None), issuers=ISSUERS, client_id="web", nonce=None, leeway=0, now=NOW)
