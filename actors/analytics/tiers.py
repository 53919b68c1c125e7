"""Tier transitions: who moved from which tier to which, and when, as Engage reports them.

A tier is one of a set of mutually exclusive audiences (points cold / warm / hot). Engage sends
``Audience Entered`` when a customer joins one; the watch remembers each customer's last tier and
records a move whenever the new one differs. Exits are not needed: leaving a tier always comes
with entering the next, and a first entry is a customer's starting tier, not a move.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Track
from promoloop.actors.runtime import DAY, Actor, Started


class TierWatch(Actor):
    """Records every move between ``tiers`` from the CDP's ``Audience Entered`` events."""

    def __init__(self, name: str, *, tiers: tuple[str, ...]) -> None:
        if len(set(tiers)) < 2:
            raise ValueError(f"a tier watch needs at least two distinct tiers, got {tiers}")
        super().__init__(name)
        self.tiers = frozenset(tiers)
        self.current: dict[str, str] = {}
        """Each customer's latest tier."""
        self.transitions: list[tuple[float, str, str]] = []
        """(sim seconds, from tier, to tier) for every move between two tiers."""

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, EventBatch):
            raise TypeError(f"the tier watch takes EventBatch, not {type(message).__name__}")
        for event in message.events:
            if not (isinstance(event, Track) and event.event == names.AUDIENCE_ENTERED):
                continue
            key = event.properties.get("audience_key")
            if key not in self.tiers or not event.user_id or event.timestamp is None:
                continue
            before = self.current.get(event.user_id)
            self.current[event.user_id] = key
            if before is not None and before != key:
                at = self.world.time.seconds_at(event.timestamp)
                self.transitions.append((at, before, key))
        return None

    def by_move(self) -> dict[str, int]:
        """Moves counted by ``from->to``, sorted by name."""
        return dict(sorted(Counter(f"{a}->{b}" for _, a, b in self.transitions).items()))

    def daily(self, days: int) -> list[int]:
        """Moves per day of the run (a move at the very end counts on the last day)."""
        counts = [0] * days
        for at, _, _ in self.transitions:
            counts[min(days - 1, int(at // DAY))] += 1
        return counts
