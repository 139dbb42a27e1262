"""`oidcgate demo` end to end: every part as a real process on the default ports, the story checked."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.private import modes, private

pytestmark = pytest.mark.e2e


def _demo(prefix: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "oidcgate.cli", "demo", "--no-wait", "--prefix", str(prefix)],
                          capture_output=True, text=True, timeout=120, check=False)


def test_demo_runs_the_client_credentials_story_and_reuses_its_state(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    up = re.search(r"oidcgate demo is up in ([\d.]+)s", first.stdout)
    assert up and float(up.group(1)) < 10.0, first.stdout
    assert "without credentials -> 401" in first.stdout
    assert "with -u id:secret -> 200, upstream saw Issuer-Header: http://127.0.0.1:9000/oauth2/default  [ok]" \
        in first.stdout
    client = json.loads((tmp_path / "demo-client.json").read_text())
    assert client["client_secret"] in first.stdout  # printed for the user to try, once per run
    dirs = tuple(tmp_path / name for name in ("logs", "cp", "dp"))
    files = tuple(tmp_path / name for name in ("demo-client.json", "idp.db", "cluster.key", "cluster.crt",
                                               "cp/oidcgate.db", "cp/node_id", "dp/config.json", "dp/node_id"))
    assert modes(*dirs, *files) == private(dirs=dirs, files=files)

    second = _demo(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads((tmp_path / "demo-client.json").read_text()) == client  # same client, same state
    assert "[ok]" in second.stdout
    for log in ("idp", "echo", "cp", "dp"):
        assert client["client_secret"] not in (tmp_path / "logs" / f"{log}.log").read_text(), log
