"""Kong's log entry from a finished request: its shape, what is redacted, custom fields."""

from __future__ import annotations

import orjson

from oidcgate.config.entities import Consumer, Route, Service
from oidcgate.http.fields import HeaderFields
from oidcgate.plugins.log_serializer import Finished, entry, set_value

SERVICE = Service(id="5f6d2b1e-8c3a-4b7e-9d1f-0a2b3c4d5e6f", name="orders", host="10.0.0.7", port=8080)
ROUTE = Route(id="1e2d3c4b-5a69-4788-99aa-bbccddeeff00", name="orders", paths=["/orders"], service=SERVICE.id)
ALICE = Consumer(id="9a3c8f6e-3b1e-4d6f-9c3a-2f1b0e7d5c4a", username="alice")


def fields(*pairs: tuple[str, str]) -> HeaderFields:
    return HeaderFields.of(pairs)


def finished(**changes: object) -> Finished:
    values: dict[str, object] = dict(
        started_at=1700000000.123, request_ms=12.4, proxy_ms=9.6, kong_ms=2.2, client_ip="192.0.2.9", method=b"POST",
        raw_path=b"/orders/7", query=b"?code=abc&state=xyz&code=again", host=b"api.example.com", port=8000,
        http_version="1.1", request_size=321, status=201, response_size=654, route=ROUTE, service=SERVICE,
        consumer=ALICE, credential={"id": "cred-1"}, upstream_uri=b"/v1/orders/7?code=abc", log_fields=None,
        request_fields=fields(("Authorization", "Bearer abc.def.ghi"), ("Proxy-Authorization", "Basic eA=="),
                              ("Cookie", "sid=1"), ("X-Session-Id", "s1"), ("Accept", "a"), ("Accept", "b"),
                              ("X-Carrier", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl")),
        response_fields=fields(("Set-Cookie", "sid=2"), ("Content-Type", "application/json")),
        tries=(("10.0.0.7", 8080, "tcp"), ("10.0.0.8", 8080, None)))
    values.update(changes)
    return Finished(**values)  # type: ignore[arg-type]


def test_kongs_shape() -> None:
    found = orjson.loads(orjson.dumps(entry(finished(log_fields={"correlation_id": "c-1"}, trace_id=b"\x01" * 16))))
    assert found["request"] == {
        "method": "POST", "uri": "/orders/7?code=REDACTED&state=REDACTED&code=REDACTED",
        "url": "http://api.example.com:8000/orders/7?code=REDACTED&state=REDACTED&code=REDACTED",
        "querystring": {"code": ["REDACTED", "REDACTED"], "state": "REDACTED"}, "size": 321,
        "headers": {"authorization": "REDACTED", "proxy-authorization": "REDACTED", "cookie": "REDACTED",
                    "x-session-id": "REDACTED", "accept": ["a", "b"], "x-carrier": "REDACTED"}}
    assert found["response"] == {"status": 201, "size": 654,
                                 "headers": {"set-cookie": "REDACTED", "content-type": "application/json"}}
    assert found["latencies"] == {"request": 12, "proxy": 10, "kong": 2, "receive": 0}
    assert found["upstream_uri"] == "/v1/orders/7?code=REDACTED"
    assert found["tries"] == [{"ip": "10.0.0.7", "port": 8080, "state": "failed"}, {"ip": "10.0.0.8", "port": 8080}]
    assert found["route"]["name"] == "orders" and found["route"]["paths"] == ["/orders"]
    assert found["service"] == {**found["service"], "name": "orders", "host": "10.0.0.7", "port": 8080}
    assert found["consumer"] == {**found["consumer"], "id": ALICE.id, "username": "alice"}
    assert found["authenticated_entity"] == {"id": "cred-1", "consumer_id": ALICE.id}
    assert found["client_ip"] == "192.0.2.9" and found["started_at"] == 1700000000123
    assert found["correlation_id"] == "c-1" and found["trace_id"] == {"w3c": "01" * 16}


def test_a_request_the_gateway_answered_and_that_matched_nothing() -> None:
    found = entry(finished(route=None, service=None, consumer=None, credential=None, upstream_uri=None, tries=(),
                           proxy_ms=-1.0, response_fields=None, query=b""))
    assert found["latencies"]["proxy"] == -1 and found["upstream_uri"] == "" and found["tries"] == []
    assert found["response"]["headers"] == {} and found["request"]["querystring"] == {}
    assert not {"route", "service", "consumer", "authenticated_entity", "trace_id"} & set(found)


def test_custom_fields_nest_and_reach_into_entities() -> None:
    found = orjson.loads(orjson.dumps(entry(finished(), {"env": "prod", "a.b.c": 1, "route.team": "payments",
                                                         "latencies": "replaced"})))
    assert found["env"] == "prod" and found["a"] == {"b": {"c": 1}} and found["latencies"] == "replaced"
    assert found["route"]["team"] == "payments" and found["route"]["name"] == "orders"


def test_set_value_escapes_dots() -> None:
    root: dict[str, object] = {"x": 1}
    set_value(root, r"dotted\.name", True)
    set_value(root, "x.y", 2)
    assert root == {"dotted.name": True, "x": {"y": 2}}
