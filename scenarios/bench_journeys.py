"""Journey engine figures: steps per second for a population going through a 5-step journey.

The journey is entry (``Signed Up``) → send a welcome email → wait a day → branch on "viewed a
product" → a push reminder, or exit. Every customer enters at once (the worst case for one
instant), half of them view a product during the wait, and every send is answered at once
(a destination that always accepts), so the figure is the engine's own cost: event intake,
runs, the wake-up heap, branch conditions and the request/reply bookkeeping, in-process.

Beside it, the **floor** measured in the same run: per step, one heap push and one pop and one
dict update, the least any scheduler keeping per-customer state in a heap must do. The ratio
floor/engine (how many floors one step costs) is the figure that travels between machines.
Sizes are parameters so a test can run it tiny; speed is never asserted.
"""

from __future__ import annotations

import gc
import heapq
import time
from typing import Any

from promoloop.actors.cdp.audiences import PerformedEvent
from promoloop.actors.events import names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.messaging.journeys import (
    Branch,
    Case,
    EventEntry,
    Exit,
    Journey,
    JourneyEngine,
    Send,
    Wait,
)

DAY = 86_400.0

BENCH_JOURNEY = Journey(
    name="welcome",
    entry=EventEntry(event=names.SIGNED_UP),
    steps=(
        Send(name="welcome", channel="email", template="welcome"),
        Wait(name="a day", days=1),
        Branch(
            name="browsed?",
            cases=(Case(when=PerformedEvent(event=names.PRODUCT_VIEWED), goto="reminder"),),
            otherwise="done",
        ),
        Send(name="reminder", channel="push", template="reminder", next="done"),
        Exit(name="done"),
    ),
)


def _drain(engine: JourneyEngine, now: float) -> int:
    """Run the engine at ``now``, answering every send at once; returns the sends answered."""
    answered = 0
    while requests := engine.run(now):
        for token, request in requests:
            assert isinstance(request, SendMessage)
            engine.complete(token, SendResult(request_id=request.request_id, sent=True), now)
            answered += 1
    return answered


def engine_run(customers: int) -> dict[str, Any]:
    engine = JourneyEngine([BENCH_JOURNEY], stages=None, seed=0)
    users = [f"u{i:07d}" for i in range(customers)]
    gc.collect()
    start = time.perf_counter()
    for user in users:
        engine.track(user, names.SIGNED_UP, {}, 0.0)
    sends = _drain(engine, 0.0)
    for user in users[::2]:
        engine.track(user, names.PRODUCT_VIEWED, {}, DAY / 2)
    sends += _drain(engine, DAY / 2)
    due = engine.next_due()
    assert due is not None
    sends += _drain(engine, due)
    elapsed = time.perf_counter() - start
    stats = engine.stats[0]
    return {
        "seconds": round(elapsed, 4),
        "steps": engine.steps,
        "steps_per_second": round(engine.steps / elapsed),
        "sends": sends,
        "events": customers + len(users[::2]),
        "entered": stats.entered,
        "completed": stats.completed,
        "active_after": sum(1 for c in engine.customers.values() if c.runs),
    }


def floor_run(steps: int) -> dict[str, Any]:
    """The bare bookkeeping of ``steps`` steps: a heap push and pop and a dict update each."""
    state: dict[int, float] = {}
    heap: list[tuple[float, int, int]] = []
    gc.collect()
    start = time.perf_counter()
    for i in range(steps):
        heapq.heappush(heap, (float(i % 1_440), i, i))
    while heap:
        at, _, key = heapq.heappop(heap)
        state[key] = at
    elapsed = time.perf_counter() - start
    return {
        "seconds": round(elapsed, 4),
        "steps": steps,
        "steps_per_second": round(steps / elapsed),
    }


def run_journeys_bench(customers: int = 100_000, repeat: int = 1) -> dict[str, Any]:
    """Steps per second of the journey engine for ``customers`` in :data:`BENCH_JOURNEY`,
    beside the floor (best of ``repeat`` runs each); a JSON-able dict."""
    if customers < 2:
        raise ValueError(f"customers must be >= 2, got {customers}")
    engine = min((engine_run(customers) for _ in range(max(repeat, 1))), key=lambda r: r["seconds"])
    floor = min(
        (floor_run(engine["steps"]) for _ in range(max(repeat, 1))), key=lambda r: r["seconds"]
    )
    return {
        "customers": customers,
        "journey_steps": [step.name for step in BENCH_JOURNEY.steps],
        "engine": engine,
        "floor": floor | {"what": "heap push + pop + dict update per step"},
        "floors_per_step": round(floor["steps_per_second"] / engine["steps_per_second"], 2),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run_journeys_bench(), indent=2))
