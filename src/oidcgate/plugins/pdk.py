"""The plugin development kit: the small, server-independent API a plugin sees (Kong's PDK).

As Kong separates `kong.request` from `kong.service.request`, a plugin reads what the client sent in
`ctx.request` (read-only) and edits what goes upstream in `ctx.service_request`; it reads and edits
`ctx.response` in the response phase, may end the request with `ctx.exit(...)`, attaches an identity
with `ctx.authenticate(...)`, and keeps cross-request state in `PluginEnv`. Plugins see names and
values, never the wire layout (that is `oidcgate.http.fields`'s) nor the server, its sockets or its
parser, so swapping the server does not touch a plugin.

A plugin whose decision repeats declares the request inputs it depends on (`MemoInputs`, see
`Plugin.memo_inputs`) and says how long a decision holds (`ctx.reuse_until`): the engine then replays
the edits its full path made for the same inputs, without running it (see proxy.memo).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from oidcgate.http.fields import Encoded, HeaderFields, encode_field, encode_fields
from oidcgate.plugins.consumer_headers import NAMES as _CONSUMER_HEADERS
from oidcgate.plugins.consumer_headers import consumer_fields

if TYPE_CHECKING:
    from oidcgate.config.entities import ACL, Consumer, ConsumerGroup, ConsumerGroupConsumer, Route, Service

__all__ = ["ConsumerIndex", "Context", "HeaderView", "Headers", "Identity", "MemoInputs", "PluginEnv", "PluginExit",
           "Recording", "Request", "RequestSource", "Response", "ServiceRequest", "encode_field"]

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


class HeaderView:
    """Read-only, case-insensitive access to header fields by name (names keep their case). Values are
    latin-1 strings, one character per byte, as HTTP defines them."""

    __slots__ = ("_fields",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._fields = HeaderFields.of(items)

    @classmethod
    def over(cls, fields: HeaderFields) -> HeaderView:
        """A view of `fields` (not a copy)."""
        view = cls.__new__(cls)
        view._fields = fields
        return view

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._fields.first(_key(name))
        return default if value is None else value.decode("latin-1")

    def get_all(self, name: str) -> list[str]:
        return [value.decode("latin-1") for value in self._fields.values(_key(name))]

    def single(self, name: str) -> bytes | None:
        """The raw value of the one field called `name`; None if there is none or more than one (which,
        for a credential, is a different question: use get_all)."""
        key = _key(name)
        return self._fields.first(key) if self._fields.count(key) == 1 else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and _key(name) in self._fields

    def names(self) -> list[bytes]:
        """The names, lower-case latin-1 bytes, one per field in order."""
        return self._fields.names()

    def items(self) -> list[tuple[str, str]]:
        return [(name.decode("latin-1"), value.decode("latin-1")) for name, value in self._fields.items()]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:  # never print values: they may be credentials
        return f"{type(self).__name__}({[k for k, _ in self.items()]!r})"


Edit = tuple[Callable[..., Any], tuple[Any, ...]]  # a HeaderFields method and its arguments
# What authentication plugins attach to a request: consumer, credential, identity, consumer groups they set.
Who = tuple["Consumer | None", "dict[str, Any] | None", "Identity | None", "tuple[ConsumerGroup, ...] | None"]


class Recording:
    """What one plugin's full path did to the upstream request, while the engine records it (proxy.memo):
    header edits by name, who it authenticated, and whether everything it did can be replayed."""

    __slots__ = ("edits", "replayable", "still", "until", "who")

    def __init__(self) -> None:
        self.edits: list[Edit] = []
        self.replayable = True
        self.until: float | None = None  # set by ctx.reuse_until
        self.still: Callable[[], bool] | None = None  # ditto
        self.who: Who | None = None


class Headers(HeaderView):
    """Header fields that can be edited by name: what goes upstream (`ctx.service_request.headers`) and,
    in the response phase, the response's (`ctx.response.headers`). `set`/`add` raise ValueError for a
    name that is not a token or a value holding CR, LF or NUL."""

    __slots__ = ("added", "recording")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(items)
        self.added: list[bytes] | None = None  # None: unknown (built from items); see `changed`
        self.recording: Recording | None = None

    @classmethod
    def over(cls, fields: HeaderFields) -> Headers:
        """Headers editing `fields` itself (not a copy); `added` tracks the names added since."""
        headers = cls.__new__(cls)
        headers._fields = fields
        headers.added = []
        headers.recording = None
        return headers

    @property
    def fields(self) -> HeaderFields:
        """The edited fields (for the server)."""
        return self._fields

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one with `value` (in the place of the first)."""
        self._edit(HeaderFields.set, name, value)
        self._note(_key(name))

    def add(self, name: str, value: str) -> None:
        self._edit(HeaderFields.add, name, value)
        self._note(_key(name))

    def extend(self, encoded: Encoded) -> None:
        """Add fields encoded once (encode_field/encode_fields) and reused for many requests."""
        self._edit(HeaderFields.extend, encoded)
        if self.added is not None:
            self.added += HeaderFields(encoded).names()

    def remove(self, name: str) -> None:
        self._edit(HeaderFields.remove, _key(name))

    def remove_like(self, names: Iterable[str]) -> None:
        """Remove every field whose name is one of `names` ignoring case and `_` versus `-`, as servers
        that map header names to variables may take them for one (e.g. `X_User` for `X-User`)."""
        self._edit(HeaderFields.remove_folded, frozenset(_key(name).replace(b"_", b"-") for name in names))

    def _edit(self, edit: Callable[..., Any], *args: Any) -> None:
        edit(self._fields, *args)
        if self.recording is not None:
            self.recording.edits.append((edit, args))

    def _note(self, key: bytes) -> None:
        if self.added is not None:
            self.added.append(key)

    def copy(self) -> Headers:
        copied = Headers.over(self._fields.copy())
        copied.added = None if self.added is None else list(self.added)
        return copied


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


# Positions in Request._text.
_METHOD, _PATH, _QUERY, _HOST, _SCHEME, _PORT, _CLIENT_IP, _VERSION = range(8)


def _parsed_query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string, keep_blank_values=True)


class Request:
    """What the client sent (Kong's `kong.request`), read-only. Its text (method, path, query, host, ...)
    is decoded from the server's parsed bytes on first use: a plugin that reads only a header costs no
    decoding."""

    __slots__ = ("_forwarded", "_query", "_source", "_text", "body", "headers")

    def __init__(self, method: str, path: str, query_string: str, headers: HeaderView | Iterable[tuple[str, str]],
                 *, scheme: str, host: str, port: int, client_ip: str, http_version: str = "1.1",
                 body_reader: Callable[[int], Awaitable[bytes]] | None = None,
                 forwarded_ip: str | None = None) -> None:
        self._source: RequestSource = _Given(
            [method, path, query_string, host, scheme, port, client_ip, http_version], body_reader,
            forwarded_ip or client_ip)
        self._text: list[Any] | None = None
        self._query: dict[str, list[str]] | None = None
        self.headers = headers if isinstance(headers, HeaderView) else HeaderView(headers)
        self._forwarded = self.headers._fields
        self.body: bytes | None = None  # the body, once read (then forwarded as read, unless replaced)

    @classmethod
    def of(cls, source: RequestSource, headers: HeaderView, forwarded: HeaderFields) -> Request:
        """The request a server hands its plugins (see RequestSource): `headers` as received, `forwarded`
        those of them that go upstream as they are (the rest the proxy writes itself)."""
        request = cls.__new__(cls)
        request._source = source
        request._text = request._query = request.body = None
        request.headers = headers
        request._forwarded = forwarded
        return request

    def _loaded(self) -> list[Any]:
        text = self._text
        if text is None:
            text = self._text = self._source.request_text()
        return text

    @property
    def method(self) -> str:
        return self._loaded()[_METHOD]

    @property
    def path(self) -> str:
        """As the client sent it, percent-encoded, without the query."""
        return self._loaded()[_PATH]

    @property
    def query_string(self) -> str:
        return self._loaded()[_QUERY]

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
        """Parsed query arguments."""
        if self._query is None:
            self._query = _parsed_query(self.query_string)
        return self._query

    async def read_body(self, limit: int = 1 << 20) -> bytes:
        """Buffer the request body (at most `limit` bytes, else PluginExit 413) so it can be inspected
        (Kong's `kong.request.get_raw_body`).

        The buffered body is then forwarded instead of being streamed. Only in the rewrite and access
        phases (as in Kong): afterwards the body is on its way upstream, and the server raises.
        """
        if self.body is None:
            self.body = await self._source.read_body(limit)
        return self.body


class ServiceRequest:
    """What goes upstream (Kong's `kong.service.request`): the client's request until a plugin edits it.

    Reading gives the current state (what earlier plugins set); `None` in `path` means the upstream
    path the route match gives. Fields the proxy owns (framing, Host's place, X-Forwarded-*, Via,
    hop-by-hop) are written by the proxy whatever a plugin does to them; a `Host` set here becomes the
    upstream Host.
    """

    __slots__ = ("_body", "_headers", "_method", "_query", "_query_string", "_request", "path", "recording")

    def __init__(self, request: Request) -> None:
        self._request = request
        self._method: str | None = None
        self._query_string: str | None = None
        self._query: dict[str, list[str]] | None = None
        self._body: bytes | None = None
        self._headers: Headers | None = None
        self.path: str | None = None
        self.recording: Recording | None = None

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:  # a copy of the client's, made when first used
            headers = self._headers = Headers.over(self._request._forwarded.copy())
        headers.recording = self.recording
        return headers

    @property
    def headers_changed(self) -> Headers | None:
        """The headers when a plugin used them (for the server), else None."""
        return self._headers

    @property
    def method(self) -> str:
        return self._method if self._method is not None else self._request.method

    @method.setter
    def method(self, value: str) -> None:
        self._unreplayable()
        self._method = value

    @property
    def method_changed(self) -> str | None:
        return self._method

    @property
    def query_string(self) -> str:
        return self._query_string if self._query_string is not None else self._request.query_string

    @query_string.setter
    def query_string(self, value: str) -> None:
        self._unreplayable()
        self._query_string = value
        self._query = None

    @property
    def query_changed(self) -> str | None:
        return self._query_string

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query_string is None:
            return self._request.query
        if self._query is None:
            self._query = _parsed_query(self._query_string)
        return self._query

    @property
    def body(self) -> bytes | None:
        """The body that goes upstream when it is buffered (read or replaced), else None (streamed)."""
        return self._body if self._body is not None else self._request.body

    @body.setter
    def body(self, value: bytes) -> None:
        """Replace the body (framed anew by the proxy)."""
        self._unreplayable()
        self._body = value

    @property
    def body_changed(self) -> bytes | None:
        return self._body

    def set_path(self, path: str) -> None:
        """The upstream path, instead of the one the route match gives (Kong's `set_path`)."""
        self._unreplayable()
        self.path = path

    async def read_body(self, limit: int = 1 << 20) -> bytes:
        """The body as it goes upstream now: a replaced one, else the client's (buffered, see Request)."""
        return self._body if self._body is not None else await self._request.read_body(limit)

    def _unreplayable(self) -> None:
        if self.recording is not None:
            self.recording.replayable = False


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


@dataclass(frozen=True, slots=True)
class MemoInputs:
    """The request inputs a plugin's access decision depends on, and nothing else (see Plugin.memo_inputs).

    The engine keys the plugin's recorded decisions by these inputs as the client sent them: the values
    of the named `headers` (each name: every value, in order), the named `query_args` (decoded, every
    value), the method when `method`, the path when `path`, and with `who` the consumer, credential and
    authenticated groups earlier plugins attached. With `body`, a request that has a body never takes a
    recorded decision. `clock` is the clock of `reuse_until`.
    """

    headers: tuple[str, ...] = ()
    query_args: tuple[str, ...] = ()
    method: bool = False
    path: bool = False
    who: bool = False
    body: bool = False
    clock: Callable[[], float] = time.time


class Context:
    """Everything a plugin may see about one request. One instance per request."""

    __slots__ = ("_consumer_groups", "_log_fields", "_service_request", "_shared", "consumer", "consumers",
                 "credential", "identity", "recording", "request", "response", "response_fields", "response_replaces",
                 "route", "service")

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
        self._service_request: ServiceRequest | None = None
        self._consumer_groups: tuple[ConsumerGroup, ...] | None = None  # set by an authentication plugin
        self._shared: dict[str, Any] | None = None
        self._log_fields: dict[str, Any] | None = None
        self.response_fields: HeaderFields | None = None  # added to the response, whoever answers
        self.response_replaces: set[bytes] | None = None  # names of the response's own fields those replace
        self.recording: Recording | None = None  # set by the engine while it records a plugin's decision

    @property
    def service_request(self) -> ServiceRequest:
        """What goes upstream (Kong's `kong.service.request`)."""
        service_request = self._service_request
        if service_request is None:
            service_request = self._service_request = ServiceRequest(self.request)
        service_request.recording = self.recording
        return service_request

    def service_request_if_used(self) -> ServiceRequest | None:
        """The service request when a plugin used it (for the server), else None: nothing changed."""
        return self._service_request

    @property
    def shared(self) -> dict[str, Any]:
        """Values plugins pass each other during this request (Kong's kong.ctx.shared)."""
        self._unreplayable()
        if self._shared is None:
            self._shared = {}
        return self._shared

    @property
    def log_fields(self) -> dict[str, Any]:
        """Fields plugins add to this request's log entry."""
        self._unreplayable()
        if self._log_fields is None:
            self._log_fields = {}
        return self._log_fields

    def log_fields_if_used(self) -> dict[str, Any] | None:
        """The log fields when a plugin added any (for the server), else None."""
        return self._log_fields

    def add_response_header(self, name: str, value: str) -> None:
        """Add a field to the response the client gets, be it the upstream's or a `ctx.exit` (Kong's
        `kong.response.add_header` in the access phase): e.g. several `Set-Cookie` fields. ValueError for
        what cannot go on the wire (see encode_field)."""
        self._unreplayable()
        encoded = encode_field(name, value)
        if self.response_fields is None:
            self.response_fields = HeaderFields()
        self.response_fields.extend(encoded)

    def set_response_header(self, name: str, value: str) -> None:
        """Like add_response_header, but the field replaces the response's own fields of that name
        (Kong's `kong.response.set_header` in the access phase), and an earlier call's."""
        self.set_response_headers(((name, value),))

    def set_response_headers(self, items: Iterable[tuple[str, str]]) -> None:
        """`set_response_header` for each (name, value), in one pass when the names differ (Kong's
        `kong.response.set_headers`): rate-limiting's five fields edit the response's fields once.
        ValueError for what cannot go on the wire, and then none is set."""
        self._unreplayable()
        encoded = encode_fields(items)
        keys = {name.lower() for name in encoded[::4]}
        if len(keys) == len(encoded) >> 2:
            self._set_response_fields(encoded, keys)
            return
        for i in range(0, len(encoded), 4):  # a name twice: the last one stands, as with a call each
            self._set_response_fields(encoded[i:i + 4], {encoded[i].lower()})

    def _set_response_fields(self, encoded: Encoded, keys: set[bytes]) -> None:
        if self.response_fields is None:
            self.response_fields = HeaderFields(encoded)
        else:
            self.response_fields.remove_all(keys)
            self.response_fields.extend(encoded)
        if self.response_replaces is None:
            self.response_replaces = keys
        else:
            self.response_replaces |= keys

    def response_header_items(self) -> list[tuple[str, str]]:
        """The fields added by `add_response_header`, as (name, value) pairs."""
        return HeaderView.over(self.response_fields).items() if self.response_fields is not None else []

    @staticmethod
    def exit(status: int, body: Any = None, headers: dict[str, str] | None = None) -> PluginExit:
        """End the request now: `raise ctx.exit(401, {"message": "Unauthorized"})`."""
        return PluginExit(status, body, headers)

    def authenticate(self, consumer: Consumer | None, credential: dict[str, Any] | None = None,
                     identity: Identity | None = None) -> None:
        """Attach the authenticated consumer (so consumer-scoped plugins apply) and identity, and tell the
        upstream with Kong's consumer headers (plugins.consumer_headers), replacing an earlier call's."""
        headers = self.service_request.headers
        if self.consumer is not None or self.credential is not None:
            headers.remove_like(_CONSUMER_HEADERS)
        self.consumer = consumer
        self.credential = credential
        self.identity = identity
        self._consumer_groups = None
        self._note_who()
        encoded = consumer_fields(consumer, credential)
        if encoded:
            headers.extend(encoded)

    def reuse_until(self, until: float, still: Callable[[], bool] | None = None) -> None:
        """The decision this plugin just took holds for any request with the same inputs (its
        `memo_inputs`) until `until` (on their `clock`), and while `still()` says so when given (a cheap
        check of what may change sooner, e.g. a cached session dropped by a logout elsewhere): the engine
        may replay it instead of running the plugin. Only the plugin's header edits, `authenticate` and
        `set_consumer_groups` are replayed; a decision that did more (an exit, a body, a response header,
        ctx.shared) is not kept."""
        if self.recording is not None:
            self.recording.until = until
            self.recording.still = still

    def attached(self) -> Who:
        """Who the plugins so far attached: consumer, credential, identity, consumer groups they set."""
        return self.consumer, self.credential, self.identity, self._consumer_groups

    def attach(self, who: Who) -> None:
        """Attach who a recorded decision attached (the engine's replay; see attached)."""
        self.consumer, self.credential, self.identity, self._consumer_groups = who

    def _note_who(self) -> None:
        if self.recording is not None:
            self.recording.who = self.attached()

    def _unreplayable(self) -> None:
        if self.recording is not None:
            self.recording.replayable = False

    def set_consumer_groups(self, groups: tuple[ConsumerGroup, ...] | None) -> None:
        """The request's consumer groups from now on, whatever the consumer's (Kong's
        `kong.client.set_authenticated_consumer_groups`): an authentication plugin found them elsewhere, e.g.
        in a token's claim. None: the consumer's own again. `authenticate` resets them, as Kong does."""
        self._consumer_groups = groups
        self._note_who()

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
