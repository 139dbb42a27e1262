"""The form fields of each entity page, generated from the same pydantic schemas the Admin API uses."""

from __future__ import annotations

import functools
import sys

from oidcgate.config.entities import Consumer, ConsumerGroup, Plugin, Route, Service
from oidcgate.controlplane.gui.forms import FormField, form_schema, schema_fields
from oidcgate.plugins import registry

SERVICE_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(Service), include=(
    "name", "protocol", "host", "port", "path", "enabled", "retries", "connect_timeout", "write_timeout",
    "read_timeout", "tls_verify", "tags",
)))

ROUTE_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(Route), include=(
    "name", "protocols", "methods", "hosts", "paths", "headers", "snis", "strip_path", "preserve_host",
    "path_handling", "regex_priority", "https_redirect_status_code", "request_buffering", "response_buffering",
    "tags",
)))

CONSUMER_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(Consumer), include=(
    "username", "custom_id", "tags",
)))

CONSUMER_GROUP_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(ConsumerGroup), include=(
    "name", "tags",
)))

PLUGIN_COMMON_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(Plugin), include=(
    "instance_name", "enabled", "protocols", "tags",
)))


@functools.cache
def plugin_config_fields(name: str) -> tuple[FormField, ...]:
    """The `config.*` fields of a plugin, from its own schema (raises registry.UnknownPluginError)."""
    schema = form_schema(registry.get(name).CONFIG)
    return tuple(schema_fields(schema, prefix="config."))


def plugin_description(name: str) -> str:
    """What the catalogue shows under a plugin's name: the first sentence of its handler's docstring,
    or else of its package's (where the bundled plugins describe themselves)."""
    try:
        handler = registry.get(name)
    except registry.UnknownPluginError:
        return ""
    package = sys.modules.get(handler.__module__.rpartition(".")[0])
    doc = handler.__doc__ or (package.__doc__ if package else None) or ""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    sentence, dot, _ = paragraph.partition(". ")
    return sentence + dot.strip()
