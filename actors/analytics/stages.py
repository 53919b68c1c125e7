"""The lifecycle funnel (awareness → interest → intent → purchase → retention) of a whole run.

Journeys keep stages for the customers they orchestrate; a scenario without journeys still wants
the funnel by stage next to its messages, so this watch applies the same :class:`StageRules` to
the storefront's calls the CDP routes to it, and snapshots the funnel once a day.
"""

from __future__ import annotations

from typing import Any

from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Track
from promoloop.actors.messaging.journeys.definition import STAGES
from promoloop.actors.messaging.journeys.stages import Funnel, StageRules
from promoloop.actors.runtime import DAY, Actor, Started, Wake


class StageWatch(Actor):
    """Customers who reached each stage, from the tracks it receives; a snapshot a day."""

    def __init__(self, name: str = "stages", *, rules: StageRules | None = None) -> None:
        super().__init__(name)
        self.rules = rules or StageRules(trait=None)
        self.funnel = Funnel()
        self.stage: dict[str, int] = {}
        self.orders: dict[str, int] = {}
        self.daily: list[list[int]] = []
        """``reached`` counts (one per stage) at the end of each day, in day order."""

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                self.schedule(DAY, Wake("day"))
            case Wake():
                self.daily.append(list(self.funnel.reached))
                self.schedule(self.now + DAY, Wake("day"))
            case EventBatch():
                for event in message.events:
                    if isinstance(event, Track) and event.user_id:
                        self._observe(event.user_id, event.event)
            case _:
                raise TypeError(f"the stage watch takes EventBatch, not {type(message).__name__}")
        return None

    def _observe(self, user_id: str, event: str) -> None:
        old = self.stage.get(user_id)
        if old is None:  # the first call the CDP routes for a customer: aware of the shop
            old = self._move(user_id, -1, STAGES.index("awareness"))
        if event == self.rules.order_event:
            self.orders[user_id] = self.orders.get(user_id, 0) + 1
        new = self.rules.stage_after(event, self.orders.get(user_id, 0))
        if new > old:
            self._move(user_id, old, new)

    def _move(self, user_id: str, old: int, new: int) -> int:
        self.funnel.move(old, new)
        self.stage[user_id] = new
        return new

    def report(self, days: int) -> dict[str, Any]:
        """The funnel now and at the end of each of ``days`` days (the last day is the final
        state when the run stopped on its boundary), with each stage's share of the one before."""
        reached = self.funnel.snapshot()["reached"]
        steps = list(reached.values())
        return {
            "stages": list(STAGES),
            "reached": reached,
            "current": self.funnel.snapshot()["current"],
            "step_rates": {
                f"{STAGES[i - 1]}->{STAGES[i]}": round(steps[i] / steps[i - 1], 4)
                if steps[i - 1]
                else None
                for i in range(1, len(STAGES))
            },
            "daily": self._daily(days),
        }

    def _daily(self, days: int) -> list[list[int]]:
        """The end of the last day is the end of the run: the funnel as it stands, which also
        counts calls that landed at that very instant, after the last snapshot."""
        final = list(self.funnel.reached)
        earlier = self.daily[: max(days - 1, 0)]
        return earlier + [final] * (days - len(earlier))
