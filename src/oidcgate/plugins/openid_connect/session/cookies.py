"""The cookies of a session: reading them from `Cookie`, writing `Set-Cookie` (RFC 6265), in chunks.

Browsers keep at most 4,096 bytes per cookie, so a value longer than CHUNK_BYTES is split: the first
cookie `NAME` holds `<count>.<part 1>`, the others `NAME_2` ... `NAME_<count>` (lua-resty-session's
names); a value that fits is written as is (sealed values are base64url, so they hold no `.`).
Writing a shorter value expires the chunks the browser still sends, so stale parts never linger.
"""

from __future__ import annotations

from dataclasses import dataclass

from oidcgate.http.cookies import parse as parse  # (the plugin reads cookies through this module)

CHUNK_BYTES = 4000
MAX_CHUNKS = 16  # 64 KB: more than any session needs, less than any server's header limit
EXPIRED = "Thu, 01 Jan 1970 00:00:01 GMT"


def chunk_number(text: str) -> int | None:
    """A chunk count or index as we write them (1 to 2 ASCII digits), or None: a stranger's `²` or
    5,000 digits would make int() raise."""
    return int(text) if 0 < len(text) <= 2 and text.isascii() and text.isdigit() else None


@dataclass(frozen=True, slots=True)
class CookieSpec:
    """One cookie's name and attributes, compiled from the plugin's config."""

    name: str
    path: str
    domain: str | None
    same_site: str  # "Default": no attribute
    http_only: bool
    secure: bool | None  # None: when the request came over https

    def read(self, cookies: dict[str, str]) -> str | None:
        """The whole value (chunks reassembled), or None when it is absent or its chunks are not all there."""
        first = cookies.get(self.name)
        if first is None:
            return None
        count_text, dot, rest = first.partition(".")
        if not dot:
            return first
        count = chunk_number(count_text)
        if count is None or not 2 <= count <= MAX_CHUNKS:
            return None
        parts = [rest]
        for index in range(2, count + 1):
            part = cookies.get(f"{self.name}_{index}")
            if part is None:
                return None
            parts.append(part)
        return "".join(parts)

    def write(self, value: str, max_age: int, https: bool, present: dict[str, str]) -> list[str]:
        """The Set-Cookie values that store `value` (chunked when long) and expire stale chunks."""
        if len(value) <= CHUNK_BYTES:
            chunks = [value]
        else:
            chunks = [value[i:i + CHUNK_BYTES] for i in range(0, len(value), CHUNK_BYTES)]
            if len(chunks) > MAX_CHUNKS:
                raise ValueError(f"a session of {len(value)} bytes does not fit in {MAX_CHUNKS} cookies")
            chunks[0] = f"{len(chunks)}.{chunks[0]}"
        names = [self.name] + [f"{self.name}_{i}" for i in range(2, len(chunks) + 1)]
        headers = [self._header(name, chunk, f"Max-Age={max(1, max_age)}", https)
                   for name, chunk in zip(names, chunks, strict=True)]
        return headers + self._expire_chunks(present, from_index=len(chunks) + 1, https=https)

    def clear(self, present: dict[str, str], https: bool) -> list[str]:
        """Set-Cookie values that remove the cookie and all its chunks from the browser."""
        gone = self._header(self.name, "", f"Max-Age=0; Expires={EXPIRED}", https)
        return [gone, *self._expire_chunks(present, from_index=2, https=https)]

    def _expire_chunks(self, present: dict[str, str], from_index: int, https: bool) -> list[str]:
        prefix = f"{self.name}_"
        stale = [name for name in present if name.startswith(prefix)
                 and (chunk_number(name[len(prefix):]) or 0) >= from_index]
        return [self._header(name, "", f"Max-Age=0; Expires={EXPIRED}", https) for name in stale]

    def _header(self, name: str, value: str, lifetime: str, https: bool) -> str:
        parts = [f"{name}={value}", f"Path={self.path}", lifetime]
        if self.domain:
            parts.append(f"Domain={self.domain}")
        if self.same_site != "Default":
            parts.append(f"SameSite={self.same_site}")
        if self.secure or (self.secure is None and https) or self.same_site == "None":
            parts.append("Secure")  # (browsers refuse SameSite=None without Secure)
        if self.http_only:
            parts.append("HttpOnly")
        return "; ".join(parts)
