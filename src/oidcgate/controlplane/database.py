"""Database URLs and engines: SQLite (the default, embedded) or PostgreSQL (for several CP nodes).

The store uses SQLAlchemy's sync engine from worker threads; SQLite gets WAL mode, a busy
timeout and enforced foreign keys so that several threads (and `oidcgate cp migrate` from another
process) share the file safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from oidcgate.private_files import private_sqlite

SQLITE_BUSY_TIMEOUT_MS = 10_000


class DatabaseURLError(ValueError):
    pass


def normalize_url(url: str) -> URL:
    """Accept `sqlite:///PATH`, `postgresql://...`, `postgres://...` and `postgresql+psycopg://...`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseURLError(f"invalid database URL '{url}'; expected sqlite:///PATH or "
                               "postgresql://USER@HOST:PORT/DB") from None
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "sqlite" and parsed.get_driver_name() in ("pysqlite", ""):
        return parsed
    raise DatabaseURLError(f"unsupported database '{parsed.drivername}'; use sqlite:/// or postgresql://")


def sqlite_path(url: URL) -> Path | None:
    """The file behind a SQLite URL (None for other databases and in-memory SQLite)."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def display_url(url: URL) -> str:
    """The URL without its password, for messages and `GET /`."""
    return url.render_as_string(hide_password=True)


def create(url: str | URL) -> Engine:
    """An engine for the store; a SQLite file is made private first (it holds plugin secrets)."""
    parsed = normalize_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            private_sqlite(path)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=10)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
