"""The bundled plugins and their order: Kong's priorities, each one unique, so the order is never a tie."""

from __future__ import annotations

from oidcgate import __version__
from oidcgate.plugins import registry


def test_bundled_plugins_run_in_kongs_order_with_unique_priorities() -> None:
    available = registry.available()
    order = sorted(available, key=lambda name: -available[name].PRIORITY)
    assert order == ["correlation-id", "openid-connect", "acl", "rate-limiting", "request-transformer",
                     "opentelemetry", "prometheus", "http-log", "file-log"]
    assert [available[name].PRIORITY for name in order] == [100001, 1050, 950, 910, 801, 14, 13, 12, 9]
    assert len({handler.PRIORITY for handler in available.values()}) == len(available)


def test_bundled_plugins_carry_the_gateways_version() -> None:
    """The cluster compares plugin versions between control and data planes: bundled ones move together."""
    assert {name: handler.VERSION for name, handler in registry.available().items()} == dict.fromkeys(
        registry.BUNDLED, __version__)
