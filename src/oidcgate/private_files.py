"""State on disk that other local users must not read: directories 0700, files 0600, from the first byte.

The identity provider's database holds its signing keys, the control plane's database and the data
plane's last good configuration hold plugin secrets, and the cluster key lets its holder join the
cluster. The umask is the operator's (often 022, so 0644 files), so every writer of such state goes
through these helpers instead: missing directories are created 0700, files are created 0600 before
any byte is written (an atomic replace writes a private temporary file first), and a file found with
looser bits at start is tightened and the change logged. Existing directories are left as they are:
the operator may have chosen a shared one on purpose, and the files in it are private anyway.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
import uuid
from pathlib import Path

log = logging.getLogger("oidcgate.private_files")

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> Path:
    """`path` with its missing parents created 0700 (existing ones are left alone)."""
    missing = []
    for candidate in (path, *path.parents):  # bounded by the path's depth
        if candidate.exists():
            break
        missing.append(candidate)
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process created it meanwhile
            directory.mkdir(DIR_MODE)
            os.chmod(directory, DIR_MODE)  # exactly 0700 whatever the umask
    return path


def tighten(path: Path) -> None:
    """Make an existing file 0600 when group or others may access it, and say so in the log."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, FILE_MODE)
            log.warning("%s was accessible to other users (mode %04o): changed to %04o", path, mode, FILE_MODE)
    except FileNotFoundError:
        return
    except OSError as exc:  # e.g. owned by another user: say so, the node can still run
        log.warning("cannot make %s private: %s", path, exc.strerror or exc)


def _create(path: Path) -> int:
    """A new file (never an existing one, nor a planted symlink), exactly 0600 whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, never readable by others, not even briefly."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = _create(tmp)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def private_sqlite(path: Path) -> None:
    """Ready a SQLite database file: created empty and 0600 when missing (SQLite gives its -wal and
    -shm files the database file's mode), tightened with its companions when found looser."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(_create(path))
    for name in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_COMPANIONS)):
        tighten(name)


def node_id(prefix: Path) -> str:
    """This node's id (Kong's node id), kept private in PREFIX/node_id across restarts."""
    path = prefix / "node_id"
    with contextlib.suppress(OSError, ValueError):
        value = str(uuid.UUID(path.read_text().strip()))
        tighten(path)
        return value
    value = str(uuid.uuid4())
    write_private(path, (value + "\n").encode())
    return value
