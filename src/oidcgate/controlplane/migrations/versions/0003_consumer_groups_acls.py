"""Consumer groups, their memberships, the acl plugin's credentials, and plugins scoped to a consumer group.

Revision ID: 0003_consumer_groups_acls
Revises: 0002_clustering
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_consumer_groups_acls"
down_revision = "0002_clustering"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "consumer_groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(128), unique=True),
        *_common(),
    )
    op.create_table(
        "consumer_group_consumers",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("consumer_group_id", sa.String(36), sa.ForeignKey("consumer_groups.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("consumer_id", sa.String(36), sa.ForeignKey("consumers.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        *_common(),
        sa.UniqueConstraint("consumer_group_id", "consumer_id", name="consumer_group_consumers_key"),
    )
    op.create_table(
        "acls",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("consumer_id", sa.String(36), sa.ForeignKey("consumers.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("group", sa.String(256), nullable=False),
        *_common(),
        sa.UniqueConstraint("consumer_id", "group", name="acls_consumer_id_group_key"),
    )
    with op.batch_alter_table("plugins") as batch:  # (SQLite: a column with a foreign key needs a copy)
        batch.add_column(sa.Column("consumer_group_id", sa.String(36), nullable=True))
        batch.create_foreign_key("plugins_consumer_group_id_fkey", "consumer_groups", ["consumer_group_id"], ["id"],
                                 ondelete="CASCADE")
        batch.create_index("ix_plugins_consumer_group_id", ["consumer_group_id"])


def downgrade() -> None:
    with op.batch_alter_table("plugins") as batch:
        batch.drop_index("ix_plugins_consumer_group_id")
        batch.drop_constraint("plugins_consumer_group_id_fkey", type_="foreignkey")
        batch.drop_column("consumer_group_id")
    for table in ("acls", "consumer_group_consumers", "consumer_groups"):
        op.drop_table(table)
