"""Configuration of the predictive-traits engine, validated on construction."""

from __future__ import annotations

import math
from typing import Any

import msgspec


class PredictiveConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Horizons, cadences and model settings. All durations are in days (floats).

    Bad values raise ``ValueError`` naming the field, both for ``PredictiveConfig(...)`` and
    for :meth:`from_dict` (which also rejects unknown fields and wrong types).
    """

    purchase_horizon_days: float = 7.0
    """Label of *likelihood_to_purchase*: an ``Order Completed`` in (t, t+h]."""
    churn_horizon_days: float = 30.0
    """Label of *likelihood_to_churn*: no customer activity in (t, t+h]."""
    value_horizon_days: float = 90.0
    """Label of *predicted_value*: sum of ``total_cents`` in (t, t+h]."""
    score_every_days: float = 1.0
    """A profile is scored at most once per this interval (and soon after an event)."""
    rescore_idle_days: float = 7.0
    """A profile without events is still rescored this often (recency features move)."""
    label_every_days: float = 7.0
    """At most one training snapshot (purchase and churn labels) per profile per interval:
    bounds pending-label memory and stops very active profiles dominating the training set."""
    value_label_every_days: float = 28.0
    """The 90-day value label is attached to a snapshot at most this often per profile (its
    snapshots live 90 days, so this bounds the memory they hold)."""
    decay_half_life_days: float = 14.0
    """Half-life of the decayed engagement counts (the "rate" features)."""
    recency_cap_days: float = 365.0
    """Recency features saturate here; "never" counts as the cap."""
    max_orders_kept: int = 256
    """At most this many recent orders are kept per profile for the 30/90-day windows."""
    learning_rate: float = 0.1
    """AdaGrad step of the linear models (on standardised features)."""
    l2: float = 0.0
    """L2 penalty of the linear models."""
    quality_window: int = 5000
    """Matured labels in the rolling AUC / log loss window of each model."""
    quality_every_days: float = 1.0
    """Interval of the quality time series."""

    def __post_init__(self) -> None:
        positive = (
            "purchase_horizon_days",
            "churn_horizon_days",
            "value_horizon_days",
            "score_every_days",
            "rescore_idle_days",
            "label_every_days",
            "value_label_every_days",
            "decay_half_life_days",
            "recency_cap_days",
            "learning_rate",
            "quality_every_days",
        )
        for name in positive:
            value = getattr(self, name)
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        if not math.isfinite(self.l2) or self.l2 < 0:
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2!r}")
        for name in ("max_orders_kept", "quality_window"):
            value = getattr(self, name)
            if value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.rescore_idle_days < self.score_every_days:
            raise ValueError(
                "rescore_idle_days must be >= score_every_days, got "
                f"{self.rescore_idle_days!r} < {self.score_every_days!r}"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PredictiveConfig:
        """Build from plain data (a scenario file); errors name the offending field."""
        try:
            return msgspec.convert(data, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(str(exc)) from None
