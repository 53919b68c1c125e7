"""A points score per customer, kept in real time and written back to the profile.

The rules are the marketer's engagement score (design.md §1.3): points for what a customer
does (+10 per completed order, +5 per email opened), minus points for every full period
without any activity (−3 per 7 days), clamped to ``[floor, cap]``. They are a small
declarative set (:class:`PointsRule`, loadable from JSON with :func:`load_points_rules`), checked
when defined, so a typo fails the scenario's setup with the rule's index and field instead of
a score that silently never moves.

Why an actor that writes back through ``identify`` on its own source: that is how a Segment
Function or Predictions put a computed value on a profile. The CDP then treats
``points_score`` like any trait, so audiences such as "hot: points_score >= 30" move people
between segments the moment the score crosses a threshold, with Engage's ``Audience
Entered`` / ``Audience Exited`` events.

Decay rule: the score never goes below ``floor`` (default 0) nor above ``cap`` (default 100).
Inactivity is measured from the customer's latest activity (any page or track the customer
made, except the ``passive_events`` that happen *to* them, such as ``Email Delivered``): at
``last + every_days``, ``last + 2·every_days``, ... the score loses ``points`` again, until
the next activity restarts the count. A customer's first call sets the score to ``floor``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from promoloop.actors.definitions import load_definitions
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Identify, Page, Track
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY, HOUR
from promoloop.actors.runtime.ports import TrackingPort

POINTS_SCORE = "points_score"
BATCH = 100

PASSIVE_EVENTS: frozenset[str] = frozenset(
    {
        names.EMAIL_DELIVERED,
        names.PUSH_NOTIFICATION_RECEIVED,
        names.AUDIENCE_ENTERED,
        names.AUDIENCE_EXITED,
        names.PUBLICATION_SUCCEEDED,
        names.PUBLICATION_FAILED,
    }
)
"""Events that happen to a customer rather than by them: they are not activity."""


class PointsRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One rule: ``{"kind": "event", "event": "Order Completed", "points": 10}`` (each time
    the event happens) or ``{"kind": "inactivity", "every_days": 7, "points": -3}`` (each full
    period without activity)."""

    kind: Literal["event", "inactivity"]
    points: int
    event: str | None = None
    every_days: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.points, bool) or self.points == 0:
            raise ValueError(f"points_rule.points must be a non-zero integer, got {self.points}")
        if self.kind == "event":
            if not self.event:
                raise ValueError("points_rule.event must name an event for kind 'event'")
            if self.every_days is not None:
                raise ValueError("points_rule.every_days is only for kind 'inactivity'")
        else:
            if self.event is not None:
                raise ValueError("points_rule.event is only for kind 'event'")
            if self.every_days is None or not self.every_days > 0:
                raise ValueError(
                    f"points_rule.every_days must be > 0 for kind 'inactivity', "
                    f"got {self.every_days}"
                )
            if self.points > 0:
                raise ValueError(
                    f"points_rule.points must be negative for kind 'inactivity', got {self.points}"
                )


class PointsConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The rule set, the trait it writes, and the clamp."""

    rules: tuple[PointsRule, ...]
    trait: str = POINTS_SCORE
    floor: int = 0
    cap: int | None = 100
    passive_events: frozenset[str] = PASSIVE_EVENTS

    def __post_init__(self) -> None:
        if not self.rules:
            raise ValueError("points.rules is empty: a score needs at least one rule")
        if not self.trait:
            raise ValueError("points.trait must be a non-empty trait name")
        if self.cap is not None and self.cap <= self.floor:
            raise ValueError(f"points.cap ({self.cap}) must be > points.floor ({self.floor})")
        seen: set[str] = set()
        inactivity = 0
        for index, rule in enumerate(self.rules):
            if rule.kind == "inactivity":
                inactivity += 1
            elif rule.event in seen:
                raise ValueError(f"points.rules[{index}]: event {rule.event!r} already has a rule")
            else:
                seen.add(rule.event or "")
        if inactivity > 1:
            raise ValueError("points.rules: at most one inactivity rule")

    @property
    def by_event(self) -> dict[str, int]:
        return {r.event: r.points for r in self.rules if r.kind == "event" and r.event}

    @property
    def inactivity(self) -> PointsRule | None:
        return next((r for r in self.rules if r.kind == "inactivity"), None)

    def clamp(self, score: int) -> int:
        score = max(self.floor, score)
        return score if self.cap is None else min(self.cap, score)


DEFAULT_RULES: list[dict[str, Any]] = [
    {"kind": "event", "event": names.ORDER_COMPLETED, "points": 10},
    {"kind": "event", "event": names.EMAIL_OPENED, "points": 5},
    {"kind": "inactivity", "every_days": 7, "points": -3},
]
"""design.md §1.3: +10 a purchase, +5 an email open, −3 per 7 days without activity."""


def load_points_rules(data: bytes | str | Sequence[Any], **options: Any) -> PointsConfig:
    """A :class:`PointsConfig` from JSON (bytes/str) or a parsed list of rule objects;
    ``options`` set the other fields (``trait``, ``floor``, ``cap``). Errors name the rule's
    index and field: ``points.rules[1]: Expected `int`, got `str` - at `$.points```."""
    rules = load_definitions(data, "points.rules", PointsRule)
    return PointsConfig(rules=tuple(rules), **options)


class PointsLedger:
    """The scores, in plain synchronous Python (no trio): what the actor applies, and what a
    test can drive event by event. Times are simulation seconds."""

    def __init__(self, config: PointsConfig) -> None:
        self.config = config
        self._by_event = config.by_event
        self._inactivity = config.inactivity
        self.scores: dict[str, int] = {}
        self.last_activity: dict[str, float] = {}
        self._penalties: list[tuple[float, str, float]] = []
        """(due, user, the activity time it counts from): stale entries are skipped."""
        self.changes = 0
        self.penalties_applied = 0

    def _set(self, user_id: str, score: int) -> bool:
        score = self.config.clamp(score)
        changed = self.scores.get(user_id) != score
        self.scores[user_id] = score
        if changed:
            self.changes += 1
        return changed

    def observe(self, user_id: str, event: str | None, at: float) -> bool:
        """One call by ``user_id`` at ``at`` (``event`` is a track's name; None for a page or
        an identify). Returns whether the score changed."""
        changed = False
        if user_id not in self.scores:
            self._set(user_id, self.config.floor)
            changed = True
        if event is None or event not in self.config.passive_events:
            self._active(user_id, at)
        points = self._by_event.get(event or "")
        if points:
            changed = self._set(user_id, self.scores[user_id] + points) or changed
        return changed

    def _active(self, user_id: str, at: float) -> None:
        last = self.last_activity.get(user_id, -math.inf)
        if at <= last:
            return
        self.last_activity[user_id] = at
        if self._inactivity is not None and self._inactivity.every_days is not None:
            heapq.heappush(self._penalties, (at + self._inactivity.every_days * DAY, user_id, at))

    def next_due(self) -> float | None:
        """When the next inactivity penalty may fall (sim seconds), if any."""
        heap = self._penalties
        while heap and self.last_activity.get(heap[0][1]) != heap[0][2]:
            heapq.heappop(heap)  # the customer was active since: that count restarted
        return heap[0][0] if heap else None

    def advance(self, now: float) -> list[str]:
        """Apply every inactivity penalty due by ``now``; the users whose score changed."""
        rule = self._inactivity
        changed: list[str] = []
        heap = self._penalties
        while True:
            due = self.next_due()
            if due is None or due > now or rule is None or rule.every_days is None:
                return changed
            _, user_id, since = heapq.heappop(heap)
            self.penalties_applied += 1
            if self._set(user_id, self.scores[user_id] + rule.points):
                changed.append(user_id)
            heapq.heappush(heap, (due + rule.every_days * DAY, user_id, since))


class PointsActor(Actor):
    """Listens to the CDP like a destination; writes the score back on its own source.

    Subscribe it to the customers' own events (the storefront's pages and tracks, the email
    provider's engagement events); wire its ``tracking`` port with ``add_reporter``. Penalties
    are applied on one wake-up per ``resolution`` seconds at most, so a population costs one
    timer per hour of sim time, not one per customer.
    """

    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "points",
        *,
        config: PointsConfig | None = None,
        resolution: float = HOUR,
    ) -> None:
        super().__init__(name)
        if not resolution > 0:
            raise ValueError(f"points resolution must be > 0 seconds, got {resolution}")
        self.ledger = PointsLedger(config or load_points_rules(DEFAULT_RULES))
        self.resolution = resolution
        self.tracking: TrackingPort | None = None
        self.written = 0
        self._next_wake: float | None = None
        self._seq = 0

    @property
    def config(self) -> PointsConfig:
        return self.ledger.config

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                return None
            case EventBatch():
                changed = self._observe(message)
            case Wake():
                self._next_wake = None
                changed = self.ledger.advance(self.now)
            case _:
                raise TypeError(f"the points actor cannot handle {type(message).__name__}")
        await self._write(changed)
        self._arm()
        return None

    def _observe(self, batch: EventBatch) -> list[str]:
        seconds_at = self.world.time.seconds_at
        changed: dict[str, None] = {}
        for event in batch.events:
            user_id = event.user_id
            if not user_id or event.timestamp is None:
                continue  # anonymous browsing scores once identify merges it (future calls)
            if isinstance(event, Track):
                name: str | None = event.event
            elif isinstance(event, Page | Identify):
                name = None
            else:
                continue
            if isinstance(event, Identify) and user_id in self.ledger.scores:
                continue  # a trait update is not something the customer did
            if self.ledger.observe(user_id, name, seconds_at(event.timestamp)):
                changed[user_id] = None
        return list(changed)

    async def _write(self, users: list[str]) -> None:
        if not users:
            return
        if self.tracking is None:
            raise RuntimeError(f"{self.name}: no tracking port wired to the CDP")
        now = self.now_dt()
        trait = self.config.trait
        calls = []
        for user_id in users:
            self._seq += 1
            calls.append(
                Identify(
                    message_id=f"{self.name}-{self._seq:09d}",
                    timestamp=now,
                    user_id=user_id,
                    traits={trait: self.ledger.scores[user_id]},
                )
            )
        self.written += len(calls)
        for start in range(0, len(calls), BATCH):
            await self.tracking.send(calls[start : start + BATCH])

    def _arm(self) -> None:
        due = self.ledger.next_due()
        if due is None:
            return
        wake = math.ceil(due / self.resolution) * self.resolution
        if self._next_wake is None or wake < self._next_wake or self._next_wake <= self.now:
            self._next_wake = wake
            self.schedule(wake, Wake("points"))
