"""All actors' timers in one heap, served by one task that sleeps once per distinct due time.

A trio sleep costs tens of microseconds under the autojump clock, so a population must not
sleep once per customer; actors keep their own due actions and ask for one wake-up per tick.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

import trio

from promoloop.actors.runtime.envelope import Envelope

if TYPE_CHECKING:
    from promoloop.actors.runtime.world import World

SOURCE = "clock"


class Timers:
    def __init__(self, world: World) -> None:
        self._world = world
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._changed = trio.Event()

    def schedule(self, sim_at: float, target: str, message: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (sim_at, self._seq, target, message))
        self._changed.set()

    @property
    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    async def run(self) -> None:
        time = self._world.time
        while True:
            if not self._heap:
                self._changed = trio.Event()
                await self._changed.wait()
                continue
            due = self._heap[0][0]
            deadline = time.to_trio(due)
            if trio.current_time() < deadline:
                self._changed = trio.Event()
                with trio.move_on_at(deadline):
                    await self._changed.wait()
                continue
            while self._heap and self._heap[0][0] <= due:
                at, seq, target, message = heapq.heappop(self._heap)
                envelope = Envelope(time.to_trio(at), SOURCE, seq, target, message)
                await self._world.lane(SOURCE, target).send(envelope)
