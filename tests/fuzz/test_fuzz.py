"""A bounded coverage-guided fuzz run of every target (`make fuzz` runs them longer).

Each run must try its inputs without a crash or a wrong accept, and must have reached both outcomes
(some inputs accepted, some refused): a target that only ever refuses tests nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz.targets import NAMES

ROOT = Path(__file__).resolve().parents[2]
RUNS, SECONDS = 20_000, 12


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_target_finds_nothing(name: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fuzz.run", name, "--runs", str(RUNS), "--seconds", str(SECONDS),
         "--artifacts", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 60, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, result.stderr[-3000:]
    summary = json.loads(lines[-1])
    assert summary["crashes"] == 0 and summary["wrong_accepts"] == 0, result.stderr[-5000:]
    assert result.returncode == 0, result.stderr[-3000:]
    assert summary["inputs"] >= min(RUNS, 500), summary
    assert summary["accepted"] > 0 and summary["refused"] > 0, summary
