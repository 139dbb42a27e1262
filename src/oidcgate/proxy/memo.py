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

from oidcgate.http import querystring
from oidcgate.http.fields import Encoded, HeaderFields, encode_field, lower_name
from oidcgate.plugins.pdk import Context, Edit, MemoInputs, Recording, Who
from oidcgate.proxy.headers import owns_any
from oidcgate.proxy.modes import NO_BODY

MAX_ENTRIES = 10_000
RECALL_MAX = 4096  # bytes of key values up to which a connection keeps its decision (see Memo.recall)
NOBODY: Who = (None, None, None, None)
_REMOVALS = (HeaderFields.remove, HeaderFields.remove_all, HeaderFields.remove_folded)


class Inputs(Protocol):
    """A request as the client sent it: the server's parsed head (proxy.head.RequestHead)."""

    method: bytes
    path: bytes  # normalized, without the query
    query: bytes  # with its "?", b"" when there is none
    fields: HeaderFields  # the client's
    body_mode: int  # modes.NO_BODY when it has none


class Decision:
    """What one plugin did to a request, to do again: header edits, names they added, who it authenticated.

    Edits that remove fields, set some and add some (an authentication plugin's: forged copies out,
    claims in, the token header set) are also kept compiled: the names they remove, fold-remove or set,
    and the fields they add. On fields that hold none of those names (the usual request) they amount to
    one concatenation; on fields that do, to one pass over them, a set field taking the place of the
    first field of its name as `HeaderFields.set` does."""

    __slots__ = ("added", "adds", "compiled", "edits", "folded", "hits", "in_place", "parts", "recallable", "removed",
                 "sets", "still", "until", "who")

    def __init__(self, until: float, edits: list[Edit], added: tuple[bytes, ...], who: Who | None,
                 still: Callable[[], bool] | None = None, recallable: bool = True) -> None:
        self.until = until
        self.still = still  # (see Context.reuse_until)
        self.added = added
        self.who = who
        self.edits = tuple(edits)
        self.removed: frozenset[bytes] = frozenset()  # lower-case names removed
        self.folded: frozenset[bytes] = frozenset()  # names removed folded (see fields.fold)
        self.sets: dict[bytes, Encoded] = {}  # lower-case name -> the field set in the place of the first
        self.hits: frozenset[bytes] = frozenset()  # removed and set names: fields holding none are untouched
        self.parts: tuple[tuple[bytes | None, Encoded], ...] = ()  # the fields added, by the name they set
        self.adds: list[bytes] = []  # the same, one after the other
        self.in_place = False  # whether `sets` may take their place (no earlier edit removed their name)
        self.recallable = recallable  # whether a connection may keep it with its key (see Memo.recall)
        self.compiled = self._compile()

    def _compile(self) -> bool:
        """Whether the edits are removals, sets and additions that no later edit undoes; then the
        compiled attributes say what they do (see the class docstring)."""
        removed: set[bytes] = set()
        folded: set[bytes] = set()
        sets: dict[bytes, Encoded] = {}
        parts: list[tuple[bytes | None, Encoded]] = []
        adds: list[bytes] = []
        in_place = True
        for edit, args in self.edits:
            if edit is HeaderFields.extend or edit is HeaderFields.add or edit is HeaderFields.set:
                encoded = args[0] if edit is HeaderFields.extend else encode_field(*args)
                name = encoded[0].lower() if edit is HeaderFields.set else None
                if name is not None:
                    if _hits(name, adds, frozenset(), False):
                        return False  # (it would replace a field this decision added)
                    if name in removed or name.replace(b"_", b"-") in folded:
                        in_place = False  # (the client's are gone by then: it goes at the end)
                    sets[name] = encoded
                parts.append((name, encoded))
                adds += encoded
            elif edit in _REMOVALS:
                keys = frozenset((args[0],)) if edit is HeaderFields.remove else frozenset(args[0])
                folding = edit is HeaderFields.remove_folded
                if any(_hits(key, adds, keys, folding) for key in keys):
                    return False  # (it would remove a field this decision added)
                (folded if folding else removed).update(keys)
            else:
                return False
        self.removed, self.folded, self.sets = frozenset(removed), frozenset(folded), sets
        self.hits = frozenset(removed | sets.keys())
        self.parts, self.adds, self.in_place = tuple(parts), adds, in_place
        return True

    def _compiled_wire(self, base: HeaderFields) -> list[bytes] | None:
        """The fields the edits leave, in wire form, when the compiled form applies (None: it does not)."""
        if not self.compiled:
            return None
        names = base.names()
        if self._untouched(names):
            return base.wire + self.adds
        if not self.in_place:
            return None
        wire, sets, removed, folded = base.wire, self.sets, self.removed, self.folded
        out: list[bytes] = []
        placed: set[bytes] = set()
        for i, name in enumerate(names):
            if name in sets:
                if name not in placed:
                    placed.add(name)
                    out += sets[name]
            elif name not in removed and not (folded and name.replace(b"_", b"-") in folded):
                out += wire[4 * i:4 * i + 4]
        for target, encoded in self.parts:
            if target is None or target not in placed:
                out += encoded
        return out

    def _untouched(self, names: list[bytes]) -> bool:
        """Whether no field of these names is removed or set (folded: a name with a `_` might be)."""
        hits, folded = self.hits, self.folded
        return not any(name in hits or (folded and (name in folded or 95 in name)) for name in names)  # (95: "_")

    def applied(self, base: HeaderFields) -> HeaderFields:
        """New fields: `base` as the plugin's edits leave it (`base` itself is not changed)."""
        wire = self._compiled_wire(base)
        if wire is not None:
            return HeaderFields.over(wire)
        fields = base.copy()
        for edit, args in self.edits:
            edit(fields, *args)
        return fields

    def apply(self, fields: HeaderFields) -> None:
        """The edits, in order, on `fields` itself."""
        wire = self._compiled_wire(fields)
        if wire is not None:
            fields.rewrite(wire)
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

    def live(self, decision: Decision) -> bool:
        """Whether `decision` still holds (see Context.reuse_until)."""
        return self.clock() < decision.until and (decision.still is None or decision.still())

    def lookup(self, key: Hashable) -> Decision | None:
        decision = self.decisions.get(key)
        if decision is None:
            return None
        if not self.live(decision):
            del self.decisions[key]
            return None
        return decision

    def recall(self, key: Hashable, recent: Recent, at: int) -> Decision | None:
        """`lookup(key)`, first through `recent[at]`: the decision this memo gave the connection's previous
        request. Browsers and API clients repeat their credentials on a keep-alive connection, and a
        comparison is cheaper than hashing a key that holds a token or a session cookie. The entry is
        kept up to date here; a decision is the same decision by construction wherever it is found. A
        connection keeps no key over RECALL_MAX bytes: an idle one holds no more than that."""
        if at < len(recent):
            memo, known, decision = recent[at]
            if memo is self and known == key and self.live(decision):
                return decision
        found = self.lookup(key)
        if found is not None and found.recallable:
            entry = (self, key, found)
            if at < len(recent):
                recent[at] = entry
            elif at == len(recent):
                recent.append(entry)
        return found

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
        decisions[key] = Decision(until, recording.edits, added, recording.who, recording.still,
                                  recallable=_weight(key) <= RECALL_MAX)


Recent = list[tuple[Memo, Hashable, Decision]]  # a connection's last decision per memo of its route (see recall)


def _keyer(inputs: MemoInputs) -> Callable[[Inputs, Who], Hashable | None]:
    """The key function of these inputs: the values of the declared headers (every value of each, in
    order) and query arguments (decoded), then the method, path and who, as declared; None when
    `body` is declared and the request has one."""
    names = tuple(lower_name(name.encode("latin-1")) for name in inputs.headers)  # (the objects names() gives)
    body, query_args, method, path, by_who = (inputs.body, inputs.query_args, inputs.method, inputs.path,
                                              inputs.who)  # (read once, not per request)
    if len(names) == 1 and not (query_args or method or path or by_who):
        name = names[0]  # the usual case (an Authorization header): no more than its values

        def one_header(request: Inputs, who: Who) -> Hashable | None:
            if body and request.body_mode != NO_BODY:
                return None
            return request.fields.values(name)

        return one_header
    if by_who and not (names or query_args or method or path or body):
        return _who  # (acl: who earlier plugins attached, and nothing else)
    no_query: tuple[tuple[str, ...], ...] = ((),) * len(query_args)
    needles = tuple(needle.encode("latin-1") for needle in querystring.needles(query_args))

    def key(request: Inputs, who: Who) -> Hashable | None:
        if body and request.body_mode != NO_BODY:
            return None
        fields = request.fields
        found: list[Any] = [fields.values(name) for name in names]
        if query_args:
            raw = request.query
            found += _query_args(raw, query_args) if raw and querystring.may_hold(raw, needles) else no_query
        if method:
            found.append(request.method)
        if path:
            found.append(request.path)
        if by_who:
            found += _who(request, who)
        return tuple(found)

    return key


def _weight(key: object) -> int:
    """The bytes of the values a key holds."""
    if isinstance(key, bytes | str):
        return len(key)
    if isinstance(key, tuple):
        return sum(_weight(part) for part in key)
    return 0


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
