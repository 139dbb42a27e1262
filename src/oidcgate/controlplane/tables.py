"""The store's tables (SQLAlchemy Core), mirrored by the Alembic migrations under `migrations/`.

Each entity row keeps the validated entity as JSON (`entity`, exactly what the data plane gets)
plus the columns the Admin API looks things up by: id, endpoint keys (name, username, ...),
foreign keys and timestamps. Tags live in `tags` for indexed filtering. `config_version` is the
single-row change counter every write bumps in its own transaction; `clustering_data_planes`
holds what data planes report, so that every CP node shows every data plane. `analytics_minutes` holds
the traffic data planes report: one row per minute and (service, route, consumer), counters in columns
so that reports add up in SQL (`oidcgate.controlplane.analytics`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from oidcgate.analytics.histogram import BUCKETS

metadata = MetaData()


def _entity_table(name: str, *columns: Any) -> Table:
    return Table(
        name, metadata,
        Column("id", String(36), primary_key=True),
        *columns,
        Column("created_at", BigInteger, nullable=False),
        Column("updated_at", BigInteger, nullable=False),
        Column("entity", Text, nullable=False),
    )


services = _entity_table("services", Column("name", String(128), unique=True))
routes = _entity_table(
    "routes",
    Column("name", String(128), unique=True),
    Column("service_id", String(36), ForeignKey("services.id", ondelete="RESTRICT"), index=True),
)
consumers = _entity_table(
    "consumers",
    Column("username", String(256), unique=True),
    Column("custom_id", String(256), unique=True),
)
plugins = _entity_table(
    "plugins",
    Column("name", String(128), nullable=False, index=True),
    Column("instance_name", String(128), unique=True),
    Column("service_id", String(36), ForeignKey("services.id", ondelete="CASCADE"), index=True),
    Column("route_id", String(36), ForeignKey("routes.id", ondelete="CASCADE"), index=True),
    Column("consumer_id", String(36), ForeignKey("consumers.id", ondelete="CASCADE"), index=True),
    Column("cache_key", String(256), nullable=False, unique=True),
    Column("consumer_group_id", String(36), ForeignKey("consumer_groups.id", ondelete="CASCADE"), index=True),
)
upstreams = _entity_table("upstreams", Column("name", String(256), unique=True))
consumer_groups = _entity_table("consumer_groups", Column("name", String(128), unique=True))
consumer_group_consumers = _entity_table(
    "consumer_group_consumers",
    Column("consumer_group_id", String(36), ForeignKey("consumer_groups.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("consumer_id", String(36), ForeignKey("consumers.id", ondelete="CASCADE"), nullable=False, index=True),
    UniqueConstraint("consumer_group_id", "consumer_id", name="consumer_group_consumers_key"),
)
acls = _entity_table(
    "acls",
    Column("consumer_id", String(36), ForeignKey("consumers.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("group", String(256), nullable=False),
    UniqueConstraint("consumer_id", "group", name="acls_consumer_id_group_key"),
)
targets = _entity_table(
    "targets",
    Column("upstream_id", String(36), ForeignKey("upstreams.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("target", String(300), nullable=False),
    UniqueConstraint("upstream_id", "target", name="targets_upstream_id_target_key"),
)
certificates = _entity_table("certificates")
ca_certificates = _entity_table("ca_certificates", Column("cert_digest", String(64), unique=True))
snis = _entity_table(
    "snis",
    Column("name", String(256), unique=True),
    Column("certificate_id", String(36), ForeignKey("certificates.id", ondelete="CASCADE"), nullable=False,
           index=True),
)
tags = Table(
    "tags", metadata,
    Column("kind", String(32), primary_key=True),
    Column("entity_id", String(36), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Index("tags_tag_idx", "tag", "kind"),
)
config_version = Table(
    "config_version", metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", Float, nullable=False),
)
clustering_data_planes = Table(
    "clustering_data_planes", metadata,
    Column("id", String(64), primary_key=True),
    Column("ip", String(64), nullable=False),
    Column("hostname", String(256), nullable=False),
    Column("version", String(64), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("sync_status", String(64), nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
COUNTED_STATUSES = (401, 403, 429)  # refused by authentication, by authorization, by a rate limit
LATENCY_COLUMNS = (*(f"latency_le_{bound:g}" for bound in BUCKETS), "latency_le_inf")
COUNTER_COLUMNS = ("requests", *(f"status_{c}" for c in STATUS_CLASSES), *(f"status_{s}" for s in COUNTED_STATUSES),
                   *LATENCY_COLUMNS)
ANALYTICS_KEY = ("minute", "service_id", "route_id", "consumer_id")
analytics_minutes = Table(
    "analytics_minutes", metadata,
    Column("minute", BigInteger, primary_key=True),  # epoch seconds the minute starts at
    Column("service_id", String(36), primary_key=True),  # "" for none (NULLs would never conflict)
    Column("route_id", String(36), primary_key=True),
    Column("consumer_id", String(36), primary_key=True),
    Column("service_name", String(128), nullable=False),  # as last reported: deleted entities keep a name
    Column("route_name", String(128), nullable=False),
    Column("consumer_name", String(256), nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in COUNTER_COLUMNS),
    Index("ix_analytics_minutes_service", "service_id", "minute"),
    Index("ix_analytics_minutes_route", "route_id", "minute"),
    Index("ix_analytics_minutes_consumer", "consumer_id", "minute"),
)

ENTITY_TABLES: dict[str, Table] = {
    table.name: table for table in (services, routes, consumers, plugins, upstreams, targets, consumer_groups,
                                    consumer_group_consumers, acls, certificates, ca_certificates, snis)
}


def plugin_cache_key(entity: dict[str, Any]) -> str:
    """Kong's `cache_key`: one plugin of a name per (route, service, consumer, consumer group) scope."""
    return ":".join(("plugins", entity["name"], entity.get("route") or "", entity.get("service") or "",
                     entity.get("consumer") or "", entity.get("consumer_group") or ""))


# How each indexed column is read from a validated entity (foreign keys are ids in a snapshot).
COLUMNS: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {
    "services": {"name": lambda e: e.get("name")},
    "routes": {"name": lambda e: e.get("name"), "service_id": lambda e: e.get("service")},
    "consumers": {"username": lambda e: e.get("username"), "custom_id": lambda e: e.get("custom_id")},
    "plugins": {
        "name": lambda e: e["name"],
        "instance_name": lambda e: e.get("instance_name"),
        "service_id": lambda e: e.get("service"),
        "route_id": lambda e: e.get("route"),
        "consumer_id": lambda e: e.get("consumer"),
        "cache_key": plugin_cache_key,
        "consumer_group_id": lambda e: e.get("consumer_group"),
    },
    "consumer_groups": {"name": lambda e: e.get("name")},
    "consumer_group_consumers": {"consumer_group_id": lambda e: e["consumer_group"],
                                 "consumer_id": lambda e: e["consumer"]},
    "acls": {"consumer_id": lambda e: e["consumer"], "group": lambda e: e["group"]},
    "upstreams": {"name": lambda e: e.get("name")},
    "targets": {"upstream_id": lambda e: e.get("upstream"), "target": lambda e: e["target"]},
    "certificates": {},
    "ca_certificates": {"cert_digest": lambda e: e.get("cert_digest")},
    "snis": {"name": lambda e: e["name"], "certificate_id": lambda e: e["certificate"]},
}
