"""TLS entities: certificates, their SNIs, and CA certificates.

Revision ID: 0004_certificates
Revises: 0003_consumer_groups_acls
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_certificates"
down_revision = "0003_consumer_groups_acls"
branch_labels = None
depends_on = None


def _entity(*columns: sa.Column) -> list[sa.Column]:
    return [
        sa.Column("id", sa.String(36), primary_key=True),
        *columns,
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.Column("entity", sa.Text, nullable=False),
    ]


def upgrade() -> None:
    op.create_table("certificates", *_entity())
    op.create_table("ca_certificates", *_entity(sa.Column("cert_digest", sa.String(64), unique=True)))
    op.create_table("snis", *_entity(
        sa.Column("name", sa.String(256), unique=True),
        sa.Column("certificate_id", sa.String(36), sa.ForeignKey("certificates.id", ondelete="CASCADE"),
                  nullable=False, index=True)))


def downgrade() -> None:
    op.drop_table("snis")
    op.drop_table("ca_certificates")
    op.drop_table("certificates")
