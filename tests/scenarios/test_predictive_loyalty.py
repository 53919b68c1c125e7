"""predictive-loyalty end to end: KPIs shape, model quality, targeting, holdouts, determinism."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trio

from promoloop.actors.runtime import virtual_clock
from promoloop.scenarios.base import RunConfig, ScenarioResult
from promoloop.scenarios.cli import main
from promoloop.scenarios.predictive_loyalty import DEFAULT_CUSTOMERS, DEFAULT_DAYS, run


def _run(**config: Any) -> ScenarioResult:
    return trio.run(run, RunConfig(**config), clock=virtual_clock())


@pytest.fixture(scope="module")
def default() -> ScenarioResult:
    """The scenario with its default parameters (the issue's "must hold" conditions)."""
    return _run(seed=7)


def test_default_run_has_the_documented_size(default: ScenarioResult) -> None:
    assert default.summary["customers"] == DEFAULT_CUSTOMERS
    assert default.summary["days"] == DEFAULT_DAYS
    assert default.kpis["events"] > DEFAULT_CUSTOMERS * 10


def test_purchase_model_learns_the_population(default: ScenarioResult) -> None:
    purchase = default.kpis["models"]["likelihood_to_purchase"]
    assert purchase["auc"] >= 0.75
    assert purchase["auc_vs_truth"] >= 0.75
    assert purchase["labels"] > 1_000
    after_a_month = [auc for day, auc in purchase["auc_by_day"] if day >= 30]
    assert after_a_month and min(after_a_month) >= 0.75


def test_targeting_by_predicted_uplift_beats_random(default: ScenarioResult) -> None:
    targeting = default.kpis["targeting"]
    sizes = {t["customers"] for t in targeting.values()}
    assert len(sizes) == 1  # same size for every strategy
    revenue = {name: t["expected_incremental_revenue_cents"] for name, t in targeting.items()}
    assert revenue["predicted_uplift"] > revenue["random"]
    assert revenue["true_uplift"] >= max(revenue.values())  # the oracle bounds them all


def test_every_campaign_holds_out_a_control_group(default: ScenarioResult) -> None:
    campaigns = default.kpis["campaigns"]
    assert {"loyalty", "cross_sell", "retention"} <= set(campaigns)
    for key, campaign in campaigns.items():
        treated, holdout = campaign["groups"]["treated"], campaign["groups"]["holdout"]
        assert treated["customers"] > 0 and holdout["customers"] > 0, key
        share = holdout["customers"] / (treated["customers"] + holdout["customers"])
        expected = 0.5 if key.startswith("explore") else 0.2
        assert share == pytest.approx(expected, abs=0.08), key
        assert holdout["cost_cents"] == 0  # the holdout never got a code
        low, high = campaign["incremental_revenue_ci95_cents"]
        assert low <= campaign["incremental_revenue_cents"] <= high
        assert campaign["cost_cents"] <= campaign["budget_cents"]


def test_same_seed_same_kpis_and_another_seed_differs(tmp_path: Path) -> None:
    small = {"customers": 150, "days": 35}
    first, second = _run(seed=3, **small), _run(seed=3, **small)
    assert json.dumps(first.kpis, sort_keys=True) == json.dumps(second.kpis, sort_keys=True)
    assert first.summary["log_digest"] == second.summary["log_digest"]
    assert _run(seed=4, **small).summary["log_digest"] != first.summary["log_digest"]


def test_cli_writes_kpis_json_and_report_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(
        [
            "run",
            "predictive-loyalty",
            "--customers",
            "120",
            "--days",
            "30",
            "--seed",
            "5",
            "--report",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "day 30/30" in captured.err  # the progress bar
    kpis = json.loads((out / "kpis.json").read_text())
    for key in ("scenario", "seed", "customers", "days", "events", "campaigns", "models"):
        assert key in kpis
    assert kpis["scenario"] == "predictive-loyalty" and kpis["customers"] == 120
    group = kpis["campaigns"]["cross_sell"]["groups"]["treated"]
    assert {"customers", "conversions", "revenue_cents", "cost_cents"} <= set(group)
    for model in kpis["models"].values():
        assert {"auc", "auc_vs_truth", "log_loss"} <= set(model)
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 4
