"""The hostile-input suite's stack and its table.

One stack per session: a third-party provider (oauth2-mock-server, whose signing key the tests hold),
the embedded identity provider, the echo upstream, a DB-less data plane with its admin API (its routes
include browser sign-in against the mock, sessions in the cookie and in the machine's Redis), and a
control plane. Every case records what it expected and what it saw; the table is printed at the end
of the run, with its counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import yaml

from tests.controlplane.cp_process import ControlPlane, running_cp
from tests.idp.helpers import Idp, running_idp
from tests.plugins.openid_connect.providers import AUDIENCE, MOCK_CLIENTS, MockProvider
from tests.support.processes import Proc, free_port, start
from tests.support.redis import DATABASE, redis_prefix

SEEN: list[tuple[str, str, int, int | None]] = []  # (category, case, expected, seen)
SESSION_SECRET = "hostile-session-secret"


@dataclass
class Stack:
    proxy_port: int
    admin_port: int
    mock: MockProvider
    idp: Idp
    cp: ControlPlane
    dp: Proc
    web_client: dict[str, Any] = field(default_factory=dict)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def dp_admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(self.proxy + path, timeout=30, **kwargs)


def kong_yml(echo: str, mock: MockProvider, idp: Idp, prefix: str) -> dict[str, Any]:
    oidc = {"name": "openid-connect"}
    signin = {"issuer": mock.issuer, "client_id": ["web"], "client_secret": [MOCK_CLIENTS["web"]["secret"]],
              "auth_methods": ["authorization_code", "session"], "session_secret": SESSION_SECRET}
    targets = [{"target": echo.removeprefix("http://")}, {"target": echo.removeprefix("http://").replace(
        "127.0.0.1", "localhost")}]
    sticky = {"algorithm": "consistent-hashing", "targets": targets}
    return {"_format_version": "3.0", "upstreams": [  # the balancer hashes what strangers send
        {"name": "by-cookie", **sticky, "hash_on": "cookie", "hash_on_cookie": "affinity"},
        {"name": "by-header", **sticky, "hash_on": "header", "hash_on_header": "X-Tenant",
         "hash_fallback": "query_arg", "hash_fallback_query_arg": "tenant"}], "services": [
        {"name": "sticky-cookie", "host": "by-cookie", "path": "/anything",
         "routes": [{"name": "sticky-cookie", "paths": ["/sticky-cookie"]}]},
        {"name": "sticky-header", "host": "by-header", "path": "/anything",
         "routes": [{"name": "sticky-header", "paths": ["/sticky-header"]}]},
        {"name": "echo", "url": f"{echo}/anything", "routes": [
        {"name": "mock", "paths": ["/mock"], "plugins": [{**oidc, "config": {
            "issuer": mock.issuer, "auth_methods": ["bearer", "client_credentials"], "scopes": ["orders:read"],
            "audience_required": [AUDIENCE], "upstream_headers_claims": ["iss"],
            "upstream_headers_names": ["Issuer_Header"]}}]},
        {"name": "idp", "paths": ["/idp"], "plugins": [{**oidc, "config": {
            "issuer": idp.issuer(), "auth_methods": ["bearer"], "upstream_access_token_header": None}}]},
        {"name": "signin", "paths": ["/signin"], "plugins": [{**oidc, "config": signin}]},
        {"name": "signin-redis", "paths": ["/signin-redis"], "plugins": [{**oidc, "config": {
            **signin, "session_storage": "redis", "redis": {"database": DATABASE, "prefix": prefix}}}]},
        {"name": "open", "paths": ["/open"]},
    ]}]}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("hostile")
    for part in ("mock", "idp"):
        (work / part).mkdir()
    mock = MockProvider(work / "mock").start()
    echo_port, proxy_port, admin_port = free_port(), free_port(), free_port()
    try:
        with running_idp(work / "idp") as idp, running_cp(work / "cp") as cp, redis_prefix("hostile") as prefix:
            echo = start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])
            config = work / "kong.yml"
            config.write_text(yaml.safe_dump(kong_yml(f"http://127.0.0.1:{echo_port}", mock, idp, prefix)))
            dp = start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{proxy_port}",
                        "--status-listen", "off", "--admin-listen", f"127.0.0.1:{admin_port}",
                        "--workers", "1", "--prefix", str(work / "dp"), "--max-header-size", "8192"],
                       work / "dp.log", [proxy_port, admin_port])
            try:
                yield Stack(proxy_port, admin_port, mock, idp, cp, dp, idp.web_client())
            finally:
                dp.stop()
                echo.stop()
    finally:
        mock.stop()


def record(category: str, case: str, expected: int, seen: int | None) -> None:
    SEEN.append((category, case, expected, seen))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not SEEN:
        return
    width = max(len(case) for _, case, _, _ in SEEN)
    write = terminalreporter.write_line
    terminalreporter.section("hostile inputs")
    write(f"{'category':9s} {'case':{width}s} expected seen")
    for category, case, expected, seen in SEEN:
        mark = "" if seen == expected else "  <-- differs"
        write(f"{category:9s} {case:{width}s} {expected:8d} {seen if seen is not None else '-'}{mark}")
    by_category: dict[str, int] = {}
    for category, *_ in SEEN:
        by_category[category] = by_category.get(category, 0) + 1
    matched = sum(1 for *_, expected, seen in SEEN if expected == seen)
    write(f"{len(SEEN)} cases ({', '.join(f'{n} {c}' for c, n in by_category.items())}), "
          f"{matched} as expected, {len(SEEN) - matched} not")

