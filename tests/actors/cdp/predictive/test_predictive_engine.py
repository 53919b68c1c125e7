"""PredictiveEngine end to end on synthetic populations with known propensities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import day, make_population, make_uplift_population, simulate

from promoloop.actors.cdp.predictive import (
    LIKELIHOOD_TO_PURCHASE,
    OFFER_UPLIFT,
    TRAITS,
    PredictiveConfig,
    PredictiveEngine,
)
from promoloop.actors.cdp.predictive.bench import bench_updates


def auc_on(engine: PredictiveEngine, when: int) -> float:
    """The purchase model's rolling progressive AUC as sampled at midnight of day ``when``."""
    (row,) = [r for r in engine.quality()["purchase"]["history"] if r[0] == day(when)]
    return row[1]


def test_purchase_model_reaches_auc_075_after_a_month(fast_config: PredictiveConfig) -> None:
    pop = make_population(1500, seed=11, spread=1.4)
    engine = PredictiveEngine(fast_config)
    simulate(engine, pop, days=30, seed=12)
    assert auc_on(engine, 30) >= 0.75
    truth = engine.quality_vs_truth(LIKELIHOOD_TO_PURCHASE, pop.true_purchase_prob())
    assert truth["auc_vs_truth"] >= 0.85
    assert truth["spearman"] >= 0.7
    top, bottom = truth["calibration"][-1], truth["calibration"][0]
    assert top["mean_true"] > 3 * bottom["mean_true"]
    q = engine.quality()["purchase"]
    assert 0 < q["log_loss"] < math.log(2)  # better than a coin


def test_pure_noise_outcomes_give_auc_one_half(fast_config: PredictiveConfig) -> None:
    """Everyone buys at the same rate: nothing observable predicts the future, so any AUC
    clearly above 0.5 would mean the labels leaked into the features."""
    pop = make_population(1200, seed=21, noise=True)
    config = PredictiveConfig(
        label_every_days=1.0, value_label_every_days=7.0, quality_window=20000
    )
    engine = PredictiveEngine(config)
    simulate(engine, pop, days=35, seed=22)
    q = engine.quality()["purchase"]
    assert q["n"] >= 20000
    assert 0.45 <= q["auc"] <= 0.55


def test_same_inputs_same_outputs(fast_config: PredictiveConfig) -> None:
    def run() -> str:
        pop = make_population(300, seed=31, churn=True)
        engine = PredictiveEngine(fast_config)
        simulate(engine, pop, days=20, seed=32)
        traits = {k: engine.traits_for(k, day(20)) for k in pop.keys}
        return repr((traits, engine.quality()))

    assert run() == run()


def test_uplift_recovers_persuadables_and_sleeping_dogs(fast_config: PredictiveConfig) -> None:
    pop = make_uplift_population(1000, seed=41)
    engine = PredictiveEngine(fast_config)
    simulate(engine, pop, days=30, seed=42)
    assert pop.segment is not None
    uplift = engine.scores(OFFER_UPLIFT)
    seg = dict(zip(pop.keys, pop.segment, strict=True))
    persuadable = [u for k, u in uplift.items() if seg[k] == 1]
    sleeping = [u for k, u in uplift.items() if seg[k] == -1]
    assert np.mean(persuadable) > 0.02
    assert np.mean(sleeping) < -0.02
    assert engine.stats["learned_uplift"] > 0


def test_scoring_cadence_and_traits() -> None:
    engine = PredictiveEngine(PredictiveConfig(score_every_days=1.0, rescore_idle_days=7.0))
    engine.observe("a", day(0.1), "Product Viewed", {})
    engine.observe("b", day(0.2), "Product Viewed", {})
    assert engine.predict_due(day(0.5)) == ["a", "b"]
    engine.observe("a", day(0.6), "Product Viewed", {})
    assert engine.predict_due(day(1.0)) == []  # scored less than a day ago
    assert engine.predict_due(day(1.5)) == ["a"]  # an event since: due one day after
    assert engine.predict_due(day(6.0)) == []
    assert engine.predict_due(day(7.5)) == ["b"]  # idle: rescored a week after its score
    assert engine.predict_due(day(8.5)) == ["a"]
    traits = engine.traits_for("a", day(8.5))
    assert set(traits) == {*TRAITS, *(f"{t}_percentile" for t in TRAITS)}
    assert all(0.0 <= traits[f"{t}_percentile"] <= 100.0 for t in TRAITS)
    assert engine.traits_for("nobody", day(8.5)) == {}
    # traits_for scores a due profile but takes no training snapshot.
    engine.observe("c", day(9.0), "Product Viewed", {})
    snapshots = engine.stats["snapshots"]
    assert engine.traits_for("c", day(9.0))
    assert engine.stats["snapshots"] == snapshots


def test_top_20_percent_audience(fast_config: PredictiveConfig) -> None:
    pop = make_population(500, seed=51)
    engine = PredictiveEngine(fast_config)
    simulate(engine, pop, days=12, seed=52)
    traits = {k: t for k in pop.keys if (t := engine.traits_for(k, day(12)))}
    assert len(traits) > 450  # the rest never did anything
    key = f"{LIKELIHOOD_TO_PURCHASE}_percentile"
    top = [k for k, t in traits.items() if t[key] >= 80.0]
    assert len(top) == pytest.approx(0.2 * len(traits), abs=3)
    threshold = engine.threshold(LIKELIHOOD_TO_PURCHASE, 0.2)
    assert threshold is not None
    assert {k for k, t in traits.items() if t[LIKELIHOOD_TO_PURCHASE] >= threshold} == set(top)


def test_churn_model_learns() -> None:
    config = PredictiveConfig(label_every_days=1.0, churn_horizon_days=7.0)
    pop = make_population(1000, seed=61, churn=True)
    engine = PredictiveEngine(config)
    simulate(engine, pop, days=40, seed=62)
    q = engine.quality()["churn"]
    assert q["positive_rate"] > 0.05
    assert q["auc"] >= 0.7


def test_bench_reports_its_figures() -> None:
    figures = bench_updates(200)
    assert {
        "updates",
        "bare_updates",
        "engine_updates_per_s",
        "bare_updates_per_s",
        "ratio",
        "profiles",
        "feature_count",
    } <= set(figures)
    assert figures["updates"] == figures["bare_updates"] > 0
