"""Predictive traits for the CDP: online River models fed event by event, with late labels.

Pure synchronous Python (no trio, no I/O): the CDP actor owns one :class:`PredictiveEngine`
and calls it from its message handler. See :mod:`.engine` for the call sequence.
"""

from promoloop.actors.cdp.predictive.config import PredictiveConfig
from promoloop.actors.cdp.predictive.engine import (
    LIKELIHOOD_TO_CHURN,
    LIKELIHOOD_TO_PURCHASE,
    OFFER_UPLIFT,
    PREDICTED_VALUE,
    TRAITS,
    PredictiveEngine,
)
from promoloop.actors.cdp.predictive.features import FEATURE_NAMES, FeatureStore
from promoloop.actors.cdp.predictive.quality import auc_vs_truth, calibration_table, exact_auc
from promoloop.actors.cdp.predictive.scores import ScoreBoard

__all__ = [
    "FEATURE_NAMES",
    "LIKELIHOOD_TO_CHURN",
    "LIKELIHOOD_TO_PURCHASE",
    "OFFER_UPLIFT",
    "PREDICTED_VALUE",
    "TRAITS",
    "FeatureStore",
    "PredictiveConfig",
    "PredictiveEngine",
    "ScoreBoard",
    "auc_vs_truth",
    "calibration_table",
    "exact_auc",
]
