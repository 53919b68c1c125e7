"""The journey bench's shape on a tiny population (speed is never asserted)."""

from __future__ import annotations

import json

from promoloop.scenarios.bench_journeys import run_journeys_bench


def test_bench_shape_and_counts() -> None:
    result = run_journeys_bench(customers=40)
    json.dumps(result)  # JSON-able
    engine = result["engine"]
    # every customer: welcome, wait, branch, then half a reminder + exit, half exit
    assert engine["steps"] == 40 * 4 + 20
    assert (engine["entered"], engine["completed"], engine["active_after"]) == (40, 40, 0)
    assert engine["sends"] == 40 + 20
    assert result["floor"]["steps"] == engine["steps"]
    assert engine["steps_per_second"] > 0 and result["floor"]["steps_per_second"] > 0
    assert result["floors_per_step"] > 0
    assert result["journey_steps"] == ["welcome", "a day", "browsed?", "reminder", "done"]
