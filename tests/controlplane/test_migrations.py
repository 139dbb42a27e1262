"""Migrations: a fresh database reaches head; older or unknown revisions are refused, never changed."""

from __future__ import annotations

import contextlib

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from oidcgate.controlplane import database, migrate, tables
from tests.support.postgres import throwaway_schema


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


@pytest.mark.parametrize("older", ["0002_clustering", "0003_consumer_groups_acls", "0004_certificates"])
def test_older_database_upgrades_to_head_with_every_table(tmp_sqlite_url: str, older: str) -> None:
    """A database of an earlier release gains the later tables in order and keeps its rows."""
    engine = database.create(tmp_sqlite_url)
    migrate.upgrade(engine, older)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO services (id, name, created_at, updated_at, entity) "
                          "VALUES ('5e7a2c8e-0000-4000-8000-000000000001', 'kept', 1, 1, '{}')"))
    assert migrate.upgrade(engine) == (older, migrate.head())
    assert migrate.head() == "0005_analytics"
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


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_analytics_migration_goes_down_and_up_again(backend: str, tmp_sqlite_url: str) -> None:
    with contextlib.ExitStack() as stack:
        url = tmp_sqlite_url if backend == "sqlite" else stack.enter_context(throwaway_schema("analytics_migration"))
        engine = database.create(url)
        stack.callback(engine.dispose)
        migrate.upgrade(engine)
        below = ScriptDirectory.from_config(migrate._config()).get_revision("0005_analytics").down_revision
        assert isinstance(below, str)
        with engine.begin() as conn:
            command.downgrade(migrate._config(conn), below)
        assert "analytics_minutes" not in inspect(engine).get_table_names()
        assert migrate.upgrade(engine) == (below, migrate.head())
        indexes = {index["name"]: index["column_names"] for index in inspect(engine).get_indexes("analytics_minutes")}
        assert indexes == {"ix_analytics_minutes_consumer": ["consumer_id", "minute"],
                           "ix_analytics_minutes_route": ["route_id", "minute"],
                           "ix_analytics_minutes_service": ["service_id", "minute"]}
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
