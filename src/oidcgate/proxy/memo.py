"""Recorded plugin decisions: the engine's side of `MemoInputs` and `ctx.reuse_until` (see the PDK).

While a plugin that declares its inputs runs its full `access`, the engine records what it does to the
upstream request (its header edits by name and `ctx.authenticate`). When the plugin said the decision
holds (`reuse_until`) and did nothing that cannot be replayed, the recording is kept under the key of
the inputs the plugin declared, as the client sent them. A later request with the same key gets the
same edits applied and the same consumer attached, in the same order, without the plugin running:
the same decision by construction. Keys are raw bytes (no decoding); the table is bounded (oldest
first out) and an entry lives until its `until`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Protocol
from urllib.parse import parse_qs

from oidcgate.http.fields import Encoded, HeaderFields, encode_field
from oidcgate.plugins.pdk import Context, Edit, MemoInputs, Recording, Who
from oidcgate.proxy.headers import owns_any

MAX_ENTRIES = 10_000
NOBODY: Who = (None, None, None, None)
_REMOVALS = (HeaderFields.remove, HeaderFields.remove_all, HeaderFields.remove_folded)


class Inputs(Protocol):
    """A request as the client sent it (the server's parsed head)."""

    method: bytes
    query: bytes  # with its "?", b"" when there is none

    @property
    def path(self) -> bytes:
        """Normalized, without the query."""

    @property
    def has_body(self) -> bool: ...

    @property
    def client_fields(self) -> HeaderFields: ...


class Decision:
    """What one plugin did to a request, to do again: header edits, names they added, who it authenticated.

    Edits that remove fields and add some (an authentication plugin's: forged copies out, claims in, a
    token header set) are also kept compiled, as the names they remove and the fields they add: on
    fields that hold none of those names (the usual request) they amount to one concatenation."""

    __slots__ = ("added", "adds", "compiled", "edits", "folded", "removed", "still", "until", "who")

    def __init__(self, until: float, edits: list[Edit], added: tuple[bytes, ...], who: Who | None,
                 still: Callable[[], bool] | None = None) -> None:
        self.until = until
        self.still = still  # (see Context.reuse_until)
        self.added = added
        self.who = who
        self.edits = tuple(edits)
        self.removed: frozenset[bytes] = frozenset()  # lower-case names
        self.folded: frozenset[bytes] = frozenset()  # names folded (see fields.fold)
        self.adds: Encoded = ()
        self.compiled = self._compile()

    def _compile(self) -> bool:
        """Whether the edits are removals, sets and additions that, on fields without the removed (and
        set) names, leave what `adds` appended leaves; then `removed`, `folded` and `adds` say so."""
        removed: set[bytes] = set()
        folded: set[bytes] = set()
        adds: list[bytes] = []
        for edit, args in self.edits:
            if edit is HeaderFields.extend or edit is HeaderFields.add or edit is HeaderFields.set:
                encoded = args[0] if edit is HeaderFields.extend else encode_field(*args)
                if edit is HeaderFields.set:
                    if _hits(encoded[0].lower(), adds, frozenset(), False):
                        return False  # (it would replace a field this decision added)
                    removed.add(encoded[0].lower())
                adds += encoded
            elif edit in _REMOVALS:
                keys = frozenset((args[0],)) if edit is HeaderFields.remove else frozenset(args[0])
                folding = edit is HeaderFields.remove_folded
                if any(_hits(key, adds, keys, folding) for key in keys):
                    return False  # (it would remove a field this decision added)
                (folded if folding else removed).update(keys)
            else:
                return False
        self.removed, self.folded, self.adds = frozenset(removed), frozenset(folded), tuple(adds)
        return True

    def _untouched(self, fields: HeaderFields) -> bool:
        """Whether `fields` hold none of the names the compiled edits remove or set."""
        if not (self.removed or self.folded):
            return True
        names = fields.names()
        return (self.removed.isdisjoint(names) and self.folded.isdisjoint(names)
                and (not self.folded or 95 not in b"".join(names)))  # (95: "_")

    def applied(self, base: HeaderFields) -> HeaderFields:
        """New fields: `base` as the plugin's edits leave it (`base` itself is not changed)."""
        if self.compiled and self._untouched(base):
            return base.then(self.adds)
        fields = base.copy()
        for edit, args in self.edits:
            edit(fields, *args)
        return fields

    def apply(self, fields: HeaderFields) -> None:
        """The edits, in order, on `fields` itself."""
        if self.compiled and self._untouched(fields):
            fields.extend(self.adds)
            return
        for edit, args in self.edits:
            edit(fields, *args)

    def replay(self, ctx: Context) -> None:
        """The decision on a request whose plugins run (see phases.PluginRun)."""
        headers = ctx.service_request.headers
        self.apply(headers.fields)
        if headers.added is not None:
            headers.added += self.added
        if self.who is not None:
            ctx.attach(self.who)


def _hits(key: bytes, adds: list[bytes], keys: frozenset[bytes], folding: bool) -> bool:
    """Whether a removal of `key` (folded or not) would touch a field among `adds`."""
    for name in adds[::4]:
        lower = name.lower()
        if lower == key or (folding and lower.replace(b"_", b"-") in keys):
            return True
    return False


class Memo:
    """One plugin instance's recorded decisions (on one route)."""

    __slots__ = ("clock", "decisions", "inputs", "key", "max_entries")

    def __init__(self, inputs: MemoInputs, max_entries: int = MAX_ENTRIES) -> None:
        self.inputs = inputs
        self.clock = inputs.clock
        self.key: Callable[[Inputs, Who], Hashable | None] = _keyer(inputs)
        self.decisions: dict[Hashable, Decision] = {}
        self.max_entries = max_entries

    def decision_for(self, request: Inputs, who: Who) -> Decision | None:
        """The recorded decision for this request (`who`: what earlier plugins attached), if one holds."""
        key = self.key(request, who)
        return self.lookup(key) if key is not None else None

    def lookup(self, key: Hashable) -> Decision | None:
        decision = self.decisions.get(key)
        if decision is None:
            return None
        if self.clock() >= decision.until or (decision.still is not None and not decision.still()):
            del self.decisions[key]
            return None
        return decision

    def keep(self, key: Hashable, recording: Recording) -> None:
        """Keep what a full run did, if it can be replayed: the plugin said until when it holds, did
        nothing else, and added no field the proxy owns (those need the full path's checks)."""
        until = recording.until
        if until is None or not recording.replayable or until <= self.clock():
            return
        added = tuple(name for edit, args in recording.edits for name in _added_names(edit, args))
        if owns_any(added):
            return
        decisions = self.decisions
        if len(decisions) >= self.max_entries:
            del decisions[next(iter(decisions))]
        decisions[key] = Decision(until, recording.edits, added, recording.who, recording.still)


def _keyer(inputs: MemoInputs) -> Callable[[Inputs, Who], Hashable | None]:
    """The key function of these inputs: the values of the declared headers (every value of each, in
    order) and query arguments (decoded), then the query, method, path and who, as declared; None when
    `body` is declared and the request has one."""
    names = tuple(name.lower().encode("latin-1") for name in inputs.headers)
    if len(names) == 1 and not (inputs.query_args or inputs.query or inputs.method or inputs.path or inputs.who):
        name = names[0]  # the usual case (an Authorization header): no more than its values

        def one_header(request: Inputs, who: Who) -> Hashable | None:
            if inputs.body and request.has_body:
                return None
            return request.client_fields.values(name)

        return one_header
    if inputs.who and not (names or inputs.query_args or inputs.query or inputs.method or inputs.path or inputs.body):
        return _who  # (acl: who earlier plugins attached, and nothing else)
    query_args = inputs.query_args
    no_query: tuple[tuple[str, ...], ...] = ((),) * len(query_args)

    def key(request: Inputs, who: Who) -> Hashable | None:
        if inputs.body and request.has_body:
            return None
        fields = request.client_fields
        found: tuple[Any, ...] = (fields.values(names[0]),) if len(names) == 1 else tuple(
            [fields.values(name) for name in names])
        if query_args:
            found += _query_args(request.query, query_args) if request.query else no_query
        if inputs.query:
            found += (request.query,)
        if inputs.method:
            found += (request.method,)
        if inputs.path:
            found += (request.path,)
        if inputs.who:
            found += _who(request, who)
        return found

    return key


def _who(request: Inputs, who: Who) -> tuple[Any, ...]:
    consumer, credential, identity, groups = who
    return (consumer.id if consumer is not None else None, str(credential.get("id")) if credential else None,
            identity.authenticated_groups if identity is not None else None,
            None if groups is None else tuple(group.id for group in groups))


def _query_args(query: bytes, names: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    parsed = parse_qs(query[1:].decode("latin-1"), keep_blank_values=True)
    return tuple([tuple(parsed.get(name, ())) for name in names])


def _added_names(edit: Any, args: tuple[Any, ...]) -> list[bytes]:
    if edit is HeaderFields.extend:
        return HeaderFields(args[0]).names()
    if edit in (HeaderFields.set, HeaderFields.add):
        return [args[0].lower().encode("latin-1")]
    return []
