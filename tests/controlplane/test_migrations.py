"""Migrations: a fresh database reaches head; older or unknown revisions are refused, never changed."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from oidcgate.controlplane import database, migrate, tables


def test_fresh_database_migrates_to_head(tmp_sqlite_url: str) -> None:
    engine = database.create(tmp_sqlite_url)
    with pytest.raises(migrate.MigrationRequired, match=r"never been migrated.*oidcgate cp migrate"):
        migrate.check(engine, tmp_sqlite_url)
    assert migrate.upgrade(engine) == (None, migrate.head())
    migrate.check(engine, tmp_sqlite_url)
    assert migrate.upgrade(engine) == (migrate.head(), migrate.head())  # idempotent
    engine.dispose()


def test_older_revision_is_refused_and_left_alone(tmp_sqlite_url: str) -> None:
    engine = database.create(tmp_sqlite_url)
    migrate.upgrade(engine, "0001_entities")
    with pytest.raises(migrate.MigrationRequired, match=r"0001_entities, older than .*oidcgate cp migrate"):
        migrate.check(engine, tmp_sqlite_url)
    assert migrate.current(engine) == "0001_entities"
    engine.dispose()


@pytest.mark.parametrize("older", ["0002_clustering", "0003_consumer_groups_acls"])
def test_older_database_upgrades_to_head_with_every_table(tmp_sqlite_url: str, older: str) -> None:
    """A database of an earlier release gains the later tables in order and keeps its rows."""
    engine = database.create(tmp_sqlite_url)
    migrate.upgrade(engine, older)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO services (id, name, created_at, updated_at, entity) "
                          "VALUES ('5e7a2c8e-0000-4000-8000-000000000001', 'kept', 1, 1, '{}')"))
    assert migrate.upgrade(engine) == (older, migrate.head())
    assert migrate.head() == "0004_certificates"
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
        assert conn.execute(text("SELECT name FROM services")).scalars().all() == ["kept"]
    engine.dispose()


def test_unknown_revision_is_refused(tmp_sqlite_url: str) -> None:
    engine = database.create(tmp_sqlite_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(migrate.MigrationRequired, match="newer oidcgate"):
        migrate.check(engine, tmp_sqlite_url)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_migrations_build_exactly_the_tables_the_store_uses(backend: str, engines: dict[str, Engine]) -> None:
    with engines[backend].connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), tables.metadata)
    assert differences == []


@pytest.mark.parametrize(("url", "normalized"), [
    ("postgresql://u@h:5432/db", "postgresql+psycopg://u@h:5432/db"),
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_urls(url: str, normalized: str) -> None:
    assert database.display_url(database.normalize_url(url)) == normalized


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url", "postgresql+asyncpg://u@h/db"])
def test_unsupported_database_urls(url: str) -> None:
    with pytest.raises(database.DatabaseURLError):
        database.normalize_url(url)
