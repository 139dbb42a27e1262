"""Kong's core entities: services, routes, consumers, plugins, upstreams, targets, and their tags.

Revision ID: 0001_entities
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_entities"
down_revision = None
branch_labels = None
depends_on = None

ENTITY_TABLES = ("targets", "upstreams", "plugins", "consumers", "routes", "services")


def _common() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "services",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), unique=True),
        *_common(),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), unique=True),
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id", ondelete="RESTRICT"), index=True),
        *_common(),
    )
    op.create_table(
        "consumers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("username", sa.String(256), unique=True),
        sa.Column("custom_id", sa.String(256), unique=True),
        *_common(),
    )
    op.create_table(
        "plugins",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, index=True),
        sa.Column("instance_name", sa.String(128), unique=True),
        sa.Column("service_id", sa.String(36), sa.ForeignKey("services.id", ondelete="CASCADE"), index=True),
        sa.Column("route_id", sa.String(36), sa.ForeignKey("routes.id", ondelete="CASCADE"), index=True),
        sa.Column("consumer_id", sa.String(36), sa.ForeignKey("consumers.id", ondelete="CASCADE"),
                  index=True),
        sa.Column("cache_key", sa.String(256), nullable=False, unique=True),
        *_common(),
    )
    op.create_table(
        "upstreams",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(256), unique=True),
        *_common(),
    )
    op.create_table(
        "targets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("upstream_id", sa.String(36), sa.ForeignKey("upstreams.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("target", sa.String(300), nullable=False),
        *_common(),
        sa.UniqueConstraint("upstream_id", "target", name="targets_upstream_id_target_key"),
    )
    op.create_table(
        "tags",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("entity_id", sa.String(36), primary_key=True),
        sa.Column("tag", sa.String(128), primary_key=True),
    )
    op.create_index("tags_tag_idx", "tags", ["tag", "kind"])


def downgrade() -> None:
    op.drop_index("tags_tag_idx", table_name="tags")
    op.drop_table("tags")
    for table in ENTITY_TABLES:
        op.drop_table(table)
