"""`oidcgate demo` end to end: every part as a real process on free ports (`--ports`), the story checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from oidcgate.demo.ports import DEFAULT_PORTS
from tests.support.private import modes, private
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e


def free_ports() -> dict[str, int]:
    """A free port for every part of the demo, none twice."""
    for _ in range(10):
        ports = {name: free_port() for name in DEFAULT_PORTS}
        if len(set(ports.values())) == len(ports):
            return ports
    raise AssertionError("the kernel kept handing out the same free port")


def _demo(prefix: Path, ports: dict[str, int]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oidcgate.cli", "demo", "--no-wait", "--prefix", str(prefix),
                           "--ports", ",".join(f"{name}={port}" for name, port in ports.items())],
                          capture_output=True, text=True, timeout=120, check=False)


def test_demo_runs_the_client_credentials_story_and_reuses_its_state(tmp_path: Path) -> None:
    ports = free_ports()
    first = _demo(tmp_path, ports)
    assert first.returncode == 0, first.stdout + first.stderr
    up = re.search(r"oidcgate demo is up in ([\d.]+)s", first.stdout)
    assert up and float(up.group(1)) < 10.0, first.stdout
    assert "without credentials -> 401" in first.stdout
    issuer = f"http://127.0.0.1:{ports['idp']}/oauth2/default"
    assert f"with -u id:secret -> 200, upstream saw Issuer-Header: {issuer}  [ok]" in first.stdout
    assert f"data plane proxy   http://127.0.0.1:{ports['proxy']}" in first.stdout
    client = json.loads((tmp_path / "demo-client.json").read_text())
    assert client["client_secret"] in first.stdout  # printed for the user to try, once per run
    dirs = tuple(tmp_path / name for name in ("logs", "cp", "dp"))
    files = tuple(tmp_path / name for name in ("demo-client.json", "demo-web.json", "idp.db", "cluster.key",
                                               "cluster.crt", "cp/oidcgate.db", "cp/node_id", "dp/config.json",
                                               "dp/node_id"))
    assert modes(*dirs, *files) == private(dirs=dirs, files=files)
    web = json.loads((tmp_path / "demo-web.json").read_text())
    assert f"username  {web['username']}" in first.stdout and f"password  {web['password']}" in first.stdout
    assert "a browser at /app -> 302 to the identity provider's sign-in  [ok]" in first.stdout

    second = _demo(tmp_path, ports)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads((tmp_path / "demo-client.json").read_text()) == client  # same client, same state
    assert "[ok]" in second.stdout
    for log in ("idp", "echo", "cp", "dp"):
        assert client["client_secret"] not in (tmp_path / "logs" / f"{log}.log").read_text(), log
