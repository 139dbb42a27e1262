"""correlation-id: Kong's schema and defaults, the three generators, upstream and downstream headers."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from oidcgate.config import ConfigError, load
from oidcgate.config.entities import Route
from oidcgate.plugins import registry
from oidcgate.plugins.correlation_id.generators import WorkerSequence
from oidcgate.plugins.correlation_id.handler import CorrelationIdHandler
from oidcgate.plugins.pdk import ConsumerIndex, Context, Headers, PluginEnv, Request, Response


def load_plugin(config: dict) -> dict:
    doc = {"_format_version": "3.0", "plugins": [{"name": "correlation-id", "config": config}]}
    return load(doc, registry.config_schema).plugins[0].config


def make_context(headers: list[tuple[str, str]] | None = None) -> Context:
    request = Request("GET", "/", "", list(headers or []), scheme="http", host="gw.test", port=8000,
                      client_ip="127.0.0.1")
    return Context(request, Route(paths=["/"]), None, ConsumerIndex([]))


def handler(env: PluginEnv | None = None, **config: object) -> CorrelationIdHandler:
    return CorrelationIdHandler(CorrelationIdHandler.validate_config(config), env or PluginEnv())


async def through(plugin: CorrelationIdHandler, ctx: Context) -> Context:
    """access, then the response phase with an upstream response."""
    await plugin.access(ctx)
    ctx.response = Response(200, Headers([("Content-Type", "application/json")]))
    await plugin.response(ctx)
    return ctx


def test_registered_with_kongs_name_priority_and_defaults() -> None:
    assert registry.get("correlation-id") is CorrelationIdHandler
    assert CorrelationIdHandler.PRIORITY == 100001
    assert CorrelationIdHandler.phases() == frozenset({"access", "response"})
    assert load_plugin({}) == {"header_name": "Kong-Request-ID", "generator": "uuid#counter",
                               "echo_downstream": False}


@pytest.mark.parametrize(("config", "path", "message"), [
    ({"generator": "random"}, "generator", "Input should be 'uuid', 'uuid#counter' or 'tracker'"),
    ({"header_name": "bad header"}, "header_name", "'bad header' is not a valid HTTP header name"),
    ({"header_name": ""}, "header_name", "at least 1 character"),
    ({"echo_downstream": "maybe"}, "echo_downstream", "valid boolean"),
    ({"generator": None}, "generator", "Input should be"),
    ({"header": "X-Id"}, "header", "unknown field"),
])
def test_bad_config_is_refused_with_path_and_message(config: dict, path: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_plugin(config)
    found = {e.path: e.message for e in caught.value.errors}
    assert message in found[f"plugins[0].config.{path}"], found


async def test_uuid_counter_is_one_worker_uuid_and_a_rising_counter() -> None:
    plugin = handler()
    ids = [(await through(plugin, make_context())).service_request.headers.get("Kong-Request-ID") for _ in range(3)]
    prefixes = {value.partition("#")[0] for value in ids if value}
    assert len(prefixes) == 1
    uuid.UUID(prefixes.pop())
    assert [int(value.partition("#")[2]) for value in ids if value] == [1, 2, 3]


async def test_the_counter_survives_a_new_snapshot() -> None:
    env = PluginEnv()
    first = (await through(handler(env), make_context())).service_request.headers.get("Kong-Request-ID")
    second = (await through(handler(env), make_context())).service_request.headers.get("Kong-Request-ID")
    assert first is not None and second is not None
    assert first.partition("#")[0] == second.partition("#")[0]
    assert int(second.partition("#")[2]) == int(first.partition("#")[2]) + 1


async def test_uuid_generator() -> None:
    ctx = await through(handler(generator="uuid", header_name="X-Correlation-ID"), make_context())
    value = ctx.service_request.headers.get("x-correlation-id")
    assert value is not None
    assert uuid.UUID(value).version == 4
    assert ctx.log_fields["correlation_id"] == value


async def test_tracker_generator() -> None:
    ctx = await through(handler(generator="tracker"), make_context())
    value = ctx.service_request.headers.get("Kong-Request-ID") or ""
    assert re.fullmatch(rf"gw\.test-8000-{os.getpid()}-\d+-\d{{13}}", value), value


async def test_a_client_supplied_id_is_kept_and_an_empty_one_replaced() -> None:
    ctx = await through(handler(), make_context([("kong-request-id", "from-client")]))
    assert ctx.service_request.headers.get_all("Kong-Request-ID") == ["from-client"]
    assert ctx.log_fields["correlation_id"] == "from-client"
    ctx = await through(handler(), make_context([("Kong-Request-ID", "")]))
    assert ctx.service_request.headers.get_all("Kong-Request-ID")[0].count("#") == 1
    assert ctx.request.headers.get_all("Kong-Request-ID") == [""]  # (what the client sent)


async def test_echo_downstream() -> None:
    quiet = await through(handler(), make_context())
    assert quiet.response is not None
    assert "Kong-Request-ID" not in quiet.response.headers
    echoed = await through(handler(echo_downstream=True), make_context())
    assert echoed.response is not None
    assert echoed.response.headers.get("Kong-Request-ID") == echoed.service_request.headers.get("Kong-Request-ID")


async def test_echo_downstream_when_access_did_not_run() -> None:
    # another plugin ended the request in rewrite: the client's id, if any, is still echoed
    plugin = handler(echo_downstream=True)
    ctx = make_context([("Kong-Request-ID", "abc")])
    ctx.response = Response(401, Headers(), source="exit")
    await plugin.response(ctx)
    assert ctx.response.headers.get("Kong-Request-ID") == "abc"


def test_a_forked_worker_gets_its_own_sequence() -> None:
    state: dict[str, object] = {}
    sequence = WorkerSequence.of(state)
    assert WorkerSequence.of(state) is sequence
    sequence.pid = -1  # as if this state was inherited from the parent process
    assert WorkerSequence.of(state) is not sequence
