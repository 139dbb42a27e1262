"""bench.instructions: callgrind dumps read back into the per-stage table (the valgrind run itself is
`python -m bench.instructions`, minutes long, not part of the test suite)."""

from __future__ import annotations

from pathlib import Path

from bench.instructions import REQUESTS, read_dumps, table


def dump(directory: Path, name: str, label: str, total: int) -> None:
    (directory / name).write_text(f"version: 1\ncreator: callgrind-3.19.0\ndesc: Trigger: Client Request: {label}\n"
                                  f"events: Ir\nsummary: {total}\n")


def test_each_stage_is_counted_per_request_after_the_toggling_cost(tmp_path: Path) -> None:
    dump(tmp_path, "cg.1.1", "overhead", 1000 * REQUESTS)
    dump(tmp_path, "cg.1.2", "bearer request", 81_000 * REQUESTS)
    dump(tmp_path, "cg.1.3", "bearer response", 21_000 * REQUESTS)
    dump(tmp_path, "cg.1.4", "plain request", 51_000 * REQUESTS)
    dump(tmp_path, "cg.1.5", "plain response", 41_000 * REQUESTS)
    (tmp_path / "cg.1").write_text("desc: Trigger: Program termination\nsummary: 5\n")
    rows = table(read_dumps(tmp_path)).splitlines()
    assert rows[2:] == ["| plain | 50.0k | 40.0k | 90.0k |", "| bearer | 80.0k | 20.0k | 100.0k |"]
