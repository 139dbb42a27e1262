"""Request paths: RFC 3986 normalization before routing, and Kong's upstream path joining.

Kong normalizes the path before matching (so `/api/%2e%2e/admin` cannot dodge a route) and forwards
the normalized path; the query string is forwarded untouched. Joining the service path with what is
left of the request path after `strip_path` follows Kong's `path_handling` v0 (default) and v1.
"""

from __future__ import annotations

import re

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE_RE = re.compile(rb"%(?P<hex>[0-9A-Fa-f]{2})")
_BAD_ESCAPE_RE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
_SLASHES_RE = re.compile(rb"/{2,}")


class InvalidPath(ValueError):
    """A path that cannot be normalized (a broken percent-escape)."""


def _unescape(match: re.Match[bytes]) -> bytes:
    value = int(match["hex"], 16)
    return bytes((value,)) if value in _UNRESERVED else b"%" + match["hex"].upper()


def _remove_dot_segments(path: bytes) -> bytes:
    """RFC 3986 §5.2.4; segments above the root are dropped, as the RFC says."""
    output: list[bytes] = []
    segments = path.split(b"/")
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        if segment == b".":
            if last:
                output.append(b"")
        elif segment == b"..":
            if output:
                output.pop()
            if last:
                output.append(b"")
        else:
            output.append(segment)
    return b"/" + b"/".join(output)


def normalize(path: bytes) -> bytes:
    """The path Kong routes on: unreserved escapes decoded, other escapes upper-cased, `//` merged,
    dot segments removed. Most paths need none of it and are returned as is (three `in` checks)."""
    if b"%" not in path and b"/." not in path and b"//" not in path:
        return path
    if b"%" in path:
        if _BAD_ESCAPE_RE.search(path):
            raise InvalidPath("invalid percent-encoding")
        path = _ESCAPE_RE.sub(_unescape, path)
    if b"//" in path:
        path = _SLASHES_RE.sub(b"/", path)
    if b"/." in path:
        path = _remove_dot_segments(path)
    return path


def sanitize_postfix(postfix: bytes) -> bytes:
    """What Kong keeps of the path after the matched prefix (drops a leading `./` or `../`)."""
    if postfix in (b".", b".."):
        return b""
    if postfix.startswith(b"./"):
        return postfix[2:]
    if postfix.startswith(b"../"):
        return postfix[3:]
    return postfix


def join_v0(base: bytes, strip: bool, postfix: bytes, path: bytes) -> bytes:
    """Kong's `path_handling: v0` (the default): one slash between the service path and the rest."""
    if base.endswith(b"/"):
        if strip:
            if not postfix:
                if base == b"/" or path.endswith(b"/"):
                    return base
                return base[:-1]
            if postfix.startswith(b"/"):
                return base[:-1] + postfix
            return base + postfix
        return base + path[1:]
    if strip:
        if not postfix:
            return base + b"/" if len(path) > 1 and path.endswith(b"/") else base
        if postfix.startswith(b"/"):
            return base + postfix
        return base + b"/" + postfix
    return base if path == b"/" else base + path


def join_v1(base: bytes, strip: bool, postfix: bytes, path: bytes) -> bytes:
    """Kong's deprecated `path_handling: v1`: plain concatenation, only a double slash collapsed."""
    if strip:
        if base.endswith(b"/") and postfix.startswith(b"/"):
            return base[:-1] + postfix
        return base + postfix
    return base + path[1:]
