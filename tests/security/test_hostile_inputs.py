"""Hostile inputs from every stranger the gateway meets, each with the status it must get.

Tokens (to openid-connect routes), session cookies and sign-in callbacks (to the browser sign-in
routes), requests (raw bytes to the proxy), configurations (to the DB-less data plane's and the
control plane's `/config`) and Admin API bodies and headers. Real processes,
real sockets. Every case is recorded, and the table of case / expected / seen is printed at the end
of the run (see conftest.py); a case that sees anything else fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from oidcgate.plugins.openid_connect.session.codec import Sealer
from oidcgate.plugins.openid_connect.session.record import Session, new_id
from tests.idp.helpers import user_tokens
from tests.plugins.openid_connect.providers import AUDIENCE
from tests.proxy.rawhttp import Conn
from tests.proxy.test_hostile import MALFORMED, SMUGGLING
from tests.security.conftest import SESSION_SECRET, Stack, record
from tests.support import forge

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Case:
    category: str
    name: str
    expected: int
    send: Callable[[Stack], int | None]
    pending: str = ""  # the fix that is not merged yet (the case then must still fail: strict xfail)


# ----------------------------------------------------------------------------------------- tokens
def bearer(token: str) -> Callable[[Stack], int]:
    return lambda s: s.get("/mock", headers={"Authorization": f"Bearer {token}"}).status_code


def mock_token(**changes: object) -> Callable[[Stack], int]:
    """A token signed with the third-party provider's own key, with `changes` to its claims (None drops one;
    a callable is called when the token is made, so times are relative to the request, not to collection)."""
    def send(s: Stack) -> int:
        made = {name: value() if callable(value) else value for name, value in changes.items()}
        claims = {**forge.claims(s.mock.issuer, aud=AUDIENCE), **made}
        token = forge.sign({k: v for k, v in claims.items() if v is not None}, s.mock.signing_key(), typ="at+jwt")
        return bearer(token)(s)
    return send


def forged(make: Callable[[Stack], str]) -> Callable[[Stack], int]:
    return lambda s: bearer(make(s))(s)


def tampered(s: Stack) -> str:
    good = forge.sign(forge.claims(s.mock.issuer, aud=AUDIENCE), s.mock.signing_key(), typ="at+jwt")
    head, _, signature = good.split(".")
    payload = forge.b64(forge.json.dumps(forge.claims(s.mock.issuer, aud=AUDIENCE, sub="admin")).encode())
    return f"{head}.{payload}.{signature}"


def id_token_as_bearer(s: Stack) -> int:
    s.idp.create_user("hostile-user") if "user" not in s.web_client else None
    s.web_client["user"] = True
    tokens = user_tokens(s.idp, s.web_client, "hostile-user")
    return httpx.get(s.proxy + "/idp", headers={"Authorization": f"Bearer {tokens['id_token']}"},
                     timeout=30).status_code


def raw(path: str, headers: bytes = b"") -> Callable[[Stack], int | None]:
    return raw_bytes(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: gw\r\n" + headers + b"\r\n")


def raw_bytes(data: bytes) -> Callable[[Stack], int | None]:
    def send(s: Stack) -> int | None:
        with Conn(s.proxy_port) as conn:
            conn.send(data)
            try:
                return conn.response().status
            except ConnectionError:
                return None
    return send


TOKENS = [
    Case("token", "valid token (control)", 200, mock_token()),
    Case("token", "no credentials", 401, lambda s: s.get("/mock").status_code),
    Case("token", "Bearer garbage", 401, bearer("not-a-token")),
    Case("token", "JWT of 6 KB junk", 401, bearer("a" * 3000 + "." + "b" * 3000 + ".c")),
    Case("token", "alg: none", 401, forged(lambda s: forge.unsigned(forge.claims(s.mock.issuer, aud=AUDIENCE)))),
    Case("token", "HS256 keyed with the public key", 401, forged(lambda s: forge.hs256_with_public_key(
        forge.claims(s.mock.issuer, aud=AUDIENCE), s.mock.signing_key()))),  # type: ignore[arg-type]
    Case("token", "payload swapped under a signature", 401, forged(tampered)),
    Case("token", "signed by a stranger's key, same kid", 401, forged(lambda s: forge.sign(
        forge.claims(s.mock.issuer, aud=AUDIENCE), forge.rsa_key(str(s.mock.signing_key().kid)), typ="at+jwt"))),
    Case("token", "unknown kid", 401, forged(lambda s: forge.sign(
        forge.claims(s.mock.issuer, aud=AUDIENCE), forge.rsa_key("nobody"), typ="at+jwt"))),
    Case("token", "expired", 401, mock_token(exp=lambda: int(time.time()) - 60)),
    Case("token", "not valid yet (nbf)", 401, mock_token(nbf=lambda: int(time.time()) + 600)),
    Case("token", "issued in the future (iat)", 401, mock_token(iat=lambda: int(time.time()) + 600)),
    Case("token", "exp missing", 401, mock_token(exp=None)),
    Case("token", "exp not a number", 401, mock_token(exp="tomorrow")),
    Case("token", "another issuer", 401, mock_token(iss="http://127.0.0.1:1/evil")),
    Case("token", "another audience", 401, mock_token(aud="api://other")),
    Case("token", "an ID token as a bearer token", 401, id_token_as_bearer),
    Case("token", "two Authorization fields", 400, raw("/mock", b"Authorization: Bearer a.b.c\r\n"
                                                              b"Authorization: Bearer d.e.f\r\n")),
    Case("token", "Basic, not base64", 400, lambda s: s.get(
        "/mock", headers={"Authorization": "Basic %%%"}).status_code),
    Case("token", "Basic without a colon", 400, lambda s: s.get(
        "/mock", headers={"Authorization": "Basic Y2xpZW50"}).status_code),
    Case("token", "Basic, wrong secret", 401, lambda s: s.get(
        "/mock", headers={"Authorization": basic_authorization("svc", "wrong")}).status_code),
    Case("token", "NUL in the Authorization value", 400, raw("/mock", b"Authorization: Bearer a\x00b\r\n")),
]

# ------------------------------------------------------------------------ session cookies, callbacks
def cookie(value: bytes, path: str = "/signin") -> Callable[[Stack], int | None]:
    """A request with this Cookie header, as raw bytes (a browser's, or anyone's)."""
    return raw(path, b"Cookie: " + value + b"\r\n")


def no_such_session(s: Stack) -> int | None:
    """A well-sealed session id (the secret leaked) of a session Redis does not hold."""
    sealed = Sealer(SESSION_SECRET, "session-id", "session").seal(b"no-such-session")
    return cookie(b"session=" + sealed.encode(), "/signin-redis")(s)


CHUNKS = b"session=16.aaaa; " + b"; ".join(b"session_%d=aaaa" % i for i in range(2, 17))
SESSIONS = [  # a cookie that is not a valid session is no session: the browser is sent to sign in
    Case("session", "cookie that is not base64", 302, cookie(b"session=%%%***!!")),
    Case("session", "cookie of base64 junk", 302, cookie(b"session=" + b"A" * 200)),
    Case("session", "cookie of 7 KB", 302, cookie(b"session=" + b"a" * 7000)),
    Case("session", "16 chunks of junk", 302, cookie(CHUNKS)),
    Case("session", "claims 17 chunks", 302, cookie(b"session=17.aaaa; session_2=bbbb")),
    Case("session", "claims 3 chunks, sends 2", 302, cookie(b"session=3.aaaa; session_2=bbbb")),
    Case("session", "chunk count of 5,000 digits", 302, cookie(b"session=" + b"9" * 5000 + b".a")),
    Case("session", "chunk count in a non-ASCII digit", 302, cookie(b"session=\xb2.aaaa; session_2=bbbb")),
    Case("session", "stale chunk named with a non-ASCII digit", 302, cookie(b"authorization_\xb2=x; session_\xb2=y")),
    Case("session", "non-UTF-8 bytes", 302, cookie(b"session=\xff\xfe\xfd")),
    Case("session", "not base64 (Redis storage)", 302, cookie(b"session=%%%***!!", "/signin-redis")),
    Case("session", "7 KB (Redis storage)", 302, cookie(b"session=" + b"a" * 7000, "/signin-redis")),
    Case("session", "sealed id of no stored session (Redis storage)", 302, no_such_session),
]


def callback(query: bytes) -> Callable[[Stack], int | None]:
    return raw_bytes(b"GET /signin?" + query + b" HTTP/1.1\r\nHost: gw\r\n\r\n")


def forged_code(s: Stack) -> int:
    """The state of a real sign-in in this browser (its authorization cookie), with a made-up code."""
    with httpx.Client(timeout=30) as browser:
        start = browser.get(s.proxy + "/signin")
        state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
        return browser.get(s.proxy + "/signin", params={"code": "x" * 5000, "state": state}).status_code


def signed_in(s: Stack) -> bytes:
    """The Cookie field of a valid session at /signin (cookie storage, sealed with the stack's secret)."""
    now = time.time()
    session = Session(id=new_id(), issuer=s.mock.issuer, client_id="web", created=now, renewed=now, seen=now,
                      access_token="opaque-access", expires_at=now + 300, id_token=None, refresh_token=None,
                      claims={"sub": "alice"})
    return b"Cookie: session=" + Sealer(SESSION_SECRET, "session", "session").seal(session.to_bytes()).encode() + b"\r\n"


def signed_in_then(query: bytes) -> Callable[[Stack], int | None]:
    """On one keep-alive connection, a signed-in browser's request to /signin (its decision is recorded and
    kept by the connection), then the same with this query: what the second one got."""
    def send(s: Stack) -> int | None:
        cookie = signed_in(s)
        with Conn(s.proxy_port) as conn:
            conn.send(b"GET /signin HTTP/1.1\r\nHost: gw\r\n" + cookie + b"\r\n")
            if (first := conn.response().status) != 200:
                return first
            conn.send(b"GET /signin?" + query + b" HTTP/1.1\r\nHost: gw\r\n" + cookie + b"\r\n")
            return conn.response().status
    return send


CALLBACKS = [  # judged before any token request; a refusal is a page, never a redirect (no loop)
    Case("callback", "no authorization cookie", 401, callback(b"code=c&state=s")),
    Case("callback", "code of 6 KB", 401, callback(b"code=" + b"c" * 6000 + b"&state=s")),
    Case("callback", "code twice", 401, callback(b"code=a&code=b&state=s")),
    Case("callback", "state twice", 401, callback(b"code=a&state=s&state=t")),
    Case("callback", "error twice", 401, callback(b"error=access_denied&error=x")),
    Case("callback", "error of 6 KB", 401, callback(b"error=" + b"e" * 6000)),
    Case("callback", "error with CR LF", 401, callback(b"error=x%0d%0aSet-Cookie:%20a=b")),
    Case("callback", "access_denied (control)", 403, callback(b"error=access_denied&state=s")),
    Case("callback", "non-UTF-8 percent-escapes", 401, callback(b"code=%ff%fe&state=%c3%28")),
    Case("callback", "raw non-ASCII bytes (not a valid request target)", 400, callback(b"code=\xff&state=\xfe")),
    Case("callback", "made-up code, right state", 401, forged_code),
    # beside a session whose decision the data plane recorded: only the app's own query may reuse it
    Case("callback", "signed in, the app's own query (control)", 200, signed_in_then(b"page=2&sort=name")),
    Case("callback", "signed in, a callback", 401, signed_in_then(b"code=c&state=s")),
    Case("callback", "signed in, a callback in %-escapes", 401, signed_in_then(b"c%6Fde=c&st%61te=s")),
    Case("callback", "signed in, an error in %-escapes", 401, signed_in_then(b"%65rror=x")),
    Case("callback", "signed in, a callback with empty values", 401, signed_in_then(b"code=&state=")),
]

# --------------------------------------------------------------------------------------- requests
REQUESTS = [
    *(Case("request", name, 400, raw_bytes(data.replace(b"/post", b"/open"))) for name, data in SMUGGLING.items()),
    *(Case("request", name, 400, raw_bytes(data.replace(b"/post", b"/open"))) for name, data in MALFORMED.items()),
    Case("request", "head over --max-header-size", 431, raw("/open", b"X-Big: " + b"a" * 9000 + b"\r\n")),
    Case("request", "broken percent-escape in the path", 400, raw("/open/%zz")),
    Case("request", "dot segments: /open/../mock is the protected route", 401, raw("/open/../../mock")),
    Case("request", "no route", 404, raw("/nowhere")),
    # What a consistent-hashing balancer hashes: junk is a value like any other, never an error.
    Case("request", "affinity cookie of 7 KB", 200, cookie(b"affinity=" + b"a" * 7000, "/sticky-cookie")),
    Case("request", "affinity cookie of non-UTF-8 bytes", 200, cookie(b"affinity=\xff\xfe", "/sticky-cookie")),
    Case("request", "affinity cookie empty, 50 times", 200, cookie(b"; ".join([b"affinity="] * 50), "/sticky-cookie")),
    Case("request", "hash header of non-UTF-8 bytes, twice", 200,
         raw("/sticky-header", b"X-Tenant: \xff\r\nX-Tenant: \xfe\r\n")),
    Case("request", "hash query argument with broken and non-UTF-8 escapes", 200,
         raw("/sticky-header?tenant=%zz&tenant=%ff%fe")),
]

# -------------------------------------------------------------------------------- configurations
LAUGHS = ("_format_version: '3.0'\na0: &a0 [x,x,x,x,x,x,x,x,x,x]\n"
          + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))
          + "services: [{name: s, url: 'http://127.0.0.1:1', tags: *a8}]\n")
PENDING: dict[str, str] = {}
BAD_CONFIGS = {
    "invalid YAML": "services: [",
    "not a mapping": "- just\n- a list\n",
    "unknown plugin": "_format_version: '3.0'\nplugins: [{name: no-such-plugin}]\n",
    "billion laughs": LAUGHS,
    "vault reference in a field that is not a secret": (  # it would answer every client with the secret
        "_format_version: '3.0'\nplugins:\n- name: openid-connect\n  config: {issuer: 'http://127.0.0.1:1',"
        " unauthorized_error_message: '{vault://env/aws-secret-access-key}'}\n"),
}


def post_config(base: Callable[[Stack], str], body: str, content_type: str = "application/yaml",
                **headers: str) -> Callable[[Stack], int]:
    return lambda s: httpx.post(base(s) + "/config", content=body.encode(), timeout=30,
                                headers={"Content-Type": content_type, **headers}).status_code


def dp_admin(s: Stack) -> str:
    return s.dp_admin


def cp_admin(s: Stack) -> str:
    return s.cp.admin


CONFIGS = [
    *(Case("config", f"{name} (data plane)", 400, post_config(dp_admin, text), PENDING.get(name, ""))
      for name, text in BAD_CONFIGS.items()),
    *(Case("config", f"{name} (control plane)", 400, post_config(cp_admin, text), PENDING.get(name, ""))
      for name, text in BAD_CONFIGS.items()),
    Case("config", "YAML as text/plain (no CORS preflight)", 415,
         post_config(cp_admin, "_format_version: '3.0'\n", "text/plain")),
    Case("config", "YAML as text/plain to the data plane", 415,
         post_config(dp_admin, "_format_version: '3.0'\n", "text/plain")),
    Case("config", "cross-site form POST", 403, lambda s: httpx.post(
        s.cp.admin + "/config", data={"config": "_format_version: '3.0'\n"}, timeout=30,
        headers={"Origin": "http://evil.example"}).status_code),
    Case("config", "cross-site form POST to the data plane", 403, lambda s: httpx.post(
        s.dp_admin + "/config", data={"config": "_format_version: '3.0'\n"}, timeout=30,
        headers={"Origin": "http://evil.example"}).status_code),
    Case("config", "read through DNS rebinding (Host)", 421, lambda s: httpx.get(
        s.cp.admin + "/config", headers={"Host": "evil.example"}, timeout=30).status_code),
    Case("config", "read the data plane's through DNS rebinding", 421, lambda s: httpx.get(
        s.dp_admin + "/config", headers={"Host": "evil.example"}, timeout=30).status_code),
]

# ------------------------------------------------------------------------------- Admin API bodies
def admin(method: str, path: str, **kwargs: object) -> Callable[[Stack], int]:
    return lambda s: httpx.request(method, s.cp.admin + path, timeout=30, **kwargs).status_code  # type: ignore[arg-type]


ADMIN = [
    Case("admin", "JSON array body", 400, admin("POST", "/services", json=[1, 2])),
    Case("admin", "broken JSON", 400, admin("POST", "/services", content=b"{",
                                            headers={"Content-Type": "application/json"})),
    Case("admin", "form field named []", 400, admin("POST", "/services", data={"[]": "x"})),
    Case("admin", "unknown field", 400, admin("POST", "/services", json={"name": "s", "url": "http://a", "x": 1})),
    Case("admin", "javascript: service URL", 400, admin("POST", "/services", json={"url": "javascript:alert(1)"})),
    Case("admin", "invalid route regex", 400, admin("POST", "/routes", json={"paths": ["~/(unclosed"]})),
    Case("admin", "plugin config field unknown", 400, admin("POST", "/plugins", json={
        "name": "correlation-id", "config": {"nope": True}})),
    Case("admin", "XML body", 415, admin("POST", "/services", content=b"<a/>",
                                          headers={"Content-Type": "application/xml"})),
    Case("admin", "body over 1 MiB", 413, admin("POST", "/services", json={"name": "s", "tags": ["t" * (1 << 20)]})),
    Case("admin", "encoded traversal in an id", 404, admin("GET", "/services/..%2f..%2fconfig")),
    Case("admin", "cross-site form POST (Origin)", 403, admin("POST", "/services", data={
        "name": "evil", "url": "http://127.0.0.1:1"}, headers={"Origin": "http://evil.example"})),
    Case("admin", "cross-site (Sec-Fetch-Site)", 403, admin("POST", "/services", data={
        "name": "evil2", "url": "http://127.0.0.1:1"}, headers={"Sec-Fetch-Site": "cross-site"})),
    Case("admin", "Host of a rebinding domain", 421, admin("GET", "/services", headers={"Host": "evil.example"})),
    Case("admin", "same-origin form POST from localhost (control)", 201, admin("POST", "/services", data={
        "name": "local", "url": "http://127.0.0.1:1"}, headers={"Origin": "http://localhost"})),
]

CASES = [*TOKENS, *SESSIONS, *CALLBACKS, *REQUESTS, *CONFIGS, *ADMIN]


def _param(case: Case) -> object:
    marks = [pytest.mark.xfail(strict=True, reason=f"fixed by {case.pending}")] if case.pending else []
    return pytest.param(case, id=f"{case.category}: {case.name}", marks=marks)


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_hostile_input(stack: Stack, case: Case) -> None:
    seen = case.send(stack)
    record(case.category, case.name, case.expected, seen)
    assert seen == case.expected, f"{case.category} / {case.name}: expected {case.expected}, saw {seen}"


def test_nothing_hostile_reached_the_logs_as_a_traceback(stack: Stack) -> None:
    """Runs last in this module: none of the cases made a process log a traceback."""
    for proc in (stack.dp, stack.cp.proc, stack.idp.proc):
        assert "Traceback" not in proc.output(), proc.output()[-3000:]
