"""Late labels without leakage.

At prediction time ``t`` the engine freezes a :class:`Snapshot`: the feature vector as it was
at ``t``, the predictions made from it, and the profile's *label counters* (activity events,
orders, order cents observed so far). One pending entry per target is queued for maturity at
``t + horizon``. When it matures, the label is the difference of the counters between then and
the snapshot, i.e. what was observed in (t, t + horizon]:

* purchase: 1 if at least one ``Order Completed`` (7 days by default);
* churn: 1 if no customer activity at all (30 days);
* value: the sum of ``total_cents`` (90 days).

The model then learns from the *snapshot's* features. It never sees features computed after
``t``, and a label never includes an event observed before the snapshot, so nothing from the
future leaks in. Differencing counters (instead of keeping event history) makes resolution
O(1) and the per-profile memory constant; it is exact as long as events are observed in
timestamp order, which the engine enforces by maturing due labels before applying an event
with a later timestamp (see ``PredictiveEngine.observe``).

Ordering is deterministic: by maturity time, then profile key, then a global sequence number.
"""

from __future__ import annotations

import heapq
from array import array
from collections.abc import Iterator
from typing import Final

PURCHASE: Final = 0
CHURN: Final = 1
VALUE: Final = 2
TARGET_NAMES: Final = ("purchase", "churn", "value")


class Snapshot:
    """Everything frozen at prediction time ``at`` (float days)."""

    __slots__ = ("at", "cents", "events", "key", "orders", "preds", "treated", "x")

    def __init__(
        self,
        key: str,
        at: float,
        x: array,
        counters: tuple[float, float, float],
        preds: array | tuple[float, ...],
        treated: bool | None,
    ) -> None:
        self.key = key
        self.at = at
        self.x = x
        self.events, self.orders, self.cents = counters
        self.preds = preds
        """(p_purchase, p_churn, value_cents, uplift, p_treated, p_control) made at ``at``."""
        self.treated = treated
        """Treatment status at ``at``; ``None`` means unknown (not used by the uplift learner)."""


def resolve(target: int, snap: Snapshot, counters: tuple[float, float, float]) -> float:
    """The label of ``target`` from the counters at maturity minus those at the snapshot."""
    events, orders, cents = counters
    if target == PURCHASE:
        return 1.0 if orders > snap.orders else 0.0
    if target == CHURN:
        return 1.0 if events <= snap.events else 0.0
    return max(0.0, cents - snap.cents)


class LabelQueue:
    """Pending labels ordered by (maturity, profile key, sequence)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, int, int, Snapshot]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, mature_at: float, target: int, snap: Snapshot) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (mature_at, snap.key, self._seq, target, snap))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, *, inclusive: bool = True) -> Iterator[tuple[int, Snapshot]]:
        """Yield ``(target, snapshot)`` of every label due at ``now`` (``mature_at <= now``,
        or ``< now`` when not inclusive), in deterministic order."""
        heap = self._heap
        pop = heapq.heappop
        if inclusive:
            while heap and heap[0][0] <= now:
                _, _, _, target, snap = pop(heap)
                yield target, snap
        else:
            while heap and heap[0][0] < now:
                _, _, _, target, snap = pop(heap)
                yield target, snap

    def pending(self) -> list[tuple[float, str, int, Snapshot]]:
        """A sorted copy of the queue as (mature_at, key, target, snapshot), for inspection."""
        return [(m, k, t, s) for m, k, _, t, s in sorted(self._heap, key=lambda e: e[:3])]
