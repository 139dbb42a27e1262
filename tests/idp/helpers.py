"""Helpers for the identity-provider tests: a real `oidcgate idp` process, its admin API, a login-form
driver and an independent JWT verifier (authlib.jose; the provider signs with joserfc)."""

from __future__ import annotations

import contextlib
import os
import ssl
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from authlib.deprecate import AuthlibDeprecationWarning

from tests.support.processes import OIDCGATE, Proc, free_port, start

with warnings.catch_warnings():
    # authlib warns that authlib.jose (in favour of joserfc) and its httpx integration (for httpx2) are
    # deprecated; both still work, and authlib.jose is the independent verifier these tests want.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError
    from authlib.jose import JsonWebKey, JsonWebToken
    from authlib.oauth2.rfc7523 import PrivateKeyJWT

SRC = Path(__file__).resolve().parents[2] / "src"
ADMIN_TOKEN = "test-admin-token"
# A low argon2 cost through the documented OIDCGATE_IDP_ARGON2_* settings keeps the suite fast.
IDP_ENV = {
    "OIDCGATE_IDP_ARGON2_TIME_COST": "1",
    "OIDCGATE_IDP_ARGON2_MEMORY_COST": "1024",
    "OIDCGATE_IDP_ARGON2_PARALLELISM": "1",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
}
REDIRECT_URI = "http://127.0.0.1:9/callback"  # never contacted: the tests read the Location header
USER_SCOPES = "openid profile email groups offline_access orders:read"
__all__ = ["OAuth2Client", "OAuthError", "PrivateKeyJWT"]  # authlib, imported without its deprecation noise


@dataclass(frozen=True)
class IdpTLS:
    """HTTPS for the provider: its certificate and key files, and the CA bundle that clients trust."""

    cert: Path
    key: Path
    ca: Path


@dataclass
class Idp:
    """A running provider and helpers to talk to it."""

    proc: Proc
    port: int
    database: str
    tls: IdpTLS | None = None

    @property
    def base_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's `verify` for this provider: its CA bundle when it serves HTTPS."""
        return ssl.create_default_context(cafile=str(self.tls.ca)) if self.tls else True

    def issuer(self, server: str = "default") -> str:
        return f"{self.base_url}/oauth2/{server}"

    def endpoint(self, name: str, server: str = "default") -> str:
        return f"{self.issuer(server)}/v1/{name}"

    def admin(self, method: str, path: str, json: Any = None) -> httpx.Response:
        return httpx.request(method, self.base_url + path, json=json, timeout=10, verify=self.verify,
                             headers={"Authorization": f"SSWS {ADMIN_TOKEN}"})

    def create_client(self, **spec: Any) -> dict[str, Any]:
        response = self.admin("POST", "/api/v1/clients", spec)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def cc_client(self, scopes: tuple[str, ...] = ("orders:read", "orders:write"), **spec: Any) -> dict[str, Any]:
        return self.create_client(name="service", grant_types=["client_credentials"], scopes=list(scopes), **spec)

    def web_client(self, **spec: Any) -> dict[str, Any]:
        return self.create_client(**{"name": "web", "grant_types": ["authorization_code", "refresh_token"],
                                     "scopes": USER_SCOPES.split(), "redirect_uris": [REDIRECT_URI], **spec})

    def create_user(self, username: str, password: str = "correct horse battery", **spec: Any) -> dict[str, Any]:
        response = self.admin("POST", "/api/v1/users", {"username": username, "password": password, **spec})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def jwks(self, server: str = "default") -> dict[str, Any]:
        return dict(httpx.get(self.endpoint("keys", server), timeout=10, verify=self.verify).json())


@contextlib.contextmanager
def running_idp(tmp_path: Path, database: str | None = None, port: int | None = None,
                admin_token: str | None = ADMIN_TOKEN, extra_args: tuple[str, ...] = (),
                env: dict[str, str] | None = None, tls: IdpTLS | None = None) -> Iterator[Idp]:
    """`oidcgate idp` on a free loopback port (`env` adds to IDP_ENV; `tls`: over HTTPS), stopped when the
    block ends."""
    port = port or free_port()
    database = database or f"sqlite:///{tmp_path / 'idp.db'}"
    token_args = (f"--admin-token={admin_token}",) if admin_token else ()
    tls_args = ("--tls-cert", str(tls.cert), "--tls-key", str(tls.key)) if tls else ()
    proc = start(["idp", "--listen", f"127.0.0.1:{port}", "--database", database, *token_args, *tls_args,
                  *extra_args], tmp_path / f"idp-{port}-{time.monotonic_ns()}.log", [port],
                 env={**IDP_ENV, **(env or {})})
    try:
        yield Idp(proc, port, database, tls)
    finally:
        proc.stop()


def cli(*args: str, database: str | None = None, cwd: Path | None = None,
        env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `oidcgate idp ARGS...` to completion."""
    command = [*OIDCGATE, "idp", *args, *(("--database", database) if database else ())]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd, input=stdin,
                          env={**os.environ, **IDP_ENV, **(env or {})})


def verify_jwt(token: str, jwks: dict[str, Any], **expected: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a JWT with authlib.jose against a published JWKS; returns (header, claims).

    `expected` claim values are checked, and `exp`/`iat` are validated."""
    keys = JsonWebKey.import_key_set(jwks)
    claims = JsonWebToken(["RS256", "ES256"]).decode(token, keys)
    claims.validate(now=int(time.time()))
    for name, value in expected.items():
        assert claims.get(name) == value, (name, claims.get(name), value)
    return dict(claims.header), dict(claims)


class _Forms(HTMLParser):
    """The forms of a page: action, method, inputs (name -> value) and label targets."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.labels: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "method": attributes.get("method", "get"),
                               "inputs": {}, "ids": set()})
        elif tag == "label":
            self.labels.append(attributes.get("for", ""))
        elif tag in ("input", "button") and self.forms and "name" in attributes:
            self.forms[-1]["inputs"].setdefault(attributes["name"], attributes.get("value", ""))
            self.forms[-1]["ids"].add(attributes.get("id", ""))


def parse_forms(html: str) -> _Forms:
    parser = _Forms()
    parser.feed(html)
    return parser


def submit_login(browser: httpx.Client, page: httpx.Response, username: str, password: str) -> httpx.Response:
    """Fill the login page's form like a person would and post it."""
    forms = parse_forms(page.text)
    assert len(forms.forms) == 1, page.text
    form = forms.forms[0]
    assert form["method"].lower() == "post"
    assert {"username", "password"} <= set(forms.labels), "fields must be labelled"
    data = {**form["inputs"], "username": username, "password": password}
    return browser.post(urljoin(str(page.url), form["action"]), data=data)


def authorize_with_login(browser: httpx.Client, authorize_url: str, username: str,
                         password: str = "correct horse battery") -> httpx.Response:
    """GET authorize -> login page -> POST credentials; returns the response to the POST."""
    page = browser.get(authorize_url)
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    return submit_login(browser, page, username, password)


def pkce_pair() -> tuple[str, str]:
    import base64
    import hashlib
    import secrets

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def user_tokens(idp: Idp, client: dict[str, Any], username: str, password: str = "correct horse battery",
                scope: str = USER_SCOPES) -> dict[str, Any]:
    """What a browser app gets for `username`: the authorization code flow with PKCE through the login form,
    then the code redeemed with the client's secret; the token response (access, ID and refresh tokens)."""
    verifier, challenge = pkce_pair()
    query = urlencode({"response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
                       "scope": scope, "state": "state", "nonce": "nonce", "code_challenge": challenge,
                       "code_challenge_method": "S256"})
    with httpx.Client(follow_redirects=False, timeout=10) as browser:
        answer = authorize_with_login(browser, f"{idp.endpoint('authorize')}?{query}", username, password)
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
    response = token_request(idp, {"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
                                   "redirect_uri": REDIRECT_URI}, auth=(client["client_id"], client["client_secret"]))
    assert response.status_code == 200, response.text
    return dict(response.json())


def from_address(address: str) -> httpx.Client:
    """A browser-like client whose connections come from `address` (Linux routes all of 127.0.0.0/8 to
    loopback), standing in for a second machine."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), follow_redirects=False, timeout=10)


def token_request(idp: Idp, data: dict[str, str], auth: tuple[str, str] | None = None,
                  server: str = "default", via: httpx.Client | None = None, **kwargs: Any) -> httpx.Response:
    """POST to the token endpoint, from `via`'s address if given."""
    if via is None:
        return httpx.post(idp.endpoint("token", server), data=data, auth=auth, timeout=10, verify=idp.verify, **kwargs)
    return via.post(idp.endpoint("token", server), data=data, auth=auth, timeout=10, **kwargs)



def user_access_token(idp: Idp, client: dict[str, Any], username: str) -> str:
    """A user's access token (with their `groups`), from `user_tokens`."""
    return str(user_tokens(idp, client, username)["access_token"])
