"""Alembic revision files, applied in order by `oidcgate cp migrate`."""
