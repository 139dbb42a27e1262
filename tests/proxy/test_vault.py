"""`{vault://env/NAME}` secrets: resolved by the data plane from its environment, never written resolved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, running


def _config(secret_ref: str) -> str:
    return f"""
_format_version: "3.0"
services:
- name: echo
  url: http://127.0.0.1:9/anything
  routes:
  - name: r
    paths: [/r]
    plugins:
    - name: openid-connect
      config:
        issuer: http://127.0.0.1:9/oauth2/default
        client_id: [gateway]
        client_secret: ["{secret_ref}"]
"""


def _post(admin: int, text: str) -> httpx.Response:
    return httpx.post(f"http://127.0.0.1:{admin}/config", content=text,
                      headers={"Content-Type": "application/x-yaml"}, timeout=10)


def test_a_reference_is_resolved_from_the_environment_and_persisted_unresolved(tmp_path: Path) -> None:
    proxy, admin = free_port(), free_port()
    args = ["dp", "--proxy-listen", f"127.0.0.1:{proxy}", "--status-listen", "off",
            "--admin-listen", f"127.0.0.1:{admin}", "--workers", "1", "--prefix", str(tmp_path / "dp"),
            "--access-log", "off"]
    with running(args, tmp_path / "dp.log", [proxy, admin], env={"DEMO_SECRET": "s3cr3t-value"}) as dp:
        applied = _post(admin, _config("{vault://env/demo-secret}"))
        assert applied.status_code == 201, applied.text
        persisted = (tmp_path / "dp" / "config.json").read_text()
        assert "{vault://env/demo-secret}" in persisted and "s3cr3t-value" not in persisted
        # A pushed config naming a variable this node lacks is refused with its path; the old one stays.
        refused = _post(admin, _config("{vault://env/missing}"))
        assert refused.status_code == 400, refused.text
        assert "plugins[0].config.client_secret[0]" in refused.text and "MISSING is not set" in refused.text
        assert json.loads((tmp_path / "dp" / "config.json").read_text()) == json.loads(persisted)
        assert httpx.get(f"http://127.0.0.1:{proxy}/r", timeout=10).status_code == 401  # still serving
        assert "s3cr3t-value" not in dp.output()


def test_an_unresolvable_reference_in_the_file_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "kong.yml"
    config.write_text(_config("{vault://env/not-set-anywhere}"))
    done = subprocess.run([sys.executable, "-m", "oidcgate.cli", "dp", "--config", str(config), "--prefix",
                           str(tmp_path / "dp"), "--proxy-listen", f"127.0.0.1:{free_port()}",
                           "--status-listen", "off"], capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "plugins[0].config.client_secret[0]" in done.stderr and "NOT_SET_ANYWHERE is not set" in done.stderr
