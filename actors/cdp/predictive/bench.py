"""Micro-benchmark: model updates per second inside the engine vs a bare River loop.

The issue's target is that learning inside the pipeline runs at >= 70% of the rate of bare
``learn_one`` calls. Both sides here do the same learning work on the same feature vectors:

* **engine**: ``PredictiveEngine.advance`` over a queue of matured labels: heap pops, label
  resolution from counters, rebuilding the feature dict from the snapshot array, progressive
  metric updates (rolling AUC, log loss, MAE), and the ``learn_one`` calls;
* **bare**: the same ``learn_one`` calls, in the same order, on fresh models of the same kind,
  with the feature dicts built beforehand.

A synthetic population (fixed seed) fills the queue first; that part is not timed.
"""

from __future__ import annotations

import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from promoloop.actors.cdp.predictive.config import PredictiveConfig
from promoloop.actors.cdp.predictive.engine import PredictiveEngine, default_models
from promoloop.actors.cdp.predictive.features import FEATURE_NAMES
from promoloop.actors.cdp.predictive.labels import CHURN, PURCHASE, resolve
from promoloop.actors.cdp.predictive.models import value_target

_T0 = datetime(2026, 1, 5, tzinfo=UTC)
_EVENTS = ("Product Viewed", "Product Added", "Email Opened", "Order Completed")


def _fill(engine: PredictiveEngine, profiles: int, days: int, seed: int) -> None:
    rng = random.Random(seed)
    keys = [f"prof_{i:07d}" for i in range(profiles)]
    for i, key in enumerate(keys):
        engine.observe_treatment(key, _T0, i % 2 == 0)
    for d in range(days):
        batch = []
        for key in keys:
            for _ in range(rng.randrange(0, 4)):
                name = rng.choice(_EVENTS)
                props = {"total_cents": rng.randrange(500, 20000)} if name == _EVENTS[3] else {}
                batch.append((d + rng.random(), key, name, props))
        batch.sort(key=lambda e: (e[0], e[1]))
        for t, key, name, props in batch:
            engine.observe(key, _T0 + timedelta(days=t), name, props)
        now = _T0 + timedelta(days=d + 1)
        engine.advance(now)
        engine.predict_due(now)


def bench_updates(n: int = 20000, seed: int = 7) -> dict[str, Any]:
    """Time ~``n`` model updates through the engine and through a bare loop; return figures.

    Keys: ``updates`` (learn_one calls timed on each side), ``engine_updates_per_s``,
    ``bare_updates_per_s``, ``ratio`` (engine / bare; the target is >= 0.7), ``profiles``,
    ``feature_count``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    config = PredictiveConfig(label_every_days=1.0, value_label_every_days=1.0)
    days = 10
    # Each profile snapshotted daily yields ~2.6 updates per snapshot (purchase, uplift, churn,
    # value); keep horizons short enough that all mature at the final advance.
    profiles = max(4, math.ceil(n / (days * 2.6)))
    engine = PredictiveEngine(config)
    _fill(engine, profiles, days, seed)

    pending = engine.labels.pending()
    features = engine.features
    jobs: list[tuple[int, dict[str, float], Any]] = []
    for _, key, target, snap in pending:
        x = dict(zip(FEATURE_NAMES, snap.x, strict=True))
        y = resolve(target, snap, features.label_counters(key))
        if target == PURCHASE:
            jobs.append((0, x, y > 0))
            if snap.treated is not None:
                jobs.append((3 if snap.treated else 4, x, y > 0))
        elif target == CHURN:
            jobs.append((1, x, y > 0))
        else:
            jobs.append((2, x, value_target(y)))

    bare = default_models(config)
    learners = (bare.purchase, bare.churn, bare.value, bare.treated, bare.control)
    start = time.perf_counter()
    for which, x, y in jobs:
        learners[which].learn_one(x, y)
    bare_s = time.perf_counter() - start

    last = max((m for m, _, _, _ in pending), default=0.0)
    before = sum(v for k, v in engine.stats.items() if k.startswith("learned_"))
    start = time.perf_counter()
    engine._advance(last, inclusive=True)
    engine_s = time.perf_counter() - start
    updates = sum(v for k, v in engine.stats.items() if k.startswith("learned_")) - before

    engine_rate = updates / engine_s if engine_s > 0 else math.inf
    bare_rate = len(jobs) / bare_s if bare_s > 0 else math.inf
    return {
        "updates": updates,
        "bare_updates": len(jobs),
        "engine_updates_per_s": engine_rate,
        "bare_updates_per_s": bare_rate,
        "ratio": engine_rate / bare_rate if bare_rate and math.isfinite(bare_rate) else math.nan,
        "profiles": profiles,
        "feature_count": len(FEATURE_NAMES),
    }


if __name__ == "__main__":  # pragma: no cover - manual run
    import json

    print(json.dumps(bench_updates(), indent=2))
