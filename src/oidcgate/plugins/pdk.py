"""The plugin development kit: the small, server-independent API a plugin sees (Kong's PDK).

A plugin reads and edits `ctx.request` (what is forwarded upstream), reads and edits
`ctx.response` in the response phase, may end the request with `ctx.exit(...)`, attaches an
identity with `ctx.authenticate(...)`, and keeps cross-request state in `PluginEnv`. It never
touches the server, its sockets or its parser, so swapping the server does not touch a plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from oidcgate.config.entities import Consumer, Route, Service


class Headers:
    """An order-preserving, case-insensitive multi-map of header fields (names keep their case)."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = items if items is not None else []

    def get(self, name: str, default: str | None = None) -> str | None:
        lname = name.lower()
        for key, value in self._items:
            if key.lower() == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        lname = name.lower()
        return [value for key, value in self._items if key.lower() == lname]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one with `value`."""
        self.remove(name)
        self._items.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._items.append((name, value))

    def remove(self, name: str) -> None:
        lname = name.lower()
        self._items = [(k, v) for k, v in self._items if k.lower() != lname]

    def items(self) -> list[tuple[str, str]]:
        return self._items

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def copy(self) -> Headers:
        return Headers(list(self._items))

    def __repr__(self) -> str:  # never print values: they may be credentials
        return f"Headers({[k for k, _ in self._items]!r})"


class Request:
    """The client's request as it will be forwarded. Plugins may change headers, query and method."""

    __slots__ = ("_body_reader", "_query", "body", "client_ip", "headers", "host", "http_version",
                 "method", "path", "port", "query_string", "scheme")

    def __init__(self, method: str, path: str, query_string: str, headers: Headers, *, scheme: str,
                 host: str, port: int, client_ip: str, http_version: str = "1.1",
                 body_reader: Callable[[int], Awaitable[bytes]] | None = None) -> None:
        self.method = method
        self.path = path  # as the client sent it, percent-encoded, without the query
        self.query_string = query_string
        self.headers = headers
        self.scheme = scheme
        self.host = host
        self.port = port
        self.client_ip = client_ip
        self.http_version = http_version
        self.body: bytes | None = None  # set once read (or replaced by a plugin); then forwarded as is
        self._body_reader = body_reader
        self._query: tuple[str, dict[str, list[str]]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        """Parsed query arguments (re-parsed only when `query_string` changed)."""
        if self._query is None or self._query[0] != self.query_string:
            self._query = (self.query_string, parse_qs(self.query_string, keep_blank_values=True))
        return self._query[1]

    async def read_body(self, limit: int = 1 << 20) -> bytes:
        """Buffer the request body (at most `limit` bytes, else PluginExit 413) so it can be inspected.

        The buffered body is then forwarded instead of being streamed.
        """
        if self.body is None:
            self.body = await self._body_reader(limit) if self._body_reader else b""
        return self.body


@dataclass(slots=True)
class Response:
    """The upstream's response status and headers, editable in the response phase."""

    status: int
    headers: Headers
    source: str = "service"  # "service", "exit" (a plugin answered) or "error" (the proxy answered)


class PluginExit(Exception):
    """Raised by `ctx.exit` to end the request with a response of the plugin's own."""

    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass(slots=True)
class Identity:
    """Who a request is, as established by an authentication plugin, for later plugins and logs."""

    subject: str | None = None
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # the plugin and method, e.g. "openid-connect:bearer"


class Context:
    """Everything a plugin may see about one request. One instance per request."""

    __slots__ = ("consumer", "consumers", "credential", "identity", "log_fields", "request", "response",
                 "route", "service", "shared", "upstream_path")

    def __init__(self, request: Request, route: Route, service: Service | None,
                 consumers: ConsumerIndex) -> None:
        self.request = request
        self.route = route
        self.service = service
        self.consumers = consumers
        self.response: Response | None = None
        self.consumer: Consumer | None = None
        self.credential: dict[str, Any] | None = None
        self.identity: Identity | None = None
        self.shared: dict[str, Any] = {}
        self.log_fields: dict[str, Any] = {}
        self.upstream_path: str | None = None  # None: computed by the proxy from the route match

    @staticmethod
    def exit(status: int, body: Any = None, headers: dict[str, str] | None = None) -> PluginExit:
        """End the request now: `raise ctx.exit(401, {"message": "Unauthorized"})`."""
        return PluginExit(status, body, headers)

    def authenticate(self, consumer: Consumer | None, credential: dict[str, Any] | None = None,
                     identity: Identity | None = None) -> None:
        """Attach the authenticated consumer (so consumer-scoped plugins apply) and identity."""
        self.consumer = consumer
        self.credential = credential
        self.identity = identity


class ConsumerIndex:
    """Consumers of the running snapshot by id, username and custom_id (built once per snapshot)."""

    __slots__ = ("_by",)

    def __init__(self, consumers: list[Consumer]) -> None:
        self._by: dict[str, dict[str, Consumer]] = {"id": {}, "username": {}, "custom_id": {}}
        for consumer in consumers:
            for key in ("id", "username", "custom_id"):
                value = getattr(consumer, key)
                if value is not None:
                    self._by[key][value] = consumer

    def find(self, by: str, value: str) -> Consumer | None:
        index = self._by.get(by)
        return index.get(value) if index is not None else None


class PluginEnv:
    """Node-wide resources that outlive a snapshot: per-plugin state (caches) and a shared HTTP client.

    A new snapshot creates new handler instances but the same env, so caches (JWKS, tokens) survive
    configuration pushes.
    """

    def __init__(self, node_id: str = "", hostname: str = "") -> None:
        self.node_id = node_id
        self.hostname = hostname
        self._state: dict[str, dict[str, Any]] = {}
        self._closers: list[Callable[[], Awaitable[None]]] = []

    def state(self, plugin_name: str) -> dict[str, Any]:
        """A dict private to one plugin, kept across snapshots for the life of the process."""
        return self._state.setdefault(plugin_name, {})

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Register a coroutine function to run at shutdown (e.g. to close an HTTP client)."""
        self._closers.append(closer)

    async def close(self) -> None:
        for closer in reversed(self._closers):
            await closer()
        self._closers.clear()
