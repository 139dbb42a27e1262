"""The control plane's store: entities in SQL, every write checked exactly as a data plane would check it.

A write runs in one transaction that first bumps the config version (so writes from every CP node
on a database are serialized and every change is signalled), validates the entity with its
pydantic model, resolves its references and checks uniqueness (Kong's 400/409 errors), then
validates the whole resulting configuration with `oidcgate.config.load`, the data plane's own
loader, before anything is stored. The last committed state is cached in memory under its
version number, so a write or an export costs one load of the configuration, not a table scan.

The store is synchronous (SQLAlchemy's sync engine). The few methods the event loop calls directly
have an `_async` twin of the same name (`export_async`, `version_async`, `record_data_plane_async`)
that runs it in a worker thread; the Admin API runs the others in its own threads.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Protocol, TypeVar

import anyio.to_thread
import orjson
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, delete, false, insert, select, update
from sqlalchemy.exc import IntegrityError

from oidcgate.config import ConfigError, FieldError, Snapshot, load
from oidcgate.config.declarative import KINDS
from oidcgate.config.entities import ENTITY_MODELS
from oidcgate.config.errors import from_pydantic
from oidcgate.config.plugin_schemas import validate_plugin_config
from oidcgate.controlplane import database, tables
from oidcgate.controlplane.errors import (
    DeclarativeConfigError,
    ForeignKeyViolation,
    NotFound,
    PrimaryKeyViolation,
    SchemaViolation,
    UniqueViolation,
)
from oidcgate.controlplane.pagination import decode_offset, encode_offset
from oidcgate.plugins import registry

T = TypeVar("T")
Entity = dict[str, Any]
Scope = Mapping[str, str]  # the parent of a nested endpoint: {"service": "<id>"}

# Foreign key fields of each kind and the kind they point to.
REFERENCES: dict[str, dict[str, str]] = {
    "routes": {"service": "services"},
    "plugins": {"service": "services", "route": "routes", "consumer": "consumers",
                "consumer_group": "consumer_groups"},
    "targets": {"upstream": "upstreams"},
    "acls": {"consumer": "consumers"},
    "consumer_group_consumers": {"consumer_group": "consumer_groups", "consumer": "consumers"},
    "snis": {"certificate": "certificates"},
    "services": {"client_certificate": "certificates"},
}
# What deleting a parent does to its children (Kong: routes restrict their service, the rest cascade).
ON_DELETE: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "services": (("routes", "service", False), ("plugins", "service", True)),
    "routes": (("plugins", "route", True),),
    "consumers": (("plugins", "consumer", True), ("acls", "consumer", True),
                  ("consumer_group_consumers", "consumer", True)),
    "consumer_groups": (("plugins", "consumer_group", True), ("consumer_group_consumers", "consumer_group", True)),
    "upstreams": (("targets", "upstream", True),),
    "certificates": (("snis", "certificate", True), ("services", "client_certificate", False)),
    "ca_certificates": (("services", "ca_certificates", False),),
}
UNIQUE_FIELDS: dict[str, tuple[str, ...]] = {
    "services": ("name",), "routes": ("name",), "consumers": ("username", "custom_id"),
    "plugins": ("instance_name",), "upstreams": ("name",), "targets": (), "consumer_groups": ("name",),
    "acls": (), "consumer_group_consumers": (),
    "certificates": (), "ca_certificates": ("cert_digest",), "snis": ("name",),
}
# Fields unique together (Kong's 409 names each; references as {"id": ...}).
UNIQUE_TOGETHER: dict[str, tuple[str, str]] = {
    "targets": ("upstream", "target"), "acls": ("consumer", "group"),
    "consumer_group_consumers": ("consumer_group", "consumer"),
}
DELETE_ORDER = ("plugins", "targets", "acls", "consumer_group_consumers", "routes", "services", "consumers",
                "consumer_groups", "upstreams", "snis", "certificates", "ca_certificates")
DATA_PLANE_PURGE_SECONDS = 14 * 24 * 3600  # Kong's cluster_data_plane_purge_delay


def is_uuid(value: str) -> bool:
    try:
        return len(value) == 36 and str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False


class DataPlaneReport(Protocol):
    """What a data plane reports (oidcgate.cluster.protocol.DataPlaneStatus has these attributes)."""

    @property
    def id(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def hostname(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def config_hash(self) -> str: ...
    @property
    def last_seen(self) -> float: ...  # epoch seconds
    @property
    def sync_status(self) -> str: ...


@dataclass(frozen=True)
class Page:
    data: list[Entity]
    next_offset: str | None


@dataclass
class _State:
    """A committed configuration: every entity by kind and id, tagged with its config version."""

    version: int
    entities: dict[str, dict[str, Entity]]
    snapshot: Snapshot | None = None


class _Tx:
    """The entities as a write transaction changes them, and what to write back."""

    def __init__(self, conn: Connection, base: _State, version: int, now: int) -> None:
        self.conn = conn
        self.version = version
        self.now = now
        self.existing = {kind: set(items) for kind, items in base.entities.items()}
        self.entities = {kind: dict(items) for kind, items in base.entities.items()}
        self.changed: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self.removed: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self.replaced = False
        self.snapshot: Snapshot | None = None

    @property
    def dirty(self) -> bool:
        return self.replaced or any(self.changed.values()) or any(self.removed.values())

    def index(self, kind: str, key: Callable[[Entity], Any]) -> dict[Any, str]:
        return {value: entity["id"] for entity in self.entities[kind].values()
                if (value := key(entity)) is not None}

    def find(self, kind: str, key: str, scope: Scope | None = None) -> Entity | None:
        """By id when `key` is a UUID, else by the kind's endpoint key (name, username, ...)."""
        if is_uuid(key):
            found = self.entities[kind].get(key.lower())
        else:
            endpoint_key = ENTITY_MODELS[kind].ENDPOINT_KEY
            found = next((e for e in self.entities[kind].values()
                          if endpoint_key and e.get(endpoint_key) == key and _in_scope(e, scope)), None)
        return found if found is not None and _in_scope(found, scope) else None

    def put(self, kind: str, entity: Entity) -> None:
        self.entities[kind][entity["id"]] = entity
        if entity["id"] not in self.changed[kind]:
            self.changed[kind].append(entity["id"])

    def remove(self, kind: str, entity_id: str) -> None:
        del self.entities[kind][entity_id]
        self.removed[kind].append(entity_id)


def _refers(value: Any, entity_id: str) -> bool:
    """Whether a reference field (an id, or a list of ids such as `ca_certificates`) names `entity_id`."""
    return entity_id in value if isinstance(value, list) else value == entity_id


def _in_scope(entity: Entity, scope: Scope | None) -> bool:
    return all(entity.get(ref) == parent for ref, parent in (scope or {}).items())


def _merge(base: Entity, patch: Mapping[str, Any]) -> Entity:
    """PATCH semantics: fields replace, except records (plugin `config`, `healthchecks`) merge deeply."""
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict) and key in ("config", "healthchecks"):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        both_dicts = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _deep_merge(merged[key], value) if both_dicts else value
    return merged


def _key_of(kind: str, value: str) -> dict[str, str]:
    """How Kong names a reference in its messages: {id="..."} or {name="..."}."""
    return {"id": value} if is_uuid(value) else {ENTITY_MODELS[kind].ENDPOINT_KEY or "id": value}


def _ref_value(value: str | None) -> dict[str, str] | None:
    return {"id": value} if value is not None else None


class Store:
    """Entities, the config version and data-plane statuses in one SQL database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._write_lock = threading.Lock()
        self._state: _State | None = None

    @property
    def backend(self) -> str:
        """"sqlite" or "postgres" (Kong's `database` setting names)."""
        return "postgres" if self.engine.dialect.name == "postgresql" else self.engine.dialect.name

    # ---- reads (always from the database, so every CP node answers the same) -----------------

    def ping(self) -> bool:
        try:
            self.version()
        except Exception:  # any driver error means "not reachable" for /status
            return False
        return True

    def version(self) -> int:
        with self.engine.connect() as conn:
            return self._version(conn)

    def page(self, kind: str, *, size: int, offset: str | None = None, tags: Sequence[str] = (),
             any_tag: bool = False, where: Mapping[str, str] | None = None) -> Page:
        """One page ordered by id; `where` filters on indexed columns, `tags` on all (or any) tags."""
        table = tables.ENTITY_TABLES[kind]
        query = select(table.c.id, table.c.entity).order_by(table.c.id).limit(size + 1)
        if offset is not None:
            query = query.where(table.c.id > decode_offset(offset))
        for column, value in (where or {}).items():
            query = query.where(table.c[column] == value if "\x00" not in value else false())
        tagged = select(tables.tags.c.entity_id).where(tables.tags.c.kind == kind)
        if tags and any_tag:
            query = query.where(table.c.id.in_(tagged.where(tables.tags.c.tag.in_(tags))))
        else:
            for tag in tags:
                query = query.where(table.c.id.in_(tagged.where(tables.tags.c.tag == tag)))
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        data = [orjson.loads(row.entity) for row in rows[:size]]
        return Page(data, encode_offset(rows[size - 1].id) if len(rows) > size else None)

    def get(self, kind: str, key: str, scope: Scope | None = None) -> Entity:
        """The entity by id or endpoint key, inside `scope`; NotFound otherwise."""
        table = tables.ENTITY_TABLES[kind]
        endpoint_key = ENTITY_MODELS[kind].ENDPOINT_KEY
        if is_uuid(key):
            query = select(table.c.entity).where(table.c.id == key.lower())
        elif endpoint_key and "\x00" not in key:
            query = select(table.c.entity).where(table.c[endpoint_key] == key)
        else:
            raise NotFound()
        for ref, parent in (scope or {}).items():
            query = query.where(table.c[f"{ref}_id"] == parent)
        with self.engine.connect() as conn:
            row = conn.execute(query.limit(1)).scalar()
        if row is None:
            raise NotFound()
        return orjson.loads(row)

    def sni_names(self, certificate_ids: Sequence[str]) -> dict[str, list[str]]:
        """The SNI names of each certificate, sorted (Kong's `snis` on certificates), one query."""
        table = tables.snis
        names: dict[str, list[str]] = {certificate_id: [] for certificate_id in certificate_ids}
        if names:
            query = select(table.c.certificate_id, table.c.name).where(
                table.c.certificate_id.in_(list(names))).order_by(table.c.name)
            with self.engine.connect() as conn:
                for row in conn.execute(query):
                    names[row.certificate_id].append(row.name)
        return names

    def plugin_names_in_use(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(select(tables.plugins.c.name).distinct()).scalars())

    # ---- writes ----------------------------------------------------------------------------

    def create(self, kind: str, data: Mapping[str, Any], scope: Scope | None = None) -> Entity:
        with self._transaction() as tx:
            return self._save(tx, kind, {**data, **(scope or {})}, existing=None)

    def upsert(self, kind: str, key: str, data: Mapping[str, Any], scope: Scope | None = None) -> Entity:
        """PUT: replace the entity named by `key` (id or endpoint key), creating it when missing."""
        raw = {**data, **(scope or {})}
        endpoint_key = ENTITY_MODELS[kind].ENDPOINT_KEY
        if is_uuid(key):
            raw["id"] = key
        elif endpoint_key:
            raw[endpoint_key] = key
        with self._transaction() as tx:
            existing = tx.find(kind, key)
            if existing is not None and not _in_scope(existing, scope):
                raise NotFound()
            return self._save(tx, kind, raw, existing=existing)

    def update(self, kind: str, key: str, patch: Mapping[str, Any], scope: Scope | None = None) -> Entity:
        """PATCH: merge `patch` into the entity; NotFound when it does not exist in `scope`."""
        with self._transaction() as tx:
            existing = tx.find(kind, key, scope)
            if existing is None:
                raise NotFound()
            return self._save(tx, kind, _merge(existing, patch), existing=existing)

    def save_certificate(self, certificate_id: str | None, data: Mapping[str, Any], snis: Sequence[str] | None,
                         *, patch: bool = False) -> Entity:
        """Kong's certificates DAO: write a certificate (create, PUT `certificate_id`, or PATCH it) and, when
        `snis` is given, make exactly those names point at it, in one transaction. A name of another
        certificate is refused before anything changes (Kong's message). Returns the certificate with
        its sorted `snis`."""
        with self._transaction() as tx:
            existing = tx.find("certificates", certificate_id) if certificate_id is not None else None
            if patch and existing is None:
                raise NotFound()
            raw = _merge(existing, data) if patch and existing else \
                {**data, **({"id": certificate_id} if certificate_id else {})}
            target = existing["id"] if existing else certificate_id
            owners = {sni["name"]: sni["certificate"] for sni in tx.entities["snis"].values()}
            for name in snis or ():
                owner = owners.get(name)
                if owner is not None and owner != target:
                    raise SchemaViolation([FieldError(
                        "snis", f"{name} already associated with existing certificate '{owner}'")])
            certificate = self._save(tx, "certificates", raw, existing=existing)
            current = {sni["name"]: sni["id"] for sni in tx.entities["snis"].values()
                       if sni["certificate"] == certificate["id"]}
            if snis is not None:
                for name in current.keys() - set(snis):
                    tx.remove("snis", current.pop(name))
                for name in sorted(set(snis) - current.keys()):
                    current[name] = self._save(tx, "snis", {"name": name, "certificate": certificate["id"]},
                                               existing=None)["id"]
            return {**certificate, "snis": sorted(current)}

    def delete(self, kind: str, key: str, scope: Scope | None = None) -> bool:
        """Delete like Kong: refused while routes use a service, cascading to plugins and targets.

        Returns False when there was nothing to delete (Kong still answers 204).
        """
        with self._transaction() as tx:
            existing = tx.find(kind, key, scope)
            if existing is None:
                return False
            for child_kind, ref, cascade in ON_DELETE.get(kind, ()):
                children = [c["id"] for c in tx.entities[child_kind].values() if _refers(c.get(ref), existing["id"])]
                if children and not cascade:
                    raise ForeignKeyViolation.restricted(kind, child_kind)
                for child_id in children:
                    tx.remove(child_kind, child_id)
            tx.remove(kind, existing["id"])
            return True

    def replace_all(self, document: Any) -> Snapshot:
        """POST /config: validate a whole kong.yml and make it the configuration, atomically."""
        try:
            snapshot = load(document, registry.config_schema)
        except ConfigError as exc:
            raise DeclarativeConfigError(exc) from None
        with self._transaction() as tx:
            tx.replaced = True
            for kind in KINDS:
                tx.entities[kind] = {}
                for item in getattr(snapshot, kind):
                    entity = item.model_dump(mode="json")
                    entity["created_at"] = entity.get("created_at") or tx.now
                    entity["updated_at"] = entity.get("updated_at") or entity["created_at"]
                    tx.entities[kind][entity["id"]] = entity
        return snapshot

    # ---- export and change signalling -------------------------------------------------------

    def export(self) -> tuple[dict[str, Any], str]:
        """The current configuration as a flat kong.yml document and its hash (as a DP computes it)."""
        state = self._committed_state()
        if state.snapshot is None:
            state.snapshot = load(_document(state.entities), registry.config_schema)
        return state.snapshot.to_declarative(), state.snapshot.hash

    async def export_async(self) -> tuple[dict[str, Any], str]:
        """`export()` off the event loop: the snapshot source the cluster server pushes from."""
        return await anyio.to_thread.run_sync(self.export)

    async def version_async(self) -> int:
        return await anyio.to_thread.run_sync(self.version)

    # ---- data planes ------------------------------------------------------------------------

    def record_data_plane(self, status: DataPlaneReport) -> None:
        now = int(time.time())
        row = {"ip": status.ip, "hostname": status.hostname, "version": status.version,
               "config_hash": status.config_hash, "sync_status": status.sync_status,
               "last_seen": int(status.last_seen)}
        table = tables.clustering_data_planes
        for _ in range(2):  # a second CP node may insert the same id concurrently: then update
            try:
                with self.engine.begin() as conn:
                    if not conn.execute(update(table).where(table.c.id == status.id).values(**row)).rowcount:
                        conn.execute(insert(table).values(id=status.id, created_at=now, **row))
                    conn.execute(delete(table).where(table.c.last_seen < now - DATA_PLANE_PURGE_SECONDS))
                return
            except IntegrityError:
                continue

    async def record_data_plane_async(self, status: DataPlaneReport) -> None:
        """`record_data_plane()` off the event loop: the cluster server's `on_status` callback."""
        await anyio.to_thread.run_sync(self.record_data_plane, status)

    def data_planes(self, *, size: int, offset: str | None = None) -> Page:
        table = tables.clustering_data_planes
        query = select(table).order_by(table.c.id).limit(size + 1)
        if offset is not None:
            query = query.where(table.c.id > decode_offset(offset))
        with self.engine.connect() as conn:
            rows = [{str(k): v for k, v in row._asdict().items()} for row in conn.execute(query)]
        return Page(rows[:size], encode_offset(rows[size - 1]["id"]) if len(rows) > size else None)

    # ---- internals --------------------------------------------------------------------------

    @staticmethod
    def _version(conn: Connection) -> int:
        table = tables.config_version
        return int(conn.execute(select(table.c.version).where(table.c.id == 1)).scalar_one())

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        """One serialized write: bump the version (taking the write lock), change, persist, commit."""
        with self._write_lock, self.engine.connect() as conn:
            transaction = conn.begin()
            try:
                table = tables.config_version
                conn.execute(update(table).where(table.c.id == 1)
                             .values(version=table.c.version + 1, updated_at=time.time()))
                version = self._version(conn)
                state = self._state
                if state is None or state.version != version - 1:
                    state = _State(version - 1, self._read_entities(conn))
                tx = _Tx(conn, state, version, int(time.time()))
                yield tx
                if not tx.dirty:
                    transaction.rollback()
                    return
                self._persist(tx)
                transaction.commit()
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                raise
            self._state = _State(version, tx.entities, tx.snapshot)

    def _committed_state(self) -> _State:
        """The latest committed state, read consistently (the version did not move while reading)."""
        with self.engine.connect() as conn:
            for _ in range(10):
                version = self._version(conn)
                state = self._state
                if state is not None and state.version == version:
                    return state
                entities = self._read_entities(conn)
                if self._version(conn) == version:
                    fresh = _State(version, entities)
                    if self._state is None or self._state.version < version:
                        self._state = fresh
                    return fresh
                conn.rollback()
        raise RuntimeError("the configuration kept changing while it was read; try again")

    @staticmethod
    def _read_entities(conn: Connection) -> dict[str, dict[str, Entity]]:
        entities: dict[str, dict[str, Entity]] = {}
        for kind in KINDS:
            table = tables.ENTITY_TABLES[kind]
            rows = conn.execute(select(table.c.id, table.c.entity).order_by(table.c.id))
            entities[kind] = {row.id: orjson.loads(row.entity) for row in rows}
        return entities

    def _save(self, tx: _Tx, kind: str, raw: Mapping[str, Any], existing: Entity | None) -> Entity:
        """Validate `raw` as the new state of one entity and put it in the transaction."""
        raw = {**raw, "created_at": existing["created_at"] if existing else tx.now, "updated_at": tx.now}
        if existing is not None:
            raw["id"] = existing["id"]
        entity = validate_entity(kind, raw)
        if entity["id"] is None:
            entity["id"] = str(uuid.uuid4())
        elif existing is None and entity["id"] in tx.entities[kind]:
            raise PrimaryKeyViolation(entity["id"])
        self._resolve_references(tx, kind, entity)
        if errors := _column_errors(kind, entity):
            raise SchemaViolation(errors)
        self._check_unique(tx, kind, entity)
        tx.put(kind, entity)
        return self._check_configuration(tx, kind, entity["id"])

    @staticmethod
    def _resolve_references(tx: _Tx, kind: str, entity: Entity) -> None:
        for ref, parent_kind in REFERENCES.get(kind, {}).items():
            value = entity.get(ref)
            if value is None or value in tx.entities[parent_kind]:
                continue
            parent = tx.find(parent_kind, value)
            if parent is None:
                raise ForeignKeyViolation.invalid_reference(ref, _key_of(parent_kind, value), parent_kind)
            entity[ref] = parent["id"]

    @staticmethod
    def _check_unique(tx: _Tx, kind: str, entity: Entity) -> None:
        for name in UNIQUE_FIELDS[kind]:
            value = entity.get(name)
            if value is not None and tx.index(kind, itemgetter(name)).get(value, entity["id"]) != entity["id"]:
                raise UniqueViolation({name: value})
        if kind == "plugins":
            key = tables.plugin_cache_key(entity)
            if tx.index(kind, tables.plugin_cache_key).get(key, entity["id"]) != entity["id"]:
                scope = ("consumer", "route", "service", *(("consumer_group",) if entity.get("consumer_group") else ()))
                raise UniqueViolation({"name": entity["name"], **{ref: _ref_value(entity.get(ref)) for ref in scope}})
        if kind in UNIQUE_TOGETHER:
            fields = UNIQUE_TOGETHER[kind]
            together = itemgetter(*fields)
            if tx.index(kind, together).get(together(entity), entity["id"]) != entity["id"]:
                refs = REFERENCES.get(kind, {})
                raise UniqueViolation({name: _ref_value(entity[name]) if name in refs else entity[name]
                                       for name in fields})

    @staticmethod
    def _check_configuration(tx: _Tx, kind: str, entity_id: str) -> Entity:
        """Load the whole configuration as a data plane would; errors are reported on the entity."""
        document = _document(tx.entities)
        position = next(i for i, e in enumerate(document[kind]) if e["id"] == entity_id)
        try:
            snapshot = load(document, registry.config_schema)
        except ConfigError as exc:
            prefix = f"{kind}[{position}]"
            raise SchemaViolation(FieldError(_relative(error.path, prefix), error.message)
                                  for error in exc.errors) from None
        normalized = getattr(snapshot, kind)[position].model_dump(mode="json")
        tx.put(kind, normalized)
        tx.snapshot = snapshot
        return normalized

    def _persist(self, tx: _Tx) -> None:
        conn = tx.conn
        tag_table = tables.tags
        if tx.replaced:
            conn.execute(delete(tag_table))
            for kind in DELETE_ORDER:
                conn.execute(delete(tables.ENTITY_TABLES[kind]))
            changed = {kind: list(tx.entities[kind]) for kind in KINDS}
            existing: dict[str, set[str]] = {kind: set() for kind in KINDS}
        else:
            changed, existing = tx.changed, tx.existing
        for kind in DELETE_ORDER:
            if ids := tx.removed[kind]:
                conn.execute(delete(tag_table).where(tag_table.c.kind == kind, tag_table.c.entity_id.in_(ids)))
                conn.execute(delete(tables.ENTITY_TABLES[kind]).where(tables.ENTITY_TABLES[kind].c.id.in_(ids)))
        for kind in KINDS:  # parents before children
            table = tables.ENTITY_TABLES[kind]
            rows = [_row(kind, tx.entities[kind][entity_id]) for entity_id in changed[kind]]
            new_rows = [row for row in rows if row["id"] not in existing[kind]]
            if new_rows:
                conn.execute(insert(table), new_rows)
            for row in rows:
                if row["id"] in existing[kind]:
                    conn.execute(update(table).where(table.c.id == row["id"]).values(**row))
            updated_ids = [row["id"] for row in rows if row["id"] in existing[kind]]
            if updated_ids:
                conn.execute(delete(tag_table).where(tag_table.c.kind == kind,
                                                     tag_table.c.entity_id.in_(updated_ids)))
            tag_rows = [{"kind": kind, "entity_id": entity_id, "tag": tag} for entity_id in changed[kind]
                        for tag in dict.fromkeys(tx.entities[kind][entity_id].get("tags") or ())]
            if tag_rows:
                conn.execute(insert(tag_table), tag_rows)


def validate_entity(kind: str, raw: Mapping[str, Any]) -> Entity:
    """One entity checked by its schema (a plugin's config by the plugin's); SchemaViolation otherwise.

    References and uniqueness need the other entities: the store checks them when writing.
    """
    try:
        entity: Entity = ENTITY_MODELS[kind].model_validate(raw).model_dump(mode="json")
    except ValidationError as exc:
        raise SchemaViolation(from_pydantic(exc)) from None
    if kind == "plugins":
        _, errors = validate_plugin_config(registry.config_schema, entity["name"], entity["config"])
        if errors:
            raise SchemaViolation(errors)
    return entity


def _document(entities: Mapping[str, Mapping[str, Entity]]) -> dict[str, Any]:
    """A canonical flat document: entities ordered by id, so every CP node computes the same hash."""
    return {"_format_version": "3.0",
            **{kind: sorted(entities[kind].values(), key=lambda e: e["id"]) for kind in KINDS}}


def _relative(path: str, prefix: str) -> str:
    if path == prefix:
        return ""
    return path[len(prefix) + 1:] if path.startswith(prefix + ".") else path


def _row(kind: str, entity: Entity) -> dict[str, Any]:
    return {"id": entity["id"], **{column: read(entity) for column, read in tables.COLUMNS[kind].items()},
            "created_at": entity["created_at"], "updated_at": entity["updated_at"],
            "entity": orjson.dumps(entity).decode()}


def _column_errors(kind: str, entity: Entity) -> list[FieldError]:
    """Values the indexed columns cannot hold: longer than the column, or with NUL characters."""
    errors = []
    table = tables.ENTITY_TABLES[kind]
    for column, read in tables.COLUMNS[kind].items():
        value = read(entity)
        if not isinstance(value, str) or column == "cache_key":
            continue
        name = column.removesuffix("_id") if column.endswith("_id") else column
        limit = getattr(table.c[column].type, "length", None)
        if "\x00" in value:
            errors.append(FieldError(name, "must not contain NUL characters"))
        elif limit is not None and len(value) > limit:
            errors.append(FieldError(name, f"length must be at most {limit}"))
    errors += [FieldError(f"tags[{i}]", "must not contain NUL characters")
               for i, tag in enumerate(entity.get("tags") or ()) if "\x00" in tag]
    return errors


def open_store(url: str) -> Store:
    """A store on `url` (sqlite:///PATH or postgresql://...); migrations are the caller's business."""
    return Store(database.create(url))

