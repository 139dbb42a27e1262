"""The plugin development kit: the small, server-independent API a plugin sees (Kong's PDK).

A plugin reads and edits `ctx.request` (what is forwarded upstream), reads and edits
`ctx.response` in the response phase, may end the request with `ctx.exit(...)`, attaches an
identity with `ctx.authenticate(...)`, and keeps cross-request state in `PluginEnv`. It never
touches the server, its sockets or its parser, so swapping the server does not touch a plugin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from oidcgate.plugins.consumer_headers import NAMES as _CONSUMER_NAMES
from oidcgate.plugins.consumer_headers import consumer_fields
from oidcgate.plugins.wire import encode_field as encode_field  # (part of the PDK)

if TYPE_CHECKING:
    from oidcgate.config.entities import ACL, Consumer, ConsumerGroup, ConsumerGroupConsumer, Route, Service


_MEMO_MAX = 4096
_keys: dict[str, bytes] = {}  # header name as plugins spell it -> its lower-case wire form (lookup key)


def _key(name: str) -> bytes:
    """The lookup key of a name (lower-case latin-1 bytes), memoized: plugins ask for the same few names."""
    key = _keys.get(name)
    if key is None:
        key = name.lower().encode("latin-1", "replace")
        if len(_keys) < _MEMO_MAX:
            _keys[name] = key
    return key


class Headers:
    """An order-preserving, case-insensitive multi-map of header fields (names keep their case).

    Fields are stored as on the wire, flat: name, b": ", value, b"\r\n" for each. A proxied request's
    parsed fields are wrapped without a copy or a decode, a plugin that reads one header decodes that
    one only, and the proxy forwards the list as it is when no plugin changed it. The first lookup
    lower-cases the names once (`keys()`). Values are latin-1 strings, one character per byte, as HTTP
    defines them.

    For the server: `changed` tells whether the fields differ from what was wrapped, and `added` which
    names (lower-case) were added since; None when unknown (headers built from items), so that a
    server checks only those against the fields it owns.
    """

    __slots__ = ("_lower", "added", "changed", "fields")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        fields: list[bytes] = []
        for name, value in items:
            fields += encode_field(name, value)
        self.fields = fields
        self._lower: list[bytes] | None = None
        self.changed = True
        self.added: list[bytes] | None = None

    @classmethod
    def wrap(cls, fields: list[bytes]) -> Headers:
        """Headers over `fields` (flat wire form, as parsed), shared and not copied: edits change it."""
        headers = cls.__new__(cls)
        headers.fields = fields
        headers._lower = None
        headers.changed = False
        headers.added = []
        return headers

    def keys(self) -> list[bytes]:
        """The names, lower-cased latin-1 bytes, one per field in order (computed once)."""
        lower = self._lower
        if lower is None:
            lower = self._lower = list(map(bytes.lower, self.fields[::4]))  # (map: no frame per call)
        return lower

    def get(self, name: str, default: str | None = None) -> str | None:
        key, lower = _key(name), self.keys()
        return self.fields[4 * lower.index(key) + 2].decode("latin-1") if key in lower else default

    def get_all(self, name: str) -> list[str]:
        key, lower = _key(name), self.keys()
        count = lower.count(key)
        if count <= 1:
            return [self.fields[4 * lower.index(key) + 2].decode("latin-1")] if count else []
        fields = self.fields
        return [fields[4 * i + 2].decode("latin-1") for i, found in enumerate(lower) if found == key]

    def single(self, name: str) -> bytes | None:
        """The raw value of the one field called `name`; None if there is none or more than one (which,
        for a credential, is a different question: use get_all)."""
        key, lower = _key(name), self.keys()
        return self.fields[4 * lower.index(key) + 2] if lower.count(key) == 1 else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self.keys()

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one with `value` (in the place of the first)."""
        key, lower = _key(name), self.keys()
        if lower.count(key) == 1:
            at = 4 * lower.index(key)
            self.fields[at:at + 4] = encode_field(name, value)
            self._note(key)
        else:
            self.remove(name)
            self.add(name, value)

    def add(self, name: str, value: str) -> None:
        """Append a field; ValueError if the name is not a token or the value holds CR, LF or NUL."""
        self.add_fields(encode_field(name, value))

    def add_fields(self, fields: Sequence[bytes]) -> None:
        """Append fields already in wire form and checked (flat, as `encode_field` returns them), e.g.
        computed once and reused for many requests."""
        self.fields += fields
        keys = list(map(bytes.lower, fields[::4]))
        if self._lower is not None:
            self._lower += keys
        if self.added is not None:
            self.added += keys
        self.changed = True

    def remove(self, name: str) -> None:
        key, lower = _key(name), self.keys()
        if key not in lower:
            return
        fields = self.fields
        kept: list[bytes] = []
        for i, found in enumerate(lower):
            if found != key:
                kept += fields[4 * i:4 * i + 4]
        fields[:] = kept  # in place: a wrapped list stays the one its owner holds
        self._lower = [found for found in lower if found != key]
        self.changed = True

    def _note(self, key: bytes) -> None:
        self.changed = True
        if self.added is not None:
            self.added.append(key)

    def items(self) -> list[tuple[str, str]]:
        fields = self.fields
        return [(fields[i].decode("latin-1"), fields[i + 2].decode("latin-1")) for i in range(0, len(fields), 4)]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self.fields) // 4

    def copy(self) -> Headers:
        copied = Headers.wrap(list(self.fields))
        copied.changed, copied.added = self.changed, None if self.added is None else list(self.added)
        return copied

    def __repr__(self) -> str:  # never print values: they may be credentials
        return f"Headers({[k for k, _ in self.items()]!r})"


class RequestSource(Protocol):
    """What a server hands a Request so that nothing is decoded until a plugin asks for it."""

    def request_text(self) -> list[Any]:
        """[method, path, query string, host, scheme, port, client ip, HTTP version], decoded."""

    def forwarded_ip(self) -> str:
        """The client's address, from X-Forwarded-For when the peer is one of `trusted_ips`."""

    async def read_body(self, limit: int) -> bytes:
        """The whole request body (PluginExit 413 beyond `limit`); RuntimeError after the access phase."""


class _Given:
    """A RequestSource of values given up front (a Request built by hand, as in tests)."""

    __slots__ = ("body_reader", "forwarded", "text")

    def __init__(self, text: list[Any], body_reader: Callable[[int], Awaitable[bytes]] | None,
                 forwarded: str) -> None:
        self.text, self.body_reader, self.forwarded = text, body_reader, forwarded

    def request_text(self) -> list[Any]:
        return list(self.text)

    def forwarded_ip(self) -> str:
        return self.forwarded

    async def read_body(self, limit: int) -> bytes:
        return await self.body_reader(limit) if self.body_reader else b""


# Positions in Request._text: the request line and peer, then the method and query string received.
_METHOD, _PATH, _QUERY, _HOST, _SCHEME, _PORT, _CLIENT_IP, _VERSION, _METHOD_IN, _QUERY_IN = range(10)


class Request:
    """The client's request as it will be forwarded. Plugins may change headers, query and method.

    Its text (method, path, query, host, ...) is decoded from the server's parsed bytes on first use:
    a plugin that reads only a header costs no decoding.
    """

    __slots__ = ("_query", "_source", "_text", "body", "headers")

    def __init__(self, method: str, path: str, query_string: str, headers: Headers, *, scheme: str,
                 host: str, port: int, client_ip: str, http_version: str = "1.1",
                 body_reader: Callable[[int], Awaitable[bytes]] | None = None,
                 forwarded_ip: str | None = None) -> None:
        self._source: RequestSource = _Given(
            [method, path, query_string, host, scheme, port, client_ip, http_version], body_reader,
            forwarded_ip or client_ip)
        self._text: list[Any] | None = None
        self._query: tuple[str, dict[str, list[str]]] | None = None
        self.headers = headers
        self.body: bytes | None = None  # set once read (or replaced by a plugin); then forwarded as is

    @classmethod
    def of(cls, source: RequestSource, headers: Headers) -> Request:
        """The request a server hands its plugins (see RequestSource)."""
        request = cls.__new__(cls)
        request._source = source
        request._text = request._query = request.body = None
        request.headers = headers
        return request

    def _loaded(self) -> list[Any]:
        text = self._text
        if text is None:
            text = self._text = self._source.request_text()
            text += (text[_METHOD], text[_QUERY])
        return text

    @property
    def method(self) -> str:
        return self._loaded()[_METHOD]

    @method.setter
    def method(self, value: str) -> None:
        self._loaded()[_METHOD] = value

    @property
    def path(self) -> str:
        """As the client sent it, percent-encoded, without the query."""
        return self._loaded()[_PATH]

    @property
    def query_string(self) -> str:
        return self._loaded()[_QUERY]

    @query_string.setter
    def query_string(self, value: str) -> None:
        self._loaded()[_QUERY] = value

    @property
    def host(self) -> str:
        return self._loaded()[_HOST]

    @property
    def scheme(self) -> str:
        return self._loaded()[_SCHEME]

    @property
    def port(self) -> int:
        return self._loaded()[_PORT]

    @property
    def client_ip(self) -> str:
        """The address of the peer that connected (Kong's `kong.client.get_ip`)."""
        return self._loaded()[_CLIENT_IP]

    @property
    def forwarded_ip(self) -> str:
        """The client's address as far as the proxy can trust it (Kong's `kong.client.get_forwarded_ip`):
        behind proxies listed in `trusted_ips`, the rightmost X-Forwarded-For address that is not one of
        them; otherwise the peer's address."""
        return self._source.forwarded_ip()

    @property
    def http_version(self) -> str:
        return self._loaded()[_VERSION]

    @property
    def query(self) -> dict[str, list[str]]:
        """Parsed query arguments (re-parsed only when `query_string` changed)."""
        query_string = self.query_string
        if self._query is None or self._query[0] != query_string:
            self._query = (query_string, parse_qs(query_string, keep_blank_values=True))
        return self._query[1]

    def line_changed(self) -> bool:
        """Whether a plugin set the method or the query string (so the server re-encodes them)."""
        text = self._text
        return text is not None and (text[_METHOD] is not text[_METHOD_IN] or text[_QUERY] is not text[_QUERY_IN])

    async def read_body(self, limit: int = 1 << 20) -> bytes:
        """Buffer the request body (at most `limit` bytes, else PluginExit 413) so it can be inspected.

        The buffered body is then forwarded instead of being streamed. Only in the rewrite and access
        phases (as in Kong): afterwards the body is on its way upstream, and the server raises.
        """
        if self.body is None:
            self.body = await self._source.read_body(limit)
        return self.body


class RawRequest(Protocol):
    """A request as the server parsed it, before any decoding: what a plugin's `shortcut` looks at."""

    query: bytes  # the query string as received, with its "?" (b"" when there is none)
    fields: list[bytes]  # the header fields as received, flat wire form; read, never change
    authorization: bytes | None  # the Authorization value, when the request has exactly one


@dataclass(frozen=True, slots=True)
class Known:
    """A plugin's `shortcut` answer: what it decided before for a request like this one, computed once.

    The server applies it without a Context: `fields` (wire form, see encode_field) are added,
    `authorization` (when not None, one field in wire form) replaces the client's Authorization field,
    and `consumer` and `credential` are who the request is (the access log, and Kong's consumer headers,
    added as `ctx.authenticate(consumer, credential)` adds them).
    """

    fields: tuple[bytes, ...] = ()
    authorization: tuple[bytes, bytes, bytes, bytes] | None = None
    consumer: Consumer | None = None
    credential: dict[str, Any] | None = None

    def all_fields(self) -> tuple[bytes, ...]:
        """`fields` and the consumer headers: everything the server adds."""
        if self.consumer is None and self.credential is None:
            return self.fields
        return (*self.fields, *consumer_fields(self.consumer, self.credential))


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


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is, as established by an authentication plugin, for later plugins and logs.

    Frozen: an authentication plugin may hand the same instance to every request with the same token."""

    subject: str | None = None
    client_id: str | None = None
    scopes: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    claims: dict[str, Any] = field(default_factory=dict)
    authenticated_groups: tuple[str, ...] | None = None  # Kong's authenticated groups (the acl plugin's)
    source: str = ""  # the plugin and method, e.g. "openid-connect:bearer"


class Context:
    """Everything a plugin may see about one request. One instance per request."""

    __slots__ = ("_consumer_groups", "_log_fields", "_shared", "consumer", "consumers", "credential", "identity",
                 "request", "response", "response_fields", "route", "service", "upstream_path")

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
        self._consumer_groups: tuple[ConsumerGroup, ...] | None = None  # set by an authentication plugin
        self._shared: dict[str, Any] | None = None
        self._log_fields: dict[str, Any] | None = None
        self.upstream_path: str | None = None  # None: computed by the proxy from the route match
        self.response_fields: list[bytes] | None = None  # added to the response, whoever answers (wire form)

    @property
    def shared(self) -> dict[str, Any]:
        """Values plugins pass each other during this request (Kong's kong.ctx.shared)."""
        if self._shared is None:
            self._shared = {}
        return self._shared

    @property
    def log_fields(self) -> dict[str, Any]:
        """Fields plugins add to this request's log entry."""
        if self._log_fields is None:
            self._log_fields = {}
        return self._log_fields

    def add_response_header(self, name: str, value: str) -> None:
        """Add a field to the response the client gets, be it the upstream's or a `ctx.exit` (Kong's
        `kong.response.add_header` in the access phase): e.g. several `Set-Cookie` fields. ValueError for
        what cannot go on the wire (see encode_field)."""
        fields = encode_field(name, value)
        if self.response_fields is None:
            self.response_fields = []
        self.response_fields += fields

    def response_header_items(self) -> list[tuple[str, str]]:
        """The fields added by `add_response_header`, as (name, value) pairs."""
        fields = self.response_fields or []
        return [(fields[i].decode("latin-1"), fields[i + 2].decode("latin-1")) for i in range(0, len(fields), 4)]

    @staticmethod
    def exit(status: int, body: Any = None, headers: dict[str, str] | None = None) -> PluginExit:
        """End the request now: `raise ctx.exit(401, {"message": "Unauthorized"})`."""
        return PluginExit(status, body, headers)

    def authenticate(self, consumer: Consumer | None, credential: dict[str, Any] | None = None,
                     identity: Identity | None = None) -> None:
        """Attach the authenticated consumer (so consumer-scoped plugins apply) and identity, and tell the
        upstream with Kong's consumer headers (plugins.consumer_headers), replacing an earlier call's."""
        headers = self.request.headers
        if self.consumer is not None or self.credential is not None:
            for name in _CONSUMER_NAMES:
                headers.remove(name)
        self.consumer = consumer
        self.credential = credential
        self.identity = identity
        self._consumer_groups = None
        fields = consumer_fields(consumer, credential)
        if fields:
            headers.add_fields(fields)

    def set_consumer_groups(self, groups: tuple[ConsumerGroup, ...] | None) -> None:
        """The request's consumer groups from now on, whatever the consumer's (Kong's
        `kong.client.set_authenticated_consumer_groups`): an authentication plugin found them elsewhere, e.g.
        in a token's claim. None: the consumer's own again. `authenticate` resets them, as Kong does."""
        self._consumer_groups = groups

    @property
    def consumer_groups(self) -> tuple[ConsumerGroup, ...]:
        """Kong's `kong.client.get_consumer_groups`: the groups set for this request, else the consumer's."""
        if self._consumer_groups is not None:
            return self._consumer_groups
        return self.consumers.groups(self.consumer.id) if self.consumer is not None else ()

    def consumer_group_ids(self) -> frozenset[str]:
        """The ids of `consumer_groups` (what consumer-group-scoped plugins are matched against)."""
        if self._consumer_groups is not None:
            return frozenset(group.id for group in self._consumer_groups if group.id)
        return self.consumers.group_ids(self.consumer.id if self.consumer is not None else None)


class ConsumerIndex:
    """Consumers of the running snapshot by id, username and custom_id, with their consumer groups and
    ACL groups (built once per snapshot)."""

    __slots__ = ("_acl_groups", "_by", "_by_group_name", "_by_lower_username", "_group_ids", "_groups")

    def __init__(self, consumers: list[Consumer], groups: Iterable[ConsumerGroup] = (),
                 memberships: Iterable[ConsumerGroupConsumer] = (), acls: Iterable[ACL] = ()) -> None:
        self._by: dict[str, dict[str, Consumer]] = {"id": {}, "username": {}, "custom_id": {}}
        lower: dict[str, list[Consumer]] = {}
        for consumer in consumers:
            for key in ("id", "username", "custom_id"):
                value = getattr(consumer, key)
                if value is not None:
                    self._by[key][value] = consumer
            if consumer.username is not None:
                lower.setdefault(consumer.username.lower(), []).append(consumer)
        # Kong's select_by_username_ignore_case: the oldest first (snapshot order among equals).
        self._by_lower_username = {name: min(found_, key=lambda c: c.created_at or 0) for name, found_ in lower.items()}
        groups = list(groups)
        self._by_group_name = {group.name: group for group in groups}
        by_id = {group.id: group for group in groups}
        found: dict[str, list[ConsumerGroup]] = {}
        for membership in memberships:
            group = by_id.get(membership.consumer_group)
            if group is not None:
                found.setdefault(membership.consumer, []).append(group)  # type: ignore[arg-type]
        self._groups = {consumer: tuple(sorted(found_, key=lambda g: g.name)) for consumer, found_ in found.items()}
        self._group_ids = {consumer: frozenset(g.id for g in found_ if g.id) for consumer, found_ in found.items()}
        acl_groups: dict[str, list[str]] = {}
        for acl in acls:
            acl_groups.setdefault(acl.consumer, []).append(acl.group)  # type: ignore[arg-type]
        self._acl_groups = {consumer: tuple(names) for consumer, names in acl_groups.items()}

    def find(self, by: str, value: str) -> Consumer | None:
        index = self._by.get(by)
        return index.get(value) if index is not None else None

    def find_username_ignore_case(self, username: str) -> Consumer | None:
        """The consumer whose username is `username` in any case: an exact match first, else the oldest."""
        return self._by["username"].get(username) or self._by_lower_username.get(username.lower())

    def group_named(self, name: str) -> ConsumerGroup | None:
        return self._by_group_name.get(name)

    def groups(self, consumer_id: str | None) -> tuple[ConsumerGroup, ...]:
        """The consumer groups of a consumer, by name."""
        return self._groups.get(consumer_id, ()) if consumer_id is not None else ()

    def group_ids(self, consumer_id: str | None) -> frozenset[str]:
        return self._group_ids.get(consumer_id, _NONE) if consumer_id is not None else _NONE

    def acl_groups(self, consumer_id: str | None) -> tuple[str, ...]:
        """The groups of a consumer's ACL credentials (the acl plugin's `acls`), in configuration order."""
        return self._acl_groups.get(consumer_id, ()) if consumer_id is not None else ()


_NONE: frozenset[str] = frozenset()


class PluginEnv:
    """Node-wide resources that outlive a snapshot: the node's identity, per-plugin state and shutdown hooks.

    A new snapshot creates new handler instances but the same env, so caches (JWKS, tokens) survive
    configuration pushes.
    """

    def __init__(self, node_id: str = "", hostname: str = "", prefix: Path | None = None) -> None:
        self.node_id = node_id
        self.hostname = hostname
        self.prefix = prefix  # the node's prefix directory (None: no files of its own, as in tests)
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
