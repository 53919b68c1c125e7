"""Model quality: progressive metrics against realised outcomes, and against the truth.

Progressive (predict-then-learn) validation, the online analogue of a hold-out set: every
snapshot carries the prediction the model made at snapshot time ``t``; when the label matures
at ``t + h`` the metric is updated with that *earlier* prediction and only then does the model
learn from it. No prediction is ever scored by a model that has already seen its label.

Metrics against realised outcomes, per model:

* ``auc`` — River ``metrics.RollingROCAUC`` over the last ``quality_window`` matured labels:
  the probability that a random positive (e.g. bought within 7 days) got a higher score than a
  random negative; 0.5 is chance. It is exact within the window and scale-invariant. We do not
  use ``metrics.ROCAUC``: it discretises the ROC curve at fixed thresholds over [0, 1] (10 by
  default), so scores that cluster in a narrow band — a 7-day purchase probability mostly
  under 0.2 — fall between two thresholds and the AUC collapses towards 0.5, and each extra
  threshold costs ~0.3 µs per update in the learning path. A window also shows the model
  *now*, not the average since its cold start.
* ``log_loss`` — River ``metrics.LogLoss`` over the same window (``log_loss_cumulative``
  since the start): mean −log p(observed outcome); it punishes confident mistakes, so it also
  reflects calibration (a constant prediction at the base rate b scores the entropy of b).
* value model: ``auc`` is the rolling AUC of the predicted value against "spent anything in
  the horizon", and ``mae_cents`` the mean absolute error of the prediction in cents.

The time series (``history``) samples these every ``quality_every_days``.

Against ground truth (the population's true probabilities, when a simulation knows them):

* ``auc_vs_truth`` — AUC of the scores against the true probability *dichotomised at its
  median* (label 1 = above-median true propensity). This asks "does the model rank customers
  like the truth does?", without the noise of Bernoulli draws that caps the realised AUC.
* ``spearman`` — rank correlation of scores and true probabilities.
* ``calibration`` — per decile of the score: count, mean score, mean true probability (and
  mean realised outcome when given). A calibrated model has mean score ≈ mean true
  probability in every decile.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from river import metrics, utils


class ClassifierQuality:
    """Progressive quality of one probabilistic classifier."""

    def __init__(self, window: int) -> None:
        self.auc = metrics.RollingROCAUC(window_size=window)
        self.log_loss = utils.Rolling(metrics.LogLoss, window_size=window)
        self.log_loss_cumulative = metrics.LogLoss()
        self.n = 0
        self.positives = 0
        self.history: list[tuple[datetime, float, float, int]] = []

    def update(self, y: bool, p: float) -> None:
        self.auc.update(y, p)
        self.log_loss.update(y, p)
        self.log_loss_cumulative.update(y, p)
        self.n += 1
        self.positives += y

    def sample(self, at: datetime) -> None:
        if self.n:
            self.history.append((at, self.auc.get(), self.log_loss.get(), self.n))

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "positive_rate": self.positives / self.n if self.n else math.nan,
            "auc": self.auc.get() if self.n else math.nan,
            "log_loss": self.log_loss.get() if self.n else math.nan,
            "log_loss_cumulative": self.log_loss_cumulative.get() if self.n else math.nan,
            "history": list(self.history),
        }


class RegressorQuality:
    """Progressive quality of the value regressor (cents)."""

    def __init__(self, window: int) -> None:
        self.auc = metrics.RollingROCAUC(window_size=window)
        self.mae = utils.Rolling(metrics.MAE, window_size=window)
        self.n = 0
        self.history: list[tuple[datetime, float, float, int]] = []

    def update(self, y_cents: float, pred_cents: float) -> None:
        self.auc.update(y_cents > 0, pred_cents)
        self.mae.update(y_cents, pred_cents)
        self.n += 1

    def sample(self, at: datetime) -> None:
        if self.n:
            self.history.append((at, self.auc.get(), self.mae.get(), self.n))

    def summary(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "auc": self.auc.get() if self.n else math.nan,
            "mae_cents": self.mae.get() if self.n else math.nan,
            "history": list(self.history),
        }


# -- exact offline metrics (against the truth) -----------------------------------------------
def _midranks(values: Sequence[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2.0 + 1.0
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        i = j + 1
    return ranks


def exact_auc(scores: Sequence[float], labels: Sequence[bool | int]) -> float:
    """Exact ROC AUC (Mann-Whitney U with mid-ranks for ties); NaN if a class is empty."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels must have the same length")
    n_pos = sum(1 for y in labels if y)
    n_neg = len(labels) - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = _midranks(scores)
    rank_sum = sum(r for r, y in zip(ranks, labels, strict=True) if y)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (Pearson on mid-ranks); NaN if either side is constant."""
    if len(a) != len(b):
        raise ValueError("sequences must have the same length")
    ra, rb = _midranks(a), _midranks(b)
    n = len(ra)
    if n < 2:
        return math.nan
    ma, mb = sum(ra) / n, sum(rb) / n
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / math.sqrt(va * vb) if va and vb else math.nan


def auc_vs_truth(scores: Sequence[float], true_probs: Sequence[float]) -> float:
    """AUC of ``scores`` against ``true_probs > median(true_probs)`` (see module docs)."""
    if len(scores) != len(true_probs):
        raise ValueError("scores and true_probs must have the same length")
    if not true_probs:
        return math.nan
    ordered = sorted(true_probs)
    n = len(ordered)
    median = (ordered[(n - 1) // 2] + ordered[n // 2]) / 2.0
    return exact_auc(scores, [p > median for p in true_probs])


def calibration_table(
    scores: Sequence[float],
    true_probs: Sequence[float],
    outcomes: Sequence[float] | None = None,
    bins: int = 10,
) -> list[dict[str, float]]:
    """Per score quantile bin (deciles by default): n, mean score, mean true probability and,
    if ``outcomes`` is given, the mean realised outcome. Rows ordered from low to high score."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins!r}")
    if len(scores) != len(true_probs) or (outcomes is not None and len(outcomes) != len(scores)):
        raise ValueError("scores, true_probs and outcomes must have the same length")
    order = sorted(range(len(scores)), key=lambda i: (scores[i], i))
    n = len(order)
    rows: list[dict[str, float]] = []
    for b in range(bins):
        idx = order[b * n // bins : (b + 1) * n // bins]
        if not idx:
            continue
        row = {
            "bin": float(b + 1),
            "n": float(len(idx)),
            "mean_score": sum(scores[i] for i in idx) / len(idx),
            "mean_true": sum(true_probs[i] for i in idx) / len(idx),
        }
        if outcomes is not None:
            row["mean_outcome"] = sum(outcomes[i] for i in idx) / len(idx)
        rows.append(row)
    return rows


def truth_report(
    scores: Sequence[float], true_probs: Sequence[float], outcomes: Sequence[float] | None = None
) -> dict[str, Any]:
    """``auc_vs_truth``, ``spearman`` and the decile ``calibration`` table in one dict."""
    return {
        "n": len(scores),
        "auc_vs_truth": auc_vs_truth(scores, true_probs),
        "spearman": spearman(scores, true_probs),
        "calibration": calibration_table(scores, true_probs, outcomes),
    }
