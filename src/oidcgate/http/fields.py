"""HTTP header fields as they go on the wire: the one type that knows their layout.

The proxy parses a head into `HeaderFields` (through `Received`, the parser's `on_header`), edits it
by name, and writes it into the heads it sends with `wire()`; the PDK's headers are a view over it.
Nothing else indexes into the layout. A field is kept as four byte strings (name, ": ", value,
CRLF), so writing a head is one `bytes.join` and forwarding an unchanged field copies nothing.

Names keep their case and are compared case-insensitively (by their lower-case bytes, computed once
per head and only when a lookup needs them); values are bytes, latin-1 when decoded (one character per
byte, as HTTP defines them). What comes from the parser was checked by llhttp; what comes from code
goes through `encode_field`, which refuses what would break the header block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet

_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 field-name
_MEMO_MAX = 4096
_MEMO_NAME_MAX = 64  # longer names (rare, and a client's to choose) are lowered anew each time
_names: dict[str, bytes] = {}  # valid names as code spells them -> their wire form
_lowered: dict[bytes, bytes] = {}  # names as spelled on the wire -> their lower-case form, one object per form

Encoded = tuple[bytes, ...]  # one or more fields in wire form, from encode_field (opaque elsewhere)


def encode_field(name: str, value: str) -> Encoded:
    """A field in wire form; ValueError for a name that is not a token or a value with CR, LF or NUL
    (which would split the header block), UnicodeEncodeError for a character beyond latin-1."""
    wire = _names.get(name)
    if wire is None:
        if not _TOKEN_RE.fullmatch(name):
            raise ValueError(f"invalid header name {name!r}")
        wire = name.encode("ascii")
        if len(_names) < _MEMO_MAX:
            _names[name] = wire
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"the value of header {name!r} contains CR, LF or NUL")
    return wire, b": ", value.encode("latin-1"), b"\r\n"


def encode_fields(items: Iterable[tuple[str, str]]) -> Encoded:
    """Several fields in wire form (see encode_field), e.g. computed once and added to many requests."""
    encoded: list[bytes] = []
    for name, value in items:
        encoded += encode_field(name, value)
    return tuple(encoded)


def lower_name(name: bytes) -> bytes:
    """`name` in lower case, memoized: clients repeat the few names they spell, and the spelling was hashed
    already when the head was parsed (see Received). Each lower-case form is one object, so two equal
    names compare by identity and are hashed once."""
    lower = _lowered.get(name)
    if lower is None:
        lower = name.lower()
        if len(name) <= _MEMO_NAME_MAX and len(_lowered) < _MEMO_MAX:
            lower = _lowered.setdefault(lower, lower)
            _lowered[name] = lower
    return lower


def fold(name: bytes) -> bytes:
    """The form under which servers may take two names for one: case and `_`/`-` folded."""
    return name.lower().replace(b"_", b"-")


class HeaderFields:
    """An ordered multi-map of header fields in wire form (see the module docstring).

    `wire` is the fields as they go into a head, for `bytes.join`: read it, edit through the methods.
    """

    __slots__ = ("_lower", "wire")

    def __init__(self, encoded: Encoded = (), wire: list[bytes] | None = None) -> None:
        self.wire: list[bytes] = list(encoded) if wire is None else wire  # (`wire`: see over)
        self._lower: list[bytes] | None = None

    @staticmethod
    def over(flat: list[bytes]) -> HeaderFields:
        """Fields over `flat` (wire form, checked: from this type), without a copy."""
        return HeaderFields(wire=flat)

    @classmethod
    def of(cls, items: Iterable[tuple[str, str]]) -> HeaderFields:
        """Fields from (name, value) pairs, each checked by encode_field."""
        return cls(encode_fields(items))

    def __len__(self) -> int:
        return len(self.wire) >> 2

    def __bool__(self) -> bool:
        return bool(self.wire)

    def size(self) -> int:
        """Their size in bytes on the wire."""
        return sum(map(len, self.wire))

    def __repr__(self) -> str:  # never values: they may be credentials
        return f"HeaderFields({[name for name, _ in self.items()]!r})"

    def copy(self) -> HeaderFields:
        copied = HeaderFields.over(self.wire[:])
        copied._lower = None if self._lower is None else self._lower[:]
        return copied

    # ---- reading ---------------------------------------------------------------------------------
    def names(self) -> list[bytes]:
        """The names, lower-case, one per field in order (computed once; do not change the list)."""
        lower = self._lower
        if lower is None:
            wire = self.wire
            lower = self._lower = [lower_name(wire[i]) for i in range(0, len(wire), 4)]
        return lower

    def __contains__(self, key: object) -> bool:
        """Whether a field has this lower-case name."""
        return key in self.names()

    def count(self, key: bytes) -> int:
        return self.names().count(key)

    def first(self, key: bytes) -> bytes | None:
        """The value of the first field with this lower-case name."""
        lower = self.names()
        return self.wire[4 * lower.index(key) + 2] if key in lower else None

    def values(self, key: bytes) -> tuple[bytes, ...]:
        """Every value of the fields with this lower-case name, in order."""
        lower = self.names()
        count = lower.count(key)
        if count <= 1:
            return (self.wire[4 * lower.index(key) + 2],) if count else ()
        flat = self.wire
        return tuple([flat[4 * i + 2] for i, name in enumerate(lower) if name == key])

    def items(self) -> list[tuple[bytes, bytes]]:
        flat = self.wire
        return list(zip(flat[::4], flat[2::4], strict=True))

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(self.items())

    # ---- editing ---------------------------------------------------------------------------------
    def rewrite(self, flat: list[bytes]) -> None:
        """Replace every field by those of `flat` (wire form, checked: from this type)."""
        self.wire, self._lower = flat, None

    def extend(self, encoded: Encoded) -> None:
        """Append fields in wire form (from encode_field/encode_fields: checked already)."""
        self.wire += encoded
        if self._lower is not None:
            self._lower += [lower_name(encoded[i]) for i in range(0, len(encoded), 4)]

    def add(self, name: str, value: str) -> None:
        """Append a field; ValueError (see encode_field) for what cannot go on the wire."""
        self.extend(encode_field(name, value))

    def set(self, name: str, value: str) -> None:
        """Replace every field called `name` by one with `value`, in the place of the first."""
        encoded = encode_field(name, value)
        key = encoded[0].lower()
        lower = self.names()
        count = lower.count(key)
        if count == 0:
            self.extend(encoded)
            return
        at = lower.index(key)
        if count > 1:
            self.remove(key, after=at + 1)
        self.wire[4 * at:4 * at + 4] = encoded
        lower[at] = key

    def remove(self, key: bytes, after: int = 0) -> bool:
        """Remove the fields with this lower-case name (from the `after`-th field on); whether any was."""
        lower = self.names()
        if key not in lower[after:]:
            return False
        return self._keep(lambda i, name: i < after or name != key)

    def remove_all(self, keys: AbstractSet[bytes]) -> bool:
        """Remove the fields whose lower-case name is one of `keys`; whether any was."""
        lower = self.names()
        if keys.isdisjoint(lower):
            return False
        return self._keep(lambda _, name: name not in keys)

    def remove_folded(self, folded: AbstractSet[bytes]) -> bool:
        """Remove the fields whose name, case and `_`/`-` folded (see fold), is one of `folded`."""
        lower = self.names()
        if folded.isdisjoint(lower) and not any(95 in name for name in lower):  # (95: "_")
            return False
        return self._keep(lambda _, name: name.replace(b"_", b"-") not in folded)

    def _keep(self, keep: Callable[[int, bytes], bool]) -> bool:
        flat, lower = self.wire, self.names()
        kept: list[bytes] = []
        kept_names: list[bytes] = []
        for i, name in enumerate(lower):
            if keep(i, name):
                kept += flat[4 * i:4 * i + 4]
                kept_names.append(name)
        changed = len(kept_names) != len(lower)
        self.wire, self._lower = kept, kept_names
        return changed


class Received:
    """A message head's fields as a parser reports them (`receive` is httptools' `on_header`).

    Fields whose names `kinds` (or `classify`, for names not seen yet) give a kind other than 0 are
    the receiver's own business (framing, hop-by-hop, Host...): they are set aside as (kind, name,
    value) instead of kept. Clients repeat their names as they spell them, so a kind costs one dict
    lookup; `classify` memoizes into `kinds` (bounded by its owner)."""

    __slots__ = ("_flat", "aside", "classify", "kinds")

    def __init__(self, kinds: dict[bytes, int], classify: Callable[[bytes], int]) -> None:
        self.kinds = kinds
        self.classify = classify
        self._flat: list[bytes] = []
        self.aside: list[tuple[int, bytes, bytes]] | None = None

    def receive(self, name: bytes, value: bytes) -> None:
        kind = self.kinds.get(name)
        if kind is None:
            kind = self.classify(name)
        if not kind:
            self._flat += (name, b": ", value, b"\r\n")
        elif self.aside is None:
            self.aside = [(kind, name, value)]
        else:
            self.aside.append((kind, name, value))

    def size(self) -> int:
        """Bytes of the fields received so far (kept and set aside), as they were on the wire."""
        return sum(map(len, self._flat)) + sum(len(name) + len(value) + 4 for _, name, value in self.aside or ())

    def __len__(self) -> int:
        return (len(self._flat) >> 2) + len(self.aside or ())

    def take(self) -> HeaderFields:
        """The kept fields (the receiver starts afresh; `aside` is reset by its reader)."""
        fields = HeaderFields(wire=self._flat)
        self._flat = []
        return fields
