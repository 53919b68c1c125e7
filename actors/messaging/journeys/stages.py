"""Lifecycle stages (awareness → interest → intent → purchase → retention) and their funnel.

A customer is in *awareness* from the first time the engine sees them; observed events move
them forward (a product view → interest, a cart or checkout → intent, an order → purchase, a
second order → retention) and so may a journey's ``set_stage`` step. Stages only move forward:
the funnel counts customers who *reached* each stage, which is what a funnel report shows and
what makes it monotone (each stage ≤ the one before) by construction. The current-stage
distribution is kept beside it.
"""

from __future__ import annotations

from collections.abc import Mapping

from promoloop.actors.events import names
from promoloop.actors.messaging.journeys.definition import STAGES

DEFAULT_EVENTS: Mapping[str, str] = {
    names.PRODUCT_VIEWED: "interest",
    names.PRODUCT_ADDED: "intent",
    names.CHECKOUT_STARTED: "intent",
    names.ORDER_COMPLETED: "purchase",
}


class StageRules:
    """Which event moves a customer to which stage; ``retention_orders`` orders → retention."""

    def __init__(
        self,
        events: Mapping[str, str] | None = None,
        *,
        order_event: str = names.ORDER_COMPLETED,
        retention_orders: int = 2,
        trait: str | None = "journey_stage",
    ) -> None:
        """``trait``: the profile trait the current stage is written to (None: not written)."""
        events = dict(DEFAULT_EVENTS if events is None else events)
        for event, stage in events.items():
            if stage not in STAGES:
                raise ValueError(f"stage rule {event!r} → unknown stage {stage!r} ({STAGES})")
        if retention_orders < 1:
            raise ValueError(f"retention_orders must be >= 1, got {retention_orders}")
        self.events = {event: STAGES.index(stage) for event, stage in events.items()}
        self.order_event = order_event
        self.retention_orders = retention_orders
        self.trait = trait

    def stage_after(self, event: str, orders: int) -> int:
        """The stage an event implies (-1: none), given the customer's order count so far."""
        if event == self.order_event and orders >= self.retention_orders:
            return STAGES.index("retention")
        return self.events.get(event, -1)


class Funnel:
    """Customers who reached each stage, and how many are in each stage now."""

    def __init__(self) -> None:
        self.reached = [0] * len(STAGES)
        self.current = [0] * len(STAGES)

    def move(self, old: int, new: int) -> None:
        """Account for a move from ``old`` (-1: unseen) to a later ``new``."""
        for stage in range(old + 1, new + 1):
            self.reached[stage] += 1
        if old >= 0:
            self.current[old] -= 1
        self.current[new] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            "reached": dict(zip(STAGES, self.reached, strict=True)),
            "current": dict(zip(STAGES, self.current, strict=True)),
        }
