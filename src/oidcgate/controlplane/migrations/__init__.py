"""Alembic migrations of the control-plane store, shipped inside the package (see controlplane.migrate)."""
