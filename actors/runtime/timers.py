"""All actors' timers in one heap, released into the clock's lanes by the conductor.

A trio sleep costs tens of microseconds under the autojump clock, so a population must not
sleep once per customer; actors keep their own due actions and ask for one wake-up per tick.
The heap has no task of its own: the conductor releases what is due at each settle point and,
when it has nothing to deliver, sleeps until the earliest due time (see :mod:`conductor`). A
task of its own cost two or three more trio scheduler passes per timer delivered (its wake-up,
its cancel scope, its send), which a CDP run with tens of thousands of window wake-ups paid
on every one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from promoloop.actors.runtime.envelope import Envelope

if TYPE_CHECKING:
    from promoloop.actors.runtime.world import World

SOURCE = "clock"


class Timers:
    def __init__(self, world: World, notify: Callable[[], None] = lambda: None) -> None:
        self._world = world
        self._heap: list[tuple[float, int, str, Any]] = []
        self._seq = 0
        self._notify = notify
        """Wakes the conductor: a new timer may be due before the one it sleeps until."""
        self._held: list[tuple[float, int, str, Any]] = []
        """Timers already due whose target's clock lane was full, in due order."""

    def schedule(self, sim_at: float, target: str, message: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (sim_at, self._seq, target, message))
        self._notify()

    @property
    def next_due(self) -> float | None:
        if self._held:
            return self._held[0][0]
        return self._heap[0][0] if self._heap else None

    def deadline(self) -> float:
        """The trio time of the earliest timer not yet due (infinity when none is set)."""
        return self._world.time.to_trio(self._heap[0][0]) if self._heap else math.inf

    def release(self, trio_now: float) -> None:
        """Put every timer due by ``trio_now`` in its target's clock lane, in due order.

        A timer whose lane is full is held back, and so are the later ones for the same target
        (a lane is first in, first out); held timers go first at the next settle point, after
        the target has taken mail. The envelope keeps the due time as its key, so the delivery
        order is the same as if it had been queued on time."""
        heap = self._heap
        if not self._held and not (heap and self.deadline() <= trio_now):
            return
        time = self._world.time
        due = self._held
        self._held = []
        while heap and time.to_trio(heap[0][0]) <= trio_now:
            due.append(heapq.heappop(heap))
        full: set[str] = set()
        for entry in due:
            at, seq, target, message = entry
            if target not in full:
                envelope = Envelope(time.to_trio(at), SOURCE, seq, target, message)
                if self._world.lane(SOURCE, target).try_send(envelope):
                    continue
                full.add(target)
            self._held.append(entry)
