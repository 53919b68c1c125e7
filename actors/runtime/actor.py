"""The actor base: one task, one mailbox (a lane per sender), one message at a time.

An actor never touches another actor's state: it ``tell``s (fire and forget, with backpressure)
or ``ask``s (request/reply) and schedules its own wake-ups with ``schedule``. Which message it
handles next is decided by the world's :class:`~promoloop.actors.runtime.conductor.Conductor`,
so a run's order never depends on trio's (deliberately random) scheduling.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec
import trio

from promoloop.actors.runtime.envelope import Envelope, ReplySlot
from promoloop.actors.runtime.errors import ActorCrashed

if TYPE_CHECKING:
    from promoloop.actors.runtime.world import World


class Started(msgspec.Struct, frozen=True):
    """Delivered to every actor at sim time 0, in name order, before anything else."""


class Wake(msgspec.Struct, frozen=True):
    """A timer an actor set for itself with :meth:`Actor.schedule`; ``tag`` says which."""

    tag: str = ""


class Actor:
    mailbox_capacity: ClassVar[int] = 64
    """Messages one sender may have queued to this actor before its ``tell`` waits."""

    def __init__(self, name: str) -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"actor names are short identifiers, got {name!r}")
        self.name = name
        self._world: World | None = None
        self._seq = 0
        self._turn_send, self._turn_recv = trio.open_memory_channel[Envelope](1)
        self.idle = True
        self.handled = 0
        self.awaiting: str | None = None
        """The actor whose reply this one waits for (inside ``ask``), for deadlock reports."""

    # -- wiring -----------------------------------------------------------------------------
    @property
    def world(self) -> World:
        if self._world is None:
            raise RuntimeError(f"actor {self.name!r} is not part of a world yet")
        return self._world

    def bind(self, world: World) -> None:
        self._world = world

    @property
    def rng(self) -> random.Random:
        """This actor's own random stream, split from the world's seed by name."""
        if not hasattr(self, "_rng"):
            self._rng = self.world.seeds.rng(f"actor/{self.name}")
        return self._rng

    # -- time -------------------------------------------------------------------------------
    @property
    def now(self) -> float:
        """Simulation seconds since the run started."""
        return self.world.time.seconds()

    def now_dt(self) -> datetime:
        return self.world.time.now()

    # -- messaging --------------------------------------------------------------------------
    def _envelope(self, target: str, body: Any, reply: ReplySlot | None = None) -> Envelope:
        self._seq += 1
        return Envelope(trio.current_time(), self.name, self._seq, target, body, reply)

    async def tell(self, target: str, message: Any) -> None:
        """Send without waiting for an answer (waits only while ``target``'s lane is full)."""
        await self.world.lane(self.name, target).send(self._envelope(target, message))

    async def ask(self, target: str, message: Any) -> Any:
        """Send and wait for ``target``'s reply (the value its ``receive`` returns)."""
        slot = ReplySlot()
        await self.world.lane(self.name, target).send(self._envelope(target, message, slot))
        self.awaiting = target
        try:
            return await slot.wait()
        finally:
            self.awaiting = None

    def schedule(self, at: float, message: Any | None = None) -> None:
        """Deliver ``message`` (default ``Wake()``) to this actor at sim time ``at``."""
        self.world.timers.schedule(
            max(at, self.now), self.name, Wake() if message is None else message
        )

    # -- behaviour --------------------------------------------------------------------------
    async def receive(self, message: Any, sender: str) -> Any:
        """Handle one message; the return value is the reply when the sender used ``ask``."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive()")

    # -- runtime ----------------------------------------------------------------------------
    def grant(self, envelope: Envelope) -> None:
        """Called by the conductor: handle this envelope next."""
        self.idle = False
        self._turn_send.send_nowait(envelope)

    async def run(self) -> None:
        async for envelope in self._turn_recv:
            try:
                result = await self.receive(envelope.body, envelope.source)
            except Exception as exc:
                raise ActorCrashed(self.name, envelope.body, envelope.source, exc) from exc
            self.handled += 1
            if envelope.reply is not None:
                envelope.reply.set(result)
            self.idle = True
            self.world.conductor.notify()  # its lanes may hold mail the conductor skipped
