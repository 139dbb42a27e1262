"""Which plugins exist: the bundled ones plus third-party ones from the `oidcgate.plugins` entry points.

A third-party package registers `name = "package.module:HandlerClass"` in the entry point group
`oidcgate.plugins`; the handler is a `oidcgate.plugins.base.Plugin` subclass.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points

from oidcgate.plugins.base import Plugin, PluginConfig

ENTRY_POINT_GROUP = "oidcgate.plugins"

BUNDLED: dict[str, str] = {
    "openid-connect": "oidcgate.plugins.openid_connect.handler:OpenIDConnectHandler",
    "correlation-id": "oidcgate.plugins.correlation_id.handler:CorrelationIdHandler",
    "request-transformer": "oidcgate.plugins.request_transformer.handler:RequestTransformerHandler",
    "acl": "oidcgate.plugins.acl.handler:ACLHandler",
    "rate-limiting": "oidcgate.plugins.rate_limiting.handler:RateLimitingHandler",
    "prometheus": "oidcgate.plugins.prometheus.handler:PrometheusHandler",
    "http-log": "oidcgate.plugins.http_log.handler:HttpLogHandler",
    "file-log": "oidcgate.plugins.file_log.handler:FileLogHandler",
    "opentelemetry": "oidcgate.plugins.opentelemetry.handler:OpenTelemetryHandler",
}


class UnknownPluginError(LookupError):
    pass


def _load(target: str) -> type[Plugin]:
    module_name, _, attr = target.partition(":")
    handler = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(handler, type) and issubclass(handler, Plugin)):
        raise TypeError(f"{target} is not a oidcgate.plugins.base.Plugin subclass")
    return handler


@functools.cache
def available() -> dict[str, type[Plugin]]:
    """Every installed plugin by name, loaded once per process."""
    found = {name: _load(target) for name, target in BUNDLED.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in found:
            found[ep.name] = _load(ep.value)
    return found


def get(name: str) -> type[Plugin]:
    try:
        return available()[name]
    except KeyError:
        raise UnknownPluginError(f"plugin '{name}' not enabled; available: "
                                 f"{', '.join(sorted(available())) or 'none'}") from None


def config_schema(name: str) -> type[PluginConfig]:
    """The plugin's `config` schema: the lookup the declarative loader is handed (`config.load(doc, config_schema)`)."""
    return get(name).CONFIG
