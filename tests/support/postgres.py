"""A throwaway schema on the machine's PostgreSQL (127.0.0.1:5432, database `test`, trust auth).

Every test that needs PostgreSQL gets an empty schema of its own, selected through `search_path` in
the URL, and the schema is dropped afterwards. PostgreSQL being down is an error, never a skip.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@contextlib.contextmanager
def throwaway_schema(label: str) -> Iterator[str]:
    """Yield a SQLAlchemy URL whose connections use a new schema `<label>_<random>`; drop it at the end."""
    schema = f"{label}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{SERVER}?options=-csearch_path%3D{schema}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
