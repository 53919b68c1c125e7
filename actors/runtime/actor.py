"""The actor base: one task, one mailbox (a lane per sender), one message at a time.

An actor never touches another actor's state: it ``tell``s (fire and forget, with backpressure)
or ``ask``s (request/reply) and schedules its own wake-ups with ``schedule``. Which message it
handles next is decided by the world's :class:`~promoloop.actors.runtime.conductor.Conductor`,
so a run's order never depends on trio's (deliberately random) scheduling.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final

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


class _Later:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LATER"


LATER: Final = _Later()
"""What :meth:`Actor.receive_now` returns for a message only :meth:`Actor.receive` handles."""


class Unfinished:
    """What :meth:`Actor.receive_now` returns when it began a turn that must now wait (a full
    lane): ``rest`` finishes the turn in the actor's own task, its result is the reply."""

    __slots__ = ("rest",)

    def __init__(self, rest: Awaitable[Any]) -> None:
        self.rest = rest


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
        self._rest: Awaitable[Any] | None = None
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

    def tell_now(self, target: str, message: Any) -> bool:
        """``tell`` without waiting, from :meth:`receive_now`: False (nothing sent) when
        ``target``'s lane is full."""
        return self.world.lane(self.name, target).try_send(self._envelope(target, message))

    def room(self, target: str) -> int:
        """How many more messages ``target``'s lane from this actor takes without waiting."""
        return self.world.lane(self.name, target).room()

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
        """Handle one message; the return value is the reply when the sender used ``ask``.

        By default, :meth:`receive_now` in the actor's task (awaiting what it left
        :class:`Unfinished`): an actor that takes every message without awaiting implements
        that alone."""
        result = self.receive_now(message, sender)
        if result is LATER:
            raise NotImplementedError(f"{type(self).__name__} must implement receive()")
        if type(result) is Unfinished:
            return await result.rest
        return result

    def receive_now(self, message: Any, sender: str) -> Any:
        """Handle one message without awaiting anything, when this actor can: the conductor
        then runs the turn in its own task, and the turn costs no trio scheduler pass (a turn
        in the actor's task costs two or three, ~28 µs: most of a small turn's cost).

        Return :data:`LATER`, having changed nothing, to have :meth:`receive` handle the
        message in the actor's task (the default: every message); :class:`Unfinished` when
        the turn began here must wait (it ends in the actor's task); anything else is the
        reply. Both paths must do the same: only where the turn runs differs."""
        return LATER

    # -- runtime ----------------------------------------------------------------------------
    def grant(self, envelope: Envelope, rest: Awaitable[Any] | None = None) -> None:
        """Called by the conductor: handle this envelope next (or, when a turn begun by
        :meth:`receive_now` must wait, finish it with ``rest``)."""
        self.idle = False
        self._rest = rest
        self._turn_send.send_nowait(envelope)

    def finish_turn(self, envelope: Envelope, result: Any) -> None:
        """The bookkeeping at the end of a turn, wherever it ran."""
        self.handled += 1
        if envelope.reply is not None:
            envelope.reply.set(result)

    async def run(self) -> None:
        async for envelope in self._turn_recv:
            rest, self._rest = self._rest, None
            try:
                if rest is not None:
                    result = await rest
                else:
                    result = await self.receive(envelope.body, envelope.source)
            except Exception as exc:
                raise ActorCrashed(self.name, envelope.body, envelope.source, exc) from exc
            self.finish_turn(envelope, result)
            self.idle = True
            self.world.conductor.notify()  # its lanes may hold mail the conductor skipped
