"""Part 3 through real processes: `oidcgate idp`, `oidcgate echo` and `oidcgate dp` with a route whose
openid-connect plugin introspects JWTs (`introspect_jwt_tokens`, `cache_introspection: false`).

A user's access token passes; revoked at the provider's /v1/revoke, the very same JWT (still well signed and
unexpired) is refused on the next request, without waiting; the provider's introspection says so too. A
refresh token presented as a bearer token is refused: the provider introspects it as one."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.idp.helpers import Idp, running_idp, user_tokens
from tests.support.processes import Proc, free_port, start

pytestmark = pytest.mark.e2e


@dataclass
class Stack:
    idp: Idp
    proxy: str
    web: dict[str, Any]  # the browser app whose users' tokens the route accepts; also the plugin's own client


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("introspection")
    echo_port, proxy_port, status_port = free_port(), free_port(), free_port()
    with running_idp(work) as idp:
        idp.create_user("alice", groups=["staff"])
        web = idp.web_client()
        document = {"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything",
                    "routes": [{"name": "revocable", "paths": ["/revocable"], "plugins": [{
                        "name": "openid-connect", "config": {
                            "issuer": idp.issuer(), "client_id": [web["client_id"]],
                            "client_secret": [web["client_secret"]], "introspect_jwt_tokens": True,
                            "cache_introspection": False}}]}]}]}
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(document))
        procs: list[Proc] = []
        try:
            procs.append(start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port]))
            procs.append(start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{proxy_port}",
                                "--status-listen", f"127.0.0.1:{status_port}", "--workers", "1",
                                "--prefix", str(work / "dp")], work / "dp.log", [proxy_port, status_port]))
            yield Stack(idp, f"http://127.0.0.1:{proxy_port}", web)
        finally:
            for proc in reversed(procs):
                proc.stop()


def introspect(stack: Stack, token: str, hint: str | None = None) -> dict[str, Any]:
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    answer = httpx.post(stack.idp.endpoint("introspect"), data=data, timeout=10,
                        auth=(stack.web["client_id"], stack.web["client_secret"]))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_a_revoked_jwt_is_refused_at_once(stack: Stack) -> None:
    tokens = user_tokens(stack.idp, stack.web, "alice")
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    passed = httpx.get(f"{stack.proxy}/revocable", headers=bearer, timeout=30)
    assert passed.status_code == 200, passed.text
    assert introspect(stack, tokens["access_token"])["active"] is True

    revoked = httpx.post(stack.idp.endpoint("revoke"), data={"token": tokens["access_token"],
                                                            "token_type_hint": "access_token"},
                         auth=(stack.web["client_id"], stack.web["client_secret"]), timeout=10)
    assert revoked.status_code == 200
    assert introspect(stack, tokens["access_token"]) == {"active": False}  # RFC 7662 §2.2: nothing more
    refused = httpx.get(f"{stack.proxy}/revocable", headers=bearer, timeout=30)
    assert (refused.status_code, refused.json()) == (401, {"message": "Unauthorized"})
    assert refused.headers["WWW-Authenticate"] == ('Bearer realm="oidcgate", error="invalid_token", '
                                                   'error_description="the token is not active"')


def test_a_refresh_token_is_not_a_bearer_token(stack: Stack) -> None:
    tokens = user_tokens(stack.idp, stack.web, "alice")
    described = introspect(stack, tokens["refresh_token"], "refresh_token")
    assert described["active"] is True and described["token_type"] == "refresh_token"
    refused = httpx.get(f"{stack.proxy}/revocable", headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
                        timeout=30)
    assert refused.status_code == 401
    assert 'error_description="the token is a refresh token, not an access token"' in refused.headers[
        "WWW-Authenticate"]
