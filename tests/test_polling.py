"""The tests' one polling helper (tests/support/polling.py): it waits for the thing, and no longer than told."""

from __future__ import annotations

import itertools

import pytest

from tests.support.polling import wait_until, wait_until_async


def test_returns_once_the_check_holds_and_fails_past_the_timeout() -> None:
    calls = itertools.count(1)
    assert wait_until(lambda: next(calls) >= 3, interval=0.001) < 1.0
    assert next(calls) == 4  # checked exactly until it held
    with pytest.raises(AssertionError, match=r"the sky falling not met within 0\.05s"):
        wait_until(lambda: False, timeout=0.05, what="the sky falling")


async def test_async_checks_may_be_coroutines() -> None:
    calls = itertools.count(1)

    async def third_call() -> bool:
        return next(calls) >= 3

    assert await wait_until_async(third_call, interval=0.001) < 1.0
    with pytest.raises(AssertionError, match="condition not met"):
        await wait_until_async(lambda: 0, timeout=0.05)
