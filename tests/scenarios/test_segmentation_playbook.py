"""segmentation-playbook: daily audience sizes, scores against the hidden truth, determinism."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from promoloop.actors.runtime import virtual_clock
from promoloop.scenarios import registry
from promoloop.scenarios.base import RunConfig, ScenarioResult
from promoloop.scenarios.segmentation_playbook import (
    ADHOC,
    AUDIENCES,
    NAME,
    run,
    size_table,
    write_html,
)

CUSTOMERS, DAYS = 150, 24


def _run(**config: Any) -> ScenarioResult:
    return trio.run(run, RunConfig(**config), clock=virtual_clock())


@pytest.fixture(scope="module")
def result() -> ScenarioResult:
    return _run(seed=3, customers=CUSTOMERS, days=DAYS)


def test_every_audience_has_a_daily_series_ending_at_its_final_size(result: ScenarioResult) -> None:
    audiences = result.kpis["audiences"]
    assert list(audiences) == [a["key"] for a in AUDIENCES]
    for key, figures in audiences.items():
        assert len(figures["daily"]) == DAYS, key
        assert figures["daily"][-1] == figures["final_size"], key
        assert all(0 <= size <= CUSTOMERS for size in figures["daily"]), key
    # The population shops: behavioural and lifecycle audiences are not empty.
    for key in ("cart_abandoners", "new", "active", "reviewers"):
        assert max(audiences[key]["daily"]) > 0, key
    assert result.kpis["profiles"] == CUSTOMERS  # anonymous browsing merged on sign-up


def test_adhoc_audience_is_computed_once_at_mid_run(result: ScenarioResult) -> None:
    daily = result.kpis["audiences"][ADHOC]["daily"]
    half = DAYS // 2
    assert all(size == 0 for size in daily[: half - 1])
    assert daily[half] > 0
    assert len(set(daily[half:])) == 1  # never recomputed afterwards


def test_scores_against_the_hidden_truth(result: ScenarioResult) -> None:
    truth = result.kpis["ground_truth"]
    new = truth["new"]
    # "Signed up in the last 7 days" is what the truth says, seen through events: everyone
    # who arrived in the last week is in; at most a minute of window rounding lets extras in.
    assert new["truth"] > 0 and new["recall"] == 1.0
    assert new["precision"] >= 0.95
    churned = truth["churned"]
    assert churned["truth"] == churned["truth_daily"][-1]
    assert churned["both"] <= min(churned["audience"], churned["truth"])
    sensitivity = truth["price_sensitive"]
    assert 0.0 <= sensitivity["others_mean_hidden_sensitivity"] <= 1.0


def test_trend_names_the_fastest_growing_audience(result: ScenarioResult) -> None:
    trend = result.kpis["trend"]
    growth = {k: g for k, g in trend["week_over_week_growth"].items() if g is not None}
    assert growth and trend["fastest_growing"] == max(growth, key=lambda k: growth[k])
    for key, g in growth.items():
        daily = result.kpis["audiences"][key]["daily"]
        assert g == pytest.approx(daily[-1] / daily[-8] - 1.0, abs=1e-4)


def test_timeline_is_the_daily_size_table(result: ScenarioResult) -> None:
    assert result.timeline[0].split()[0] == "day"
    assert result.timeline[0].split()[1:] == [a["key"] for a in AUDIENCES]
    assert len(result.timeline) == DAYS + 1
    last = result.timeline[-1].split()
    assert [int(v) for v in last[1:]] == [
        f["final_size"] for f in result.kpis["audiences"].values()
    ]
    assert size_table({"a": [1, 2]}) == ["day      a", "  0      1", "  1      2"]


def test_same_seed_same_result_and_another_seed_differs(result: ScenarioResult) -> None:
    again = _run(seed=3, customers=CUSTOMERS, days=DAYS)
    assert again.summary["log_digest"] == result.summary["log_digest"]
    assert again.kpis == result.kpis
    other = _run(seed=4, customers=CUSTOMERS, days=DAYS)
    assert other.summary["log_digest"] != result.summary["log_digest"]


def test_html_report(result: ScenarioResult, tmp_path: Path) -> None:
    path = write_html(result, tmp_path / "out")
    doc = path.read_text()
    assert path.name == "report.html" and doc.startswith("<!doctype html>")
    assert doc.count("<svg") == 4  # final sizes, lifecycle, behavioural, trend
    assert "churned (truth)" in doc and "fastest growing" in doc


def test_registered() -> None:
    assert registry.get(NAME).run is run
