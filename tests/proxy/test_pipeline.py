"""Plugin chains: Kong's precedence, one instance per plugin, phase order (unit level)."""

from __future__ import annotations

from typing import Any, ClassVar

from oidcgate.config.entities import Consumer, ConsumerGroup, ConsumerGroupConsumer, Route
from oidcgate.config.entities import Plugin as PluginEntity
from oidcgate.plugins.base import Plugin, PluginConfig
from oidcgate.plugins.pdk import ConsumerIndex, Context, MemoInputs, PluginEnv, Request
from oidcgate.proxy.pipeline import build_chains

SERVICE = "11111111-1111-4111-8111-111111111111"
ROUTE = "22222222-2222-4222-8222-222222222222"
OTHER_ROUTE = "33333333-3333-4333-8333-333333333333"
ALICE = "44444444-4444-4444-8444-444444444444"
BOB = "55555555-5555-4555-8555-555555555555"
GOLD = "66666666-6666-4666-8666-666666666666"
SILVER = "77777777-7777-4777-8777-777777777777"
CONSUMERS = ConsumerIndex(
    [Consumer(id=ALICE, username="alice"), Consumer(id=BOB, username="bob")],
    [ConsumerGroup(id=GOLD, name="gold"), ConsumerGroup(id=SILVER, name="silver")],
    [ConsumerGroupConsumer(consumer=ALICE, consumer_group=GOLD), ConsumerGroupConsumer(consumer=ALICE, consumer_group=SILVER),
     ConsumerGroupConsumer(consumer=BOB, consumer_group=SILVER)])


class Config(PluginConfig):
    tag: str = ""


class Tagger(Plugin[Config]):
    NAME: ClassVar[str] = "tagger"
    PRIORITY: ClassVar[int] = 10
    VERSION: ClassVar[str] = "1"
    CONFIG: ClassVar[type[PluginConfig]] = Config

    async def access(self, ctx: Context) -> None:
        ctx.shared.setdefault("order", []).append(self.config.tag)


class Auth(Tagger):
    NAME: ClassVar[str] = "auth"
    PRIORITY: ClassVar[int] = 1000


class Logger(Tagger):
    NAME: ClassVar[str] = "logger"
    PRIORITY: ClassVar[int] = 5

    async def log(self, ctx: Context) -> None:
        pass


class Quick(Tagger):
    NAME: ClassVar[str] = "quick"
    PRIORITY: ClassVar[int] = 20

    def memo_inputs(self) -> MemoInputs:
        return MemoInputs(headers=("authorization",))


HANDLERS = {"tagger": Tagger, "auth": Auth, "logger": Logger, "quick": Quick}


def chains(*plugins: dict[str, Any]) -> dict[str, Any]:
    entities = [PluginEntity.model_validate({"id": f"00000000-0000-4000-8000-{i:012d}", **p})
                for i, p in enumerate(plugins)]
    env = PluginEnv()
    instances = {e.id: HANDLERS[e.name](Config(tag=e.config.get("tag", "")), env, instance_id=e.id)
                 for e in entities}
    routes = [Route(id=ROUTE, paths=["/"], service=SERVICE), Route(id=OTHER_ROUTE, paths=["/o"])]
    return build_chains(routes, entities, instances, {GOLD: "gold", SILVER: "silver"})  # type: ignore[arg-type]


def tag(instance: Any) -> str:
    return instance.config.tag  # type: ignore[no-any-return]


def test_most_specific_instance_wins() -> None:
    built = chains({"name": "tagger", "config": {"tag": "global"}},
                   {"name": "tagger", "service": SERVICE, "config": {"tag": "service"}},
                   {"name": "tagger", "route": ROUTE, "config": {"tag": "route"}},
                   {"name": "tagger", "route": ROUTE, "service": SERVICE, "config": {"tag": "route+service"}})
    (slot,) = built[ROUTE].slots
    assert tag(slot.default) == "route+service"
    (other,) = built[OTHER_ROUTE].slots  # no service, not this route: only the global one
    assert tag(other.default) == "global"


def test_consumer_scoped_instances_apply_once_a_consumer_is_known() -> None:
    built = chains({"name": "tagger", "route": ROUTE, "config": {"tag": "route"}},
                   {"name": "tagger", "consumer": ALICE, "config": {"tag": "alice"}},
                   {"name": "tagger", "consumer": ALICE, "route": ROUTE, "service": SERVICE,
                    "config": {"tag": "alice+route+service"}})
    (slot,) = built[ROUTE].slots
    assert tag(pick(slot, None)) == "route"
    assert tag(pick(slot, ALICE)) == "alice+route+service"
    assert tag(pick(slot, BOB)) == "route"
    (other,) = built[OTHER_ROUTE].slots
    assert pick(other, None) is None and tag(pick(other, ALICE)) == "alice"


def pick(slot: Any, consumer_id: str | None) -> Any:
    return slot.pick(CONSUMERS.find("id", consumer_id) if consumer_id else None, CONSUMERS.group_ids(consumer_id))


def test_kongs_precedence_with_consumer_groups() -> None:
    """consumer+route+service > group+route+service > consumer+route > ... > route+service > consumer > group."""
    built = chains({"name": "tagger", "consumer_group": SILVER, "config": {"tag": "silver"}},
                   {"name": "tagger", "config": {"tag": "global"}})
    (slot,) = built[ROUTE].slots
    assert tag(pick(slot, BOB)) == "silver" and tag(pick(slot, None)) == "global"
    built = chains({"name": "tagger", "route": ROUTE, "service": SERVICE, "config": {"tag": "route+service"}},
                   {"name": "tagger", "consumer": ALICE, "config": {"tag": "alice"}},
                   {"name": "tagger", "consumer_group": GOLD, "config": {"tag": "gold"}},
                   {"name": "tagger", "consumer_group": SILVER, "route": ROUTE, "config": {"tag": "silver+route"}})
    (slot,) = built[ROUTE].slots
    assert tag(pick(slot, BOB)) == "silver+route"  # a group on the route beats route+service
    assert tag(pick(slot, ALICE)) == "silver+route"  # ... and beats her consumer-only and gold-only instances
    (other,) = built[OTHER_ROUTE].slots
    assert tag(pick(other, ALICE)) == "alice" and pick(other, BOB) is None  # consumer beats group
    built = chains({"name": "tagger", "consumer_group": SILVER, "route": ROUTE, "config": {"tag": "silver"}},
                   {"name": "tagger", "consumer_group": GOLD, "route": ROUTE, "config": {"tag": "gold"}},
                   {"name": "tagger", "consumer": ALICE, "route": ROUTE, "service": SERVICE, "config": {"tag": "a"}})
    (slot,) = built[ROUTE].slots
    assert tag(pick(slot, ALICE)) == "a"  # consumer+route+service first
    built = chains({"name": "tagger", "consumer_group": SILVER, "route": ROUTE, "config": {"tag": "silver"}},
                   {"name": "tagger", "consumer_group": GOLD, "route": ROUTE, "config": {"tag": "gold"}})
    (slot,) = built[ROUTE].slots
    assert tag(pick(slot, ALICE)) == "gold" and tag(pick(slot, BOB)) == "silver"  # two groups: the first by name
    assert built[ROUTE].fixed is None  # the instance depends on the consumer


def test_order_by_priority_and_phases() -> None:
    built = chains({"name": "logger"}, {"name": "tagger"}, {"name": "auth"})
    chain = built[ROUTE]
    assert [s.name for s in chain.slots] == ["auth", "tagger", "logger"]
    assert chain.has_log and not chain.has_response
    assert Logger.phases() == frozenset({"access", "log"})


def test_routes_without_plugins_take_the_fast_path() -> None:
    built = chains({"name": "tagger", "route": OTHER_ROUTE})
    assert built[ROUTE] is None
    disabled = chains({"name": "tagger", "enabled": False}, {"name": "auth", "protocols": ["grpc"]})
    assert disabled[ROUTE] is None


def test_access_steps_of_instances_that_declare_their_inputs_carry_a_memo_per_route() -> None:
    built = chains({"name": "quick"}, {"name": "tagger"}, {"name": "logger"})
    steps = {step.run.__self__.NAME: step for step in built[ROUTE].fixed_steps}  # type: ignore[attr-defined]
    assert steps["quick"].memo is not None and steps["tagger"].memo is None and steps["logger"].memo is None
    other = {step.run.__self__.NAME: step for step in built[OTHER_ROUTE].fixed_steps}  # type: ignore[attr-defined]
    assert other["quick"].memo is not None and other["quick"].memo is not steps["quick"].memo
    scoped = chains({"name": "quick"}, {"name": "quick", "consumer": ALICE})[ROUTE]
    assert scoped.fixed is None and len(scoped.memos) == 2  # one for each instance a request may get


async def test_consumer_groups_set_by_an_authentication_plugin_choose_the_instance() -> None:
    """Kong's set_authenticated_consumer_groups: groups found in a token apply with or without a consumer, and
    replace the consumer's own."""
    chain = chains({"name": "tagger", "route": ROUTE, "config": {"tag": "route"}},
                   {"name": "tagger", "consumer_group": GOLD, "config": {"tag": "gold"}})[ROUTE]
    gold, bob = CONSUMERS.group_named("gold"), CONSUMERS.find("id", BOB)
    assert gold is not None and bob is not None and CONSUMERS.group_named("nope") is None

    async def run(consumer: Consumer | None, groups: tuple[ConsumerGroup, ...] | None) -> list[str]:
        request = Request("GET", "/", "", [], scheme="http", host="gw", port=8000, client_ip="127.0.0.1")
        ctx = Context(request, Route(id=ROUTE, paths=["/"]), None, CONSUMERS)
        if consumer is not None:
            ctx.authenticate(consumer, {"id": "k"})
        ctx.set_consumer_groups(groups)
        chosen: list[Any] = []
        for step in chain.steps(ctx, chosen):
            await step.run(ctx)
        return list(ctx.shared["order"])

    assert await run(None, (gold,)) == ["gold"]  # no consumer at all
    assert await run(bob, None) == ["route"]  # bob's own group is silver
    assert await run(bob, (gold,)) == ["gold"]  # the token's groups replace his
    assert await run(None, ()) == await run(None, None) == ["route"]
