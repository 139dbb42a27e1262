from __future__ import annotations

import pytest

from oidcgate.controlplane.gui.timefmt import absolute_time, relative_time


@pytest.mark.parametrize(("age", "text"), [
    (0, "just now"), (-5, "just now"), (1.9, "just now"), (2, "2 s ago"), (59, "59 s ago"), (60, "1 min ago"),
    (3599, "59 min ago"), (3600, "1 h ago"), (86399, "23 h ago"), (86400 * 3 + 5, "3 d ago"),
])
def test_relative_time(age: float, text: str) -> None:
    assert relative_time(1_000_000 - age, 1_000_000) == text


def test_never_seen_and_absolute() -> None:
    assert relative_time(None, 0) == "never"
    assert absolute_time(0) == "1970-01-01 00:00:00 UTC" and absolute_time(None) == ""
