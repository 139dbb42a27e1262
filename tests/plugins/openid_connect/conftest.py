"""Fixtures: a third-party provider process (oauth2-mock-server) per test module, and gateways over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.plugins.openid_connect.harness import Gateway
from tests.plugins.openid_connect.providers import MockProvider


@pytest.fixture(scope="module")
def mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockProvider]:
    provider = MockProvider(tmp_path_factory.mktemp("mock-provider")).start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[..., Gateway]]:
    """A factory of handler-level gateways; their HTTP clients are closed after the test."""
    made: list[Gateway] = []

    def make(config: dict[str, Any], **kwargs: Any) -> Gateway:
        made.append(Gateway(config, **kwargs))
        return made[-1]

    yield make
    for gw in made:
        await gw.close()
