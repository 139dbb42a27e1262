"""request-transformer through a real `oidcgate dp` to a real `oidcgate echo`: the echo sees the result."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.processes import echo_and_dataplane

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """echo + dp with request-transformer on /transform and on /method; yields the proxy's base URL."""
    work = tmp_path_factory.mktemp("rt")

    def document(echo_port: int) -> dict[str, Any]:
        return {
            "_format_version": "3.0",
            "services": [{
                "name": "echo", "url": f"http://127.0.0.1:{echo_port}/anything",
                "routes": [
                    {"name": "transform", "paths": ["/transform"], "plugins": [{"name": "request-transformer", "config": {
                        "remove": {"headers": ["X-Secret"], "querystring": ["drop"], "body": ["password"]},
                        "rename": {"headers": ["X-Old:X-New"], "querystring": ["old:new"], "body": ["user:username"]},
                        "replace": {"headers": ["X-Replace:replaced"], "querystring": ["page:1"]},
                        "add": {"headers": ["X-Added:yes", "X-Client:not-overridden"], "querystring": ["added:1"],
                                "body": ["source:gateway"]},
                        "append": {"headers": ["X-Multi:second"], "querystring": ["tag:b"]},
                    }}]},
                    {"name": "method", "paths": ["/method"], "plugins": [{"name": "request-transformer", "config": {
                        "http_method": "PUT", "replace": {"uri": "/anything/rewritten"}}}]},
                ],
            }],
        }

    with echo_and_dataplane(work, document) as url:
        yield url


def test_headers_and_querystring_are_transformed(gateway: str) -> None:
    response = httpx.get(f"{gateway}/transform?drop=1&old=o&page=9&tag=a&keep=k", timeout=10, headers={
        "X-Secret": "s", "X-Old": "moved", "X-Replace": "original", "X-Client": "mine", "X-Multi": "first"})
    assert response.status_code == 200
    echoed = response.json()
    headers = {name.lower(): value for name, value in echoed["headers"].items()}
    assert "x-secret" not in headers
    assert "x-old" not in headers
    assert headers["x-new"] == "moved"
    assert headers["x-replace"] == "replaced"
    assert headers["x-added"] == "yes"
    assert headers["x-client"] == "mine"
    assert headers["x-multi"] == "first, second"
    assert echoed["args"] == {"new": "o", "page": "1", "tag": ["a", "b"], "keep": "k", "added": "1"}


def test_form_body_is_transformed(gateway: str) -> None:
    response = httpx.post(f"{gateway}/transform", data={"user": "ann", "password": "pw", "x": "1"}, timeout=10)
    echoed = response.json()
    assert echoed["form"] == {"username": "ann", "x": "1", "source": "gateway"}
    assert echoed["headers"].get("Content-Length") == str(echoed["body_length"])


def test_json_body_is_transformed(gateway: str) -> None:
    response = httpx.post(f"{gateway}/transform", json={"user": "ann", "password": "pw", "n": [1]}, timeout=10)
    assert response.json()["json"] == {"username": "ann", "n": [1], "source": "gateway"}


def test_method_and_uri_are_replaced(gateway: str) -> None:
    echoed = httpx.post(f"{gateway}/method/ignored?q=1", content=b"payload", timeout=10).json()
    assert echoed["method"] == "PUT"
    assert echoed["url"].split("://", 1)[1].partition("/")[2] == "anything/rewritten?q=1"
    assert echoed["data"] == "payload"


def test_other_bodies_stream_through_untouched(gateway: str) -> None:
    body = bytes(range(256)) * 8192  # 2 MiB, over the echo's echo limit and the plugin's body limit
    response = httpx.post(f"{gateway}/transform", content=body, timeout=30,
                          headers={"Content-Type": "application/octet-stream"})
    echoed = response.json()
    assert echoed["body_length"] == len(body)
    assert echoed["data"] is None
