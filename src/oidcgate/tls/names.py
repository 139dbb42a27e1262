"""Server names as Kong matches them, for certificates' and routes' `snis` alike: an exact name first,
then a `*.example.com` wildcard (one leftmost label), then an `example.*` wildcard (one rightmost label).

Names are stored as the config validated them (lower-case, see config.certificates.sni_name); a
client's server name is compared case-insensitively, without a trailing dot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class NameTable(Generic[T]):
    """Values by server name: exact names, `*.suffix` and `prefix.*` wildcards."""

    __slots__ = ("exact", "leading", "trailing")

    def __init__(self, items: Iterable[tuple[str, T]] = ()) -> None:
        self.exact: dict[str, T] = {}
        self.leading: dict[str, T] = {}  # "*.example.com" under "example.com"
        self.trailing: dict[str, T] = {}  # "example.*" under "example"
        for name, value in items:
            self.add(name, value)

    def add(self, name: str, value: T) -> None:
        if name.startswith("*."):
            self.leading[name[2:]] = value
        elif name.endswith(".*"):
            self.trailing[name[:-2]] = value
        else:
            self.exact[name] = value

    def select(self, server_name: str) -> T | None:
        """The value of the most specific name that `server_name` (as a client sent it) matches."""
        name = server_name.lower().rstrip(".")
        found = self.exact.get(name)
        if found is None and self.leading:
            found = self.leading.get(name.partition(".")[2])
        if found is None and self.trailing:
            found = self.trailing.get(name.rpartition(".")[0])
        return found

    def __len__(self) -> int:
        return len(self.exact) + len(self.leading) + len(self.trailing)
