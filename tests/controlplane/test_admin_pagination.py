"""Pagination (`size`, opaque `offset`, `next`) and tag filters, as in Kong."""

from __future__ import annotations

import httpx
import pytest

from tests.controlplane.conftest import created


async def test_pages_walk_every_entity_once(admin: httpx.AsyncClient) -> None:
    for i in range(7):
        await created(admin, "/consumers", username=f"user{i}")
    seen: list[str] = []
    path: str | None = "/consumers?size=3"
    pages = 0
    while path is not None and pages < 10:
        body = (await admin.get(path)).json()
        seen += [c["username"] for c in body["data"]]
        assert len(body["data"]) <= 3
        assert ("offset" in body) == (body["next"] is not None)
        path = body["next"]
        pages += 1
    assert pages == 3 and sorted(seen) == [f"user{i}" for i in range(7)] and len(set(seen)) == 7


async def test_next_keeps_filters(admin: httpx.AsyncClient) -> None:
    for i in range(3):
        await created(admin, "/services", name=f"s{i}", host="a.internal", tags=["blue"])
    first = (await admin.get("/services", params={"size": 1, "tags": "blue"})).json()
    assert "tags=blue" in first["next"] and "size=1" in first["next"]
    second = (await admin.get("/services", params={"size": 1, "tags": "blue", "offset": first["offset"]})).json()
    assert second["data"][0]["id"] > first["data"][0]["id"]


@pytest.mark.parametrize(("query", "code"), [
    ({"size": "0"}, 9), ({"size": "1001"}, 9), ({"size": "ten"}, 9),
    ({"offset": "%%%"}, 7), ({"offset": "AAAA"}, 7),
    ({"tags": "a,b/c"}, 11), ({"tags": "a,,b"}, 11), ({"tags": "a,b,c,d,e,f"}, 11),
])
async def test_bad_paging_options(admin: httpx.AsyncClient, query: dict[str, str], code: int) -> None:
    response = await admin.get("/services", params=query)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code


async def test_tag_filters_and_or(admin: httpx.AsyncClient) -> None:
    await created(admin, "/services", name="both", host="a.internal", tags=["team-a", "prod"])
    await created(admin, "/services", name="a-only", host="a.internal", tags=["team-a"])
    await created(admin, "/services", name="prod-only", host="a.internal", tags=["prod"])
    await created(admin, "/services", name="untagged", host="a.internal")

    async def names(tags: str) -> set[str]:
        return {s["name"] for s in (await admin.get("/services", params={"tags": tags})).json()["data"]}

    assert await names("team-a,prod") == {"both"}
    assert await names("team-a/prod") == {"both", "a-only", "prod-only"}
    assert await names("prod") == {"both", "prod-only"}
    await admin.patch("/services/both", json={"tags": ["team-b"]})  # tags follow updates
    assert await names("prod") == {"prod-only"}
    assert await names("team-b") == {"both"}
