"""Serialised access to the promotion engine model for the HTTP face.

The model is synchronous and every method applies completely or not at all, so what keeps 200
concurrent redemptions of one code from succeeding twice is that no two model calls overlap.
Under trio a synchronous call cannot be interrupted anyway, but the face must not rely on that
accident: every request runs its whole read-check-write (and the JSON snapshot of the result)
inside one :meth:`VoucherifyEngine.call` under a FIFO ``trio.Lock``, and only reports events
after releasing it. A model shared with a :class:`PromotionsActor` in the same trio run is safe
for the same reason: the actor's model calls are synchronous sections too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import trio

from promoloop.actors.events.promotions import EngineEvent
from promoloop.actors.promotions import PromotionEngineModel

T = TypeVar("T")

Report = Callable[[Sequence[EngineEvent]], Awaitable[None]]


class VoucherifyEngine:
    """One model, one caller at a time; events go to ``report`` (e.g. the CDP) if given."""

    def __init__(self, model: PromotionEngineModel, *, report: Report | None = None) -> None:
        self.model = model
        self._lock = trio.Lock()
        self._report = report
        self.reported: list[EngineEvent] = []
        """Every event reported, in order (what the CDP would have received)."""

    async def call(self, fn: Callable[[PromotionEngineModel], T]) -> T:
        """Run ``fn(model)`` alone. ``fn`` must be synchronous: it may not await while it holds
        the model, which is what makes a check and the write that follows it atomic."""
        async with self._lock:
            return fn(self.model)

    async def report(self, events: Sequence[EngineEvent]) -> None:
        if not events:
            return
        self.reported.extend(events)
        if self._report is not None:
            await self._report(events)
