"""Part 4 through real processes: `oidcgate idp`, `oidcgate echo` and two DB-less data planes with the same
kong.yml, counting in the machine's Redis.

Groups from a user's token let one user through the acl plugin and refuse another; a consumer group has a
rate limit of its own, also when the token names the group (`consumer_groups_claim`); a limit of N per minute
shared by two data planes is exactly N across both; spoofed consumer headers never reach the upstream; Kong's
`anonymous` consumer and a token's groups share one acl route; `claims_forbidden` keeps users' tokens off a
route for machines.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.idp.helpers import Idp, running_idp, user_access_token
from tests.support.processes import Proc, free_port, start
from tests.support.redis import DATABASE, keys_with, removing_keys_with

pytestmark = pytest.mark.e2e
SHARED_LIMIT = 10
SPOOFED = {"X-Consumer-Username": "admin", "X-Consumer-ID": str(uuid.uuid4()), "X-Authenticated-Groups": "admins",
           "X-Consumer-Groups": "admins", "X-Credential-Identifier": "admin", "X-Anonymous-Consumer": "false"}


@dataclass
class Stack:
    idp: Idp
    proxies: list[str]
    web: dict[str, Any]
    gold: dict[str, Any]  # an API client whose consumer is in the consumer group `gold`
    plain: dict[str, Any]  # one whose consumer is in no group
    shared_route: str  # the id of the route with the Redis limit (its counters' keys hold it)
    dps: list[Proc]


def kong_yml(echo: str, issuer: str, gold: str, plain: str, shared_route: str) -> dict[str, Any]:
    authenticate = {"name": "openid-connect", "config": {
        "issuer": issuer, "scopes": ["orders:read"], "authenticated_groups_claim": ["groups"], "consumer_claim": ["sub"],
        "consumer_by": ["username"], "consumer_optional": True}}
    or_anonymous = {"name": "openid-connect", "config": {
        "issuer": issuer, "authenticated_groups_claim": ["groups"], "anonymous": "guest"}}
    machines_only = {"name": "openid-connect", "config": {"issuer": issuer, "scopes": ["orders:read"],
                                                          "claims_forbidden": ["auth_time"]}}  # users' tokens have it
    token_groups = {"name": "openid-connect", "config": {
        "issuer": issuer, "consumer_groups_claim": ["groups"], "consumer_groups_optional": True}}
    return {"_format_version": "3.0",
            "services": [{"name": "echo", "url": f"{echo}/anything", "routes": [
                {"name": "staff", "paths": ["/staff"], "plugins": [authenticate, {"name": "acl", "config": {
                    "allow": ["staff"]}}]},
                {"name": "tiered", "paths": ["/tiered"], "plugins": [authenticate, {
                    "name": "rate-limiting", "config": {"minute": 5, "limit_by": "consumer"}}]},
                {"name": "open", "paths": ["/open"], "plugins": [or_anonymous, {"name": "acl", "config": {
                    "allow": ["staff", "public"]}}]},
                {"name": "machines", "paths": ["/machines"], "plugins": [machines_only]},
                {"name": "grouped", "paths": ["/grouped"], "plugins": [token_groups, {
                    "name": "rate-limiting", "config": {"minute": 5, "limit_by": "ip"}}]},
                {"name": "shared", "id": shared_route, "paths": ["/shared"], "plugins": [{
                    "name": "rate-limiting", "config": {"minute": SHARED_LIMIT, "limit_by": "ip",
                                                        "policy": "redis", "redis": {"database": DATABASE},
                                                        "fault_tolerant": False}}]},
            ]}],
            "consumers": [{"username": gold, "groups": [{"name": "gold"}]}, {"username": plain},
                          {"username": "guest", "acls": [{"group": "public"}]}],
            "consumer_groups": [{"name": "gold", "plugins": [{"name": "rate-limiting", "config": {
                "minute": 2, "limit_by": "consumer"}}]},
                                {"name": "staff", "plugins": [{"name": "rate-limiting", "config": {
                                    "minute": 2, "limit_by": "consumer-group"}}]}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work: Path = tmp_path_factory.mktemp("access-control")
    echo_port = free_port()
    with running_idp(work) as idp, removing_keys_with(str(uuid.uuid4())) as shared_route:
        idp.create_user("alice", groups=["staff"])
        idp.create_user("bob", groups=["guests"])
        web = idp.web_client()
        gold, plain = idp.cc_client(), idp.cc_client()
        echo = start(["echo", "--listen", f"127.0.0.1:{echo_port}"], work / "echo.log", [echo_port])
        config = work / "kong.yml"
        config.write_text(yaml.safe_dump(kong_yml(f"http://127.0.0.1:{echo_port}", idp.issuer(), gold["client_id"],
                                                  plain["client_id"], shared_route)))
        dps, proxies = [], []
        try:
            for n in range(2):
                port, status = free_port(), free_port()
                dps.append(start(["dp", "--config", str(config), "--proxy-listen", f"127.0.0.1:{port}",
                                  "--status-listen", f"127.0.0.1:{status}", "--workers", "1",
                                  "--prefix", str(work / f"dp{n}")], work / f"dp{n}.log", [port, status]))
                proxies.append(f"http://127.0.0.1:{port}")
            yield Stack(idp, proxies, web, gold, plain, shared_route, dps)
        finally:
            for proc in dps:
                proc.stop()
            echo.stop()


def test_groups_from_a_users_token_decide_the_acl(stack: Stack) -> None:
    alice = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'alice')}"}
    bob = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'bob')}"}
    for proxy in stack.proxies:
        allowed = httpx.get(f"{proxy}/staff", headers={**alice, **SPOOFED}, timeout=30)
        assert allowed.status_code == 200, allowed.text
        echoed = {name.lower(): value for name, value in allowed.json()["headers"].items()}
        assert echoed["x-authenticated-groups"] == "staff"  # the token's groups, not the client's
        assert echoed["x-credential-identifier"] != "admin"  # the user's `sub`
        assert not {"x-consumer-username", "x-consumer-id", "x-consumer-groups"} & set(echoed)  # no consumer
        refused = httpx.get(f"{proxy}/staff", headers={**bob, **SPOOFED}, timeout=30)
        assert (refused.status_code, refused.json()) == (403, {"message": "You cannot consume this service"})
        assert httpx.get(f"{proxy}/staff", timeout=30).status_code == 401


def echoed(answer: httpx.Response) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.json()["headers"].items()}


def test_anonymous_and_a_tokens_groups_share_an_acl_route(stack: Stack) -> None:
    alice = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'alice')}"}
    bob = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'bob')}"}
    proxy = stack.proxies[1]
    staff = httpx.get(f"{proxy}/open", headers={**alice, **SPOOFED}, timeout=30)
    assert staff.status_code == 200 and echoed(staff)["x-authenticated-groups"] == "staff"
    assert "x-anonymous-consumer" not in echoed(staff)
    for headers in (SPOOFED, {**SPOOFED, "Authorization": "Bearer not-a-token"}):  # none, or one that fails
        guest = httpx.get(f"{proxy}/open", headers=headers, timeout=30)
        assert guest.status_code == 200, guest.text
        seen = echoed(guest)
        assert (seen["x-anonymous-consumer"], seen["x-consumer-username"], seen["x-consumer-groups"]) == (
            "true", "guest", "public")  # the anonymous consumer's own ACL groups
        assert "x-authenticated-groups" not in seen and "x-credential-identifier" not in seen
    refused = httpx.get(f"{proxy}/open", headers=bob, timeout=30)  # authenticated, but in no allowed group
    assert (refused.status_code, refused.json()) == (403, {"message": "You cannot consume this service"})


def test_claims_forbidden_keeps_users_tokens_off_a_route_for_machines(stack: Stack) -> None:
    proxy = stack.proxies[0]
    machine = httpx.get(f"{proxy}/machines", auth=(stack.plain["client_id"], stack.plain["client_secret"]), timeout=30)
    assert machine.status_code == 200, machine.text
    user = httpx.get(f"{proxy}/machines", timeout=30,
                     headers={"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'alice')}"})
    assert (user.status_code, user.json()) == (401, {"message": "Unauthorized"})
    assert 'error_description="the token has the forbidden claim auth_time"' in user.headers["WWW-Authenticate"]


def test_a_consumer_group_named_by_the_token_has_its_own_rate_limit(stack: Stack) -> None:
    proxy = stack.proxies[0]
    alice = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'alice')}"}
    bob = {"Authorization": f"Bearer {user_access_token(stack.idp, stack.web, 'bob')}"}

    def statuses(headers: dict[str, str], count: int) -> list[int]:
        return [httpx.get(f"{proxy}/grouped", headers=headers, timeout=30).status_code for _ in range(count)]

    staff, guests = statuses(alice, 3), statuses(bob, 6)
    if staff.count(200) > 2 or guests.count(200) > 5:  # a minute ended in between: once more, in a fresh window
        staff, guests = statuses(alice, 3), statuses(bob, 6)
    assert staff == [200, 200, 429]  # the group `staff` her token names: 2 a minute, no consumer needed
    assert guests == [200] * 5 + [429]  # no consumer group of that name: the route's 5 a minute
    refused = httpx.get(f"{proxy}/grouped", headers=alice, timeout=30)
    assert refused.headers["X-RateLimit-Limit-Minute"] == "2"


def test_a_consumer_group_has_its_own_rate_limit(stack: Stack) -> None:
    proxy = stack.proxies[0]

    def statuses(client: dict[str, Any], count: int) -> list[int]:
        auth = (client["client_id"], client["client_secret"])
        return [httpx.get(f"{proxy}/tiered", auth=auth, timeout=30).status_code for _ in range(count)]

    gold = statuses(stack.gold, 4)
    plain = statuses(stack.plain, 7)
    if gold.count(200) > 2 or plain.count(200) > 5:  # a minute ended in between: once more, in a fresh window
        gold, plain = statuses(stack.gold, 4), statuses(stack.plain, 7)
    assert gold == [200, 200, 429, 429]  # gold's limit: 2 a minute
    assert plain == [200] * 5 + [429] * 2  # the route's: 5 a minute
    refused = httpx.get(f"{proxy}/tiered", auth=(stack.gold["client_id"], stack.gold["client_secret"]), timeout=30)
    assert refused.headers["X-RateLimit-Limit-Minute"] == "2" and int(refused.headers["Retry-After"]) >= 1
    assert refused.json() == {"message": "API rate limit exceeded"}


def test_a_limit_shared_by_two_data_planes_is_exact(stack: Stack) -> None:
    for _ in range(3):  # bounded: a minute that ends during the run is tried again in the next window
        minute = int(time.time()) // 60
        answers = [httpx.get(f"{stack.proxies[i % 2]}/shared", timeout=30) for i in range(2 * SHARED_LIMIT + 6)]
        if int(time.time()) // 60 == minute:
            break
    ok = [a for a in answers if a.status_code == 200]
    assert len(ok) == SHARED_LIMIT and {a.url.port for a in ok} == {int(p.rsplit(":", 1)[1]) for p in stack.proxies}
    assert all(a.status_code == 429 for a in answers if a.status_code != 200)
    assert sorted(int(a.headers["X-RateLimit-Remaining-Minute"]) for a in ok) == list(range(SHARED_LIMIT))
    assert all(key.startswith(b"oidcgate:rate-limiting:") for key in keys_with(stack.shared_route))
