"""Compile a snapshot into the immutable runtime a worker serves from: router, services, chains, balancers.

Requests never look at config: everything they need (upstream path base, timeouts in seconds,
balancer, plugin chain, counters, observer plugins) is precomputed here, once per snapshot. A worker swaps the
whole Runtime by assigning one attribute, so a request sees either the old or the new config.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from oidcgate.config import Snapshot
from oidcgate.config.entities import Plugin as PluginEntity
from oidcgate.config.entities import Route, Service, Target
from oidcgate.config.vault import EnvVault
from oidcgate.plugins import registry
from oidcgate.plugins.base import Plugin
from oidcgate.plugins.observer import Observer, RouteInfo, is_observer
from oidcgate.plugins.pdk import ConsumerIndex, PluginEnv
from oidcgate.proxy.balancer import Balancer, Fixed, Peer
from oidcgate.proxy.metrics import RouteStats, WorkerStats
from oidcgate.proxy.observers import Observe, logs, route_observe, tracer_of
from oidcgate.proxy.pipeline import Chain, Slot, build_chains
from oidcgate.proxy.router import Router
from oidcgate.tls.sni import CertificateSet
from oidcgate.tls.sni import build as build_certificates
from oidcgate.tls.upstream import UpstreamContexts

log = logging.getLogger("oidcgate.proxy.runtime")
Chains = dict[str | None, Chain | None]  # route id -> its chain (pipeline.build_chains)


@dataclass
class ServiceRuntime:
    entity: Service
    name: str
    base: bytes  # the service path, "/" when unset
    target: Fixed | Balancer
    connect_timeout: float
    read_timeout: float
    write_timeout: float
    retries: int
    tls: ssl.SSLContext | None
    peer: Peer | None  # the only peer of a service that is not an upstream (skips pick())


@dataclass
class RouteRuntime:
    entity: Route
    name: str
    service: ServiceRuntime | None
    strip: bool
    v1: bool
    preserve_host: bool
    https_only: bool
    chain: Chain | None
    stats: RouteStats
    root_v0: bool  # the service has no path and v0 joining: "/" routes forward the path as is
    tracks: bool  # the service's balancer keeps passive health or latencies (report every response)
    log_names: bytes  # '"route":...,"service":...' for the access log, JSON-encoded once
    observe: Observe | None = None  # the observer plugins' call for a finished request (proxy.observers)
    tracer: Observer | None = None  # the instance that traces this route's requests
    logged: bool = False  # a log plugin writes this route's requests: keep what it logs (response fields, ...)
    rewrites: dict[bytes, tuple[bytes, bytes]] = field(default_factory=dict)  # path -> see forward.rewrite


_UNMATCHED = b'"route":null,"service":null'


def unmatched_route(stats: WorkerStats) -> RouteRuntime:
    """What a request no route matched (or refused before routing) is counted and logged under."""
    return RouteRuntime(Route.model_construct(), "", None, False, False, False, False, None, stats.unmatched,
                        False, False, _UNMATCHED)


@dataclass
class Runtime:
    hash: str
    router: Router[RouteRuntime]  # plain HTTP requests
    tls_router: Router[RouteRuntime]  # requests over TLS: without the routes limited to http
    consumers: ConsumerIndex
    routes: list[RouteRuntime]
    balancers: dict[str, Balancer]
    certificates: CertificateSet = field(default_factory=CertificateSet)  # what TLS listeners pick by SNI
    instances: list[Plugin] = field(default_factory=list)
    unmatched: Observe | None = None  # the global observers' call for requests that matched no route
    inflight: int = 0  # requests on routes with plugins that still use this runtime's instances
    retired: bool = False

    def release(self) -> None:
        """A plugin request finished; close the instances once a retired runtime is unused."""
        self.inflight -= 1
        if self.retired and self.inflight == 0:
            self.close_instances()

    def retire(self) -> None:
        self.retired = True
        if self.inflight == 0:
            self.close_instances()

    def close_instances(self) -> None:
        instances, self.instances = self.instances, []
        for instance in instances:
            _close_later(instance)


_closing: set[asyncio.Task[None]] = set()


def _close_later(instance: Plugin) -> None:
    async def close() -> None:
        try:
            await instance.close()
        except Exception:
            log.exception("plugin %s failed to close", type(instance).__name__)

    try:
        task = asyncio.get_running_loop().create_task(close())
    except RuntimeError:  # no loop (unit tests compiling offline): nothing holds resources yet
        return
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def _service_runtime(service: Service, balancers: dict[str, Balancer], upstream_tls: UpstreamContexts,
                     variant: Callable[[str, str, str], Balancer]) -> ServiceRuntime:
    target: Fixed | Balancer
    tls, tls_key = upstream_tls.for_service(service)
    balancer = balancers.get(service.host)
    if balancer is not None and balancer.tls != tls_key:  # another TLS setting: peers of its own (own pool key)
        balancer = variant(service.host, service.protocol, tls_key)
    target = balancer if balancer is not None else Fixed(service.host, service.port, service.protocol, tls_key)
    return ServiceRuntime(service, service.name or service.id or "", (service.path or "/").encode(), target,
                          service.connect_timeout / 1000, service.read_timeout / 1000,
                          service.write_timeout / 1000, service.retries, tls,
                          target.peer if isinstance(target, Fixed) else None)


def _route_runtimes(routes: Iterable[Route], services: dict[str | None, ServiceRuntime], chains: Chains,
                    observer_chains: Chains, consumers: ConsumerIndex, stats: WorkerStats) -> list[RouteRuntime]:
    found: list[RouteRuntime] = []
    for route in routes:
        service = services.get(route.service) if route.service else None
        if service is not None and not service.entity.enabled:
            continue  # Kong leaves routes of disabled services out of the router
        name = route.name or route.id or ""
        service_name = service.name if service else ""
        observer_chain = observer_chains.get(route.id)
        slots = observer_chain.slots if observer_chain is not None else ()
        route_stats = stats.child(service_name, name)
        route_stats.export(None)  # (until this snapshot's prometheus instance, if any, asks again)
        found.append(RouteRuntime(
            route, name, service, route.strip_path, route.path_handling == "v1", route.preserve_host,
            "http" not in route.protocols, chains.get(route.id), route_stats,
            service is not None and service.base == b"/" and route.path_handling == "v0",
            service is not None and service.target.tracks,
            b'"route":%s,"service":%s' % (orjson.dumps(name), orjson.dumps(service_name or None)),
            route_observe(RouteInfo(route, service.entity if service else None, route_stats), slots, consumers),
            tracer_of(slots), logs(slots)))
    return found


def _global_slots(plugins: list[PluginEntity], instances: dict[str | None, Plugin]) -> list[Slot]:
    """The global observer instances (for requests that matched no route, so have no consumer either)."""
    return [Slot(p.name, type(instances[p.id]).PRIORITY, frozenset(), default=instances[p.id])
            for p in plugins if p.enabled and p.route is None and p.service is None and p.consumer is None
            and p.consumer_group is None]


def _instances(snapshot: Snapshot, env: PluginEnv, vault: EnvVault) -> dict[str | None, Plugin]:
    instances: dict[str | None, Plugin] = {}
    for plugin in snapshot.plugins:
        if plugin.enabled:
            handler = registry.get(plugin.name)
            config = vault.resolve(handler.CONFIG, plugin.config)  # secrets, here only
            instances[plugin.id] = handler(handler.validate_config(config), env, instance_id=plugin.id)
    return instances


def compile_snapshot(snapshot: Snapshot, env: PluginEnv, stats: WorkerStats,
                     previous: Runtime | None = None, vault: EnvVault | None = None) -> Runtime:
    """Build a Runtime; raises on a plugin that cannot be instantiated (the old runtime stays)."""
    targets_by_upstream: dict[str | None, list[Target]] = {}
    for target in snapshot.targets:
        targets_by_upstream.setdefault(target.upstream, []).append(target)
    vault = vault or EnvVault()
    upstream_tls = UpstreamContexts(snapshot.certificates, snapshot.ca_certificates, vault)
    protocols = {s.host: (s.protocol, upstream_tls.for_service(s)[1]) for s in snapshot.services}
    upstreams = {u.name: u for u in snapshot.upstreams}

    def variant(name: str, scheme: str, tls_key: str) -> Balancer:
        upstream = upstreams[name]
        return Balancer(upstream, targets_by_upstream.get(upstream.id, []), scheme, tls_key)

    balancers: dict[str, Balancer] = {}
    for upstream in snapshot.upstreams:
        balancer = Balancer(upstream, targets_by_upstream.get(upstream.id, []),
                            *protocols.get(upstream.name, ("http", "")))
        if previous is not None and upstream.name in previous.balancers:
            balancer.inherit(previous.balancers[upstream.name])
        balancers[upstream.name] = balancer

    services = {s.id: _service_runtime(s, balancers, upstream_tls, variant) for s in snapshot.services}
    instances = _instances(snapshot, env, vault)
    # Observer plugins (metrics, logs, traces) run no phase: they stay out of the chains, so that a route
    # keeps its fast path, and get chains of their own whose slots proxy.observers reads.
    observing: list[PluginEntity] = []
    taking_part: list[PluginEntity] = []
    for plugin in snapshot.plugins:
        (observing if is_observer(registry.get(plugin.name)) else taking_part).append(plugin)
    group_names = {group.id: group.name for group in snapshot.consumer_groups}
    consumers = ConsumerIndex(list(snapshot.consumers), snapshot.consumer_groups, snapshot.consumer_group_consumers,
                              snapshot.acls)
    routes = _route_runtimes(snapshot.routes, services, build_chains(snapshot.routes, taking_part, instances, group_names),
                             build_chains(snapshot.routes, observing, instances, group_names), consumers, stats)
    # Kong's router adds `net.protocol == "http"` to a route whose protocols are only http, so a request
    # over TLS never matches it (another route may; else 404). An https-only route still matches plain
    # HTTP: it answers with its https_redirect_status_code. A route with `snis` needs the server name of
    # a TLS handshake, so plain HTTP never matches it.
    plain = [r for r in routes if not r.entity.snis]
    router = Router((r.entity, r) for r in plain)
    over_tls = [r for r in routes if "https" in r.entity.protocols]
    tls_router = router if len(over_tls) == len(plain) == len(routes) else Router((r.entity, r) for r in over_tls)
    unmatched = route_observe(RouteInfo(None, None, stats.unmatched), _global_slots(observing, instances), consumers)
    return Runtime(snapshot.hash, router, tls_router, consumers, routes, balancers,
                   build_certificates(snapshot.certificates, snapshot.snis, vault), list(instances.values()),
                   unmatched)
