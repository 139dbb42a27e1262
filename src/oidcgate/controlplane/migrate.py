"""Schema migrations (Alembic, shipped in `oidcgate/controlplane/migrations`) and the start-up check.

A control plane never changes a database's schema by itself: `oidcgate cp migrate` does, and
`oidcgate cp` refuses a database that is not exactly at this release's head revision. The one
exception, made by the caller, is the default embedded SQLite file created fresh at first start.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

SCRIPT_LOCATION = "oidcgate.controlplane:migrations"


class MigrationRequired(RuntimeError):
    """The database is not at the schema revision this oidcgate needs."""


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The database's revision, or None when it was never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision`; returns (revision before, revision after)."""
    before = current(engine)
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)
    return before, current(engine)


def check(engine: Engine, where: str) -> None:
    """Raise MigrationRequired with what to do unless the database is at this release's head."""
    found, wanted = current(engine), head()
    if found == wanted:
        return
    known = {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}
    if found is None:
        state = "has never been migrated"
    elif found in known:
        state = f"is at schema revision {found}, older than {wanted}"
    else:
        raise MigrationRequired(
            f"database {where} is at schema revision {found}, unknown to oidcgate (wanted {wanted}); "
            "it was probably migrated by a newer oidcgate: upgrade oidcgate")
    raise MigrationRequired(
        f"database {where} {state}; run `oidcgate cp migrate --database {where}` first "
        "(the control plane never changes a database's schema by itself)")
