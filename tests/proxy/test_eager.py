"""`eager.run_eagerly`: plugin phases that never wait run without a Task; those that wait still work."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest

from oidcgate.proxy.eager import run_eagerly


class Spawner:
    """What run_eagerly is given to start the rest of a coroutine that waits (WorkerState.spawn)."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def __call__(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        self.tasks.append(asyncio.get_running_loop().create_task(coro))
        return self.tasks[-1]


async def test_a_coroutine_that_never_waits_runs_at_once_without_a_task() -> None:
    spawn, seen = Spawner(), []

    async def phase() -> None:
        seen.append("ran")

    assert run_eagerly(phase(), spawn) is None
    assert seen == ["ran"] and not spawn.tasks


async def test_a_coroutine_that_waits_continues_in_a_task_with_its_results() -> None:
    spawn, seen = Spawner(), []
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def phase() -> str:
        seen.append("before")
        value = await future
        await asyncio.sleep(0)
        seen.append(value)
        return value.upper()

    task = run_eagerly(phase(), spawn)
    assert task is not None and seen == ["before"] and spawn.tasks == [task]
    future.set_result("token")
    assert await asyncio.wait_for(task, 2) == "TOKEN"
    assert seen == ["before", "token"]


async def test_exceptions_and_cancellation_reach_the_waiting_coroutine() -> None:
    spawn, seen = Spawner(), []
    loop = asyncio.get_running_loop()
    failing: asyncio.Future[str] = loop.create_future()
    blocked: asyncio.Future[str] = loop.create_future()

    async def phase(future: asyncio.Future[str]) -> None:
        try:
            await future
        except (ValueError, asyncio.CancelledError) as exc:
            seen.append(type(exc).__name__)
            raise

    first = run_eagerly(phase(failing), spawn)
    failing.set_exception(ValueError("provider said no"))
    with pytest.raises(ValueError):
        await asyncio.wait_for(first, 2)
    second = run_eagerly(phase(blocked), spawn)
    assert second is not None
    await asyncio.sleep(0)
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert seen == ["ValueError", "CancelledError"]


async def test_an_exception_before_the_first_wait_is_the_callers() -> None:
    async def phase() -> None:
        raise KeyError("at once")

    with pytest.raises(KeyError):
        run_eagerly(phase(), Spawner())
