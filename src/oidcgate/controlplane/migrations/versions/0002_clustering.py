"""Hybrid mode: the config version counter every write bumps, and the data planes' reported status.

Revision ID: 0002_clustering
Revises: 0001_entities
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0002_clustering"
down_revision = "0001_entities"
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = op.create_table(
        "config_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.bulk_insert(version, [{"id": 1, "version": 1, "updated_at": time.time()}])
    op.create_table(
        "clustering_data_planes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("hostname", sa.String(256), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("sync_status", sa.String(64), nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clustering_data_planes")
    op.drop_table("config_version")
