"""The per-request checks of a worker's copies (shared_state.held): a recorded decision made from a copy
holds while the table still has that very entry (and, for copies of Redis keys, while the subscription's
gate says nothing waits unread)."""

from __future__ import annotations

import select
import socket
from typing import Any

from oidcgate.shared_state.held import Gate, Held


def test_held_is_true_while_the_table_maps_the_key_to_that_very_value() -> None:
    value: list[str] = ["session"]
    table: dict[Any, tuple[float, Any]] = {"cookie": (10.0, value)}
    held = Held(table, "cookie", value)
    assert held()
    table["cookie"] = (10.0, ["session"])  # equal, not the same: a renewal
    assert not held()
    table["cookie"] = (10.0, value)
    assert held()
    del table["cookie"]
    assert not held()


def test_held_with_a_clock_ends_at_the_entrys_time() -> None:
    now = [5.0]
    table: dict[Any, tuple[float, Any]] = {"id": (10.0, "v")}
    held = Held(table, "id", "v", lambda: now[0])
    assert held()
    now[0] = 10.0
    assert not held()


def test_held_asks_the_gate_first() -> None:
    table: dict[Any, tuple[float, Any]] = {"id": (10.0, "v")}
    asked: list[str] = []

    def answering(channel: str) -> bool:
        asked.append(channel)
        return False

    assert not Held(table, "id", "v", None, answering, "sessions")() and asked == ["sessions"]


def test_a_gate_answers_only_for_a_confirmed_channel_with_nothing_unread() -> None:
    gate = Gate()
    assert not gate.answering("sessions")  # no connection
    ours, redis_side = socket.socketpair()
    with ours, redis_side:
        poll = select.epoll(1)
        poll.register(ours.fileno(), select.EPOLLIN)
        buffer = bytearray()
        gate.buffer, gate.poll = buffer, poll
        assert not gate.answering("sessions")  # not confirmed yet
        gate.confirmed.add("sessions")
        assert gate.answering("sessions") and not gate.answering("other")
        buffer += b"*3\r\n$7\r\nmess"  # a partial frame kept
        assert not gate.answering("sessions")
        buffer.clear()
        redis_side.sendall(b"*3\r\n")  # a byte on the socket, not read yet
        assert not gate.answering("sessions")
        ours.recv(16)
        assert gate.answering("sessions")
        redis_side.shutdown(socket.SHUT_WR)  # the end of the stream waits unread too
        assert not gate.answering("sessions")
        poll.close()
