"""The runtime script: run for real with bash, against a stand-in `oidcgate` that records its arguments."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from oidcgate.cluster import certs, runtime_script


@pytest.fixture(scope="module")
def pems() -> tuple[str, str]:
    cert, key = certs.build()
    return cert.decode(), key.decode()


def test_script_writes_the_pair_and_starts_the_data_plane(tmp_path: Path, pems: tuple[str, str]) -> None:
    cert, key = pems
    recorder = tmp_path / "fake-oidcgate"
    recorder.write_text('#!/usr/bin/env bash\nprintf "%s\\n" "$@" > "$RECORD"\n')
    recorder.chmod(0o755)
    script = runtime_script.render("cp.example.com:8005", cert, key.encode(), prefix="$HOME/dp_data",
                                   server_name="oidcgate_clustering", command=str(recorder))
    assert script.startswith("#!/usr/bin/env bash\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RECORD": str(tmp_path / "args")}
    result = subprocess.run(["bash", "-s", "--", "--status-listen", "127.0.0.1:8100"], input=script, text=True,
                            env=env, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    prefix = tmp_path / "dp_data"
    assert (prefix / "cluster.crt").read_text() == cert
    assert (prefix / "cluster.key").read_text() == key
    assert stat.S_IMODE(prefix.stat().st_mode) == 0o700
    assert stat.S_IMODE((prefix / "cluster.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((prefix / "cluster.crt").stat().st_mode) == 0o600
    assert (tmp_path / "args").read_text().splitlines() == [
        "dp", "--cp", "cp.example.com:8005", "--cluster-server-name", "oidcgate_clustering",
        "--cluster-cert", f"{prefix}/cluster.crt", "--cluster-key", f"{prefix}/cluster.key",
        "--prefix", str(prefix), "--status-listen", "127.0.0.1:8100",
    ]


def test_prefix_can_be_overridden_when_running(tmp_path: Path, pems: tuple[str, str]) -> None:
    script = runtime_script.render("127.0.0.1:8005", *pems, command="true")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "OIDCGATE_PREFIX": str(tmp_path / "elsewhere")}
    subprocess.run(["bash", "-s"], input=script, text=True, env=env, check=True, timeout=30)
    assert (tmp_path / "elsewhere" / "cluster.key").exists()
    assert not (tmp_path / ".oidcgate-dp").exists()


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"cp_address": "host:port"}, "invalid address"),
    ({"cert_pem": "hello"}, "certificate is not PEM"),
    ({"key_pem": "-----BEGIN X-----\nOIDCGATE_CLUSTER_KEY\n-----END X-----\n"}, "here-document"),
    ({"prefix": "$(rm -rf /)"}, "prefix may hold"),
    ({"prefix": 'a" b'}, "prefix may hold"),
])
def test_refuses_what_would_break_the_script(pems: tuple[str, str], kwargs: dict[str, str], error: str) -> None:
    args = {"cp_address": "127.0.0.1:8005", "cert_pem": pems[0], "key_pem": pems[1], **kwargs}
    with pytest.raises(ValueError, match=error):
        runtime_script.render(args.pop("cp_address"), args.pop("cert_pem"), args.pop("key_pem"), **args)
