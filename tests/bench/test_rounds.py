"""bench.oidc's rounds: each row is compared with the reference runs either side of it."""

from __future__ import annotations

from typing import Any

import pytest
from bench.harness import Row

from bench import oidc

ROWS = (("plain", "plain", "reference"), ("a", "a", "row a"), ("b", "b", "row b"))


class Checked:
    status_code = 200
    text = ""


def test_each_row_is_bracketed_by_the_reference_runs_next_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # a machine slowing down run after run: reference runs at 1000, 900, 800 (then 700, 600, 500)
    speeds = iter([1000.0, 450.0, 900.0, 680.0, 800.0,
                   700.0, 325.0, 600.0, 440.0, 500.0])
    order: list[str] = []

    def scripted_wrk(url: str, seconds: int | None = None, headers: Any = None, name: str = "") -> Row:
        if seconds == oidc.WARMUP_SECONDS:
            return Row(name, 1.0, 1.0, 1.0)
        order.append(url.rsplit("/", 1)[1])
        return Row(name, next(speeds), 1.0, 1.0)

    monkeypatch.setattr(oidc, "wrk", scripted_wrk)
    monkeypatch.setattr(oidc.httpx, "get", lambda *args, **kwargs: Checked())
    monkeypatch.setenv("BENCH_OIDC_ROUNDS", "2")
    monkeypatch.setenv("BENCH_OIDC_SECONDS", "3")
    runs, ratios = oidc._rounds("http://127.0.0.1:1", {"plain": {}, "a": {}, "b": {}}, ROWS)
    assert order == ["plain", "a", "plain", "b", "plain"] * 2
    assert ratios["a"] == [pytest.approx(450 / 950), pytest.approx(325 / 650)]
    assert ratios["b"] == [pytest.approx(680 / 850), pytest.approx(440 / 550)]
    assert len(runs["plain"]) == 6 and len(ratios["plain"]) == 2
