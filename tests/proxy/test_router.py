"""Kong's route matching rules, on the compiled router (no sockets)."""

from __future__ import annotations

from typing import Any

import pytest

from oidcgate.config.entities import Route
from oidcgate.proxy.router import Router


def router(*specs: dict[str, Any]) -> Router[str]:
    """Routes named r0, r1, ... in document order (the order decides ties, as creation time in Kong)."""
    return Router((Route.model_validate({"name": f"r{i}", **spec}), f"r{i}") for i, spec in enumerate(specs))


def hit(r: Router[str], path: str, host: str | None = None, method: str = "GET",
        headers: dict[str, list[str]] | None = None, sni: str | None = None) -> str | None:
    found = r.match(method.encode(), host.encode() if host else None, path.encode(),
                    {k.encode(): [v.encode() for v in vs] for k, vs in (headers or {}).items()}, sni)
    return found[0].target if found else None


def test_longest_prefix_wins_and_prefixes_are_plain_string_prefixes() -> None:
    r = router({"paths": ["/a"]}, {"paths": ["/a/b"]}, {"paths": ["/"]})
    assert hit(r, "/a/b/c") == "r1"
    assert hit(r, "/a/x") == "r0"
    assert hit(r, "/ab") == "r0"  # Kong: "/a" is a prefix of "/ab"
    assert hit(r, "/zzz") == "r2"


def test_no_route() -> None:
    r = router({"paths": ["/a"]}, {"hosts": ["example.com"]})
    assert hit(r, "/b") is None
    assert hit(r, "/b", host="other.com") is None


def test_regex_paths_before_prefixes_and_anchored() -> None:
    r = router({"paths": ["/users/admin"]}, {"paths": [r"~/users/\d+$"]})
    assert hit(r, "/users/123") == "r1"
    assert hit(r, "/users/admin") == "r0"
    assert hit(r, "/x/users/123") is None  # a regex path matches from the start of the path


def test_regex_priority_then_creation_order() -> None:
    r = router({"paths": [r"~/v\d+/"]}, {"paths": [r"~/v1/"], "regex_priority": 10}, {"paths": [r"~/v[0-9]/"]})
    assert hit(r, "/v1/x") == "r1"
    assert hit(r, "/v2/x") == "r0"  # r0 and r2 tie: the first one


def test_regex_captures_and_postfix() -> None:
    r = router({"paths": [r"~/users/(?P<id>\d+)"]})
    found = r.match(b"GET", None, b"/users/42/books")
    assert found is not None
    matcher, regex_match = found
    assert matcher.prefix_of(b"/users/42/books", regex_match) == b"/users/42"
    assert matcher.postfix_of(b"/users/42/books", regex_match) == b"/books"
    assert matcher.captures(regex_match) == {"id": "42"}


def test_hosts_are_more_specific_than_paths() -> None:
    r = router({"paths": ["/api/long/path"]}, {"hosts": ["api.example.com"], "paths": ["/"]})
    assert hit(r, "/api/long/path", host="api.example.com") == "r1"  # two matched fields beat one
    assert hit(r, "/api/long/path", host="other.example.com") == "r0"


def test_host_ports_and_case() -> None:
    r = router({"hosts": ["a.example.com"]}, {"hosts": ["b.example.com:8080"]}, {"hosts": ["c.example.com:80"]})
    assert hit(r, "/", host="a.example.com:8000") == "r0"  # a host without port matches any port
    assert hit(r, "/", host="A.Example.COM".lower()) == "r0"
    assert hit(r, "/", host="b.example.com:8080") == "r1"
    assert hit(r, "/", host="b.example.com") is None  # port 80 by default
    assert hit(r, "/", host="c.example.com") == "r2"


def test_wildcard_hosts() -> None:
    r = router({"hosts": ["*.example.com"]}, {"hosts": ["example.*"]}, {"hosts": ["api.example.com"]},
               {"hosts": ["*.example.org:9000"]})
    assert hit(r, "/", host="www.example.com") == "r0"
    assert hit(r, "/", host="a.b.example.com:8000") == "r0"
    assert hit(r, "/", host="example.com") == "r1"  # not "*.example.com", but "example.*"
    assert hit(r, "/", host="example.org") == "r1"
    assert hit(r, "/", host="www.example.net") is None
    assert hit(r, "/", host="myexample.org") is None  # wildcards match whole labels
    assert hit(r, "/", host="api.example.com") == "r2"  # plain beats wildcard
    assert hit(r, "/", host="x.example.org:9000") == "r3"
    assert hit(r, "/", host="x.example.org") is None


def test_methods() -> None:
    r = router({"paths": ["/"], "methods": ["GET", "HEAD"]}, {"paths": ["/"], "methods": ["POST"]})
    assert hit(r, "/x", method="GET") == "r0"
    assert hit(r, "/x", method="POST") == "r1"
    assert hit(r, "/x", method="DELETE") is None


def test_more_matched_fields_win_over_a_longer_path() -> None:
    # Kong's traditional precedence: the number of fields a route sets comes first.
    r = router({"paths": ["/api/v1"]}, {"paths": ["/"], "methods": ["GET"]})
    assert hit(r, "/api/v1/x", method="GET") == "r1"
    assert hit(r, "/api/v1/x", method="POST") == "r0"


def test_headers() -> None:
    r = router({"paths": ["/"], "headers": {"X-Version": ["v2", "V3"]}},
               {"paths": ["/"], "headers": {"x-tenant": ["~*^acme-\\d+$"]}},
               {"paths": ["/"]})
    assert hit(r, "/", headers={"x-version": ["V2"]}) == "r0"  # values compare case-insensitively
    assert hit(r, "/", headers={"x-version": ["v1", "v3"]}) == "r0"  # any received value may match
    assert hit(r, "/", headers={"x-version": ["v1"]}) == "r2"
    assert hit(r, "/", headers={"x-tenant": ["ACME-42"]}) == "r1"
    assert hit(r, "/", headers={"x-tenant": ["acme-x"]}) == "r2"
    assert hit(r, "/") == "r2"


def test_every_path_of_a_route_competes_on_its_own() -> None:
    r = router({"paths": ["/a", "/b/c/d"]}, {"paths": ["/b/c"]})
    assert hit(r, "/b/c/d/e") == "r0"
    assert hit(r, "/b/c/x") == "r1"
    assert hit(r, "/a/x") == "r0"


def test_ten_thousand_prefix_routes_probe_few_lengths() -> None:
    r = router(*({"paths": [f"/r{i}"]} for i in range(10_000)), {"paths": ["/"]})
    assert hit(r, "/r9999/x") == "r9999"
    assert hit(r, "/r12/x") == "r12"
    assert hit(r, "/other") == "r10000"
    # The lookup cost: one dict probe per distinct prefix length, not one per route.
    assert len(r._any_only[0].lengths) <= 6


@pytest.mark.parametrize("host", [None, "example.com"])
def test_pathless_routes(host: str | None) -> None:
    r = router({"methods": ["OPTIONS"]}, {"paths": ["/x"], "methods": ["GET"]})
    assert hit(r, "/x", host=host, method="OPTIONS") == "r0"
    assert hit(r, "/x", host=host) == "r1"
    assert hit(r, "/y", host=host) is None


def test_paths_outrank_methods_when_each_route_sets_one_field() -> None:
    # Kong's category order for one matched field: hosts > headers > paths > methods.
    r = router({"methods": ["OPTIONS"]}, {"paths": ["/"]})
    assert hit(r, "/x", method="OPTIONS") == "r1"
    assert hit(r, "/x") == "r1"


def test_snis_match_the_indicated_server_name() -> None:
    https = {"protocols": ["https"]}
    r = router({"paths": ["/api"], "snis": ["a.test"], **https}, {"paths": ["/api"], "snis": ["*.b.test"], **https},
               {"paths": ["/api"]}, {"snis": ["c.*"], **https})
    assert hit(r, "/api", sni="a.test") == "r0"
    assert hit(r, "/api", sni="x.b.test") == "r1"
    assert hit(r, "/api", sni="x.y.b.test") == "r2"  # (one label per wildcard)
    assert hit(r, "/api", sni=None) == "r2"
    assert hit(r, "/anything", sni="c.example") == "r3"
    assert hit(r, "/anything", sni="a.test") is None
    # The answer is remembered per server name too: the same request under another name is routed anew.
    assert [hit(r, "/api", sni=name) for name in ("a.test", "x.b.test", None, "a.test")] == ["r0", "r1", "r2", "r0"]


def test_an_sni_rule_counts_as_a_matched_field() -> None:
    """Kong's category bits: more matched fields win (an SNI is one), then the higher category bits
    (a path ranks above an SNI)."""
    r = router({"hosts": ["api.test"], "paths": ["/api/v1"]},
               {"hosts": ["api.test"], "paths": ["/api"], "snis": ["api.test"], "protocols": ["https"]},
               {"hosts": ["api.test"], "snis": ["api.test"], "protocols": ["https"]})
    assert hit(r, "/api/v1", host="api.test", sni="api.test") == "r1"
    assert hit(r, "/api/v1", host="api.test", sni="other.test") == "r0"
    assert hit(r, "/other", host="api.test", sni="api.test") == "r2"
