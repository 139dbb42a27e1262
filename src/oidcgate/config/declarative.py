"""Kong's declarative configuration (`kong.yml`, `_format_version: "3.0"`): load, validate, hash, export.

One code path for every way a data plane gets config (file, `POST /config`, a control-plane push):
`load()` turns a document into a `Snapshot` or raises `ConfigError` with every error and its path.
A snapshot is flat (nested entities are lifted to top-level lists), every entity has an id
(deterministic when the document gives none, so the same file always has the same hash) and
every reference is an id.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from oidcgate.config.certificates import SNI, CACertificate, Certificate
from oidcgate.config.entities import (
    ACL,
    ENTITY_MODELS,
    Consumer,
    ConsumerGroup,
    ConsumerGroupConsumer,
    Entity,
    Plugin,
    Route,
    Service,
    Target,
    Upstream,
)
from oidcgate.config.errors import ConfigError, FieldError, from_pydantic
from oidcgate.config.plugin_schemas import PluginSchemas, validate_plugin_config

FORMAT_VERSIONS = ("1.1", "2.1", "3.0")
META_KEYS = {"_format_version", "_transform", "_comment", "_workspace", "_info"}
UNSUPPORTED = {"vaults", "key_sets", "keys", "services_", "workspaces"}
ID_NAMESPACE = uuid.UUID("6a1f1e0e-8b0b-4a9e-9b7e-0c1d2a3b4c5d")

# Which collections may be nested in an entity, and the reference field the child then gets.
NESTED: dict[str, dict[str, str]] = {
    "services": {"routes": "service", "plugins": "service"},
    "routes": {"plugins": "route"},
    "consumers": {"plugins": "consumer", "acls": "consumer", "groups": "consumer"},
    "consumer_groups": {"plugins": "consumer_group", "consumers": "consumer_group"},
    "upstreams": {"targets": "upstream"},
    "certificates": {"snis": "certificate"},
}
# Nested lists that name other entities rather than hold new ones (decK's format): each item is a reference,
# and becomes a membership (child key -> the membership field the item fills).
MEMBERSHIPS: dict[str, str] = {"groups": "consumer_group", "consumers": "consumer"}
# Referenced kinds before the kinds that refer to them (the store writes rows in this order).
KINDS = ("certificates", "ca_certificates", "snis", "services", "routes", "consumers", "consumer_groups",
         "plugins", "upstreams", "targets", "acls", "consumer_group_consumers")


@dataclass(frozen=True)
class Snapshot:
    """An immutable, validated, flat configuration with its hash."""

    services: tuple[Service, ...] = ()
    routes: tuple[Route, ...] = ()
    consumers: tuple[Consumer, ...] = ()
    plugins: tuple[Plugin, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    targets: tuple[Target, ...] = ()
    acls: tuple[ACL, ...] = ()
    consumer_groups: tuple[ConsumerGroup, ...] = ()
    consumer_group_consumers: tuple[ConsumerGroupConsumer, ...] = ()
    certificates: tuple[Certificate, ...] = ()
    ca_certificates: tuple[CACertificate, ...] = ()
    snis: tuple[SNI, ...] = ()
    hash: str = field(default="", compare=False)

    def to_declarative(self) -> dict[str, Any]:
        """The snapshot as a flat kong.yml document (what `GET /config` exports and CP pushes)."""
        doc: dict[str, Any] = {"_format_version": "3.0"}
        for kind in KINDS:
            items = getattr(self, kind)
            if items:
                doc[kind] = [item.model_dump(mode="json", exclude_none=True) for item in items]
        return doc

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in KINDS}


EMPTY = Snapshot(hash="0" * 32)


def config_hash(doc: dict[str, Any]) -> str:
    """Kong-style 32-hex-digit fingerprint of a canonical document."""
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def parse_text(text: str | bytes, source: str = "<config>") -> Any:
    """Parse YAML (a superset of JSON) safely; syntax errors become a ConfigError with a line number."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([FieldError("", f"{source}: invalid YAML at {where}: {problem}")]) from None


def load_file(path: str | Path, plugin_schemas: PluginSchemas) -> Snapshot:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError([FieldError("", f"cannot read {path}: {exc.strerror}")]) from None
    return load(parse_text(text, str(path)), plugin_schemas)


def load(document: Any, plugin_schemas: PluginSchemas) -> Snapshot:
    """Validate a declarative document and build its snapshot; raises ConfigError with every problem.

    `plugin_schemas` checks each plugin's config (see `oidcgate.config.plugin_schemas`)."""
    return _Loader(plugin_schemas).run(document)


class _Loader:
    def __init__(self, plugin_schemas: PluginSchemas) -> None:
        self.plugin_schemas = plugin_schemas
        self.errors: list[FieldError] = []
        self.found: dict[str, list[tuple[str, Entity]]] = {kind: [] for kind in KINDS}
        self.generated_ids: set[str] = set()

    def error(self, path: str, message: str) -> None:
        self.errors.append(FieldError(path, message))

    def run(self, document: Any) -> Snapshot:
        if not isinstance(document, dict):
            raise ConfigError([FieldError("", "expected a mapping at the top level of the document")])
        version = document.get("_format_version")
        if version is None:
            self.error("_format_version", "required field missing")
        elif str(version) not in FORMAT_VERSIONS:
            self.error("_format_version", f"unsupported version '{version}'; expected one of "
                                          f"{', '.join(FORMAT_VERSIONS)}")
        for key, value in document.items():
            if key in META_KEYS:
                continue
            if key not in KINDS:
                hint = "not supported by oidcgate" if key in UNSUPPORTED else "unknown field"
                self.error(str(key), hint)
            elif value is None:
                continue
            elif not isinstance(value, list):
                self.error(key, "expected an array")
            else:
                for index, raw in enumerate(value):
                    self.add(key, raw, f"{key}[{index}]", {})
        self.resolve_references()
        self.check_unique()
        self.check_plugins()
        if self.errors:
            raise ConfigError(self.errors)
        snapshot = Snapshot(**{kind: tuple(e for _, e in self.found[kind]) for kind in KINDS})  # type: ignore[arg-type]
        return Snapshot(**{kind: getattr(snapshot, kind) for kind in KINDS},
                        hash=config_hash(snapshot.to_declarative()))

    def add(self, kind: str, raw: Any, path: str, parent_ref: dict[str, str | None]) -> None:
        if not isinstance(raw, dict):
            self.error(path, "expected an object")
            return
        raw = dict(raw)
        children = {key: raw.pop(key) for key in NESTED.get(kind, {}) if key in raw}
        for ref_field, ref_value in parent_ref.items():
            if raw.get(ref_field) is not None:
                self.error(f"{path}.{ref_field}", "must not be set on a nested entity (it is the parent's)")
            if ref_value is not None:
                raw[ref_field] = ref_value
        try:
            entity: Entity | None = ENTITY_MODELS[kind].model_validate(raw)
        except ValidationError as exc:
            self.errors.extend(from_pydantic(exc, path))
            entity = None
        if entity is not None:
            if entity.id is None:
                entity.id = str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{self.natural_key(kind, entity)}"))
                self.generated_ids.add(entity.id)
            self.found[kind].append((path, entity))
        for key, items in children.items():
            if not isinstance(items, list):
                self.error(f"{path}.{key}", "expected an array")
                continue
            ref = {NESTED[kind][key]: entity.id if entity else None}
            child_kind = "consumer_group_consumers" if key in MEMBERSHIPS else key
            for index, child in enumerate(items):
                if key in MEMBERSHIPS:
                    child = {MEMBERSHIPS[key]: child}
                self.add(child_kind, child, f"{path}.{key}[{index}]", ref)

    @staticmethod
    def natural_key(kind: str, entity: Entity) -> str:
        """What makes an entity itself when it has no id: its name, or its content."""
        key = getattr(entity, "name", None) if kind not in ("plugins", "acls", "consumer_group_consumers") else None
        if kind == "consumers":
            key = entity.username or f"custom_id:{entity.custom_id}"  # type: ignore[attr-defined]
        elif kind == "certificates":  # the certificates themselves, not the keys
            key = f"{entity.cert}{entity.cert_alt or ''}"  # type: ignore[attr-defined]
        elif kind == "ca_certificates":
            key = entity.cert_digest  # type: ignore[attr-defined]
        if key is None:
            key = json.dumps(entity.model_dump(mode="json", exclude={"id", "tags", "config"}), sort_keys=True)
        return str(key)

    def resolve_references(self) -> None:
        lookup: dict[str, dict[str, str]] = {}
        for kind, keys in (("services", ("id", "name")), ("routes", ("id", "name")),
                           ("consumers", ("id", "username")), ("upstreams", ("id", "name")),
                           ("consumer_groups", ("id", "name"))):
            lookup[kind] = {}
            for _, entity in self.found[kind]:
                for key in keys:
                    value = getattr(entity, key)
                    if value is not None:
                        lookup[kind][value] = entity.id  # type: ignore[assignment]
        refs = {"service": "services", "route": "routes", "consumer": "consumers", "upstream": "upstreams",
                "consumer_group": "consumer_groups"}
        for kind in ("routes", "plugins", "targets", "acls", "consumer_group_consumers"):
            for path, entity in self.found[kind]:
                for ref, target_kind in refs.items():
                    value = getattr(entity, ref, None)
                    if value is None:
                        continue
                    resolved = lookup[target_kind].get(value)
                    if resolved is None:
                        self.error(f"{path}.{ref}", f"no {target_kind[:-1]} with id or name '{value}'")
                    else:
                        setattr(entity, ref, resolved)
        for kind, required in (("targets", ("upstream",)), ("acls", ("consumer",)),
                               ("consumer_group_consumers", ("consumer_group", "consumer"))):
            for path, entity in self.found[kind]:
                for ref in required:
                    if getattr(entity, ref) is None:
                        self.error(f"{path}.{ref}", "required field missing")
        self.resolve_tls_references()
        # (proxy helper) Plugins and targets without a name get their id from their content, which
        # includes references: derive it again now that references are ids, so that a nested and a
        # flat document (or `service: name` vs `service: {id: ...}`) give the same ids and hash.
        # Nothing refers to the ids of these kinds, so changing them here is safe.
        for kind in ("plugins", "targets", "acls", "consumer_group_consumers"):
            for _, entity in self.found[kind]:
                if entity.id in self.generated_ids:
                    entity.id = str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{self.natural_key(kind, entity)}"))

    def resolve_tls_references(self) -> None:
        """SNIs and services name certificates and CA certificates by id (Kong's foreign keys)."""
        certificates = {e.id for _, e in self.found["certificates"]}
        cas = {e.id for _, e in self.found["ca_certificates"]}
        for path, sni in self.found["snis"]:
            if sni.certificate not in certificates:  # type: ignore[attr-defined]
                self.error(f"{path}.certificate", f"no certificate with id '{sni.certificate}'")  # type: ignore[attr-defined]
        for path, service in self.found["services"]:
            assert isinstance(service, Service)
            if service.client_certificate is not None and service.client_certificate not in certificates:
                self.error(f"{path}.client_certificate", f"no certificate with id '{service.client_certificate}'")
            for index, ca in enumerate(service.ca_certificates or ()):
                if ca not in cas:
                    self.error(f"{path}.ca_certificates[{index}]", f"no ca_certificate with id '{ca}'")

    def check_unique(self) -> None:
        unique: dict[str, tuple[str, ...]] = {
            "services": ("id", "name"), "routes": ("id", "name"), "consumers": ("id", "username", "custom_id"),
            "upstreams": ("id", "name"), "targets": ("id",), "plugins": ("id", "instance_name"),
            "consumer_groups": ("id", "name"), "acls": ("id",), "consumer_group_consumers": ("id",),
            "certificates": ("id",), "snis": ("id", "name"), "ca_certificates": ("id", "cert_digest"),
        }
        for kind, keys in unique.items():
            for key in keys:
                self._unique(kind, key, ((path, getattr(e, key)) for path, e in self.found[kind]))
        self._unique("targets", "target", ((p, (t.upstream, t.target)) for p, t in self.found["targets"]))  # type: ignore[attr-defined]
        self._unique("plugins", "name", (
            (p, (pl.name, pl.service, pl.route, pl.consumer, pl.consumer_group))  # type: ignore[attr-defined]
            for p, pl in self.found["plugins"]), message="plugin '{0}' is already configured on this scope")
        self._unique("acls", "group", ((p, (a.group, a.consumer)) for p, a in self.found["acls"]),  # type: ignore[attr-defined]
                     message="the consumer is already in group '{0}'")
        self._unique("consumer_group_consumers", "consumer", (
            (p, (m.consumer, m.consumer_group)) for p, m in self.found["consumer_group_consumers"]),  # type: ignore[attr-defined]
            message="consumer '{0}' is already in this consumer group")

    def _unique(self, kind: str, key: str, values: Iterable[tuple[str, Any]], message: str | None = None) -> None:
        seen: dict[Any, str] = {}
        for path, value in values:
            if value is None:
                continue
            if value in seen:
                text = message.format(value[0]) if message else f"duplicate {key} '{value}' (also at {seen[value]})"
                self.error(f"{path}.{key}", text)
            else:
                seen[value] = path

    def check_plugins(self) -> None:
        """Unknown plugins and bad plugin config are errors; configs are stored with defaults filled."""
        for path, plugin in self.found["plugins"]:
            assert isinstance(plugin, Plugin)
            config, errors = validate_plugin_config(self.plugin_schemas, plugin.name, plugin.config, path)
            self.errors.extend(errors)
            if config is not None:
                plugin.config = config
