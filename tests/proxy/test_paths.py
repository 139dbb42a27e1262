"""Path normalization (before routing) and Kong's upstream path joining, table by table."""

import pytest

from oidcgate.proxy.paths import InvalidPath, join_v0, join_v1, normalize


@pytest.mark.parametrize(("raw", "expected"), [
    (b"/", b"/"),
    (b"/a/b", b"/a/b"),
    (b"/a/./b", b"/a/b"),
    (b"/a/../b", b"/b"),
    (b"/../../etc/passwd", b"/etc/passwd"),
    (b"/a/b/..", b"/a/"),
    (b"/a/.", b"/a/"),
    (b"/a//b///c", b"/a/b/c"),
    (b"/%61%2Fb", b"/a%2Fb"),  # unreserved decoded, reserved kept (upper-cased)
    (b"/api/%2e%2e/admin", b"/admin"),  # an encoded dot segment cannot dodge a route
    (b"/%7euser", b"/~user"),
    (b"/x%2fy", b"/x%2Fy"),
])
def test_normalize(raw: bytes, expected: bytes) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", [b"/%", b"/%zz", b"/a%2"])
def test_normalize_refuses_broken_escapes(raw: bytes) -> None:
    with pytest.raises(InvalidPath):
        normalize(raw)


# Kong's documented table (path_handling v0 and v1): service path, route path, request, strip_path.
KONG_TABLE = [
    # service, route, request, strip, v0 result, v1 result
    (b"/s", b"/fv0", b"/fv0req", False, b"/s/fv0req", b"/sfv0req"),
    (b"/s", b"/fv0", b"/fv0", False, b"/s/fv0", b"/sfv0"),
    (b"/s", b"/tv0", b"/tv0req", True, b"/s/req", b"/sreq"),
    (b"/s", b"/tv0", b"/tv0", True, b"/s", b"/s"),
    (b"/s", b"/fv0/", b"/fv0/req", False, b"/s/fv0/req", b"/sfv0/req"),
    (b"/s", b"/fv0/", b"/fv0/", False, b"/s/fv0/", b"/sfv0/"),
    (b"/s", b"/tv0/", b"/tv0/req", True, b"/s/req", b"/sreq"),
    (b"/s", b"/tv0/", b"/tv0/", True, b"/s/", b"/s"),
    (b"/", b"/", b"/anything/x", True, b"/anything/x", b"/anything/x"),
    (b"/", b"/api", b"/api/users", True, b"/users", b"/users"),
    (b"/", b"/api", b"/api", True, b"/", b"/"),
    (b"/base/", b"/api", b"/api/users", True, b"/base/users", b"/base/users"),
    (b"/base/", b"/api", b"/api/users", False, b"/base/api/users", b"/base/api/users"),
]


@pytest.mark.parametrize(("base", "prefix", "path", "strip", "v0", "v1"), KONG_TABLE)
def test_join_like_kong(base: bytes, prefix: bytes, path: bytes, strip: bool, v0: bytes, v1: bytes) -> None:
    postfix = path[len(prefix):]  # Kong's uri_postfix: what follows the matched prefix
    assert join_v0(base, strip, postfix, path) == v0
    assert join_v1(base, strip, postfix, path) == v1
