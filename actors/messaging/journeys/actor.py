"""The journeys actor: a thin shell that feeds the CDP's events to a :class:`JourneyEngine`,
asks destinations and the promotion engine on the customers' behalf, writes traits back to the
CDP on its own source and keeps one wake-up per distinct due time.

Like any Segment destination it is subscribed in the CDP (identify and track calls from the
storefront and Engage). Requests are asked one after the other in the engine's order, so a run
is deterministic whatever the destinations do meanwhile; each ``SendResult`` is kept in
:attr:`JourneyActor.log` (who got what, on which channel, when, or why not) for reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from promoloop.actors.events.messages import EventBatch, SendMessage, SendResult
from promoloop.actors.events.segment import Identify, SegmentEvent, Track
from promoloop.actors.messaging.journeys.engine import JourneyEngine
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY
from promoloop.actors.runtime.ports import TrackingPort

BATCH = 100
SNAPSHOT = "journeys:snapshot"
DUE = "journeys:due"


class SendRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One journey send and what became of it."""

    at: float
    user_id: str
    channel: str
    journey: str | None
    step: str | None
    sent: bool
    reason: str | None = None


class JourneyActor(Actor):
    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "journeys",
        *,
        engine: JourneyEngine,
        destinations: Mapping[str, str],
        promotions: str = "promotions",
        snapshot_every: float | None = DAY,
    ) -> None:
        """``destinations`` maps a channel (``email``, ``push``, ``sms``, ``ads``) to the name
        of the actor that answers its ``SendMessage``; ``snapshot_every``: how often the funnel
        is recorded in :attr:`funnel_series` (sim seconds; None: never)."""
        super().__init__(name)
        self.engine = engine
        self.destinations = dict(destinations)
        for compiled in engine.journeys:
            for node in compiled.nodes:
                for channel in _channels(node.step):
                    if channel not in self.destinations:
                        raise ValueError(
                            f"journey {compiled.name!r}, step {node.step.name!r}: no destination "
                            f"actor for channel {channel!r} (given: {sorted(self.destinations)})"
                        )
        self.promotions = promotions
        self.snapshot_every = snapshot_every
        self.tracking: TrackingPort | None = None
        self.log: list[SendRecord] = []
        self.funnel_series: list[tuple[float, dict[str, int]]] = []
        """(sim day, customers who reached each stage) at every snapshot."""
        self._scheduled: set[float] = set()
        self._event_seq = 0

    async def receive(self, message: Any, sender: str) -> Any:
        now = self.now
        match message:
            case Started():
                if self.snapshot_every is not None:
                    self.schedule(self.snapshot_every, Wake(SNAPSHOT))
            case EventBatch():
                self._observe(message.events, now)
            case Wake(tag=tag):
                self._scheduled = {at for at in self._scheduled if at > now}
                if tag == SNAPSHOT and self.snapshot_every is not None:
                    self.funnel_series.append(
                        (round(now / DAY, 6), dict(self.engine.funnel.snapshot()["reached"]))
                    )
                    self.schedule(now + self.snapshot_every, Wake(SNAPSHOT))
            case _:
                raise TypeError(f"the journeys actor cannot handle {type(message).__name__}")
        await self._turn(now)
        return None

    def _observe(self, events: tuple[SegmentEvent, ...], now: float) -> None:
        engine = self.engine
        for event in events:
            user = event.user_id
            if not user:
                continue
            if isinstance(event, Identify):
                engine.identify(user, event.traits, now)
            elif isinstance(event, Track):
                engine.track(user, event.event, event.properties, now)

    async def _turn(self, now: float) -> None:
        """Run the engine until nothing is runnable, asking what it needs, then write traits
        and set the next wake-up."""
        engine = self.engine
        while requests := engine.run(now):
            for token, request in requests:
                if isinstance(request, SendMessage):
                    result = await self.ask(self.destinations[request.channel], request)
                    if not isinstance(result, SendResult):
                        raise TypeError(
                            f"{self.destinations[request.channel]!r} answered a SendMessage with "
                            f"{type(result).__name__}, not a SendResult"
                        )
                    self.log.append(
                        SendRecord(
                            at=now,
                            user_id=request.user_id,
                            channel=request.channel,
                            journey=request.journey,
                            step=request.step,
                            sent=result.sent,
                            reason=result.reason,
                        )
                    )
                else:
                    result = await self.ask(self.promotions, request)
                engine.complete(token, result, now)
        await self._write_traits()
        due = engine.next_due()
        if due is not None and due not in self._scheduled:
            self._scheduled.add(due)
            self.schedule(due, Wake(DUE))

    async def _write_traits(self) -> None:
        if not self.engine.outbox:
            return
        updates, self.engine.outbox = self.engine.outbox, []
        if self.tracking is None:
            raise RuntimeError(f"{self.name}: no tracking port wired to write traits to the CDP")
        calls: list[SegmentEvent] = []
        for update in updates:
            self._event_seq += 1
            calls.append(
                Identify(
                    message_id=f"{self.name}-{self._event_seq:09d}",
                    timestamp=self.world.time.datetime_at(update.at),
                    user_id=update.user_id,
                    traits=update.traits,
                )
            )
        for start in range(0, len(calls), BATCH):
            await self.tracking.send(calls[start : start + BATCH])


def _channels(step: Any) -> list[str]:
    channel = getattr(step, "channel", None)
    if isinstance(channel, str):
        return [channel]
    arms = getattr(step, "arms", ())
    return [arm.channel for arm in arms if arm.channel is not None]
