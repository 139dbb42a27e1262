"""Fixtures for the identity-provider tests (helpers live in `tests.idp.helpers`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.idp.helpers import Idp, running_idp


@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idp]:
    """One provider process per test module."""
    with running_idp(tmp_path_factory.mktemp("idp")) as running:
        yield running


@pytest.fixture
def browser() -> Iterator[httpx.Client]:
    """A cookie-keeping HTTP client that does not follow redirects, standing in for a browser."""
    with httpx.Client(follow_redirects=False, timeout=10) as client:
        yield client
