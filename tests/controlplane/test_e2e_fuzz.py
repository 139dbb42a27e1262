"""Schema fuzz of the Admin API from its own /openapi.json (schemathesis): no request may cause a 500.

Bounded: 15 examples per operation, a fixed seed, one worker (hypothesis builds strategies with `ast`, which is
not thread-safe: several workers fail now and then inside schemathesis). About 30 s.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.controlplane.cp_process import running_cp

# Above the schemathesis run's own 170 s bound (the suite's default 120 s is not, on a busy machine).
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

SCHEMATHESIS = [sys.executable, "-m", "schemathesis.cli"]


def test_admin_api_fuzz_finds_no_server_error(tmp_path: Path) -> None:
    with running_cp(tmp_path / "cp") as cp:
        result = subprocess.run(
            [*SCHEMATHESIS, "run", f"{cp.admin}/openapi.json", "--checks", "not_a_server_error",
             "--max-examples", "15", "--seed", "20261128", "--no-shrink", "--workers", "1",
             "--generation-database", "none", "--generation-with-security-parameters", "false",
             "--request-timeout", "20", "--no-color"],
            capture_output=True, text=True, timeout=170, check=False, cwd=tmp_path)
        log = cp.proc.output()
    assert '" 500' not in log and "Traceback" not in log, log[-5000:]
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
