"""The negative matrix: every refused request gets the error its RFC prescribes, and no token."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwk, jwt

from tests.idp.helpers import REDIRECT_URI, USER_SCOPES, Idp, authorize_with_login, pkce_pair, token_request

pytestmark = pytest.mark.e2e


@dataclass
class World:
    idp: Idp
    service: dict
    web: dict
    user: dict


@pytest.fixture(scope="module")
def world(idp: Idp) -> World:
    created = idp.admin("POST", "/api/v1/authorizationServers", {"id": "short", "code_lifetime": 1,
                                                                  "access_token_lifetime": 1})
    assert created.status_code == 201, created.text
    return World(idp, idp.cc_client(), idp.web_client(), idp.create_user("nina"))


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client


def authorize_url(world: World, server: str = "default", **params: str | None) -> str:
    """An authorization request URL; a parameter given as None is left out."""
    query = {"response_type": "code", "client_id": world.web["client_id"], "redirect_uri": REDIRECT_URI,
             "scope": USER_SCOPES, "state": "xyz", **params}
    return f"{world.idp.endpoint('authorize', server)}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def obtain_code(world: World, browser: httpx.Client, server: str = "default") -> tuple[str, str]:
    """(code, verifier) after signing in through the form."""
    verifier, challenge = pkce_pair()
    answer = authorize_with_login(browser, authorize_url(world, server, code_challenge=challenge,
                                                         code_challenge_method="S256"), "nina")
    assert answer.status_code == 302, answer.text
    return parse_qs(urlsplit(answer.headers["location"]).query)["code"][0], verifier


def redeem(world: World, code: str, verifier: str, server: str = "default",
           redirect_uri: str = REDIRECT_URI) -> httpx.Response:
    return token_request(world.idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                     "redirect_uri": redirect_uri},
                         auth=(world.web["client_id"], world.web["client_secret"]), server=server)


def assert_refused(response: httpx.Response, status: int, error: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error and body["error_description"], body
    assert "access_token" not in body and "refresh_token" not in body and "id_token" not in body
    assert response.headers["cache-control"] == "no-store"


def cc(world: World, auth: tuple[str, str] | None, **data: str) -> httpx.Response:
    return token_request(world.idp, {"grant_type": "client_credentials", **data}, auth=auth)


CASES: dict[str, tuple[Callable[[World], httpx.Response], int, str]] = {
    "wrong secret": (lambda w: cc(w, (w.service["client_id"], "wrong")), 401, "invalid_client"),
    "unknown client": (lambda w: cc(w, ("0oaUnknownClient000", "whatever")), 401, "invalid_client"),
    "no client authentication": (lambda w: cc(w, None), 401, "invalid_client"),
    "unknown grant": (lambda w: token_request(w.idp, {"grant_type": "password", "username": "nina", "password": "x"},
                                              auth=(w.service["client_id"], w.service["client_secret"])),
                      400, "unsupported_grant_type"),
    "grant not allowed for the client": (
        lambda w: token_request(w.idp, {"grant_type": "client_credentials"},
                                auth=(w.web["client_id"], w.web["client_secret"])), 400, "unauthorized_client"),
    "missing grant_type": (lambda w: token_request(w.idp, {}, auth=(w.service["client_id"], w.service["client_secret"])),
                           400, "invalid_request"),
    "scope not granted": (lambda w: cc(w, (w.service["client_id"], w.service["client_secret"]), scope="admin"),
                          400, "invalid_scope"),
    "openid for client_credentials": (
        lambda w: cc(w, (w.service["client_id"], w.service["client_secret"]), scope="openid orders:read"),
        400, "invalid_scope"),
    "malformed scope": (lambda w: cc(w, (w.service["client_id"], w.service["client_secret"]), scope="a  b"),
                        400, "invalid_scope"),
    "duplicate parameter": (
        lambda w: token_request(w.idp, {}, content="grant_type=client_credentials&grant_type=client_credentials",
                                headers={"Content-Type": "application/x-www-form-urlencoded"},
                                auth=(w.service["client_id"], w.service["client_secret"])), 400, "invalid_request"),
    "JSON body": (lambda w: httpx.post(w.idp.endpoint("token"), json={"grant_type": "client_credentials"},
                                       auth=(w.service["client_id"], w.service["client_secret"])),
                  400, "invalid_request"),
    "two authentication methods": (
        lambda w: cc(w, (w.service["client_id"], w.service["client_secret"]), client_id=w.service["client_id"],
                     client_secret=w.service["client_secret"]), 400, "invalid_request"),
    "malformed Basic header": (
        lambda w: token_request(w.idp, {"grant_type": "client_credentials"}, headers={"Authorization": "Basic %%%"}),
        401, "invalid_client"),
    "secret of another auth method (post for a basic client)": (
        lambda w: cc(w, None, client_id=w.service["client_id"], client_secret=w.service["client_secret"]),
        401, "invalid_client"),
    "unknown code": (lambda w: redeem(w, "no-such-code", pkce_pair()[0]), 400, "invalid_grant"),
    "unknown refresh token": (
        lambda w: token_request(w.idp, {"grant_type": "refresh_token", "refresh_token": "nope"},
                                auth=(w.web["client_id"], w.web["client_secret"])), 400, "invalid_grant"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_token_endpoint_refuses(world: World, case: str) -> None:
    send, status, error = CASES[case]
    response = send(world)
    assert_refused(response, status, error)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic ")


def test_reused_code_is_refused_and_revokes_what_it_gave(world: World, browser: httpx.Client) -> None:
    code, verifier = obtain_code(world, browser)
    first = redeem(world, code, verifier)
    assert first.status_code == 200, first.text
    assert_refused(redeem(world, code, verifier), 400, "invalid_grant")
    # RFC 6749 §4.1.2: tokens issued for a replayed code are revoked.
    introspected = httpx.post(world.idp.endpoint("introspect"), data={"token": first.json()["access_token"]},
                              auth=(world.service["client_id"], world.service["client_secret"])).json()
    assert introspected == {"active": False}
    refreshed = token_request(world.idp, {"grant_type": "refresh_token", "refresh_token": first.json()["refresh_token"]},
                              auth=(world.web["client_id"], world.web["client_secret"]))
    assert_refused(refreshed, 400, "invalid_grant")


def test_wrong_pkce_verifier(world: World, browser: httpx.Client) -> None:
    code, _ = obtain_code(world, browser)
    assert_refused(redeem(world, code, pkce_pair()[0]), 400, "invalid_grant")


def test_missing_pkce_verifier(world: World, browser: httpx.Client) -> None:
    code, _ = obtain_code(world, browser)
    response = token_request(world.idp, {"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT_URI},
                             auth=(world.web["client_id"], world.web["client_secret"]))
    assert_refused(response, 400, "invalid_request")


def test_code_redeemed_with_another_redirect_uri(world: World, browser: httpx.Client) -> None:
    code, verifier = obtain_code(world, browser)
    assert_refused(redeem(world, code, verifier, redirect_uri="http://127.0.0.1:9/other"), 400, "invalid_grant")


def test_code_of_another_client(world: World, browser: httpx.Client, idp: Idp) -> None:
    code, verifier = obtain_code(world, browser)
    other = idp.web_client()
    response = token_request(idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                   "redirect_uri": REDIRECT_URI}, auth=(other["client_id"], other["client_secret"]))
    assert_refused(response, 400, "invalid_grant")


def test_expired_code(world: World, browser: httpx.Client) -> None:
    code, verifier = obtain_code(world, browser, server="short")  # the "short" server's codes live 1 s
    time.sleep(2.1)
    assert_refused(redeem(world, code, verifier, server="short"), 400, "invalid_grant")


def test_reused_refresh_token(world: World, browser: httpx.Client) -> None:
    code, verifier = obtain_code(world, browser)
    refresh_token = redeem(world, code, verifier).json()["refresh_token"]
    auth = (world.web["client_id"], world.web["client_secret"])
    rotated = token_request(world.idp, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=auth)
    assert rotated.status_code == 200
    replay = token_request(world.idp, {"grant_type": "refresh_token", "refresh_token": refresh_token}, auth=auth)
    assert_refused(replay, 400, "invalid_grant")


def test_refresh_asking_for_more_scope(world: World, browser: httpx.Client, idp: Idp) -> None:
    client = idp.web_client(scopes=["openid", "offline_access", "orders:read", "orders:write"])
    verifier, challenge = pkce_pair()
    url = authorize_url(world, client_id=client["client_id"], scope="openid offline_access",
                        code_challenge=challenge, code_challenge_method="S256")
    answer = authorize_with_login(browser, url, "nina")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    auth = (client["client_id"], client["client_secret"])
    issued = token_request(idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                 "redirect_uri": REDIRECT_URI}, auth=auth).json()
    wider = token_request(idp, {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"],
                                "scope": "openid orders:write"}, auth=auth)
    assert_refused(wider, 400, "invalid_scope")


def test_expired_access_token_introspects_inactive(world: World) -> None:
    auth = (world.service["client_id"], world.service["client_secret"])
    token = token_request(world.idp, {"grant_type": "client_credentials"}, auth=auth, server="short").json()
    time.sleep(2.1)
    introspected = httpx.post(world.idp.endpoint("introspect", "short"), data={"token": token["access_token"]},
                              auth=auth)
    assert introspected.json() == {"active": False}


def test_replayed_client_assertion(idp: Idp) -> None:
    key = jwk.generate_key("EC", "P-256", auto_kid=True)
    client = idp.cc_client(token_endpoint_auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    now = int(time.time())
    assertion = jwt.encode({"alg": "ES256", "kid": key.kid}, {
        "iss": client["client_id"], "sub": client["client_id"], "aud": idp.endpoint("token"), "iat": now,
        "exp": now + 60, "jti": "once"}, key)
    data = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert token_request(idp, data).status_code == 200
    assert_refused(token_request(idp, data), 401, "invalid_client")


def test_assertion_signed_by_another_key(idp: Idp) -> None:
    registered, other = jwk.generate_key("RSA", 2048), jwk.generate_key("RSA", 2048)
    client = idp.cc_client(token_endpoint_auth_method="private_key_jwt",
                           jwks={"keys": [registered.as_dict(private=False)]})
    now = int(time.time())
    assertion = jwt.encode({"alg": "RS256"}, {"iss": client["client_id"], "sub": client["client_id"],
                                              "aud": idp.endpoint("token"), "exp": now + 60, "jti": "x"}, other)
    data = {"grant_type": "client_credentials", "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert_refused(token_request(idp, data), 401, "invalid_client")


# The authorization endpoint: bad client or redirect URI are shown, never redirected (RFC 6749 §4.1.2.1).

@pytest.mark.parametrize("params", [
    {"redirect_uri": "http://evil.example/callback"},
    {"redirect_uri": ""},
    {"client_id": "0oaUnknownClient000"},
])
def test_bad_client_or_redirect_uri_is_not_redirected(world: World, browser: httpx.Client, params: dict) -> None:
    _, challenge = pkce_pair()
    answer = browser.get(authorize_url(world, code_challenge=challenge, code_challenge_method="S256", **params))
    assert answer.status_code == 400 and "location" not in answer.headers
    assert "text/html" in answer.headers["content-type"] and "invalid_request" in answer.text


@pytest.mark.parametrize(("params", "error"), [
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),  # no method means plain
    ({"code_challenge": None}, "invalid_request"),  # PKCE is required
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "openid admin"}, "invalid_scope"),
    ({"prompt": "none"}, "login_required"),
    ({"request": "eyJ..."}, "request_not_supported"),
])
def test_authorization_errors_are_redirected_with_state(world: World, browser: httpx.Client, params: dict,
                                                         error: str) -> None:
    _, challenge = pkce_pair()
    answer = browser.get(authorize_url(world, **{"code_challenge": challenge, "code_challenge_method": "S256",
                                                 **params}))
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    query_back = parse_qs(urlsplit(location).query)
    assert query_back["error"] == [error] and query_back["state"] == ["xyz"] and "code" not in query_back
    assert query_back["iss"] == [world.idp.issuer()]


def test_client_credentials_token_cannot_read_userinfo(world: World) -> None:
    token = cc(world, (world.service["client_id"], world.service["client_secret"])).json()["access_token"]
    answer = httpx.get(world.idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 403 and 'error="insufficient_scope"' in answer.headers["www-authenticate"]


def test_userinfo_without_a_token(world: World) -> None:
    answer = httpx.get(world.idp.endpoint("userinfo"))
    assert answer.status_code == 401 and answer.headers["www-authenticate"].startswith("Bearer ")


def test_introspection_requires_client_authentication(world: World) -> None:
    answer = httpx.post(world.idp.endpoint("introspect"), data={"token": "x"})
    assert_refused(answer, 401, "invalid_client")


def test_revoking_another_clients_token(world: World, idp: Idp) -> None:
    token = cc(world, (world.service["client_id"], world.service["client_secret"])).json()["access_token"]
    other = idp.cc_client()
    answer = httpx.post(idp.endpoint("revoke"), data={"token": token}, auth=(other["client_id"], other["client_secret"]))
    assert_refused(answer, 400, "unauthorized_client")
    answer = httpx.post(idp.endpoint("revoke"), data={"token": token, "token_type_hint": "id_token"},
                        auth=(world.service["client_id"], world.service["client_secret"]))
    assert_refused(answer, 400, "unsupported_token_type")


def test_basic_credentials_are_form_urlencoded(world: World, idp: Idp) -> None:
    """RFC 6749 §2.3.1: a client whose secret has reserved characters sends them encoded."""
    client = idp.cc_client()
    raw = f"{client['client_id']}:{client['client_secret']}".replace("-", "%2D").replace("_", "%5F")
    answer = token_request(idp, {"grant_type": "client_credentials"},
                           headers={"Authorization": "Basic " + base64.b64encode(raw.encode()).decode()})
    assert answer.status_code == 200, answer.text
