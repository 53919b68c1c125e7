"""The world: builds the actors, wires their lanes, runs them on one clock until the end.

A ``World`` owns everything a run shares: the seed, simulation time, the timers, the conductor
that orders deliveries, the event log and the net gate that HTTP bridges report to. Scenario
code adds actors, then awaits :meth:`World.run`; external producers (the HTTP faces) inject
messages with :meth:`World.post`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

import trio

from promoloop.actors.runtime.actor import Actor, Started
from promoloop.actors.runtime.clock import DEFAULT_EPOCH, SimTime
from promoloop.actors.runtime.collector import tuned_collector
from promoloop.actors.runtime.conductor import Conductor
from promoloop.actors.runtime.envelope import Envelope
from promoloop.actors.runtime.errors import ActorCrashed, Deadlock, UnknownActor
from promoloop.actors.runtime.eventlog import EventLog
from promoloop.actors.runtime.lane import Lane
from promoloop.actors.runtime.netgate import NetGate
from promoloop.actors.runtime.seeds import Seeds
from promoloop.actors.runtime.timers import Timers

A = TypeVar("A", bound=Actor)


class World:
    def __init__(
        self,
        *,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        record: bool = True,
        keep_log: bool = False,
    ) -> None:
        self.seeds = Seeds(seed)
        self.time = SimTime(epoch)
        self.log = EventLog(enabled=record, keep=keep_log)
        self.net = NetGate()
        self.conductor = Conductor(self.log, self.net)
        self.timers = Timers(self, self.conductor.notify)
        self.conductor.timers = self.timers
        self.actors: dict[str, Actor] = {}
        self._lanes: dict[tuple[str, str], Lane] = {}
        self._external_seq: dict[str, int] = {}
        self._nursery: trio.Nursery | None = None
        self.ended_at: float | None = None

    @property
    def seed(self) -> int:
        return self.seeds.root

    def add(self, actor: A) -> A:
        if actor.name in self.actors:
            raise ValueError(f"an actor named {actor.name!r} is already in this world")
        actor.bind(self)
        self.actors[actor.name] = actor
        self.conductor.add_actor(actor)
        return actor

    def actor(self, name: str) -> Actor:
        try:
            return self.actors[name]
        except KeyError:
            raise UnknownActor(name, list(self.actors)) from None

    def lane(self, source: str, target: str) -> Lane:
        lane = self._lanes.get((source, target))
        if lane is None:
            capacity = self.actor(target).mailbox_capacity
            lane = Lane(source, target, capacity, self.conductor.notify)
            self._lanes[(source, target)] = lane
            self.conductor.add_lane(lane)
        return lane

    async def post(self, source: str, target: str, message: Any) -> None:
        """Inject a message from outside the actors (an HTTP face, a test)."""
        seq = self._external_seq.get(source, 0) + 1
        self._external_seq[source] = seq
        envelope = Envelope(trio.current_time(), source, seq, target, message)
        lane = self.lane(source, target)
        if not lane.try_send(envelope):
            async with self.net.stall():
                await lane.send(envelope)

    async def run(
        self, until: float | None = None, *, task_status: Any = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run every actor until sim second ``until`` and the pipeline has drained.

        With ``until=None`` the world runs until cancelled (``promoloop serve``). An actor that
        crashes stops the run with :class:`ActorCrashed` naming the actor and the message; a run
        that cannot drain raises :class:`Deadlock`.
        """
        self.net.attach_clock(trio.lowlevel.current_clock())
        try:
            # Fewer, larger garbage-collector passes over the run's long-lived heap (see
            # :mod:`collector`); restored when the run ends.
            with tuned_collector():
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    self.time.start()
                    for actor in self.actors.values():
                        nursery.start_soon(actor.run, name=f"actor:{actor.name}")
                    nursery.start_soon(self.conductor.run, name="conductor")
                    for name in sorted(self.actors):
                        self.timers.schedule(0.0, name, Started())
                    task_status.started(self)
                    if until is None:
                        await trio.sleep_forever()
                    await trio.sleep_until(self.time.to_trio(until))
                    await self.conductor.wait_quiet()
                    self.ended_at = self.time.seconds()
                    nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            crash = _first(group, ActorCrashed)
            if crash is not None:
                raise crash from crash.cause
            deadlock = _first(group, Deadlock)
            if deadlock is not None:
                raise deadlock from None
            raise
        finally:
            self._nursery = None

    def summary(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "sim_seconds": self.ended_at,
            "deliveries": self.log.count,
            "log_digest": self.log.digest() if self.log.enabled else None,
        }


def _first(group: BaseExceptionGroup, kind: type[BaseException]) -> Any:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first(exc, kind)
            if found is not None:
                return found
        elif isinstance(exc, kind):
            return exc
    return None
