"""correlation-id through a real `oidcgate dp` to a real `oidcgate echo`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import echo_and_dataplane

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """/quiet: Kong's defaults; /echoed: uuid generator, own header, echo_downstream. Yields the proxy URL."""
    work = tmp_path_factory.mktemp("cid")

    def document(echo_port: int) -> dict[str, Any]:
        return {
            "_format_version": "3.0",
            "services": [{
                "name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything",
                "routes": [
                    {"name": "quiet", "paths": ["/quiet"], "plugins": [{"name": "correlation-id"}]},
                    {"name": "echoed", "paths": ["/echoed"], "plugins": [{"name": "correlation-id", "config": {
                        "header_name": "X-Request-ID", "generator": "uuid", "echo_downstream": True}}]},
                    # an authentication plugin answers 401 itself; the id must still go back to the client
                    {"name": "guarded", "paths": ["/guarded"], "plugins": [
                        {"name": "correlation-id", "config": {"header_name": "X-Request-ID", "echo_downstream": True}},
                        {"name": "openid-connect", "config": {"issuer": "http://127.0.0.1:9/oauth2/default",
                                                              "auth_methods": ["bearer"]}}]},
                ],
            }],
        }

    with echo_and_dataplane(work, document) as url:
        yield url


def upstream_header(response: httpx.Response, name: str) -> str | None:
    return {k.lower(): v for k, v in response.json()["headers"].items()}.get(name.lower())


def test_defaults_add_a_uuid_counter_id_upstream_only(gateway: str) -> None:
    with httpx.Client(timeout=10) as client:
        first = client.get(f"{gateway}/quiet")
        second = client.get(f"{gateway}/quiet")
    ids = [upstream_header(r, "Kong-Request-ID") or "" for r in (first, second)]
    pattern = re.compile(r"^[0-9a-f-]{36}#(\d+)$")
    matches = [pattern.match(value) for value in ids]
    assert all(matches), ids
    assert ids[0].partition("#")[0] == ids[1].partition("#")[0]
    assert int(ids[1].partition("#")[2]) > int(ids[0].partition("#")[2])
    assert "Kong-Request-ID" not in first.headers


def test_echo_downstream_returns_the_same_id(gateway: str) -> None:
    response = httpx.get(f"{gateway}/echoed", timeout=10)
    upstream = upstream_header(response, "X-Request-ID")
    assert upstream is not None
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", upstream)
    assert response.headers["X-Request-ID"] == upstream


def test_a_client_id_is_kept_and_echoed(gateway: str) -> None:
    response = httpx.get(f"{gateway}/echoed", headers={"X-Request-ID": "client-123"}, timeout=10)
    assert upstream_header(response, "X-Request-ID") == "client-123"
    assert response.headers["X-Request-ID"] == "client-123"


def test_a_plugins_own_answer_gets_the_response_phase_too(gateway: str) -> None:
    response = httpx.get(f"{gateway}/guarded", timeout=10)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}
    assert re.fullmatch(r"[0-9a-f-]{36}#\d+", response.headers["X-Request-ID"])
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
