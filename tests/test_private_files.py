"""Private state on disk: modes whatever the umask, atomic writes that are never readable by others, and
tightening of what an older version left loose (the real processes are checked in their e2e tests)."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from oidcgate import private_files
from oidcgate.private_files import node_id, private_dir, private_sqlite, tighten, write_private
from tests.support.private import loosen, modes, private


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask of 0: a helper that relied on the umask would create 0777 directories and 0666 files."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_missing_directories_are_created_0700_and_existing_ones_left_alone(tmp_path: Path,
                                                                           open_umask: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(0o755)
    nested = shared / "a" / "b"
    assert private_dir(nested) == nested
    assert modes(shared, shared / "a", nested) == {str(shared): oct(0o755),
                                                    **private(dirs=(shared / "a", nested))}


def test_an_atomic_write_is_private_from_its_first_byte(tmp_path: Path, open_umask: None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "state" / "config.json"
    seen: list[tuple[str, bytes]] = []
    replace = os.replace

    def recording_replace(src: str | Path, dst: str | Path) -> None:
        seen.append((modes(Path(src))[str(src)], Path(src).read_bytes()))
        replace(src, dst)

    monkeypatch.setattr(private_files.os, "replace", recording_replace)
    write_private(target, b'{"secret": 1}')
    write_private(target, b'{"secret": 2}')
    assert seen == [(oct(0o600), b'{"secret": 1}'), (oct(0o600), b'{"secret": 2}')]
    assert target.read_bytes() == b'{"secret": 2}'
    assert modes(target.parent, target) == private(dirs=(target.parent,), files=(target,))
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "config.json"
    write_private(target, b"old")

    def failing_replace(src: str | Path, dst: str | Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(private_files.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left"):
        write_private(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]


def test_tighten_changes_only_loose_files_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    loose, tight = tmp_path / "loose", tmp_path / "tight"
    loose.write_bytes(b"x")
    write_private(tight, b"x")
    loosen(loose)
    with caplog.at_level(logging.WARNING, logger="oidcgate.private_files"):
        for path in (loose, tight, tmp_path / "missing"):
            tighten(path)
    assert modes(loose, tight) == private(files=(loose, tight))
    assert caplog.messages == [f"{loose} was accessible to other users (mode 0644): changed to 0600"]


def test_a_sqlite_database_and_its_companions_are_private(tmp_path: Path, open_umask: None) -> None:
    db = tmp_path / "state" / "cp.db"
    private_sqlite(db)
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE keys (pem TEXT)")
        connection.execute("INSERT INTO keys VALUES ('secret')")
        connection.commit()
        companions = (db.with_name("cp.db-wal"), db.with_name("cp.db-shm"))
        assert modes(db.parent, db, *companions) == private(dirs=(db.parent,), files=(db, *companions))
        loosen(db, *companions)
        private_sqlite(db)  # the next start
        assert modes(db, *companions) == private(files=(db, *companions))
    finally:
        connection.close()


def test_node_id_is_kept_private_and_replaced_when_unreadable(tmp_path: Path) -> None:
    first = node_id(tmp_path / "prefix")
    assert node_id(tmp_path / "prefix") == first
    path = tmp_path / "prefix" / "node_id"
    assert modes(path.parent, path) == private(dirs=(path.parent,), files=(path,))
    path.write_text("not a uuid")
    assert node_id(tmp_path / "prefix") != first
