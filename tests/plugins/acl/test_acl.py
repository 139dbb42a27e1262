"""The acl plugin called as the data plane calls it: groups from ACL credentials, consumer groups and
authenticated groups; Kong's 401/403 answers and upstream headers; its schema's errors."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from oidcgate.config.entities import ACL, Consumer, ConsumerGroup, ConsumerGroupConsumer, Route
from oidcgate.plugins.acl.handler import ACLHandler
from oidcgate.plugins.pdk import ConsumerIndex, Context, HeaderView, Identity, PluginEnv, PluginExit, Request

ALICE = Consumer(id="a1a1a1a1-0000-4000-8000-000000000001", username="alice")
BOB = Consumer(id="b2b2b2b2-0000-4000-8000-000000000002", username="bob")
GOLD = ConsumerGroup(id="c3c3c3c3-0000-4000-8000-000000000003", name="gold")
GUEST = Consumer(id="e5e5e5e5-0000-4000-8000-000000000005", username="guest")  # an `anonymous` consumer
CONSUMERS = ConsumerIndex([ALICE, BOB, GUEST], [GOLD],
                          [ConsumerGroupConsumer(consumer=BOB.id, consumer_group=GOLD.id)],
                          [ACL(consumer=ALICE.id, group="admins"), ACL(consumer=ALICE.id, group="ops"),
                           ACL(consumer=GUEST.id, group="public")])


async def call(config: dict[str, Any], consumer: Consumer | None = None, credential: dict[str, Any] | None = None,
               groups: tuple[str, ...] | None = None,
               consumer_groups: tuple[ConsumerGroup, ...] | None = None) -> tuple[int, Any, HeaderView]:
    """(status, body, what goes upstream)."""
    handler = ACLHandler(ACLHandler.validate_config(config), PluginEnv())
    request = Request("GET", "/", "", [], scheme="http", host="gw", port=8000, client_ip="127.0.0.1")
    ctx = Context(request, Route(paths=["/"]), None, CONSUMERS)
    if consumer is not None or credential is not None or groups is not None:
        ctx.authenticate(consumer, credential, Identity(authenticated_groups=groups))
    ctx.set_consumer_groups(consumer_groups)
    try:
        await handler.access(ctx)
    except PluginExit as exit_:
        return exit_.status, exit_.body, ctx.service_request.headers
    return 200, None, ctx.service_request.headers


FORBIDDEN = {"message": "You cannot consume this service"}


async def test_a_consumers_acl_groups_allow_and_go_upstream() -> None:
    status, _, headers = await call({"allow": ["ops"]}, ALICE, {"id": "k"})
    assert status == 200 and headers.get("X-Consumer-Groups") == "admins, ops"
    assert (await call({"allow": ["ops"]}, BOB, {"id": "k"}))[:2] == (403, FORBIDDEN)


async def test_deny_and_hide_groups_header() -> None:
    assert (await call({"deny": ["admins"]}, ALICE, {"id": "k"}))[:2] == (403, FORBIDDEN)
    status, _, headers = await call({"deny": ["banned"], "hide_groups_header": True}, ALICE, {"id": "k"})
    assert status == 200 and "X-Consumer-Groups" not in headers
    assert (await call({"deny": ["banned"]}, BOB, {"id": "k"}))[0] == 200  # no groups: nothing to deny


async def test_consumer_groups_count_only_when_included() -> None:
    assert (await call({"allow": ["gold"]}, BOB, {"id": "k"}))[:2] == (403, FORBIDDEN)
    status, _, headers = await call({"allow": ["gold"], "include_consumer_groups": True}, BOB, {"id": "k"})
    assert status == 200 and headers.get("X-Consumer-Groups") == "gold"


async def test_authenticated_groups_of_a_token() -> None:
    status, _, headers = await call({"allow": ["staff"]}, None, {"id": "sub-1"}, ("staff", "x"))
    assert status == 200 and headers.get("X-Authenticated-Groups") == "staff, x"
    assert (await call({"allow": ["staff"]}, None, {"id": "sub-2"}, ("guests",)))[:2] == (403, FORBIDDEN)
    assert (await call({"allow": ["staff"]}, None, {"id": "sub-3"}, None))[:2] == (403, FORBIDDEN)  # no claim
    status, _, headers = await call({"allow": ["staff"], "always_use_authenticated_groups": True}, ALICE,
                                    {"id": "k"}, ("staff",))
    assert status == 200 and headers.get("X-Authenticated-Groups") == "staff"


async def test_nobody_to_check_is_401() -> None:
    assert (await call({"allow": ["ops"]}))[:2] == (401, {"message": "Unauthorized"})
    anonymous = Consumer(id="d4d4d4d4-0000-4000-8000-000000000004", username="anonymous")
    assert (await call({"allow": ["ops"]}, anonymous))[:2] == (401, {"message": "Unauthorized"})


async def test_kongs_anonymous_consumer_with_and_without_authenticated_groups() -> None:
    """A consumer without a credential (openid-connect's `anonymous`): the authenticated groups, when an
    authentication plugin found some, else the anonymous consumer's own ACL groups."""
    status, _, headers = await call({"allow": ["public"]}, GUEST)
    assert status == 200 and headers.get("X-Consumer-Groups") == "public"
    assert (await call({"allow": ["staff"]}, GUEST))[:2] == (403, FORBIDDEN)
    status, _, headers = await call({"allow": ["staff"]}, GUEST, None, ("staff",))
    assert status == 200 and headers.get("X-Authenticated-Groups") == "staff" and "X-Consumer-Groups" not in headers
    assert (await call({"allow": ["public"]}, GUEST, None, ("staff",)))[:2] == (403, FORBIDDEN)  # they replace its own
    # A consumer with a credential keeps its ACL groups unless told otherwise; told, it falls back to them
    # when the token had no groups claim (Kong).
    assert (await call({"allow": ["staff"]}, ALICE, {"id": "k"}, ("staff",)))[:2] == (403, FORBIDDEN)
    status, _, headers = await call({"allow": ["ops"], "always_use_authenticated_groups": True}, ALICE, {"id": "k"},
                                    None)
    assert status == 200 and headers.get("X-Consumer-Groups") == "admins, ops"


async def test_included_consumer_groups_may_come_from_a_token() -> None:
    """openid-connect's `consumer_groups_claim` sets the request's consumer groups, with or without a consumer."""
    status, _, headers = await call({"allow": ["gold"], "include_consumer_groups": True}, None, {"id": "sub"},
                                    None, (GOLD,))
    assert status == 200 and headers.get("X-Authenticated-Groups") == "gold"
    assert (await call({"allow": ["gold"]}, None, {"id": "sub"}, None, (GOLD,)))[:2] == (403, FORBIDDEN)
    status, _, headers = await call({"allow": ["gold"], "include_consumer_groups": True}, ALICE, {"id": "k"},
                                    None, (GOLD,))
    assert status == 200 and headers.get("X-Consumer-Groups") == "admins, ops, gold"


@pytest.mark.parametrize(("config", "message"), [
    ({}, "exactly one of these fields must be non-empty: 'allow', 'deny'"),
    ({"allow": ["a"], "deny": ["b"]}, "exactly one of these fields must be non-empty"),
    ({"allow": [""]}, "at least 1 character"),
    ({"allow": ["a"], "whitelist": ["b"]}, "Extra inputs are not permitted"),
])
def test_schema_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ACLHandler.validate_config(config)
