"""The plugin pipeline on a real socket: a worker served in-process (so test plugins can be registered),
forwarding to the real echo upstream."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import httpx
import pytest

from oidcgate.config import load
from oidcgate.plugins import registry
from oidcgate.plugins.base import Plugin, PluginConfig
from oidcgate.plugins.log_serializer import Finished
from oidcgate.plugins.observer import Observer
from oidcgate.plugins.pdk import Context, MemoInputs, PluginEnv
from oidcgate.plugins.prometheus import stats as prometheus
from oidcgate.proxy.runtime import compile_snapshot
from oidcgate.proxy.server import serve
from oidcgate.proxy.settings import Settings
from oidcgate.proxy.state import WorkerState

EVENTS: list[tuple[str, Any]] = []


class StampConfig(PluginConfig):
    value: str = "stamp"


class Stamp(Plugin[StampConfig]):
    NAME: ClassVar[str] = "test-stamp"
    PRIORITY: ClassVar[int] = 800
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = StampConfig

    async def rewrite(self, ctx: Context) -> None:
        ctx.service_request.headers.set("X-Rewritten", "yes")

    async def access(self, ctx: Context) -> None:
        upstream = ctx.service_request
        upstream.headers.set("X-Stamp", self.config.value)
        if "uri_captures" in ctx.shared:
            upstream.headers.set("X-Captured", ctx.shared["uri_captures"]["id"])
        upstream.headers.remove("X-Remove-Me")
        upstream.query_string = (upstream.query_string + "&" if upstream.query_string else "") + "added=1"

    async def response(self, ctx: Context) -> None:
        assert ctx.response is not None
        ctx.response.headers.set("X-Stamped", f"{self.config.value}:{ctx.response.status}")
        ctx.response.headers.remove("Server")

    async def log(self, ctx: Context) -> None:
        EVENTS.append(("log", (ctx.response.status if ctx.response else None,
                               ctx.consumer.username if ctx.consumer else None)))


class Gate(Plugin[PluginConfig]):
    NAME: ClassVar[str] = "test-gate"
    PRIORITY: ClassVar[int] = 1000
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = PluginConfig

    async def access(self, ctx: Context) -> None:
        user = ctx.request.headers.get("X-User")
        if not user:
            raise ctx.exit(401, {"message": "Unauthorized"}, {"WWW-Authenticate": 'Bearer realm="test"'})
        consumer = ctx.consumers.find("username", user)
        if consumer is None:
            raise ctx.exit(403, "go away")
        ctx.authenticate(consumer)


class BoomConfig(PluginConfig):
    phase: Literal["access", "response", "log"] = "access"


class Boom(Plugin[BoomConfig]):
    NAME: ClassVar[str] = "test-boom"
    PRIORITY: ClassVar[int] = 500
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = BoomConfig

    def _maybe(self, phase: str) -> None:
        if self.config.phase == phase:
            raise RuntimeError("kaboom with client_secret=hunter2")

    async def access(self, ctx: Context) -> None:
        self._maybe("access")

    async def response(self, ctx: Context) -> None:
        self._maybe("response")

    async def log(self, ctx: Context) -> None:
        self._maybe("log")


class BodyConfig(PluginConfig):
    limit: int = 16


class Body(Plugin[BodyConfig]):
    NAME: ClassVar[str] = "test-body"
    PRIORITY: ClassVar[int] = 700
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = BodyConfig

    async def access(self, ctx: Context) -> None:
        body = await ctx.request.read_body(self.config.limit)
        ctx.service_request.body = body.upper()


class Remember(Plugin[PluginConfig]):
    """Authenticates by its Authorization header alone (the user it names), and says so: a repeat request
    gets its decision replayed by the engine."""

    NAME: ClassVar[str] = "test-remember"
    PRIORITY: ClassVar[int] = 1000
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = PluginConfig
    USERS: ClassVar[dict[str, str]] = {"Basic a": "alice", "Basic b": "bob"}

    def memo_inputs(self) -> MemoInputs:
        return MemoInputs(headers=("authorization",))

    async def access(self, ctx: Context) -> None:
        EVENTS.append(("access", self.NAME))
        authorization = ctx.request.headers.get_all("Authorization")
        consumer = ctx.consumers.find("username", self.USERS.get(authorization[0], "")) if authorization else None
        headers = ctx.service_request.headers
        headers.add("X-Verified", "yes")
        headers.set("Authorization", "Bearer upstream-token")
        ctx.authenticate(consumer)
        ctx.reuse_until(time.time() + 60)


class Shy(Remember):
    """Declares its inputs, but its decision does more than edit headers: never replayed."""

    NAME: ClassVar[str] = "test-shy"

    async def access(self, ctx: Context) -> None:
        await super().access(ctx)
        ctx.shared["seen"] = True


class SlowLog(Plugin[PluginConfig]):
    NAME: ClassVar[str] = "test-slowlog"
    PRIORITY: ClassVar[int] = 1
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = PluginConfig

    async def access(self, ctx: Context) -> None:
        ctx.service_request.set_path("/anything/rewritten")
        self.env.state(self.NAME).setdefault("instances", set()).add(id(self))

    async def log(self, ctx: Context) -> None:
        await asyncio.sleep(0.8)
        EVENTS.append(("slow log done", time.monotonic()))

    async def close(self) -> None:
        EVENTS.append(("closed", id(self)))


class BrokenLog(Observer[PluginConfig]):
    """An observer plugin that fails on every request it sees."""

    NAME: ClassVar[str] = "test-broken-log"
    PRIORITY: ClassVar[int] = 5
    VERSION: ClassVar[str] = "1.0"
    CONFIG: ClassVar[type[PluginConfig]] = PluginConfig

    def observe(self, entry: Finished) -> None:
        EVENTS.append(("observed", entry.status))
        raise RuntimeError("the log plugin broke")


TEST_PLUGINS: dict[str, type[Plugin[Any]]] = {
    p.NAME: p for p in (Stamp, Gate, Boom, Body, Remember, Shy, SlowLog, BrokenLog)}


@dataclass
class Harness:
    state: WorkerState
    url: str
    apply: Callable[[dict[str, Any]], None]


@pytest.fixture
async def worker(monkeypatch: pytest.MonkeyPatch, echo_port: int) -> AsyncIterator[Harness]:
    plugins = {**registry.available(), **TEST_PLUGINS}
    monkeypatch.setattr(registry, "available", lambda: plugins)
    EVENTS.clear()
    state = WorkerState(asyncio.get_running_loop(), Settings(access_log="off"), PluginEnv())
    sock = socket.create_server(("127.0.0.1", 0))
    sock.setblocking(False)
    server = await serve(state, sock)
    state.start_ticking()

    def apply(doc: dict[str, Any]) -> None:
        full = {"_format_version": "3.0", **doc}
        for svc in full.get("services", []):
            svc.setdefault("url", f"http://127.0.0.1:{echo_port}")
        state.swap(compile_snapshot(load(full, registry.config_schema), state.env, state.stats, state.runtime))

    yield Harness(state, f"http://127.0.0.1:{sock.getsockname()[1]}", apply)
    server.close()
    state.stop_ticking()
    state.pool.close()
    for task in list(state.tasks):
        task.cancel()


def one_route(*plugins: dict[str, Any], **route: Any) -> dict[str, Any]:
    return {"services": [{"name": "echo", "routes": [{"name": "r", "paths": ["/"], **route}]}],
            "plugins": list(plugins), "consumers": [{"username": "alice"}, {"username": "bob"}]}


async def test_phases_edit_the_request_and_the_response(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-stamp", "config": {"value": "v1"}}))
    async with httpx.AsyncClient() as client:
        response = await client.get(worker.url + "/anything?q=1", headers={"X-Remove-Me": "x"})
    echoed = response.json()
    assert echoed["headers"]["X-Stamp"] == "v1" and echoed["headers"]["X-Rewritten"] == "yes"
    assert "X-Remove-Me" not in echoed["headers"]
    assert echoed["args"] == {"q": "1", "added": "1"}
    assert response.headers["X-Stamped"] == "v1:200"
    assert "server" not in response.headers
    await asyncio.sleep(0.05)
    assert ("log", (200, None)) in EVENTS


async def test_exit_and_consumer_scoped_configuration(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-gate"}, {"name": "test-stamp", "config": {"value": "everyone"}},
                           {"name": "test-stamp", "consumer": "alice", "config": {"value": "for-alice"}}))
    async with httpx.AsyncClient() as client:
        denied = await client.get(worker.url + "/anything")
        assert denied.status_code == 401
        assert denied.json() == {"message": "Unauthorized"}
        assert denied.headers["WWW-Authenticate"] == 'Bearer realm="test"'
        assert denied.headers["content-type"] == "application/json; charset=utf-8"
        forbidden = await client.get(worker.url + "/anything", headers={"X-User": "mallory"})
        assert (forbidden.status_code, forbidden.text) == (403, "go away")
        alice = await client.get(worker.url + "/anything", headers={"X-User": "alice"})
        bob = await client.get(worker.url + "/anything", headers={"X-User": "bob"})
    assert alice.json()["headers"]["X-Stamp"] == "for-alice"  # consumer-scoped, after authentication
    assert bob.json()["headers"]["X-Stamp"] == "everyone"
    assert alice.headers["X-Stamped"] == "for-alice:200"  # the same instance in every phase
    await asyncio.sleep(0.05)
    assert ("log", (200, "alice")) in EVENTS and ("log", (401, None)) in EVENTS


async def test_regex_captures_reach_plugins(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-stamp"}, paths=[r"~/anything/(?P<id>\d+)"], strip_path=False))
    async with httpx.AsyncClient() as client:
        response = await client.get(worker.url + "/anything/42")
    assert response.json()["headers"]["X-Captured"] == "42"


async def test_one_instance_per_plugin_the_most_specific(worker: Harness) -> None:
    doc = one_route({"name": "test-stamp", "config": {"value": "global"}})
    doc["services"][0]["routes"][0]["plugins"] = [{"name": "test-stamp", "config": {"value": "route"}}]
    worker.apply(doc)
    async with httpx.AsyncClient() as client:
        response = await client.get(worker.url + "/anything")
    assert response.json()["headers"]["X-Stamp"] == "route"
    assert response.headers["X-Stamped"] == "route:200"


@pytest.mark.parametrize("phase", ["access", "response"])
async def test_a_failing_plugin_gives_a_generic_500(worker: Harness, phase: str,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    worker.apply(one_route({"name": "test-boom", "config": {"phase": phase}}))
    with caplog.at_level(logging.ERROR, logger="oidcgate.proxy"):
        async with httpx.AsyncClient() as client:
            response = await client.get(worker.url + "/anything")
            assert response.status_code == 500
            assert response.json() == {"message": "An unexpected error occurred"}
            assert "hunter2" not in response.text
            assert (await client.get(worker.url + "/anything")).status_code == 500  # the connection still works
    assert "RuntimeError: kaboom" in caplog.text and "Traceback" in caplog.text


async def test_a_failing_log_phase_does_not_touch_the_response(worker: Harness,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    worker.apply(one_route({"name": "test-boom", "config": {"phase": "log"}}))
    with caplog.at_level(logging.ERROR):
        async with httpx.AsyncClient() as client:
            assert (await client.get(worker.url + "/anything")).status_code == 200
        await asyncio.sleep(0.05)
    assert "failed in the log phase" in caplog.text


async def test_read_body(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-body", "config": {"limit": 16}}))
    async with httpx.AsyncClient() as client:
        small = await client.post(worker.url + "/anything", content=b"hello")
        assert small.json()["data"] == "HELLO" and small.json()["headers"]["Content-Length"] == "5"

        async def chunks() -> AsyncIterator[bytes]:
            for part in (b"chunked ", b"body"):
                yield part

        chunked = await client.post(worker.url + "/anything", content=chunks())
        assert chunked.json()["data"] == "CHUNKED BODY"
        big = await client.post(worker.url + "/anything", content=b"x" * 100)
        assert big.status_code == 413
        assert big.json() == {"message": "Request Entity Too Large"}


async def test_the_log_phase_never_delays_the_response(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-slowlog"}))
    started = time.monotonic()
    async with httpx.AsyncClient() as client:
        response = await client.get(worker.url + "/whatever")
    answered = time.monotonic()
    assert response.json()["url"].endswith("/anything/rewritten")  # ctx.service_request.set_path
    assert answered - started < 0.5
    for _ in range(30):
        if any(name == "slow log done" for name, _ in EVENTS):
            break
        await asyncio.sleep(0.05)
    logged = next(at for name, at in EVENTS if name == "slow log done")
    assert logged - answered >= 0.7


async def test_replaced_instances_are_closed_once_unused_and_env_survives(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-slowlog"}))
    state = worker.state.env.state("test-slowlog")
    async with httpx.AsyncClient() as client:
        await client.get(worker.url + "/x")
        first = set(state["instances"])
        worker.apply(one_route({"name": "test-slowlog"}, path_handling="v1"))  # a new snapshot
        await client.get(worker.url + "/x")
    assert worker.state.env.state("test-slowlog") is state  # plugin state outlives snapshots
    assert len(state["instances"] - first) == 1
    for _ in range(40):  # the old instance's log phase still runs, then it is closed
        if ("closed", next(iter(first))) in EVENTS:
            break
        await asyncio.sleep(0.05)
    assert ("closed", next(iter(first))) in EVENTS
    closed = [value for name, value in EVENTS if name == "closed"]
    assert closed == [next(iter(first))]


async def test_a_repeat_request_gets_the_recorded_decision_as_the_access_phase_took_it(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-remember"}, {"name": "test-stamp", "consumer": "alice",
                                                       "config": {"value": "for-alice"}}))
    async with httpx.AsyncClient() as client:
        first = await client.get(worker.url + "/anything", headers={"Authorization": "Basic a", "X-Other": "1"})
        assert EVENTS[:1] == [("access", "test-remember")]
        EVENTS.clear()
        again = await client.get(worker.url + "/anything", headers={"Authorization": "Basic a", "X-Other": "2"})
        assert ("access", "test-remember") not in EVENTS  # replayed, the plugin did not run
    assert first.json()["headers"] == again.json()["headers"] | {"X-Other": "1"}
    upstream = again.json()["headers"]
    assert upstream["Authorization"] == "Bearer upstream-token" and upstream["X-Verified"] == "yes"
    assert [name.lower() for name in upstream].count("authorization") == 1
    assert upstream["X-Consumer-Username"] == "alice" and upstream["X-Stamp"] == "for-alice"  # the consumer too


async def test_other_inputs_or_two_fields_or_an_unreplayable_decision_run_the_plugin(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-remember"}))
    async with httpx.AsyncClient() as client:
        await client.get(worker.url + "/anything", headers={"Authorization": "Basic a"})
        EVENTS.clear()
        bob = await client.get(worker.url + "/anything", headers={"Authorization": "Basic b"})
        twice = await client.get(worker.url + "/anything", headers=[("Authorization", "Basic a"),
                                                                    ("Authorization", "Basic a")])
        hop = await client.get(worker.url + "/anything", headers={"Authorization": "Basic a",
                                                                  "Connection": "authorization"})
        assert EVENTS == [("access", "test-remember")] * 3
    assert bob.json()["headers"]["X-Consumer-Username"] == "bob" and twice.status_code == 200
    # Listed in Connection, the client's Authorization is hop-by-hop: gone before the plugins run.
    assert "X-Consumer-Username" not in hop.json()["headers"]
    worker.apply(one_route({"name": "test-shy"}))
    EVENTS.clear()
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            assert (await client.get(worker.url + "/anything", headers={"Authorization": "Basic a"})).status_code == 200
    assert EVENTS == [("access", "test-shy")] * 2


async def test_recorded_decisions_and_plugins_that_run_share_a_chain(worker: Harness) -> None:
    worker.apply(one_route({"name": "test-remember"}, {"name": "test-body"}))
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            response = await client.post(worker.url + "/anything", headers={"Authorization": "Basic a"}, content=b"x")
            assert response.status_code == 200 and response.json()["data"] == "X"
            assert response.json()["headers"]["X-Verified"] == "yes"
    assert EVENTS == [("access", "test-remember")]  # once; the body plugin ran both times (its "X")


async def test_a_failing_log_plugin_never_fails_a_request(worker: Harness, caplog: pytest.LogCaptureFixture) -> None:
    worker.apply(one_route({"name": "test-broken-log"}))
    async with httpx.AsyncClient() as client:
        responses = [await client.get(worker.url + "/anything") for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert EVENTS == [("observed", 200)] * 3
    assert len([r for r in caplog.records if "log or trace plugin failed" in r.getMessage()]) == 1  # not a flood


async def test_observers_scoped_to_a_consumer_see_that_consumers_requests(worker: Harness) -> None:
    counted = {"name": "prometheus", "config": {"status_code_metrics": True}}
    worker.apply(one_route({"name": "test-gate"}, counted,
                           {**counted, "consumer": "alice", "config": {"status_code_metrics": True, "per_consumer": True}}))
    async with httpx.AsyncClient() as client:
        for user in ("alice", "bob", "alice", ""):
            await client.get(worker.url + "/anything", headers={"X-User": user} if user else {})
    worker.state.settle()
    dumped = prometheus.dump(worker.state.stats, worker.state.env)
    codes = sorted((code, source, consumer, n) for route in dumped for code, source, consumer, n in route["codes"])
    assert codes == [(200, "service", "", 1), (200, "service", "alice", 2), (401, "kong", "", 1)]


async def test_requests_of_a_consumer_are_counted_for_analytics_on_both_paths(worker: Harness) -> None:
    """The analytics hook: a request a plugin authenticated is counted by route and consumer, whether its
    consumer came from the access phase or from a recorded decision; anonymous requests only in the route's stats."""
    worker.apply(one_route({"name": "test-gate"}))
    async with httpx.AsyncClient() as client:
        for user in ("alice", "alice", "bob", "", "mallory"):
            await client.get(worker.url + "/anything", headers={"X-User": user} if user else {})
    worker.apply(one_route({"name": "test-remember"}, name="r2"))
    async with httpx.AsyncClient() as client:
        for _ in range(3):  # the access phase once, then its recorded decision
            await client.get(worker.url + "/anything", headers={"Authorization": "Basic b", "X-User": "bob"})
    worker.state.settle()
    counted = {(route, name): (codes, sum(latency)) for _, route, _, name, codes, latency in worker.state.usage.dump()}
    assert counted == {("r", "alice"): ({"200": 2}, 2), ("r", "bob"): ({"200": 1}, 1), ("r2", "bob"): ({"200": 3}, 3)}
    # (the gateway's own answers are counted negated: prometheus' `source` label)
    assert worker.state.stats.child("echo", "r").codes == {200: 3, -401: 1, -403: 1}
