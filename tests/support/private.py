"""Checks of the modes `oidcgate.private_files` promises, for tests of the real processes that write state."""

from __future__ import annotations

import os
import stat
from pathlib import Path

LOOSE_MODE = 0o644  # what a umask of 022 gives a file created without care


def modes(*paths: Path) -> dict[str, str]:
    """`{path: octal mode}`, to compare with the expected table in one assertion."""
    return {str(path): oct(stat.S_IMODE(path.stat().st_mode)) for path in paths}


def private(dirs: tuple[Path, ...] = (), files: tuple[Path, ...] = ()) -> dict[str, str]:
    """The table `modes` gives when every directory is 0700 and every file 0600."""
    return {**{str(d): oct(0o700) for d in dirs}, **{str(f): oct(0o600) for f in files}}


def loosen(*paths: Path) -> None:
    """Give files the mode an older version (or a careless copy) left them with."""
    for path in paths:
        os.chmod(path, LOOSE_MODE)
