"""The plugin pipeline: per-route chains resolved at compile time, run per request in phase order.

Precedence (Kong's, most specific wins, one instance per plugin name and request):
consumer+route+service > consumer group+route+service > consumer+route > consumer+service >
consumer group+route > consumer group+service > route+service > consumer > consumer group > route >
service > global. Consumer- and consumer-group-scoped instances take effect once an authentication
plugin (higher PRIORITY, so it runs earlier) has called `ctx.authenticate(consumer)`: each plugin's
instance is chosen when its access phase is reached, with the consumer known at that moment. A
consumer in several groups gets the instance of the group whose name sorts first (documented choice).

Phases: rewrite (instances that do not depend on a consumer) -> access -> [proxy] -> response ->
log, higher PRIORITY first, and only the phases a handler overrides are called. An access step whose
plugin declares its inputs (`memo_inputs`) carries the memo of its recorded decisions (proxy.memo),
one per route and instance.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from oidcgate.config.entities import Consumer, Route
from oidcgate.config.entities import Plugin as PluginEntity
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.pdk import Context
from oidcgate.proxy.memo import Memo

log = logging.getLogger("oidcgate.proxy.pipeline")

# (consumer, consumer group, route, service) scope -> precedence (lower wins).
_PRECEDENCE = {(True, False, True, True): 0, (False, True, True, True): 1, (True, False, True, False): 2,
               (True, False, False, True): 3, (False, True, True, False): 4, (False, True, False, True): 5,
               (False, False, True, True): 6, (True, False, False, False): 7, (False, True, False, False): 8,
               (False, False, True, False): 9, (False, False, False, True): 10, (False, False, False, False): 11}


@dataclass(frozen=True)
class Scoped:
    """An instance for one consumer (`consumer` set) or for the members of one consumer group."""

    consumer: str | None
    group: str | None
    instance: Plugin


@dataclass
class Slot:
    """One plugin name on one route: the instance for every request, and the more specific ones that win
    for a consumer or the members of a consumer group (best first)."""

    name: str
    priority: int
    phases: frozenset[str]
    default: Plugin | None = None
    scoped: tuple[Scoped, ...] = ()

    def pick(self, consumer: Consumer | None, group_ids: frozenset[str]) -> Plugin | None:
        """The instance for a request of `consumer` (None: nobody) in the consumer groups `group_ids` (the
        consumer's, or those an authentication plugin set: Context.consumer_group_ids)."""
        for scoped in self.scoped:
            if scoped.group in group_ids if scoped.consumer is None else (
                    consumer is not None and scoped.consumer == consumer.id):
                return scoped.instance
        return self.default


Chosen = Sequence[tuple[Plugin, frozenset[str]]]  # the instances a request uses, with their phases


@dataclass(frozen=True)
class Step:
    """One plugin's rewrite or access method on a route, and for access the memo of its decisions."""

    run: Callable[[Context], Coroutine[Any, Any, None]]
    memo: Memo | None = None
    rewrite: bool = False  # a rewrite step (else access)


@dataclass
class Chain:
    """A route's plugins in execution order (higher PRIORITY first).

    When no instance is consumer-scoped (the common case), every request uses the same instances:
    `fixed` holds them and `fixed_steps` their rewrite then access steps, built once, so a request
    walks a tuple instead of choosing. When, moreover, they have access steps only, each with a memo, and
    no response or log phase, the chain is `replayable`: a request whose every decision was recorded
    takes them all without a Context (phases.replay).
    """

    slots: tuple[Slot, ...]
    has_response: bool
    has_log: bool
    fixed: tuple[tuple[Plugin, frozenset[str]], ...] | None = None
    fixed_steps: tuple[Step, ...] = ()
    memos: dict[Plugin, Memo] = field(default_factory=dict)
    replay_memos: tuple[Memo, ...] = ()  # of a replayable chain's access steps, in order

    def __post_init__(self) -> None:
        for slot in self.slots:
            for instance in (slot.default, *(scoped.instance for scoped in slot.scoped)):
                inputs = instance.memo_inputs() if instance is not None and "access" in slot.phases else None
                if instance is not None and inputs is not None:
                    self.memos[instance] = Memo(inputs)
        if all(not slot.scoped for slot in self.slots):
            self.fixed = tuple((slot.default, slot.phases) for slot in self.slots if slot.default is not None)
            self.fixed_steps = (
                *(Step(slot.default.rewrite, rewrite=True) for slot in self.slots
                  if slot.default and "rewrite" in slot.phases),
                *(self._access(instance) for instance, phases in self.fixed if "access" in phases))
            if self.fixed_steps and not (self.has_response or self.has_log) and all(
                    step.memo is not None and not step.rewrite for step in self.fixed_steps):
                self.replay_memos = tuple(step.memo for step in self.fixed_steps if step.memo is not None)

    @property
    def replayable(self) -> bool:
        return bool(self.replay_memos)

    def _access(self, instance: Plugin) -> Step:
        return Step(instance.access, self.memos.get(instance))

    def steps(self, ctx: Context, chosen: list[tuple[Plugin, frozenset[str]]]) -> Iterator[Step]:
        """rewrite then access, choosing each plugin's instance when its access phase is reached (with the
        consumer known at that moment) and appending it to `chosen`. For chains that are not `fixed`."""
        for slot in self.slots:
            if "rewrite" in slot.phases and slot.default is not None:
                yield Step(slot.default.rewrite, rewrite=True)
        for slot in self.slots:
            instance = slot.pick(ctx.consumer, ctx.consumer_group_ids()) if slot.scoped else slot.default
            if instance is not None:
                chosen.append((instance, slot.phases))
                if "access" in slot.phases:
                    yield self._access(instance)

    def choose_rest(self, ctx: Context, chosen: list[tuple[Plugin, frozenset[str]]]) -> None:
        """After a plugin ended the request early: choose the plugins not reached yet too, so that their
        log phase sees the request (as Kong logs a 401 of key-auth)."""
        taken = {instance.NAME for instance, _ in chosen}
        for slot in self.slots:
            if slot.name not in taken:
                instance = slot.pick(ctx.consumer, ctx.consumer_group_ids()) if slot.scoped else slot.default
                if instance is not None:
                    chosen.append((instance, slot.phases))

    @staticmethod
    async def response(ctx: Context, chosen: Chosen, trace: Any = None) -> None:
        """The response phase; a `trace` (plugins.opentelemetry) makes each plugin's phase a span."""
        for instance, phases in chosen:
            if "response" in phases:
                await (instance.response(ctx) if trace is None else trace.phase(instance.response, ctx))

    @staticmethod
    async def log(ctx: Context, chosen: Chosen) -> None:
        """Every log handler runs even when an earlier one fails; failures are logged, never raised."""
        for instance, phases in chosen:
            if "log" in phases:
                try:
                    await instance.log(ctx)
                except Exception:
                    log.exception("plugin %s failed in the log phase", type(instance).__name__)


class _Index:
    """Plugin entities by scope, so building one route's chain does not scan every plugin."""

    def __init__(self, plugins: Iterable[PluginEntity]) -> None:
        self.by_route: dict[str | None, list[PluginEntity]] = defaultdict(list)
        self.by_service: dict[str | None, list[PluginEntity]] = defaultdict(list)  # route is None
        for plugin in plugins:
            if not plugin.enabled or not ({"http", "https"} & set(plugin.protocols)):
                continue
            if plugin.route is not None:
                self.by_route[plugin.route].append(plugin)
            else:
                self.by_service[plugin.service].append(plugin)

    def candidates(self, route: Route) -> list[PluginEntity]:
        scoped = self.by_service[route.service] if route.service else []
        return [*self.by_service[None], *scoped, *self.by_route[route.id]]


def build_chains(routes: Iterable[Route], plugins: Iterable[PluginEntity], instances: Mapping[str | None, Plugin],
                 group_names: Mapping[str | None, str] | None = None) -> dict[str | None, Chain | None]:
    """route id -> its Chain (None when no plugin applies, so the proxy takes its fast path).

    `group_names` (consumer group id -> name) orders the instances of groups with the same precedence."""
    group_names = group_names or {}
    index = _Index(plugins)
    chains: dict[str | None, Chain | None] = {}
    for route in routes:
        by_name: dict[str, list[tuple[int, PluginEntity]]] = defaultdict(list)
        for plugin in index.candidates(route):
            if plugin.service is not None and plugin.service != route.service:
                continue
            scope = (plugin.consumer is not None, plugin.consumer_group is not None, plugin.route is not None,
                     plugin.service is not None)
            by_name[plugin.name].append((_PRECEDENCE[scope], plugin))
        slots = []
        for name, found in by_name.items():
            found.sort(key=lambda item: (item[0], group_names.get(item[1].consumer_group or "", "")))
            handler = type(instances[found[0][1].id])
            slot = Slot(name, handler.PRIORITY, handler.phases())
            scoped: list[Scoped] = []
            for _, plugin in found:
                instance = instances[plugin.id]
                if plugin.consumer is None and plugin.consumer_group is None:
                    slot.default = instance
                    break  # the rest can never win
                scoped.append(Scoped(plugin.consumer, plugin.consumer_group, instance))
            slot.scoped = tuple(scoped)
            slots.append(slot)
        slots.sort(key=lambda s: (-s.priority, s.name))
        chains[route.id] = Chain(tuple(slots), any("response" in s.phases for s in slots),
                                 any("log" in s.phases for s in slots)) if slots else None
    return chains
