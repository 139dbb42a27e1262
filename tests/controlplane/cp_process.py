"""Start `oidcgate cp` as a real process on free loopback ports (tests only)."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.postgres import throwaway_schema
from tests.support.processes import OIDCGATE, Proc, free_port, start


@dataclass
class ControlPlane:
    proc: Proc
    admin_port: int
    cluster_port: int
    gui_port: int | None
    prefix: Path

    @property
    def admin(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


def start_cp(prefix: Path, *extra: str, env: dict[str, str] | None = None, cluster: bool = False,
             gui: bool = False) -> ControlPlane:
    """The log goes beside `prefix`: the control plane creates its prefix itself, as in production."""
    admin_port, cluster_port = free_port(), free_port()
    gui_port = free_port() if gui else None
    args = ["cp", "--prefix", str(prefix), "--admin-listen", f"127.0.0.1:{admin_port}",
            "--gui-listen", f"127.0.0.1:{gui_port}" if gui_port else "off",
            "--cluster-listen", f"127.0.0.1:{cluster_port}", *extra]
    prefix.parent.mkdir(parents=True, exist_ok=True)
    waits = [admin_port, *([cluster_port] if cluster else []), *([gui_port] if gui_port else [])]
    proc = start(args, prefix.parent / f"{prefix.name}-cp-{admin_port}.log", waits, env=env, timeout=30)
    return ControlPlane(proc, admin_port, cluster_port, gui_port, prefix)


@contextlib.contextmanager
def running_cp(prefix: Path, *extra: str, env: dict[str, str] | None = None,
               cluster: bool = False, gui: bool = False) -> Iterator[ControlPlane]:
    cp = start_cp(prefix, *extra, env=env, cluster=cluster, gui=gui)
    try:
        yield cp
    finally:
        cp.proc.stop()


def oidcgate(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a short oidcgate command to completion."""
    return subprocess.run([*OIDCGATE, *args], capture_output=True, text=True, timeout=timeout, env=env,
                          check=False)


@contextlib.contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A database URL on an empty PostgreSQL schema, dropped afterwards."""
    with throwaway_schema("cp_e2e") as url:
        yield url

