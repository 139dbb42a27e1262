"""Consumer groups, their memberships and ACL credentials through the Admin API, on both databases:
Kong's paths, JSON and form bodies, error shapes, cascades, and plugins scoped to a consumer group."""

from __future__ import annotations

import httpx

from tests.controlplane.conftest import created


async def test_consumer_group_membership_both_ways(admin: httpx.AsyncClient) -> None:
    gold = await created(admin, "/consumer_groups", name="gold")
    alice = await created(admin, "/consumers", username="alice")
    await created(admin, "/consumers", username="bob")
    added = await admin.post("/consumer_groups/gold/consumers", json={"consumer": ["alice", "bob"]})
    assert added.status_code == 201, added.text
    assert added.json()["consumer_group"]["id"] == gold["id"]
    assert [c["username"] for c in added.json()["consumers"]] == ["alice", "bob"]
    members = (await admin.get("/consumer_groups/gold/consumers")).json()
    assert sorted(c["username"] for c in members["data"]) == ["alice", "bob"] and members["next"] is None

    silver = await admin.post("/consumers/alice/consumer_groups", data={"group": "silver"})  # a form body
    assert silver.status_code == 400 and silver.json()["name"] == "foreign key violation"  # no such group
    await created(admin, "/consumer_groups", name="silver")
    assert (await admin.post("/consumers/alice/consumer_groups", data={"group": "silver"})).status_code == 201
    groups = (await admin.get(f"/consumers/{alice['id']}/consumer_groups")).json()["data"]
    assert sorted(g["name"] for g in groups) == ["gold", "silver"]

    again = await admin.post("/consumer_groups/gold/consumers", json={"consumer": "alice"})
    assert again.status_code == 409 and again.json()["name"] == "unique constraint violation"
    missing = await admin.post("/consumer_groups/gold/consumers", json={})
    assert missing.status_code == 400
    assert missing.json()["fields"] == {"consumer": "required field missing"}
    assert (await admin.post("/consumer_groups/gold/consumers", json={"consumer": [1]})).status_code == 400
    assert (await admin.post("/consumer_groups/nope/consumers", json={"consumer": "alice"})).status_code == 404

    assert (await admin.delete("/consumer_groups/gold/consumers/alice")).status_code == 204
    assert (await admin.delete("/consumer_groups/gold/consumers/alice")).status_code == 404  # not a member
    assert (await admin.delete("/consumers/alice/consumer_groups/silver")).status_code == 204
    assert (await admin.get("/consumers/alice/consumer_groups")).json()["data"] == []
    assert (await admin.delete("/consumers/bob")).status_code == 204  # memberships go with the consumer
    assert (await admin.get("/consumer_groups/gold/consumers")).json()["data"] == []


async def test_acl_credentials_nested_and_top_level(admin: httpx.AsyncClient) -> None:
    alice = await created(admin, "/consumers", username="alice")
    acl = await created(admin, "/consumers/alice/acls", group="admins", tags=["team-a"])
    assert acl["consumer"] == {"id": alice["id"]} and acl["group"] == "admins"
    form = await admin.post("/consumers/alice/acls", data={"group": "ops"})
    assert form.status_code == 201, form.text
    assert sorted(a["group"] for a in (await admin.get("/consumers/alice/acls")).json()["data"]) == ["admins", "ops"]
    assert (await admin.get("/consumers/alice/acls/admins")).json()["id"] == acl["id"]
    assert len((await admin.get("/acls")).json()["data"]) == 2

    duplicate = await admin.post("/consumers/alice/acls", json={"group": "admins"})
    assert duplicate.status_code == 409
    assert duplicate.json()["fields"] == {"consumer": {"id": alice["id"]}, "group": "admins"}
    bad = await admin.post("/consumers/alice/acls", json={"group": "a,b"})
    assert bad.status_code == 400 and "group" in bad.json()["fields"]
    orphan = await admin.post("/acls", json={"group": "x", "consumer": {"username": "nobody"}})
    assert orphan.status_code == 400 and orphan.json()["name"] == "foreign key violation"
    assert (await admin.delete("/consumers/alice")).status_code == 204
    assert (await admin.get("/acls")).json()["data"] == []


async def test_plugins_scoped_to_a_consumer_group(admin: httpx.AsyncClient) -> None:
    gold = await created(admin, "/consumer_groups", name="gold")
    plugin = await created(admin, "/consumer_groups/gold/plugins", name="rate-limiting", config={"minute": 100})
    assert plugin["consumer_group"] == {"id": gold["id"]} and plugin["config"]["policy"] == "local"
    twice = await admin.post("/plugins", json={"name": "rate-limiting", "consumer_group": {"name": "gold"},
                                               "config": {"minute": 5}})
    assert twice.status_code == 409
    await created(admin, "/consumers", username="alice")
    both = await admin.post("/plugins", json={"name": "rate-limiting", "consumer": "alice",
                                              "consumer_group": "gold", "config": {"minute": 5}})
    assert both.status_code == 400 and "consumer group" in both.text
    assert (await admin.delete("/consumer_groups/gold")).status_code == 204
    assert (await admin.get(f"/plugins/{plugin['id']}")).status_code == 404  # cascaded
