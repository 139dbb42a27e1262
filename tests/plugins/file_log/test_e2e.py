"""file-log through a real `oidcgate dp`: Kong's entries as JSON lines, custom fields, and `reopen` following a
rotated file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.plugins.observability.gateway import gateway
from tests.support.polling import wait_until

pytestmark = pytest.mark.e2e


def document(echo_port: int, directory: Path) -> dict[str, Any]:
    def file_log(name: str, reopen: bool) -> dict[str, Any]:
        return {"name": "file-log", "config": {"path": str(directory / f"{name}.log"), "reopen": reopen,
                                               "custom_fields": {"site": "lab"}}}

    return {"_format_version": "3.0", "services": [{"name": "echo", "url": f"http://127.0.0.1:{echo_port}", "routes": [
        {"name": "kept", "paths": ["/kept"], "plugins": [file_log("kept", False)]},
        {"name": "reopened", "paths": ["/reopened"], "plugins": [file_log("reopened", True)]}]}]}


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_entries_are_json_lines_and_reopen_follows_rotation(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with gateway(tmp_path, lambda echo: document(echo, logs)) as gate:
        for route in ("kept", "reopened"):
            assert gate.get(f"/{route}/status/201", headers={"Authorization": "Basic c2VjcmV0OnNlY3JldA=="}).status_code == 201
        for route in ("kept", "reopened"):
            wait_until(lambda route=route: lines(logs / f"{route}.log"))
            entry = lines(logs / f"{route}.log")[0]
            assert entry["request"]["uri"] == f"/{route}/status/201" and entry["response"]["status"] == 201
            assert entry["request"]["headers"]["authorization"] == "REDACTED" and entry["site"] == "lab"
            assert entry["route"]["name"] == route and entry["upstream_uri"] == "/status/201"
            (logs / f"{route}.log").rename(logs / f"{route}.log.1")  # logrotate
        for route in ("kept", "reopened"):
            assert gate.get(f"/{route}/status/202").status_code == 202
        wait_until(lambda: len(lines(logs / "kept.log.1")) == 2 and lines(logs / "reopened.log"))
    assert not (logs / "kept.log").exists()  # the open file was the rotated one
    assert [e["response"]["status"] for e in lines(logs / "reopened.log")] == [202]
    assert [e["response"]["status"] for e in lines(logs / "reopened.log.1")] == [201]
    assert (logs / "reopened.log").stat().st_mode & 0o777 == 0o640
