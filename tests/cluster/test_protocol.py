"""The cluster messages: exact wire shapes, round trips, and precise errors on malformed frames."""

from __future__ import annotations

import gzip
import json
import re
import zlib

import pytest

from oidcgate.analytics.histogram import SIZE
from oidcgate.cluster import protocol
from oidcgate.cluster.protocol import Analytics, Error, Heartbeat, Hello, ProtocolError, Reconfigure, UsageRow

HASH = "0123456789abcdef0123456789abcdef"
ROUTE = "6f1c7c63-2b7a-4f40-9a3e-0a6e4d3bb1a1"
LATENCY = (3, 1, *([0] * (SIZE - 2)))


def test_hello_is_a_text_frame_with_kongs_plugin_list() -> None:
    frame = protocol.encode(Hello("node-1", "host-a", "0.1.0", HASH, {"openid-connect": "1.0.0"}))
    assert isinstance(frame, str)
    assert json.loads(frame) == {
        "type": "hello", "node_id": "node-1", "hostname": "host-a", "version": "0.1.0",
        "config_hash": HASH, "plugins": [{"name": "openid-connect", "version": "1.0.0"}],
    }
    assert protocol.decode(frame) == Hello("node-1", "host-a", "0.1.0", HASH, {"openid-connect": "1.0.0"})


@pytest.mark.parametrize("message", [Heartbeat(HASH), Error("boom"), Error("refused", HASH),
                                     Analytics(120, (UsageRow("svc-id", "svc", ROUTE, "r", None, "", {200: 3, 401: 1},
                                                              LATENCY),))])
def test_small_messages_round_trip_as_text(message: protocol.Message) -> None:
    frame = protocol.encode(message)
    assert isinstance(frame, str)
    assert protocol.decode(frame) == message


def test_reconfigure_is_gzipped_json_and_much_smaller() -> None:
    config = {"_format_version": "3.0",
              "services": [{"name": f"s{i}", "host": "example.com", "port": 80} for i in range(500)]}
    frame = protocol.encode(Reconfigure(config, HASH, 1700000000.5))
    assert isinstance(frame, bytes)
    body = json.loads(gzip.decompress(frame))  # a standard gzip member any tool can read
    assert body == {"type": "reconfigure", "config": config, "hash": HASH, "timestamp": 1700000000.5}
    assert len(frame) * 5 < len(json.dumps(body))
    assert protocol.decode(frame) == Reconfigure(config, HASH, 1700000000.5)


def test_analytics_is_a_text_frame_of_plain_counts() -> None:
    row = UsageRow(None, "", None, "", "c-1", "alice", {404: 4}, (4, *([0] * (SIZE - 1))))
    assert json.loads(protocol.encode(Analytics(1_700_000_040, (row,)))) == {
        "type": "analytics", "minute": 1_700_000_040, "rows": [{
            "service": None, "service_name": "", "route": None, "route_name": "", "consumer": "c-1",
            "consumer_name": "alice", "codes": {"404": 4}, "latency": [4, *([0] * (SIZE - 1))]}]}


def test_a_large_analytics_report_is_split_into_frames_under_the_budget() -> None:
    rows = [UsageRow(None, f"service-{i:04}", None, f"route-{i:04}", None, "", {200: 1}, (1, *([0] * (SIZE - 1))))
            for i in range(400)]
    messages = protocol.split_analytics(60, rows, budget=8000)
    assert len(messages) > 1 and all(len(protocol.encode(m)) <= 8000 for m in messages)
    assert [row for m in messages for row in m.rows] == rows and {m.minute for m in messages} == {60}
    assert protocol.split_analytics(60, rows[:3]) == [Analytics(60, tuple(rows[:3]))]


def _analytics(**row: object) -> str:
    fields = {"service": None, "route": None, "consumer": None, "codes": {"200": 1}, "latency": [1, *([0] * (SIZE - 1))],
              **row}
    return json.dumps({"type": "analytics", "minute": 60, "rows": [fields]})


@pytest.mark.parametrize(("frame", "error"), [
    ('{"type": "analytics", "minute": 61, "rows": []}', "analytics.minute"),
    ('{"type": "analytics", "minute": true, "rows": []}', "analytics.minute"),
    ('{"type": "analytics", "minute": 60, "rows": {}}', "analytics.rows: expected an array"),
    ('{"type": "analytics", "minute": 60, "rows": [7]}', "analytics.rows[0]: expected an object"),
    (_analytics(route="x" * 37), "analytics.rows[0].route: expected an id or null"),
    (_analytics(consumer=""), "analytics.rows[0].consumer: expected an id or null"),
    (_analytics(route_name="n" * 129), "analytics.rows[0].route_name: expected a string of at most 128"),
    (_analytics(codes={"2000": 1}), "analytics.rows[0].codes: expected status codes"),
    (_analytics(codes={"099": 1}), "analytics.rows[0].codes: expected status codes"),
    (_analytics(codes={"\uff12\uff10\uff10": 1}), "analytics.rows[0].codes: expected status codes"),  # wide digits
    (_analytics(codes={"200\n": 1}), "analytics.rows[0].codes: expected status codes"),
    (_analytics(codes={"200": -1}), "analytics.rows[0].codes"),
    (_analytics(codes={"200": 1.5}), "analytics.rows[0].codes"),
    (_analytics(latency=[1]), f"analytics.rows[0].latency: expected {SIZE} request counts"),
    (_analytics(latency=[True, *([0] * (SIZE - 1))]), "analytics.rows[0].latency"),
    (_analytics(codes={"200": 2}), "analytics.rows[0]: the latency counts do not add up to the requests"),
])
def test_malformed_analytics_say_what_is_wrong(frame: str, error: str) -> None:
    with pytest.raises(ProtocolError, match=re.escape(error)):
        protocol.decode(frame)


@pytest.mark.parametrize(("frame", "error"), [
    ("not json", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"type": "gossip"}', "unknown message type 'gossip'"),
    ('{"type": "hello", "version": "0.1.0"}', "hello.node_id: required"),
    ('{"type": "hello", "node_id": "n", "version": 1}', "hello.version: expected a string"),
    ('{"type": "hello", "node_id": "n", "version": "1", "config_hash": "XYZ"}', "hello.config_hash"),
    ('{"type": "hello", "node_id": "n", "version": "1", "plugins": {"a": 1}}', "hello.plugins: expected an array"),
    ('{"type": "hello", "node_id": "n", "version": "1", "plugins": [{"version": "1"}]}',
     "hello.plugins[0].name"),
    ('{"type": "heartbeat", "config_hash": 5}', "heartbeat.config_hash"),
    ('{"type": "reconfigure", "config": {}, "hash": ""}', "must be a compressed binary frame"),
    (b"\x00\x01 not gzip", "not gzip data"),
    (gzip.compress(b'{"type": "reconfigure", "config": [], "hash": ""}'), "reconfigure.config: expected an object"),
    (gzip.compress(b'{"type": "reconfigure", "config": {}, "hash": "", "timestamp": "x"}'),
     "reconfigure.timestamp"),
    (gzip.compress(b'{"type": "reconfigure", "config": {}}')[:-12], "truncated"),
])
def test_malformed_frames_say_what_is_wrong(frame: str | bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error.replace("[", r"\[").replace("]", r"\]")):
        protocol.decode(frame)


def test_decompression_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(protocol, "MAX_CONFIG_BYTES", 1000)
    bomb = zlib.compressobj(9, zlib.DEFLATED, 31)
    frame = bomb.compress(b'{"type": "reconfigure", "config": {"_comment": "' + b"a" * 100_000) + bomb.flush()
    assert len(frame) < 1000
    with pytest.raises(ProtocolError, match="larger than 1000 bytes"):
        protocol.decode(frame)


@pytest.mark.parametrize(("address", "expected"), [
    ("127.0.0.1:8005", ("127.0.0.1", 8005)),
    ("cp.example.com", ("cp.example.com", 8005)),
    ("[::1]:9005", ("::1", 9005)),
    ("[::1]", ("::1", 8005)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
])
def test_parse_address(address: str, expected: tuple[str, int]) -> None:
    assert protocol.parse_address(address) == expected


@pytest.mark.parametrize("address", [":8005", "host:port", "host:70000", "[::1]x", "host:-1"])
def test_parse_address_refuses(address: str) -> None:
    with pytest.raises(ValueError, match="invalid address"):
        protocol.parse_address(address)
