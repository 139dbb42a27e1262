"""The demo's orchestration: start the parts as child processes, configure them, print what to try.

Every part runs as its own `oidcgate` process, exactly as an operator would run it, with its
output in `<prefix>/logs/`. Configuration goes through the public interfaces only: the identity
provider's admin API and the control plane's Kong-compatible Admin API.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from oidcgate.demo.ports import HOST, Addresses
from oidcgate.private_files import private_dir, write_private

SCOPES = "orders:read orders:write"
DEMO_USER = "demo"
WEB_SCOPES = ["openid", "profile", "email", "groups", "offline_access"]
START_TIMEOUT = 20.0


class DemoError(RuntimeError):
    pass


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


def run(prefix: str, at: Addresses, *, wait: bool = True) -> int:
    root = Path(prefix).resolve()
    private_dir(root / "logs")  # the state (keys, secrets) and the logs are the operator's alone
    try:
        _check_ports_free(at)
        with _children() as children:
            started = time.monotonic()
            _start_all(root, children, at)
            client = _ensure_idp_client(root, at)
            _configure_gateway(client, at)
            _wait_for_route(at)
            elapsed = time.monotonic() - started
            _print_instructions(root, client, elapsed, at)
            web = _ensure_web_sign_in(root, at)
            _configure_browser_route(web, at)
            _wait_for_route(at, "/app", 302)
            _print_browser_instructions(web, at)
            ok = _run_story(client, at)
            if not wait:
                return 0 if ok else 1
            _wait_for_signal(children)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    print("demo: stopped.")
    return 0


def _check_ports_free(at: Addresses) -> None:
    busy = []
    for name, port in at.ports.items():
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                busy.append(f"{name} ({port})")
    if busy:
        raise DemoError(f"ports already in use: {', '.join(busy)}; is another demo running? (--ports moves parts)")


@contextlib.contextmanager
def _children() -> Iterator[list[Child]]:
    children: list[Child] = []
    try:
        yield children
    finally:
        for child in reversed(children):  # data plane first, identity provider last
            _stop(child)


def _spawn(children: list[Child], root: Path, name: str, *args: str) -> Child:
    log = root / "logs" / f"{name}.log"
    with open(log, "ab") as out:
        popen = subprocess.Popen([sys.executable, "-m", "oidcgate.cli", *args], stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True,
                                 env={**os.environ, "PYTHONUNBUFFERED": "1"})
    child = Child(name, popen, log)
    children.append(child)
    return child


def _stop(child: Child) -> None:
    if child.popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.popen.pid, signal.SIGTERM)
    try:
        child.popen.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.popen.pid, signal.SIGKILL)
        child.popen.wait(5)


def _oidcgate(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "oidcgate.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)
    if done.returncode != 0:
        raise DemoError(f"oidcgate {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def idp_command(root: Path, listen: str, admin_token: str) -> list[str]:
    """`oidcgate idp`'s arguments; the token in `--admin-token=` form, as a random one may begin with "-"."""
    return ["idp", "--listen", listen, "--database", f"sqlite:///{root / 'idp.db'}", f"--admin-token={admin_token}"]


def _start_all(root: Path, children: list[Child], at: Addresses) -> None:
    """The identity provider and the echo start first, so their start-up overlaps the set-up steps."""
    idp_token = secrets.token_urlsafe(24)
    os.environ["OIDCGATE_DEMO_IDP_TOKEN"] = idp_token  # for this process only: the admin calls below
    _spawn(children, root, "idp", *idp_command(root, at.listen("idp"), idp_token))
    _spawn(children, root, "echo", "echo", "--listen", at.listen("echo"))
    cert, key = root / "cluster.crt", root / "cluster.key"
    if not cert.exists():
        _oidcgate("cluster", "gen-cert", "--cert", str(cert), "--key", str(key))
    _oidcgate("cp", "migrate", "--prefix", str(root / "cp"))
    _spawn(children, root, "cp", "cp", "--prefix", str(root / "cp"),
           "--admin-listen", at.listen("admin"), "--gui-listen", at.listen("gui"),
           "--cluster-listen", at.listen("cluster"), "--cluster-cert", str(cert), "--cluster-key", str(key))
    _spawn(children, root, "dp", "dp", "--prefix", str(root / "dp"), "--cp", at.listen("cluster"),
           "--cluster-cert", str(cert), "--cluster-key", str(key),
           "--proxy-listen", at.listen("proxy"), "--status-listen", at.listen("status"))
    for name, port in (("idp", "idp"), ("echo", "echo"), ("cp", "admin"), ("cp", "gui"), ("dp", "proxy")):
        _wait_port(next(c for c in children if c.name == name), at.ports[port])


def _wait_port(child: Child, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if child.popen.poll() is not None:
            raise DemoError(f"{child.name} exited with {child.popen.returncode}; see {child.log}:\n"
                            f"{child.log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise DemoError(f"{child.name} did not listen on {port} within {START_TIMEOUT:.0f}s; see {child.log}")


def _idp_admin(at: Addresses) -> httpx.Client:
    return httpx.Client(base_url=f"{at.url('idp')}/api/v1", timeout=10,
                        headers={"Authorization": f"SSWS {os.environ['OIDCGATE_DEMO_IDP_TOKEN']}"})


def _ensure_idp_client(root: Path, at: Addresses) -> dict[str, str]:
    """The demo's API client at the identity provider, created once and remembered in the prefix."""
    saved = root / "demo-client.json"
    with _idp_admin(at) as idp:
        if saved.exists():
            client = json.loads(saved.read_text())
            if idp.get(f"/clients/{client['client_id']}").status_code == 200:
                return dict(client)
        for scope in SCOPES.split():
            response = idp.post("/scopes", json={"name": scope, "description": f"demo scope {scope}"})
            if response.status_code not in (200, 201, 409):
                raise DemoError(f"identity provider refused scope {scope}: {response.text}")
        response = idp.post("/clients", json={
            "name": "demo-api-client", "grant_types": ["client_credentials"], "scopes": SCOPES.split(),
            "token_endpoint_auth_method": "client_secret_basic"})
        if response.status_code not in (200, 201):
            raise DemoError(f"identity provider refused the demo client: {response.text}")
        body = response.json()
    client = {"client_id": body["client_id"], "client_secret": body["client_secret"]}
    write_private(saved, json.dumps(client).encode())
    return client


def _ensure_web_sign_in(root: Path, at: Addresses) -> dict[str, str]:
    """The browser route's client and the demo user at the identity provider, made once (kept in the prefix)
    and again when the proxy moved (its redirect URIs name the proxy)."""
    saved = root / "demo-web.json"
    proxy = at.url("proxy")
    with _idp_admin(at) as idp:
        if saved.exists():
            web = json.loads(saved.read_text())
            if web.get("proxy") == proxy and idp.get(f"/clients/{web['client_id']}").status_code == 200:
                return dict(web)
        password = secrets.token_urlsafe(12)
        user = {"username": DEMO_USER, "password": password, "name": "Demo User", "email": "demo@example.test",
                "groups": ["users"]}
        response = idp.post("/users", json=user)
        if response.status_code == 409:  # kept from an earlier demo whose client is gone: made afresh
            listing = idp.get("/users").json()
            for known in listing if isinstance(listing, list) else listing.get("data", []):
                if known.get("username") == DEMO_USER:
                    idp.delete(f"/users/{known['id']}")
            response = idp.post("/users", json=user)
        if response.status_code >= 300:
            raise DemoError(f"identity provider refused the demo user: {response.text}")
        response = idp.post("/clients", json={
            "name": "demo-browser-app", "grant_types": ["authorization_code", "refresh_token"],
            "scopes": WEB_SCOPES, "redirect_uris": [f"{proxy}/app/callback"],
            "post_logout_redirect_uris": [f"{proxy}/app/signed-out"]})
        if response.status_code not in (200, 201):
            raise DemoError(f"identity provider refused the browser client: {response.text}")
        body = response.json()
    web = {"client_id": body["client_id"], "client_secret": body["client_secret"], "username": DEMO_USER,
           "password": password, "session_secret": secrets.token_urlsafe(32), "proxy": proxy}
    write_private(saved, json.dumps(web).encode())
    return web


def _configure_browser_route(web: dict[str, str], at: Addresses) -> None:
    """Route /app → openid-connect with browser sign-in (authorization code + PKCE, session cookie, logout)."""
    proxy = at.url("proxy")
    config: dict[str, Any] = {
        "issuer": at.issuer, "client_id": [web["client_id"]], "client_secret": [web["client_secret"]],
        "auth_methods": ["authorization_code", "session", "refresh_token"], "scopes": WEB_SCOPES,
        "redirect_uri": [f"{proxy}/app/callback"], "session_secret": web["session_secret"],
        "logout_uri_suffix": "/logout", "logout_methods": ["GET", "POST"],
        "logout_redirect_uri": f"{proxy}/app/signed-out",
        "upstream_headers_claims": ["preferred_username", "groups"],
        "upstream_headers_names": ["X-User", "X-Groups"],
    }
    with httpx.Client(base_url=at.url("admin"), timeout=10) as admin:
        _expect(admin.put("/routes/app", json={"paths": ["/app"], "service": {"name": "httpbin"}}))
        _expect(admin.put("/routes/app-signed-out", json={"paths": ["/app/signed-out"],
                                                          "service": {"name": "httpbin"}}))
        existing = admin.get("/routes/app/plugins").json().get("data", [])
        current = next((p for p in existing if p["name"] == "openid-connect"), None)
        if current is None:
            _expect(admin.post("/routes/app/plugins", json={"name": "openid-connect", "config": config}))
        else:
            _expect(admin.patch(f"/plugins/{current['id']}", json={"config": config}))


def _print_browser_instructions(web: dict[str, str], at: Addresses) -> None:
    proxy = at.url("proxy")
    print(f"""Browser sign-in: open {proxy}/app in a browser and sign in at the identity provider as

  username  {web['username']}
  password  {web['password']}

The echo shows what the upstream got (X-User, X-Groups, the access token); reload: no new sign-in.
Sign out: {proxy}/app/logout (ends the provider's session too).
""", flush=True)


def _configure_gateway(client: dict[str, str], at: Addresses) -> None:
    """Service httpbin → route /oidcroute → openid-connect, through the Admin API (idempotent)."""
    with httpx.Client(base_url=at.url("admin"), timeout=10) as admin:
        _expect(admin.put("/services/httpbin", json={"url": f"{at.url('echo')}/anything"}))
        _expect(admin.put("/routes/oidcroute", json={"paths": ["/oidcroute"], "service": {"name": "httpbin"}}))
        config: dict[str, Any] = {
            "issuer": at.issuer,
            "client_id": [client["client_id"]],
            "client_secret": [client["client_secret"]],
            "auth_methods": ["client_credentials", "bearer"],
            "scopes": SCOPES.split(),
            "scopes_required": ["orders:read"],
            "upstream_headers_claims": ["iss"],
            "upstream_headers_names": ["Issuer_Header"],
        }
        existing = admin.get("/routes/oidcroute/plugins").json().get("data", [])
        current = next((p for p in existing if p["name"] == "openid-connect"), None)
        if current is None:
            _expect(admin.post("/routes/oidcroute/plugins", json={"name": "openid-connect", "config": config}))
        else:
            _expect(admin.patch(f"/plugins/{current['id']}", json={"config": config}))


def _expect(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        raise DemoError(f"Admin API {response.request.method} {response.request.url.path} answered "
                        f"{response.status_code}: {response.text}")
    return response


def _wait_for_route(at: Addresses, path: str = "/oidcroute", expected: int = 401) -> None:
    """The data plane serves the route once the control plane's push arrived (it answers `expected`)."""
    deadline = time.monotonic() + START_TIMEOUT
    status = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            status = httpx.get(f"{at.url('proxy')}{path}", timeout=2).status_code
            if status == expected:
                return
        time.sleep(0.1)
    raise DemoError(f"the data plane did not serve {path} in time (last status {status})")


def _print_instructions(root: Path, client: dict[str, str], elapsed: float, at: Addresses) -> None:
    proxy = at.url("proxy")
    cid, secret = client["client_id"], client["client_secret"]
    print(f"""
oidcgate demo is up in {elapsed:.1f}s (state in {root}, logs in {root / 'logs'}).

  identity provider  {at.issuer}
  echo upstream      {at.url('echo')}
  Admin API          {at.url('admin')}      GUI  {at.url('gui')}
  data plane proxy   {proxy}      status  {at.url('status')}/status

Service 'httpbin' -> route '/oidcroute' -> openid-connect (client credentials and bearer),
claim 'iss' injected upstream as 'Issuer_Header'.

  client id      {cid}
  client secret  {secret}

Try:
  # 401: no credentials
  curl -i {proxy}/oidcroute
  # 200: the gateway gets a token, verifies it and proxies; see "Issuer-Header" in the echo
  curl -i -u '{cid}:{secret}' {proxy}/oidcroute
  # 200 with the token itself, verified against the provider's keys
  TOKEN=$(curl -s -u '{cid}:{secret}' -d grant_type=client_credentials -d scope=orders:read \\
          {at.issuer}/v1/token | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -i -H "Authorization: Bearer $TOKEN" {proxy}/oidcroute
  # the token's header and claims
  .venv/bin/oidcgate token decode "$TOKEN"
  # the runtime manager: the data planes and their config hash
  curl -s {at.url('admin')}/clustering/data-planes
""", flush=True)


def _run_story(client: dict[str, str], at: Addresses) -> bool:
    """Walk the story once so the demo proves itself: 401 without credentials, 200 with them."""
    url = f"{at.url('proxy')}/oidcroute"
    anonymous = httpx.get(url, timeout=10)
    authorized = httpx.get(url, auth=(client["client_id"], client["client_secret"]), timeout=10)
    injected = None
    if authorized.status_code == 200:
        headers = {k.lower(): v for k, v in authorized.json().get("headers", {}).items()}
        injected = headers.get("issuer-header") or headers.get("issuer_header")
    ok = anonymous.status_code == 401 and authorized.status_code == 200 and injected == at.issuer
    print(f"Checked: without credentials -> {anonymous.status_code}; with -u id:secret -> "
          f"{authorized.status_code}, upstream saw Issuer-Header: {injected}  [{'ok' if ok else 'FAILED'}]")
    browser = httpx.get(f"{at.url('proxy')}/app", timeout=10)
    to_sign_in = browser.status_code == 302 and browser.headers.get("location", "").startswith(at.issuer)
    print(f"Checked: a browser at /app -> {browser.status_code} to the identity provider's sign-in  "
          f"[{'ok' if to_sign_in else 'FAILED'}]")
    return ok and to_sign_in


def _wait_for_signal(children: list[Child]) -> None:
    print("Press Ctrl-C to stop.", flush=True)
    stop = False

    def _handle(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
    while not stop:
        dead = [c for c in children if c.popen.poll() is not None]
        if dead:
            print(f"demo: {dead[0].name} exited ({dead[0].popen.returncode}); see {dead[0].log}", file=sys.stderr)
            return
        time.sleep(0.2)
