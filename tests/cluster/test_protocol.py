"""The cluster messages: exact wire shapes, round trips, and precise errors on malformed frames."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from oidcgate.cluster import protocol
from oidcgate.cluster.protocol import Error, Heartbeat, Hello, ProtocolError, Reconfigure

HASH = "0123456789abcdef0123456789abcdef"


def test_hello_is_a_text_frame_with_kongs_plugin_list() -> None:
    frame = protocol.encode(Hello("node-1", "host-a", "0.1.0", HASH, {"openid-connect": "1.0.0"}))
    assert isinstance(frame, str)
    assert json.loads(frame) == {
        "type": "hello", "node_id": "node-1", "hostname": "host-a", "version": "0.1.0",
        "config_hash": HASH, "plugins": [{"name": "openid-connect", "version": "1.0.0"}],
    }
    assert protocol.decode(frame) == Hello("node-1", "host-a", "0.1.0", HASH, {"openid-connect": "1.0.0"})


@pytest.mark.parametrize("message", [Heartbeat(HASH), Error("boom"), Error("refused", HASH)])
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
