"""The interpreted fallback (oidcgate.compiled): the source of the compiled modules, run without their
build, proxies as the compiled data plane does. The rest of the suite runs the compiled build."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from oidcgate.compiled import PACKAGE
from tests.proxy.conftest import StartDP
from tests.proxy.helpers import service


def interpreted_copy(tmp_path: Path) -> dict[str, str]:
    """The package's source without its compiled build, and the environment that imports it first."""
    shutil.copytree(PACKAGE, tmp_path / "src" / "oidcgate",
                    ignore=shutil.ignore_patterns("*.so", "compiled.manifest", "__pycache__"))
    return {"PYTHONPATH": str(tmp_path / "src")}


def test_the_source_without_its_build_proxies_the_same(dataplane: StartDP, echo_port: int, tmp_path: Path) -> None:
    env = interpreted_copy(tmp_path)
    where = subprocess.run([sys.executable, "-c", "import oidcgate.proxy.exchange as m; print(m.__file__)"],
                           env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    assert where == str(tmp_path / "src" / "oidcgate" / "proxy" / "exchange.py")
    dp = dataplane(service(echo_port, api={"paths": ["/api"]}), env=env)
    response = httpx.get(f"{dp.url}/api/anything?q=1", headers={"X-Custom": "kept"}, timeout=10)
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["url"].endswith("/anything?q=1")  # (the route strips its path)
    assert echoed["headers"]["X-Custom"] == "kept"
    assert echoed["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert response.headers["via"] == "1.1 oidcgate"
    assert httpx.get(f"{dp.url}/elsewhere", timeout=10).status_code == 404
