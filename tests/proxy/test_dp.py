"""`oidcgate dp` as a process: configuration intake, reloads under load, draining, worker supervision."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.proxy.conftest import StartDP
from tests.proxy.helpers import service
from tests.support.private import loosen, modes, private
from tests.support.processes import OIDCGATE, free_port


def wait_until(check, timeout: float = 15.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(interval)


def test_an_invalid_file_is_refused_at_start_with_every_error(tmp_path: Path) -> None:
    config = tmp_path / "kong.yml"
    config.write_text("_format_version: '3.0'\nservices:\n- name: s\n  url: http://up\n  routes:\n"
                      "  - paths: [nope]\n  - paths: ['/ok']\n    methods: [get]\nplugins:\n- name: unknown\n")
    result = subprocess.run([*OIDCGATE, "dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{free_port()}",
                             "--status-listen", "off", "--prefix", str(tmp_path / "p")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "invalid configuration (3 error(s))" in result.stderr
    assert "services[0].routes[0].paths[0]: should start with" in result.stderr
    assert "services[0].routes[1].methods[0]: invalid method" in result.stderr
    assert "plugins[0].name: plugin 'unknown' not enabled" in result.stderr


def test_db_less_admin_api_and_the_last_good_configuration(dataplane: StartDP, echo_port: int,
                                                           tmp_path: Path) -> None:
    dp = dataplane(None, admin=True, prefix=tmp_path / "prefix")
    admin = f"http://127.0.0.1:{dp.admin_port}"
    response = httpx.get(dp.url + "/get")
    assert response.status_code == 503
    assert response.json() == {"message": "no configuration loaded yet"}
    assert httpx.get(f"http://127.0.0.1:{dp.status_port}/status/ready").status_code == 503

    bad = {"_format_version": "3.0", "services": [{"name": "s", "url": "ftp://x", "routes": [{"paths": ["x"]}]}]}
    response = httpx.post(f"{admin}/config", json=bad)
    assert response.status_code == 400
    body = response.json()
    assert body["name"] == "invalid declarative configuration" and body["code"] == 14
    assert {e["path"] for e in body["flattened_errors"]} == {"services[0]", "services[0].routes[0].paths[0]"}
    assert body["fields"]["services"]

    doc = service(echo_port)
    response = httpx.post(f"{admin}/config", content=json.dumps(doc), headers={"Content-Type": "application/json"})
    assert response.status_code == 201
    configuration_hash = response.json()["configuration_hash"]
    assert httpx.get(dp.url + "/get").status_code == 200
    assert dp.status()["configuration_hash"] == configuration_hash
    assert httpx.get(f"http://127.0.0.1:{dp.status_port}/status/ready").json() == {"message": "ready"}
    assert "_format_version: '3.0'" in httpx.get(f"{admin}/config").json()["config"]
    # Kong's form upload (`curl -F config=@kong.yml`) and check_hash.
    response = httpx.post(f"{admin}/config?check_hash=1", files={"config": ("kong.yml", json.dumps(doc))})
    assert response.status_code == 304

    dp.proc.stop()
    again = dataplane(None, prefix=tmp_path / "prefix")  # no --config: the last good one from the prefix
    assert httpx.get(again.url + "/get").status_code == 200
    assert again.status()["configuration_hash"] == configuration_hash


def test_state_is_private_and_loose_files_are_tightened_at_start(dataplane: StartDP, echo_port: int,
                                                               tmp_path: Path) -> None:
    prefix = tmp_path / "state" / "dp"
    config, node = prefix / "config.json", prefix / "node_id"
    dp = dataplane(None, admin=True, prefix=prefix)
    assert httpx.post(f"http://127.0.0.1:{dp.admin_port}/config", json=service(echo_port)).status_code == 201
    assert modes(prefix.parent, prefix, config, node) == private(dirs=(prefix.parent, prefix), files=(config, node))
    assert sorted(p.name for p in prefix.iterdir()) == ["config.json", "node_id"]  # no temporary file left
    dp.proc.stop()
    loosen(config, node)
    again = dataplane(None, prefix=prefix)
    assert httpx.get(again.url + "/get").status_code == 200  # started from the last good configuration
    assert modes(config, node) == private(files=(config, node))
    output = again.proc.output()
    assert f"{config} was accessible to other users (mode 0644): changed to 0600" in output
    assert f"{node} was accessible to other users" in output


def test_no_route_and_environment_variables(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(service(echo_port, only={"paths": ["/only"]}), env={"OIDCGATE_MAX_HEADER_SIZE": "1024"})
    response = httpx.get(dp.url + "/other")
    assert response.status_code == 404
    assert response.json() == {"message": "no Route matched with those values"}
    assert httpx.get(dp.url + "/only/get").status_code == 200
    assert httpx.get(dp.url + "/only/get", headers={"X-Big": "x" * 2000}).status_code == 431  # from the variable


def test_reloads_under_load_drop_no_request(dataplane: StartDP, echo_port: int) -> None:
    """A loop of requests while the configuration changes by file, SIGHUP and POST /config: zero errors."""
    doc = service(echo_port, a={"paths": ["/"]})
    dp = dataplane(doc, workers=2, admin=True)
    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def hammer() -> None:
        with httpx.Client(timeout=10) as client:
            while not done.is_set():
                try:
                    response = client.get(dp.url + "/anything/x")
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:100]}")
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                count[0] += 1

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(hammer)
        hashes = set()
        for i in range(6):
            changed = service(echo_port, **{f"r{i}": {"paths": ["/"]}, "extra": {"paths": [f"/extra{i}"]}})
            if i % 3 == 0:
                dp.write_config(changed)
                os.kill(dp.proc.popen.pid, signal.SIGHUP)
            elif i % 3 == 1:
                dp.write_config(changed)  # picked up by the file watcher
            else:
                response = httpx.post(f"http://127.0.0.1:{dp.admin_port}/config", json=changed)
                assert response.status_code == 201
            hashes.add(wait_until(lambda: (h := dp.status()["configuration_hash"]) not in hashes and h, timeout=20))
            time.sleep(0.3)
        done.set()
    assert not failures, failures[:5]
    assert count[0] > 50
    status = dp.status()
    assert {w["configuration_hash"] for w in status["workers"]} == {status["configuration_hash"]}


def test_sigterm_drains_in_flight_requests(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(service(echo_port), args=("--drain-timeout", "5"))
    result: dict[str, object] = {}

    def slow() -> None:
        try:
            result["response"] = httpx.get(dp.url + "/delay/1.5", timeout=10)
        except httpx.HTTPError as exc:
            result["error"] = exc

    thread = threading.Thread(target=slow)
    thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    os.killpg(dp.proc.popen.pid, signal.SIGTERM)  # as a service manager does: every process of the group
    thread.join(10)
    assert "error" not in result, result
    assert result["response"].status_code == 200  # type: ignore[union-attr]
    assert dp.proc.popen.wait(15) == 0
    assert time.monotonic() - started < 8
    with pytest.raises(httpx.ConnectError):
        httpx.get(dp.url + "/get", timeout=2)


def test_a_crashed_worker_is_restarted(dataplane: StartDP, echo_port: int) -> None:
    dp = dataplane(service(echo_port), workers=2)
    before = {w["pid"] for w in dp.status()["workers"]}
    assert len(before) == 2
    victim = sorted(before)[0]
    os.kill(victim, signal.SIGKILL)
    after = wait_until(lambda: (pids := {w["pid"] for w in dp.status()["workers"]}) and len(pids) == 2
                       and victim not in pids and pids, timeout=20)
    assert len(after & before) == 1
    for _ in range(10):
        assert httpx.get(dp.url + "/get").status_code == 200
    assert "restarting" in dp.proc.output()


def test_metrics_and_status_add_up_across_workers(dataplane: StartDP, echo_port: int) -> None:
    doc = {**service(echo_port), "plugins": [{"name": "prometheus", "config": {
        "status_code_metrics": True, "latency_metrics": True}}]}
    dp = dataplane(doc, workers=2)
    for _ in range(40):  # a new connection each time: SO_REUSEPORT spreads them over the workers
        assert httpx.get(dp.url + "/status/201").status_code == 201
    status = dp.status()
    assert status["server"]["total_requests"] == 40
    assert status["server"]["connections_accepted"] >= 40
    assert len(status["workers"]) == 2 and status["workers_expected"] == 2
    metrics = dp.metrics()
    assert 'kong_http_requests_total{service="echo",route="all",code="201",source="service",consumer=""} 40' in metrics
    assert 'kong_request_latency_ms_count{service="echo",route="all"} 40' in metrics
    assert f'kong_nginx_requests_total{{node_id="{status["node_id"]}",subsystem="http"}} 40' in metrics
    assert "oidcgate_workers 2" in metrics


def test_bad_flags(tmp_path: Path) -> None:
    for argv, message in ((["--workers", "zero"], "--workers must be"),
                          (["--proxy-listen", "nowhere"], "invalid listen address"),
                          (["--cp", "127.0.0.1:8005"], "--cp needs --cluster-cert and --cluster-key"),
                          (["--analytics-flush-interval", "7"], "--analytics-flush-interval must be 0 or divide 60"),
                          (["--analytics-flush-interval", "-1"], "--analytics-flush-interval must be 0 or divide 60")):
        result = subprocess.run([sys.executable, "-m", "oidcgate.cli", "dp", "--prefix", str(tmp_path), *argv],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
