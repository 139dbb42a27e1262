"""`State.run_eagerly`: plugin phases that never wait run without a Task; those that wait still work."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from oidcgate.proxy.state import WorkerState


class _Loopy:
    """Just what run_eagerly uses of WorkerState: the loop and the set of tasks it keeps."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[Any]] = set()

    spawn = WorkerState.spawn
    run_eagerly = WorkerState.run_eagerly


async def test_a_coroutine_that_never_waits_runs_at_once_without_a_task() -> None:
    state, seen = _Loopy(), []

    async def phase() -> None:
        seen.append("ran")

    assert state.run_eagerly(phase()) is None
    assert seen == ["ran"] and not state.tasks


async def test_a_coroutine_that_waits_continues_in_a_task_with_its_results() -> None:
    state, seen = _Loopy(), []
    future: asyncio.Future[str] = state.loop.create_future()

    async def phase() -> str:
        seen.append("before")
        value = await future
        await asyncio.sleep(0)
        seen.append(value)
        return value.upper()

    task = state.run_eagerly(phase())
    assert task is not None and seen == ["before"] and task in state.tasks
    future.set_result("token")
    assert await asyncio.wait_for(task, 2) == "TOKEN"
    assert seen == ["before", "token"] and not state.tasks


async def test_exceptions_and_cancellation_reach_the_waiting_coroutine() -> None:
    state, seen = _Loopy(), []
    failing: asyncio.Future[str] = state.loop.create_future()
    blocked: asyncio.Future[str] = state.loop.create_future()

    async def phase(future: asyncio.Future[str]) -> None:
        try:
            await future
        except (ValueError, asyncio.CancelledError) as exc:
            seen.append(type(exc).__name__)
            raise

    first = state.run_eagerly(phase(failing))
    failing.set_exception(ValueError("provider said no"))
    with pytest.raises(ValueError):
        await asyncio.wait_for(first, 2)  # type: ignore[arg-type]
    second = state.run_eagerly(phase(blocked))
    assert second is not None
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert seen == ["ValueError", "CancelledError"]
