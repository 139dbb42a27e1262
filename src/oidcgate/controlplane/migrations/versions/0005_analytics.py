"""Analytics: the minute rollups of the traffic data planes report.

One row per minute and (service, route, consumer), every counter a column so that reports add up in
SQL. The latency columns are Kong's prometheus buckets, written out here: a migration must not change
when the code's constants do.

Revision ID: 0005_analytics
Revises: 0004_certificates
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_analytics"
down_revision = "0004_certificates"
branch_labels = None
depends_on = None

LATENCY_BOUNDS = ("1", "2", "5", "7", "10", "15", "20", "25", "30", "40", "50", "60", "70", "80", "90", "100", "200",
                  "300", "400", "500", "1000", "2000", "5000", "10000", "30000", "60000", "inf")
COUNTERS = ("requests", "status_1xx", "status_2xx", "status_3xx", "status_4xx", "status_5xx", "status_401",
            "status_403", "status_429", *(f"latency_le_{bound}" for bound in LATENCY_BOUNDS))


def upgrade() -> None:
    op.create_table(
        "analytics_minutes",
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("service_id", sa.String(36), primary_key=True),
        sa.Column("route_id", sa.String(36), primary_key=True),
        sa.Column("consumer_id", sa.String(36), primary_key=True),
        sa.Column("service_name", sa.String(128), nullable=False),
        sa.Column("route_name", sa.String(128), nullable=False),
        sa.Column("consumer_name", sa.String(256), nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in COUNTERS),
    )
    for column in ("service_id", "route_id", "consumer_id"):
        op.create_index(f"ix_analytics_minutes_{column.removesuffix('_id')}", "analytics_minutes", [column, "minute"])


def downgrade() -> None:
    op.drop_table("analytics_minutes")
