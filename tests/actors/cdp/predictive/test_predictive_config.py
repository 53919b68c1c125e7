"""PredictiveConfig: defaults, and bad values refused with the field named."""

from __future__ import annotations

import pytest

from promoloop.actors.cdp.predictive import PredictiveConfig, PredictiveEngine


def test_defaults_are_the_issue_horizons() -> None:
    cfg = PredictiveConfig()
    assert (cfg.purchase_horizon_days, cfg.churn_horizon_days, cfg.value_horizon_days) == (
        7.0,
        30.0,
        90.0,
    )
    assert PredictiveEngine().config == cfg


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("purchase_horizon_days", 0.0),
        ("churn_horizon_days", -1.0),
        ("value_horizon_days", float("inf")),
        ("score_every_days", 0.0),
        ("label_every_days", float("nan")),
        ("learning_rate", 0.0),
        ("l2", -0.1),
        ("max_orders_kept", 0),
        ("quality_window", 0),
    ],
)
def test_bad_values_name_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        PredictiveConfig(**{field: value})
    with pytest.raises(ValueError, match=field):
        PredictiveConfig.from_dict({field: value})


def test_rescore_interval_cannot_be_below_cadence() -> None:
    with pytest.raises(ValueError, match="rescore_idle_days"):
        PredictiveConfig(score_every_days=2.0, rescore_idle_days=1.0)


def test_from_dict_rejects_unknown_fields_and_types() -> None:
    with pytest.raises(ValueError, match="horizon"):
        PredictiveConfig.from_dict({"horizon": 7})
    with pytest.raises(ValueError, match="purchase_horizon_days"):
        PredictiveConfig.from_dict({"purchase_horizon_days": "seven"})
    assert PredictiveConfig.from_dict({"purchase_horizon_days": 3}).purchase_horizon_days == 3.0
