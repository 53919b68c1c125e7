"""Offline metrics against the truth and the progressive metric containers."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime

import numpy as np
import pytest

from promoloop.actors.cdp.predictive.quality import (
    ClassifierQuality,
    auc_vs_truth,
    calibration_table,
    exact_auc,
    spearman,
)


def brute_auc(scores: list[float], labels: list[bool]) -> float:
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_exact_auc_matches_pairwise_count_with_ties() -> None:
    rng = np.random.default_rng(5)
    scores = [float(s) for s in np.round(rng.random(300), 1)]
    labels = [bool(y) for y in rng.random(300) < 0.3]
    assert exact_auc(scores, labels) == pytest.approx(brute_auc(scores, labels))
    assert exact_auc([0.1, 0.9], [False, True]) == 1.0
    assert math.isnan(exact_auc([0.1, 0.2], [True, True]))


def test_auc_vs_truth_and_spearman() -> None:
    rng = np.random.default_rng(6)
    truth = [float(p) for p in rng.random(1000)]
    assert auc_vs_truth(truth, truth) == 1.0
    assert spearman(truth, truth) == pytest.approx(1.0)
    reversed_scores = [-p for p in truth]
    assert auc_vs_truth(reversed_scores, truth) == 0.0
    noise = [float(s) for s in rng.random(1000)]
    assert abs(auc_vs_truth(noise, truth) - 0.5) < 0.06
    monotone = [p**3 for p in truth]  # any increasing transform ranks the same
    assert auc_vs_truth(monotone, truth) == 1.0


def test_calibration_table_by_decile() -> None:
    probs = [i / 1000 for i in range(1000)]
    rows = calibration_table(probs, probs, outcomes=[1.0 if p > 0.5 else 0.0 for p in probs])
    assert len(rows) == 10
    assert all(r["n"] == 100 for r in rows)
    for r in rows:
        assert r["mean_score"] == pytest.approx(r["mean_true"])
    assert rows[0]["mean_outcome"] == 0.0 and rows[-1]["mean_outcome"] == 1.0
    with pytest.raises(ValueError, match="bins"):
        calibration_table(probs, probs, bins=0)


def test_classifier_quality_summary_and_history() -> None:
    q = ClassifierQuality(window=100)
    assert math.isnan(q.summary()["auc"])
    for i in range(200):
        q.update(i % 2 == 0, 0.8 if i % 2 == 0 else 0.2)
    q.sample(datetime(2026, 1, 5, tzinfo=UTC))
    s = q.summary()
    assert s["auc"] == 1.0 and s["n"] == 200 and s["positive_rate"] == 0.5
    assert s["log_loss"] == pytest.approx(-math.log(0.8))
    assert s["history"][0][1:] == (1.0, pytest.approx(-math.log(0.8)), 200)
