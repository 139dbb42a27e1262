"""The form fields of each entity page, generated from the same pydantic schemas the Admin API uses."""

from __future__ import annotations

import functools

from oidcgate.config.entities import Consumer, Plugin, Route, Service
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

PLUGIN_COMMON_FIELDS: tuple[FormField, ...] = tuple(schema_fields(form_schema(Plugin), include=(
    "instance_name", "enabled", "protocols", "tags",
)))


@functools.cache
def plugin_config_fields(name: str) -> tuple[FormField, ...]:
    """The `config.*` fields of a plugin, from its own schema (raises registry.UnknownPluginError)."""
    schema = form_schema(registry.get(name).CONFIG)
    return tuple(schema_fields(schema, prefix="config."))


def plugin_description(name: str) -> str:
    """The first line of the plugin handler's docstring: what the catalogue shows under its name."""
    try:
        doc = registry.get(name).__doc__ or ""
    except registry.UnknownPluginError:
        return ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
