"""Alembic environment: always run by oidcgate with an open connection (`oidcgate cp migrate`)."""

from __future__ import annotations

from alembic import context

from oidcgate.controlplane.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
