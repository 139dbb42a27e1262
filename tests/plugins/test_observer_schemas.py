"""The observer plugins' configurations: Kong's fields and defaults, and clear refusals where oidcgate differs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from oidcgate.plugins.file_log.schema import FileLogConfig
from oidcgate.plugins.http_log.schema import HttpLogConfig
from oidcgate.plugins.prometheus.schema import PrometheusConfig


def test_kongs_defaults() -> None:
    http_log = HttpLogConfig.model_validate({"http_endpoint": "http://collector/logs"})
    assert (http_log.method, http_log.content_type, http_log.timeout, http_log.keepalive) == (
        "POST", "application/json", 10000, 60000)
    assert http_log.queue.max_batch_size == 1 and http_log.queue.max_entries == 10000
    assert FileLogConfig.model_validate({"path": "/tmp/file.log"}).reopen is False
    prometheus = PrometheusConfig()
    assert not (prometheus.per_consumer or prometheus.status_code_metrics or prometheus.latency_metrics
                or prometheus.bandwidth_metrics or prometheus.upstream_health_metrics)


@pytest.mark.parametrize(("config", "message"), [
    ({"http_endpoint": "http://user:pw@collector/", "headers": {"Authorization": "Bearer x"}}, "user info"),
    ({"http_endpoint": "http://collector/", "headers": {"Content-Type": "text/plain"}}, "Content-Type"),
    ({"http_endpoint": "http://collector/", "headers": {"host": "other"}}, "host"),
    ({"http_endpoint": "http://collector/", "method": "GET"}, "method"),
    ({"http_endpoint": "not a url"}, "http or https URL"),
    ({"http_endpoint": "http://collector/", "custom_fields_by_lua": {"x": "return 1"}}, "runs no Lua"),
])
def test_http_log_refuses(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        HttpLogConfig.model_validate(config)


def test_a_kong_export_with_custom_fields_by_lua_null_loads() -> None:
    assert HttpLogConfig.model_validate({"http_endpoint": "http://c/", "custom_fields_by_lua": None}).custom_fields is None
    assert FileLogConfig.model_validate({"path": "/tmp/x.log", "custom_fields_by_lua": None}).path == "/tmp/x.log"


@pytest.mark.parametrize("path", [" /tmp/x.log", "/tmp/x.log ", "/tmp/*.log", "/tmp/a&b", "/tmp/%s", "`x`"])
def test_file_log_refuses_kongs_invalid_file_names(path: str) -> None:
    with pytest.raises(ValidationError):
        FileLogConfig.model_validate({"path": path})


def test_prometheus_takes_kongs_ai_and_wasm_switches_only_off() -> None:
    assert PrometheusConfig.model_validate({"ai_metrics": False, "wasm_metrics": False})
    for switch in ("ai_metrics", "wasm_metrics"):
        with pytest.raises(ValidationError):
            PrometheusConfig.model_validate({switch: True})
