"""``PredictiveEngine``: the facade the CDP actor calls, event by event, in virtual time.

Call sequence (all synchronous, no I/O):

1. ``observe(profile_key, at, event_name, properties)`` for every stored event, in timestamp
   order (``observe_treatment`` when a campaign assigns a profile to treatment or control;
   ``merge`` / ``forget`` when the identity graph merges or deletes profiles).
2. Once the events up to ``now`` are in: ``advance(now)`` matures the labels due by ``now``
   (predict-then-learn), then ``predict_due(now)`` scores every profile that is due and
   returns their keys, so the actor can write ``traits_for(key, now)`` onto those profiles.

Time only moves forward: ``observe`` matures every label due strictly before the event's
timestamp before it applies the event, so a label of window (t, t+h] is resolved from exactly
the events observed up to t+h. Labels are resolved by differencing counters (see
:mod:`labels`), so an event arriving with a timestamp older than the engine's clock counts
towards the windows still open, a small and deterministic approximation.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from promoloop.actors.cdp.predictive.config import PredictiveConfig
from promoloop.actors.cdp.predictive.features import FEATURE_NAMES, FeatureStore, to_days
from promoloop.actors.cdp.predictive.labels import (
    CHURN,
    PURCHASE,
    VALUE,
    LabelQueue,
    Snapshot,
    resolve,
)
from promoloop.actors.cdp.predictive.models import (
    TargetModels,
    make_classifier,
    make_regressor,
)
from promoloop.actors.cdp.predictive.quality import (
    ClassifierQuality,
    RegressorQuality,
    truth_report,
)
from promoloop.actors.cdp.predictive.scores import ScoreBoard

LIKELIHOOD_TO_PURCHASE: Final = "likelihood_to_purchase"
LIKELIHOOD_TO_CHURN: Final = "likelihood_to_churn"
PREDICTED_VALUE: Final = "predicted_value_90d_cents"
OFFER_UPLIFT: Final = "offer_uplift"
TRAITS: Final = (LIKELIHOOD_TO_PURCHASE, LIKELIHOOD_TO_CHURN, PREDICTED_VALUE, OFFER_UPLIFT)
"""Trait names, in the order of the first four predictions of a snapshot."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_NAN: Final = math.nan

ModelFactory = Callable[[PredictiveConfig], TargetModels]


def default_models(config: PredictiveConfig) -> TargetModels:
    return TargetModels(
        lambda: make_classifier(config.learning_rate, config.l2),
        lambda: make_regressor(config.learning_rate, config.l2),
    )


def from_days(t: float) -> datetime:
    return _EPOCH + timedelta(days=t)


class _Meta:
    """Scheduling and score state of one profile (next to its feature state)."""

    __slots__ = ("due", "last_label", "last_value_label", "preds", "scored_at", "treated")

    def __init__(self, due: float) -> None:
        self.due = due
        self.scored_at = _NAN
        self.last_label = _NAN
        self.last_value_label = _NAN
        self.treated: bool | None = None
        self.preds: tuple[float, ...] | None = None


class PredictiveEngine:
    """Predictive traits (purchase, churn, value, offer uplift) learned online from events."""

    def __init__(
        self, config: PredictiveConfig | None = None, *, model_factory: ModelFactory | None = None
    ) -> None:
        self.config = config = config or PredictiveConfig()
        self.features = FeatureStore(
            decay_half_life_days=config.decay_half_life_days,
            recency_cap_days=config.recency_cap_days,
            max_orders_kept=config.max_orders_kept,
        )
        self.models = (model_factory or default_models)(config)
        self.labels = LabelQueue()
        self.boards = {name: ScoreBoard() for name in TRAITS}
        self._meta: dict[str, _Meta] = {}
        self._due: list[tuple[float, str]] = []
        self._now = -math.inf
        self._next_sample = -math.inf
        self._horizons = (
            config.purchase_horizon_days,
            config.churn_horizon_days,
            config.value_horizon_days,
        )
        w = config.quality_window
        self.quality_purchase = ClassifierQuality(w)
        self.quality_churn = ClassifierQuality(w)
        self.quality_value = RegressorQuality(w)
        self.quality_treated = ClassifierQuality(w)
        self.quality_control = ClassifierQuality(w)
        self.stats = {
            "events": 0,
            "scored": 0,
            "snapshots": 0,
            "learned_purchase": 0,
            "learned_churn": 0,
            "learned_value": 0,
            "learned_uplift": 0,
            "dropped_labels": 0,
        }

    # -- inputs -------------------------------------------------------------------------------
    def observe(
        self, profile_key: str, at: datetime, event_name: str, properties: Mapping[str, Any]
    ) -> None:
        """Fold one event into the profile's features (after maturing labels due before it)."""
        t = to_days(at)
        if t > self._now:
            self._advance(t, inclusive=False)
        self.features.observe(profile_key, t, event_name, properties)
        self.stats["events"] += 1
        self._touch(profile_key, t)

    def observe_treatment(self, profile_key: str, at: datetime, treated: bool | None) -> None:
        """Record that the profile is in the treated (offer) or control group from ``at``;
        ``None`` ends the exposure (the offer's effect is over), so later snapshots stop
        training the uplift models."""
        t = to_days(at)
        self.features.ensure(profile_key, t)
        meta = self._touch(profile_key, t)
        meta.treated = None if treated is None else bool(treated)

    def merge(self, into: str, absorbed: str) -> None:
        """The CDP merged profile ``absorbed`` into ``into``: combine their features; the
        absorbed profile's pending labels are dropped when they mature."""
        self.features.merge(into, absorbed)
        old = self._meta.pop(absorbed, None)
        for board in self.boards.values():
            board.discard(absorbed)
        if into in self.features:
            meta = self._touch(into, self._now if math.isfinite(self._now) else _NAN)
            if meta.treated is None and old is not None:
                meta.treated = old.treated

    def forget(self, profile_key: str) -> None:
        """Delete a profile (its pending labels are dropped when they mature)."""
        self.features.forget(profile_key)
        self._meta.pop(profile_key, None)
        for board in self.boards.values():
            board.discard(profile_key)

    def _touch(self, key: str, t: float) -> _Meta:
        """Make sure the profile is scored soon: at ``t``, or one cadence after its last score."""
        meta = self._meta.get(key)
        if meta is None:
            due = t if t == t else self._now
            meta = self._meta[key] = _Meta(due)
            heapq.heappush(self._due, (due, key))
            return meta
        want = t if t == t else meta.due
        scored = meta.scored_at
        if scored == scored:
            want = max(want, scored + self.config.score_every_days)
        if want < meta.due:
            meta.due = want
            heapq.heappush(self._due, (want, key))
        return meta

    # -- time ---------------------------------------------------------------------------------
    def advance(self, now: datetime) -> int:
        """Mature every label due by ``now`` (inclusive) and learn from it; returns how many.

        Call it once all events with timestamps <= ``now`` have been observed."""
        return self._advance(to_days(now), inclusive=True)

    def _advance(self, t: float, *, inclusive: bool) -> int:
        if t > self._now:
            self._now = t
        learned = 0
        features = self.features
        models = self.models
        stats = self.stats
        names = FEATURE_NAMES
        for target, snap in self.labels.pop_due(t, inclusive=inclusive):
            if snap.key not in features:
                stats["dropped_labels"] += 1
                continue
            y = resolve(target, snap, features.label_counters(snap.key))
            x = dict(zip(names, snap.x, strict=True))
            preds = snap.preds
            if target == PURCHASE:
                hit = y > 0.0
                self.quality_purchase.update(hit, preds[0])
                models.purchase.learn_one(x, hit)
                stats["learned_purchase"] += 1
                if snap.treated is not None:
                    if snap.treated:
                        self.quality_treated.update(hit, preds[4])
                        models.treated.learn_one(x, hit)
                    else:
                        self.quality_control.update(hit, preds[5])
                        models.control.learn_one(x, hit)
                    stats["learned_uplift"] += 1
                    learned += 1
            elif target == CHURN:
                hit = y > 0.0
                self.quality_churn.update(hit, preds[1])
                models.churn.learn_one(x, hit)
                stats["learned_churn"] += 1
            else:
                self.quality_value.update(y, preds[2])
                models.learn_value(x, y)
                stats["learned_value"] += 1
            learned += 1
        if inclusive and t >= self._next_sample:
            self._sample(t)
        return learned

    def _sample(self, t: float) -> None:
        step = self.config.quality_every_days
        at = from_days(t)
        for q in self._qualities().values():
            q.sample(at)
        self._next_sample = (math.floor(t / step) + 1) * step

    def predict_due(self, now: datetime) -> list[str]:
        """Score every profile due by ``now``; take label snapshots on their cadence.

        Returns the keys scored, in scoring order (by due time, then key): the profiles whose
        traits changed. Call after ``advance(now)``."""
        t = to_days(now)
        if t > self._now:
            self._now = t
        cfg = self.config
        heap = self._due
        scored: list[str] = []
        while heap and heap[0][0] <= t:
            due, key = heapq.heappop(heap)
            meta = self._meta.get(key)
            if meta is None or meta.due != due or key not in self.features:
                continue  # stale entry: rescheduled, merged or forgotten
            x = self._score(key, meta, t)
            last = meta.last_label
            if math.isnan(last) or t - last >= cfg.label_every_days:
                self._snapshot(key, meta, t, x)
            meta.due = t + cfg.rescore_idle_days
            heapq.heappush(heap, (meta.due, key))
            scored.append(key)
        return scored

    def _score(self, key: str, meta: _Meta, t: float) -> Any:
        x = self.features.vector(key, t)
        preds = self.models.predict(dict(zip(FEATURE_NAMES, x, strict=True)))
        meta.preds = preds
        meta.scored_at = t
        for name, value in zip(TRAITS, preds, strict=False):
            self.boards[name].set(key, value)
        self.stats["scored"] += 1
        return x

    def _snapshot(self, key: str, meta: _Meta, t: float, x: Any) -> None:
        assert meta.preds is not None
        # float32 features and an array of predictions: a snapshot lives up to 90 days and a
        # profile holds several, so they dominate the engine's memory per profile.
        snap = Snapshot(
            key,
            t,
            array("f", x),
            self.features.label_counters(key),
            array("d", meta.preds),
            meta.treated,
        )
        h_purchase, h_churn, h_value = self._horizons
        self.labels.push(t + h_purchase, PURCHASE, snap)
        self.labels.push(t + h_churn, CHURN, snap)
        meta.last_label = t
        last_value = meta.last_value_label
        if math.isnan(last_value) or t - last_value >= self.config.value_label_every_days:
            self.labels.push(t + h_value, VALUE, snap)
            meta.last_value_label = t
        self.stats["snapshots"] += 1

    # -- outputs ------------------------------------------------------------------------------
    def traits_for(self, profile_key: str, now: datetime) -> dict[str, float]:
        """The profile's predictive traits with live percentiles (0-100, mid-rank).

        If the profile is due at ``now`` it is scored first (without a training snapshot, so
        who asks never changes what the models learn); an unknown profile gets ``{}``."""
        meta = self._meta.get(profile_key)
        if meta is None or profile_key not in self.features:
            return {}
        t = to_days(now)
        if meta.due <= t or meta.preds is None:
            self._score(profile_key, meta, t)
            meta.due = t + self.config.rescore_idle_days
            heapq.heappush(self._due, (meta.due, profile_key))
        assert meta.preds is not None
        out: dict[str, float] = {}
        for name, value in zip(TRAITS, meta.preds, strict=False):
            out[name] = value
            out[f"{name}_percentile"] = self.boards[name].percentile(value)
        return out

    def threshold(self, trait: str, top_share: float) -> float | None:
        """Lowest score of the top ``top_share`` of profiles for ``trait`` (live)."""
        return self.boards[trait].threshold(top_share)

    def scores(self, trait: str) -> dict[str, float]:
        """Current score of every scored profile for ``trait`` (sorted by key)."""
        board = self.boards[trait]
        return {k: s for k in sorted(self._meta) if (s := board.get(k)) is not None}

    def _qualities(self) -> dict[str, ClassifierQuality | RegressorQuality]:
        return {
            "purchase": self.quality_purchase,
            "churn": self.quality_churn,
            "value": self.quality_value,
            "uplift_treated": self.quality_treated,
            "uplift_control": self.quality_control,
        }

    def quality(self) -> dict[str, Any]:
        """Progressive metrics per model (see :mod:`quality`), plus counters."""
        out: dict[str, Any] = {name: q.summary() for name, q in self._qualities().items()}
        out["stats"] = dict(self.stats, pending_labels=len(self.labels), profiles=len(self._meta))
        return out

    def quality_vs_truth(
        self,
        trait: str,
        truth: Mapping[str, float],
        outcomes: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        """Current scores of ``trait`` against true probabilities (profiles in both, by key):
        ``auc_vs_truth``, ``spearman`` and the decile calibration table."""
        current = self.scores(trait)
        keys = [k for k in current if k in truth and (outcomes is None or k in outcomes)]
        return truth_report(
            [current[k] for k in keys],
            [truth[k] for k in keys],
            None if outcomes is None else [outcomes[k] for k in keys],
        )

    def profiles(self) -> Iterable[str]:
        return iter(self._meta)
