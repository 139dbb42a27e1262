"""Kong's route matching, compiled once per snapshot into indexes so that a lookup does not scan routes.

Semantics (Kong's traditional router): a route matches when every field it sets matches (hosts incl.
`*.example.com` / `example.*` wildcards, methods, headers, paths, and `snis`: the server name a TLS
client indicated, exact or wildcard as for certificates; a request without one matches no such route).
Among matching routes the most specific wins: more matched fields first (hosts > headers > paths >
methods > snis when the count ties), then plain hosts over wildcard hosts, more headers, regex paths (by
`regex_priority`) before prefix paths, longer prefixes before shorter ones, then the order of creation.
A route with several paths competes once per path, as in Kong.

Index: routes are bucketed by host (a dict for plain hosts, a short list of wildcard buckets, one
bucket for routes without hosts); inside a bucket prefix paths live in a dict keyed by the prefix, and
a lookup probes only the distinct prefix lengths that exist (a handful), so 10,000 prefix routes cost
the same as 10. Regex paths are tried in priority order, stopping as soon as nothing can beat the best
match found so far.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from oidcgate.config.entities import Route
from oidcgate.proxy.paths import sanitize_postfix
from oidcgate.tls.names import NameTable

T = TypeVar("T")

# Kong's MATCH_RULES bits (category order) and MATCH_SUBRULES bits.
_HOST, _HEADER, _URI, _METHOD, _SNI = 0x40, 0x20, 0x10, 0x08, 0x04
_HAS_REGEX_URI, _PLAIN_HOSTS_ONLY, _HAS_WILDCARD_HOST_PORT = 0x01, 0x02, 0x04

Headers = Mapping[bytes, Sequence[bytes]]  # lower-case name -> values, as received
MEMO_SIZE = 4096


class Matcher(Generic[T]):
    """One (route, path) pair with everything a lookup needs precomputed."""

    def __init__(self, target: T, rank: int, methods: frozenset[bytes] | None,
                 headers: tuple[tuple[bytes, frozenset[bytes], re.Pattern[bytes] | None], ...],
                 snis: NameTable[bool] | None = None, prefix: bytes | None = None,
                 regex: re.Pattern[bytes] | None = None) -> None:
        self.target = target
        self.rank = rank
        self.methods = methods
        self.headers = headers
        self.snis = snis
        self.prefix = prefix
        self.regex = regex
        # no method, header or SNI to check: any request on its path matches
        self.unconditional = methods is None and not headers and snis is None

    def prefix_of(self, path: bytes, found: re.Match[bytes] | None) -> bytes | None:
        """What the route's path matched (Kong's `uri_prefix`); None for a route without paths."""
        if self.prefix is not None:
            return self.prefix
        if found is not None:
            return path[:found.start("uri_postfix")]
        return None

    def postfix_of(self, path: bytes, found: re.Match[bytes] | None) -> bytes | None:
        """The rest of the path after the match (Kong's `uri_postfix`); None for a route without paths."""
        if self.prefix is not None:
            postfix = path[len(self.prefix):]
        elif found is not None:
            postfix = found["uri_postfix"]
        else:
            return None
        return sanitize_postfix(postfix) if postfix[:1] == b"." else postfix

    @staticmethod
    def captures(found: re.Match[bytes] | None) -> dict[str, str]:
        """Named groups of a regex path (Kong's `uri_captures`), for plugins."""
        if found is None:
            return {}
        return {k: v.decode("latin-1") for k, v in found.groupdict().items() if k != "uri_postfix" and v is not None}

    def accepts(self, method: bytes, headers: Headers | None, sni: str | None) -> bool:
        if self.methods is not None and method not in self.methods:
            return False
        if self.snis is not None and (sni is None or self.snis.select(sni) is None):
            return False
        for name, values, pattern in self.headers:
            received = headers.get(name) if headers else None
            if not received:
                return False
            for value in received:
                value = value.lower()
                if value in values or (pattern is not None and pattern.search(value)):
                    break
            else:
                return False
        return True


class _Bucket(Generic[T]):
    """The routes that can match one host (or any host)."""

    def __init__(self) -> None:
        self.prefixes: dict[bytes, list[Matcher[T]]] = {}
        self.lengths: tuple[int, ...] = ()
        self.regexes: list[Matcher[T]] = []
        self.pathless: list[Matcher[T]] = []

    def add(self, matcher: Matcher[T]) -> None:
        if matcher.regex is not None:
            self.regexes.append(matcher)
        elif matcher.prefix is not None:
            self.prefixes.setdefault(matcher.prefix, []).append(matcher)
        else:
            self.pathless.append(matcher)

    def seal(self) -> None:
        for matchers in self.prefixes.values():
            matchers.sort(key=_rank)
        self.regexes.sort(key=_rank)
        self.pathless.sort(key=_rank)
        self.lengths = tuple(sorted({len(p) for p in self.prefixes}, reverse=True))


def _rank(matcher: Matcher[Any]) -> int:
    return matcher.rank


def split_host(host: bytes) -> tuple[bytes, bytes | None]:
    """`example.com:8080` -> (b"example.com", b"8080"); `[::1]:80` -> (b"[::1]", b"80")."""
    if host.startswith(b"["):
        end = host.find(b"]")
        if end < 0:
            return host, None
        rest = host[end + 1:]
        return host[:end + 1], (rest[1:] if rest.startswith(b":") else None)
    name, sep, port = host.partition(b":")
    return name, (port if sep else None)


def _wildcard_regex(host: str) -> re.Pattern[bytes]:
    name, port = split_host(host.lower().encode())
    pattern = re.escape(name).replace(rb"\*", rb".+")
    pattern += (rb":" + re.escape(port)) if port is not None else rb"(?::\d+)?"
    return re.compile(pattern)


def _header_rules(route: Route) -> tuple[tuple[bytes, frozenset[bytes], re.Pattern[bytes] | None], ...]:
    rules = []
    for name, values in (route.headers or {}).items():
        lname = name.lower().encode()
        if lname == b"host":  # Kong ignores `host` here: hosts are matched by `hosts`
            continue
        pattern = None
        if len(values) == 1 and values[0].startswith("~*"):
            pattern = re.compile(values[0][2:].encode(), re.IGNORECASE)
        rules.append((lname, frozenset(v.lower().encode() for v in values), pattern))
    return tuple(rules)


def _sort_key(route: Route, order: int, path: str | None) -> tuple[int, ...]:
    """Kong's precedence as an ascending sort key (see the module docstring)."""
    hosts = route.hosts or []
    wildcard = [h for h in hosts if "*" in h]
    headers = _header_rules(route)
    category = ((_HOST if hosts else 0) | (_HEADER if headers else 0) | (_URI if path else 0)
                | (_METHOD if route.methods else 0) | (_SNI if route.snis else 0))
    weight = bin(category).count("1")
    is_regex = path is not None and path.startswith("~")
    sub = ((_HAS_REGEX_URI if is_regex else 0) | (_PLAIN_HOSTS_ONLY if hosts and not wildcard else 0)
           | (_HAS_WILDCARD_HOST_PORT if any(split_host(h.encode())[1] for h in wildcard) else 0))
    uri_length = len(path) if path and not is_regex else 0
    return (-weight, -category, -sub, -len(headers), -(route.regex_priority if is_regex else 0),
            -uri_length, route.created_at or 0, order)


class Router(Generic[T]):
    """Compiled routes; `match()` returns the most specific route for a request, or None."""

    def __init__(self, routes: Iterable[tuple[Route, T]]) -> None:
        entries: list[tuple[tuple[int, ...], Route, T, str | None]] = []
        for order, (route, target) in enumerate(routes):
            paths: list[str | None] = [*route.paths] if route.paths else [None]
            for path in paths:
                entries.append((_sort_key(route, order, path), route, target, path))
        entries.sort(key=lambda entry: entry[0])

        self._plain: dict[bytes, _Bucket[T]] = {}
        self._wildcards: dict[str, tuple[re.Pattern[bytes], _Bucket[T]]] = {}
        self._any: _Bucket[T] = _Bucket()
        self.header_names: frozenset[bytes] = frozenset()
        names: set[bytes] = set()
        for rank, (_, route, target, path) in enumerate(entries):  # (path: str | None)
            headers = _header_rules(route)
            names.update(name for name, _, _ in headers)
            matcher = Matcher(target, rank, frozenset(m.encode() for m in route.methods) if route.methods else None,
                              headers, NameTable((name, True) for name in route.snis) if route.snis else None)
            if path is not None and path.startswith("~"):
                matcher.regex = re.compile(path[1:].encode() + rb"(?P<uri_postfix>.*)", re.DOTALL)
            elif path is not None:
                matcher.prefix = path.encode()
            for bucket in self._buckets_for(route):
                bucket.add(matcher)
        self.header_names = frozenset(names)
        for bucket in self._all_buckets():
            bucket.seal()
        self._wildcard_list = tuple(self._wildcards.values())
        self._hosted = bool(self._plain or self._wildcard_list)
        self._any_only = (self._any,)
        self.size = len(entries)
        self._memo: dict[tuple[bytes, bytes | None, bytes, str | None],
                         tuple[Matcher[T], re.Match[bytes] | None] | None] = {}

    def _buckets_for(self, route: Route) -> list[_Bucket[T]]:
        if not route.hosts:
            return [self._any]
        buckets = []
        for host in dict.fromkeys(h.lower() for h in route.hosts):
            if "*" in host:
                if host not in self._wildcards:
                    self._wildcards[host] = (_wildcard_regex(host), _Bucket())
                buckets.append(self._wildcards[host][1])
            else:
                buckets.append(self._plain.setdefault(host.encode(), _Bucket()))
        return buckets

    def _all_buckets(self) -> list[_Bucket[T]]:
        return [*self._plain.values(), *(bucket for _, bucket in self._wildcards.values()), self._any]

    def match(self, method: bytes, host: bytes | None, path: bytes, headers: Headers | None = None,
              sni: str | None = None, default_port: bytes = b"80",
              ) -> tuple[Matcher[T], re.Match[bytes] | None] | None:
        """The most specific route for a request, with the regex match when a regex path won.

        `host` is the request's Host (lower-case, port optional); `path` is normalized, without query;
        `sni` the server name its TLS client indicated (None without TLS or without one). Clients repeat
        their requests: without header rules the answer is remembered per (method, host, path, sni), in
        a table cleared when it reaches MEMO_SIZE (so a flood of new paths costs a lookup).
        """
        if self.header_names:
            return self._match(method, host, path, headers, sni, default_port)
        key = (method, host, path, sni)
        memo = self._memo
        found = memo.get(key)
        if found is None and key not in memo:
            found = self._match(method, host, path, None, sni, default_port)
            if len(memo) >= MEMO_SIZE:
                memo.clear()
            memo[key] = found
        return found

    def _match(self, method: bytes, host: bytes | None, path: bytes, headers: Headers | None, sni: str | None,
               default_port: bytes) -> tuple[Matcher[T], re.Match[bytes] | None] | None:
        buckets: Sequence[_Bucket[T]]
        if host and self._hosted:
            buckets = [*self._host_buckets(host, default_port), self._any]
        else:
            buckets = self._any_only
        best: Matcher[T] | None = None
        best_rank = 1 << 62
        found: re.Match[bytes] | None = None
        for bucket in buckets:
            for matcher in bucket.regexes:
                if matcher.rank >= best_rank:
                    break
                if matcher.unconditional or matcher.accepts(method, headers, sni):
                    regex_match = matcher.regex.match(path) if matcher.regex is not None else None
                    if regex_match is not None:
                        best, best_rank, found = matcher, matcher.rank, regex_match
                        break
            lengths = bucket.lengths
            if lengths:
                prefixes = bucket.prefixes
                size = len(path)
                for length in lengths:
                    if length > size:
                        continue
                    candidates = prefixes.get(path[:length])
                    if candidates is None or candidates[0].rank >= best_rank:
                        continue
                    for matcher in candidates:
                        if matcher.rank >= best_rank:
                            break
                        if matcher.unconditional or matcher.accepts(method, headers, sni):
                            best, best_rank, found = matcher, matcher.rank, None
                            break
            for matcher in bucket.pathless:
                if matcher.rank >= best_rank:
                    break
                if matcher.unconditional or matcher.accepts(method, headers, sni):
                    best, best_rank, found = matcher, matcher.rank, None
                    break
        return None if best is None else (best, found)

    def _host_buckets(self, host: bytes, default_port: bytes) -> list[_Bucket[T]]:
        buckets: list[_Bucket[T]] = []
        name, port = split_host(host)
        if self._plain:
            bucket = self._plain.get(name)
            if bucket is not None:
                buckets.append(bucket)
            bucket = self._plain.get(name + b":" + (port or default_port))
            if bucket is not None and bucket not in buckets:
                buckets.append(bucket)
        if self._wildcard_list:
            with_port = host if port is not None else host + b":" + default_port
            for pattern, bucket in self._wildcard_list:
                if pattern.fullmatch(with_port):
                    buckets.append(bucket)
        return buckets
