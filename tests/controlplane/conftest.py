"""Fixtures: a migrated store on SQLite and on PostgreSQL (a fresh schema per session), the Admin API on it.

The `backend` parameter runs every Admin API test on both databases; PostgreSQL is the machine's
server on 127.0.0.1:5432 (database `test`) and is never skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete
from starlette.applications import Starlette

from oidcgate.controlplane import database, migrate, tables
from oidcgate.controlplane.admin.app import create_app
from oidcgate.controlplane.store import Store
from tests.support.postgres import throwaway_schema

BACKENDS = ("sqlite", "postgres")
CLEAR_ORDER = ("tags", "plugins", "targets", "acls", "consumer_group_consumers", "routes", "services", "consumers",
               "consumer_groups", "upstreams", "snis", "certificates", "ca_certificates", "clustering_data_planes",
               "analytics_minutes")


@pytest.fixture(scope="session")
def pg_schema_url() -> Iterator[str]:
    """A URL whose connections use a schema created for this session (dropped at the end)."""
    with throwaway_schema("cp_test") as url:
        yield url


@pytest.fixture(scope="session")
def engines(pg_schema_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Engine]]:
    """One migrated engine per backend for the whole session."""
    sqlite_file = tmp_path_factory.mktemp("cp-sqlite") / "oidcgate.db"
    found = {"sqlite": database.create(f"sqlite:///{sqlite_file}"), "postgres": database.create(pg_schema_url)}
    for engine in found.values():
        migrate.upgrade(engine)
    yield found
    for engine in found.values():
        engine.dispose()


def clear(engine: Engine) -> None:
    with engine.begin() as conn:
        for name in CLEAR_ORDER:
            conn.execute(delete(tables.metadata.tables[name]))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, engines: dict[str, Engine]) -> Store:
    """An empty store (a new Store object: no cache carried over from another test)."""
    clear(engines[backend])
    return Store(engines[backend])


def make_client(app: Starlette, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8001",
                             headers=headers)


@pytest.fixture
async def admin(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(create_app(store)) as client:
        yield client


async def created(client: httpx.AsyncClient, path: str, /, **body: Any) -> dict[str, Any]:
    """POST a JSON entity and return it, failing with the response when it was not created."""
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def tmp_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'fresh.db'}"
