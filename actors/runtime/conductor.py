"""Decides which message is delivered next, so that runs are reproducible.

Trio runs ready tasks in a random order on purpose. The conductor waits until every task is
blocked (the pipeline has settled), then hands the message with the smallest key
``(send time, source, sequence)`` among idle actors' lanes to its actor, and waits again. The
state at each settle point depends only on the messages sent so far, so the order of deliveries,
and with it every result, is a function of the seed alone.

A turn the actor can take without awaiting (:meth:`Actor.receive_now`) runs in the conductor's
own task. When it woke no task (no reply, no event set: the run queue is still empty), the
world is exactly as settled as before the turn, so the conductor picks the next message at
once: no trio scheduler pass at all, where a turn in the actor's task costs two or three
(~28 µs on these machines, measured: 26 → 9 µs per delivery on a timer-driven ping-pong).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio
import trio.testing

from promoloop.actors.runtime.actor import LATER, Started, Unfinished
from promoloop.actors.runtime.errors import ActorCrashed, Deadlock
from promoloop.actors.runtime.eventlog import EventLog

if TYPE_CHECKING:
    from promoloop.actors.runtime.actor import Actor
    from promoloop.actors.runtime.lane import Lane
    from promoloop.actors.runtime.netgate import NetGate
    from promoloop.actors.runtime.timers import Timers


INLINE_STREAK = 256
"""Turns run back to back in the conductor's task before it lets trio take a pass anyway (I/O
is only polled on a pass)."""


class Conductor:
    def __init__(self, log: EventLog, net: NetGate) -> None:
        self._log = log
        self._net = net
        self.timers: Timers | None = None
        """The world's timers: released into lanes at each settle point (see :mod:`timers`)."""
        self._inboxes: list[tuple[Actor, list[Lane]]] = []
        self._by_name: dict[str, list[Lane]] = {}
        self._wakeup = trio.Event()
        self._quiet: trio.Event | None = None
        self.deliveries = 0
        self.inline_turns = 0
        """Deliveries whose turn ran in the conductor's task (Actor.receive_now)."""

    def add_actor(self, actor: Actor) -> None:
        lanes: list[Lane] = []
        self._inboxes.append((actor, lanes))
        self._inboxes.sort(key=lambda pair: pair[0].name)
        self._by_name[actor.name] = lanes

    def add_lane(self, lane: Lane) -> None:
        lanes = self._by_name[lane.target]
        lanes.append(lane)
        lanes.sort(key=lambda item: item.source)

    def notify(self) -> None:
        """A lane received a message; wake the conductor if it sleeps."""
        self._wakeup.set()

    def _pick(self) -> tuple[Actor, Lane] | None:
        best: tuple[Actor, Lane] | None = None
        best_key = None
        for actor, lanes in self._inboxes:
            if not actor.idle:
                continue
            for lane in lanes:
                head = lane.peek()
                if head is None:
                    continue
                if actor.handled == 0 and not isinstance(head.body, Started):
                    continue  # Started first, even before mail keyed earlier (source < "clock")
                if best_key is None or head.key < best_key:
                    best, best_key = (actor, lane), head.key
        return best

    def _busy(self) -> list[Actor]:
        return [actor for actor, _ in self._inboxes if not actor.idle]

    async def wait_quiet(self) -> None:
        """Return once nothing is left to deliver (the pipeline has drained)."""
        self._quiet = trio.Event()
        self._wakeup.set()
        await self._quiet.wait()

    async def run(self) -> None:
        runnable = _runnable_probe()
        settled = False
        streak = 0
        while True:
            if not settled or streak >= INLINE_STREAK:
                await trio.testing.wait_all_tasks_blocked()
                streak = 0
            settled = False
            if self._net.busy:
                await self._net.wait_changed()
                continue
            timers = self.timers
            if timers is not None:
                timers.release(trio.current_time())
            choice = self._pick()
            if choice is None:
                if self._quiet is not None:
                    busy = self._busy()
                    if not busy:
                        self._quiet.set()
                        self._quiet = None
                    elif not self._net.inflight and all(a.awaiting for a in busy):
                        waits = ", ".join(f"{a.name} waits on {a.awaiting}" for a in busy)
                        raise Deadlock(
                            "the run cannot drain: actors are waiting on each other's "
                            f"replies ({waits})"
                        )
                    # Otherwise a busy actor is still working: its turn ending wakes us.
                self._wakeup = trio.Event()
                deadline = timers.deadline() if timers is not None else math.inf
                if _jump_to(deadline):
                    settled = True  # nothing was runnable and the jump woke no task
                    continue
                # Asleep until mail arrives or the next timer is due (the autojump clock
                # jumps straight there once every task is blocked).
                with trio.move_on_at(deadline):
                    await self._wakeup.wait()
                continue
            actor, lane = choice
            envelope = lane.pop()
            self._log.record(envelope)
            self.deliveries += 1
            # The turn runs here when the actor can take the message without awaiting (see
            # Actor.receive_now): its task would have cost trio two or three passes. When it
            # woke no task either (no reply, no event set), the world is as settled as it was,
            # so the next pick needs no settle point.
            try:
                result = actor.receive_now(envelope.body, envelope.source)
            except Exception as exc:
                raise ActorCrashed(actor.name, envelope.body, envelope.source, exc) from exc
            if result is LATER:
                actor.grant(envelope)
            elif type(result) is Unfinished:
                actor.grant(envelope, result.rest)
            else:
                actor.finish_turn(envelope, result)
                self.inline_turns += 1
                streak += 1
                settled = runnable() == 0


def _trio_run_queue() -> object:
    from trio._core._run import GLOBAL_RUN_CONTEXT

    return GLOBAL_RUN_CONTEXT.runner.runq


def _runnable_probe(locate: Callable[[], object] = _trio_run_queue) -> Callable[[], int]:
    """How many tasks are runnable, asked after every turn run in the conductor's task.

    ``trio.lowlevel.current_statistics()`` says so, but builds two statistics objects (~2 µs,
    a fifth of a small inline turn); the run queue's length is the same number for 0.06 µs.
    The queue is trio's internal, so it is used only when it is found where expected and
    agrees with the public figure; otherwise the public call is used."""

    def public() -> int:
        return trio.lowlevel.current_statistics().tasks_runnable

    try:
        runq = locate()
    except (ImportError, AttributeError):
        return public
    if type(runq) is not deque or len(runq) != public():
        return public
    return runq.__len__


def _jump_to(deadline: float) -> bool:
    """Move the virtual clock to the next timer's ``deadline`` now, as the autojump clock
    would once every task is blocked, and say whether it did.

    The caller has just seen every task blocked with nothing to deliver. Sleeping until the
    deadline in a cancel scope gets there too, but its cancellation machinery (scope, abort,
    delivery of the ``Cancelled``) cost about a tenth of a window-heavy CDP run, whose
    conductor sleeps until a timer tens of thousands of times. Only an autojump clock that is
    not held (no request on the wire: see :mod:`netgate`) is moved, only when no task is
    runnable (the conductor may just have woken the run's end), and only when no other task's
    deadline (a run's end, a test's sleep) comes first or at the same time: they stay the
    clock's to reach."""
    if deadline == math.inf:
        return False
    clock = trio.lowlevel.current_clock()
    if not isinstance(clock, trio.testing.MockClock) or clock.autojump_threshold != 0:
        return False
    ahead = deadline - trio.current_time()
    if ahead <= 0:
        return False
    stats = trio.lowlevel.current_statistics()
    if stats.tasks_runnable or stats.seconds_to_next_deadline <= ahead:
        return False  # a task woken just now (the run's end, by ``_quiet``) goes first
    clock.jump(ahead)
    return True
