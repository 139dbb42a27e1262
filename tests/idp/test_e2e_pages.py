"""The user-facing pages (login, consent, logout), discovery, and bad input that must never cause a 500."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.idp.helpers import (
    REDIRECT_URI,
    Idp,
    authorize_with_login,
    parse_forms,
    pkce_pair,
    running_idp,
    token_request,
)

pytestmark = pytest.mark.e2e


def _authorize_url(idp: Idp, client: dict, **params: str) -> str:
    _, challenge = pkce_pair()
    query = {"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
             "scope": "openid profile", "state": "st", "code_challenge": challenge, "code_challenge_method": "S256",
             **params}
    return f"{idp.endpoint('authorize')}?{urlencode(query)}"


def test_login_page_is_a_plain_accessible_form(idp: Idp, browser: httpx.Client) -> None:
    page = browser.get(_authorize_url(idp, idp.web_client(name="Shop <Web>")))
    assert page.status_code == 200
    assert '<html lang="en">' in page.text and "<h1>Sign in</h1>" in page.text
    assert "Shop &lt;Web&gt;" in page.text  # escaped
    assert 'autocomplete="username"' in page.text and 'autocomplete="current-password"' in page.text
    forms = parse_forms(page.text)
    assert forms.labels == ["username", "password"]
    assert {"username", "password"} <= forms.forms[0]["ids"]
    assert page.headers["cache-control"] == "no-store" and page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_login_form_needs_its_csrf_token(idp: Idp, browser: httpx.Client) -> None:
    page = browser.get(_authorize_url(idp, idp.web_client()))
    form = parse_forms(page.text).forms[0]
    idp.create_user("csrf-victim")
    forged = {**form["inputs"], "csrf_token": "forged", "username": "csrf-victim", "password": "correct horse battery"}
    answer = browser.post(idp.base_url + form["action"], data=forged)
    assert answer.status_code == 400 and "location" not in answer.headers


def test_third_party_client_asks_for_consent_once(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("connie")
    client = idp.web_client(first_party=False)
    consent = authorize_with_login(browser, _authorize_url(idp, client), "connie")
    assert consent.status_code == 200 and "Allow access?" in consent.text
    form = parse_forms(consent.text).forms[0]
    denied = browser.post(idp.base_url + form["action"], data={**form["inputs"], "decision": "deny"})
    assert parse_qs(urlsplit(denied.headers["location"]).query)["error"] == ["access_denied"]

    consent = browser.get(_authorize_url(idp, client))
    form = parse_forms(consent.text).forms[0]
    allowed = browser.post(idp.base_url + form["action"], data={**form["inputs"], "decision": "allow"})
    assert allowed.status_code == 302 and "code=" in allowed.headers["location"]
    again = browser.get(_authorize_url(idp, client))  # consent remembered
    assert again.status_code == 302 and "code=" in again.headers["location"]
    none = browser.get(_authorize_url(idp, client, scope="openid profile email", prompt="none"))
    assert parse_qs(urlsplit(none.headers["location"]).query)["error"] == ["consent_required"]


def test_prompt_login_and_max_age_ask_for_the_password_again(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("petra")
    client = idp.web_client()
    assert authorize_with_login(browser, _authorize_url(idp, client), "petra").status_code == 302
    assert browser.get(_authorize_url(idp, client)).status_code == 302
    assert browser.get(_authorize_url(idp, client, prompt="login")).status_code == 200
    assert browser.get(_authorize_url(idp, client, max_age="60")).status_code == 302
    time.sleep(1.1)
    assert browser.get(_authorize_url(idp, client, max_age="0")).status_code == 200  # the session is too old
    assert browser.get(_authorize_url(idp, client, prompt="none")).status_code == 302


def test_logout_ends_the_session_and_returns_to_a_registered_uri(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("logan")
    client = idp.web_client(post_logout_redirect_uris=["http://127.0.0.1:9/bye"])
    verifier, challenge = pkce_pair()
    answer = authorize_with_login(browser, _authorize_url(idp, client, code_challenge=challenge), "logan")
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    id_token = token_request(idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                   "redirect_uri": REDIRECT_URI},
                             auth=(client["client_id"], client["client_secret"])).json()["id_token"]

    refused = browser.get(idp.endpoint("logout"), params={"id_token_hint": id_token,
                                                          "post_logout_redirect_uri": "http://evil.example/"})
    assert refused.status_code == 400 and "location" not in refused.headers
    out = browser.get(idp.endpoint("logout"), params={"id_token_hint": id_token, "state": "s1",
                                                      "post_logout_redirect_uri": "http://127.0.0.1:9/bye"})
    assert out.status_code == 302 and out.headers["location"] == "http://127.0.0.1:9/bye?state=s1"
    assert browser.get(_authorize_url(idp, client)).status_code == 200  # signed out: the login page again


def test_logout_without_a_hint_asks_the_user_first(idp: Idp, browser: httpx.Client) -> None:
    idp.create_user("lena")
    client = idp.web_client()
    assert authorize_with_login(browser, _authorize_url(idp, client), "lena").status_code == 302
    confirm = browser.get(idp.endpoint("logout"))  # e.g. an <img src> on another site
    assert confirm.status_code == 200 and "Sign out?" in confirm.text
    assert browser.get(_authorize_url(idp, client)).status_code == 302  # still signed in
    form = parse_forms(confirm.text).forms[0]
    out = browser.post(idp.base_url + form["action"], data=form["inputs"])
    assert out.status_code == 200 and "You are signed out" in out.text
    assert browser.get(_authorize_url(idp, client)).status_code == 200


def test_discovery_documents(idp: Idp) -> None:
    oidc = httpx.get(f"{idp.issuer()}/.well-known/openid-configuration").json()
    oauth = httpx.get(f"{idp.issuer()}/.well-known/oauth-authorization-server").json()
    inserted = httpx.get(f"{idp.base_url}/.well-known/oauth-authorization-server/oauth2/default").json()
    assert oauth == inserted  # RFC 8414 §3's path-inserted location too
    assert {key: value for key, value in oidc.items() if key in oauth} == oauth
    assert oidc["issuer"] == idp.issuer()
    for name in ("authorize", "token", "userinfo", "keys", "introspect", "revoke", "logout"):
        assert idp.endpoint(name) in oidc.values()
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["grant_types_supported"] == ["authorization_code", "client_credentials", "refresh_token"]
    assert oidc["request_uri_parameter_supported"] is False and oidc["response_types_supported"] == ["code"]
    assert httpx.get(f"{idp.base_url}/oauth2/nope/.well-known/openid-configuration").status_code == 404


def test_issuer_url_behind_a_proxy(tmp_path: Path) -> None:
    with running_idp(tmp_path, extra_args=("--issuer-url", "https://login.example.com/")) as idp:
        metadata = httpx.get(f"{idp.base_url}/oauth2/default/.well-known/openid-configuration").json()
    assert metadata["issuer"] == "https://login.example.com/oauth2/default"
    assert metadata["token_endpoint"] == "https://login.example.com/oauth2/default/v1/token"


BAD_REQUESTS = [
    ("POST", "/oauth2/default/v1/token", {"content": b"\xff\xfe=\xff", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/oauth2/default/v1/token", {"content": b"&&&==&", "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/oauth2/default/v1/token", {"content": b"a=1&" * 100, "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/oauth2/default/v1/token", {"content": b"x" * 70_000, "headers": {
        "Content-Type": "application/x-www-form-urlencoded"}}),
    ("POST", "/oauth2/default/v1/token", {"data": {"grant_type": "client_credentials", "client_assertion": "a.b.c",
                                                   "client_assertion_type":
                                                       "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}),
    ("POST", "/oauth2/default/v1/token", {"data": {"grant_type": "client_credentials"},
                                          "headers": {"Authorization": "Basic " + "QQ==" * 3}}),
    ("POST", "/oauth2/default/v1/token", {"data": {"grant_type": "authorization_code", "client_id": "0oa\x00"}}),
    ("GET", "/oauth2/default/v1/token", {}),
    ("POST", "/oauth2/default/v1/introspect", {"data": {"token": "e30.e30.e30"}, "auth": ("a", "b")}),
    ("GET", "/oauth2/default/v1/userinfo", {"headers": {"Authorization": "Bearer e30.e30.e30"}}),
    ("GET", "/oauth2/default/v1/userinfo", {"headers": {"Authorization": "Basic abc"}}),
    ("GET", "/oauth2/default/v1/authorize?client_id=a&client_id=b", {}),
    ("GET", "/oauth2/default/v1/authorize?%ff=1", {}),
    ("GET", "/oauth2/default/v1/logout?id_token_hint=garbage", {}),
    ("POST", "/oauth2/default/login", {"data": {"username": "x"}}),
    ("POST", "/oauth2/default/consent", {"data": {}}),
    ("POST", "/oauth2/x%00y/v1/token", {"data": {}}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), BAD_REQUESTS)
def test_bad_input_gets_a_precise_error_not_a_500(idp: Idp, method: str, path: str, kwargs: dict) -> None:
    answer = httpx.request(method, idp.base_url + path, timeout=10, **kwargs)
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    assert "Traceback" not in answer.text
    if answer.headers.get("content-type") == "application/json" and path.startswith("/oauth2/default/v1/"):
        assert answer.json()["error"]
