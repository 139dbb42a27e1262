"""The cluster cache through real processes: two data planes of two workers each (`oidcgate dp --workers 2`,
the same kong.yml), oauth2-mock-server and the machine's Redis. 200 requests of one client, in concurrent
bursts on fresh connections to both data planes, cost the provider exactly one token request; its discovery
count shows that all four workers took part (each worker loads the provider's metadata once)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from oidcgate.plugins.openid_connect.client_auth import basic_authorization
from tests.plugins.openid_connect.providers import MOCK_CLIENTS, MockProvider
from tests.support.processes import Proc, free_port, start
from tests.support.redis import DATABASE, keys_with, redis_prefix

pytestmark = pytest.mark.e2e
WORKERS = 2
REQUESTS = 200


def kong_yml(echo: str, mock: MockProvider, prefix: str) -> dict[str, object]:
    return {"_format_version": "3.0", "services": [{"name": "echo", "url": f"{echo}/anything", "routes": [
        {"name": "shared", "paths": ["/shared"], "plugins": [{"name": "openid-connect", "config": {
            "issuer": mock.issuer, "scopes": ["orders:read"], "cluster_cache_strategy": "redis",
            "session_secret": "e2e-cluster-cache-secret-0123456789abcdef",
            "cluster_cache_redis": {"database": DATABASE, "prefix": prefix}}}]}]}]}


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory, mock: MockProvider) -> Iterator[tuple[list[str], str]]:
    work: Path = tmp_path_factory.mktemp("cluster-cache")
    echo_port = free_port()
    with redis_prefix("e2e-oidc-cache") as prefix:
        echo = start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(kong_yml(f"http://127.0.0.1:{echo_port}", mock, prefix)))
        dps: list[Proc] = []
        try:
            urls = []
            for n in range(2):
                port, status = free_port(), free_port()
                dps.append(start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{port}",
                                  "--status-listen", f"127.0.0.1:{status}", "--workers", str(WORKERS),
                                  "--prefix", str(work / f"dp{n}")], work / f"dp{n}.log", [port, status]))
                wait_ready(f"http://127.0.0.1:{status}/status/ready")
                urls.append(f"http://127.0.0.1:{port}")
            yield urls, prefix
        finally:
            for proc in dps:
                proc.stop()
            echo.stop()


def wait_ready(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} was not ready within {timeout}s")


def request(url: str) -> tuple[int, str | None]:
    """One request on a connection of its own, so that the kernel may hand it to any worker."""
    with httpx.Client(timeout=30) as client:
        answer = client.get(url, headers={"Authorization": basic_authorization("svc", MOCK_CLIENTS["svc"]["secret"])})
    if answer.status_code != 200:
        return answer.status_code, None
    headers = {name.lower(): value for name, value in answer.json()["headers"].items()}
    return 200, headers.get("authorization")


def test_two_data_planes_of_two_workers_make_one_token_request(proxies: tuple[list[str], str],
                                                                mock: MockProvider) -> None:
    urls, prefix = proxies
    before = mock.counts()
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(request, [f"{urls[i % 2]}/shared" for i in range(REQUESTS)]))
    after = mock.counts()
    assert [status for status, _ in answers].count(200) == REQUESTS
    assert len({token for _, token in answers}) == 1  # every worker of both nodes forwarded the same token
    assert after["token"] - before["token"] == 1
    assert after["discovery"] - before["discovery"] == 2 * WORKERS  # all four workers served requests
    assert [key.split(b":")[3] for key in keys_with(prefix)] == [b"token"]  # one shared entry
