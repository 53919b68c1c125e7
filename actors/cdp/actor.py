"""The CDP actor: feeds its mailbox to :class:`CdpModel`, keeps the model's clocks (window
expiry, batch audiences, delivery retries) and forwards to destinations through outboxes.

Timers: the model says when its next window expires (``next_due``), the delivery outboxes when
their next retry is due, and batch audiences have their period. The actor keeps at most one
pending wake-up per distinct due time (``_timers``), so a population with a million windowed
events asks the world's timer heap for one wake per distinct (rounded) expiry time, never one
per profile per event. Before handling any message the actor lets the model catch up to the
current time (``advance``), so expiries are applied in time order even when a message and a
wake-up fall on the same instant.

Delivery (see :mod:`promoloop.actors.cdp.delivery` for the reasoning): batches go to
per-destination outboxes and are handed to the destination's lane without waiting while it has
room; a destination that reports :class:`DeliveryFailed` is retried with exponential backoff.
"""

from __future__ import annotations

from typing import Any

import msgspec

from promoloop.actors.cdp.delivery import Deliveries, DeliveryFailed
from promoloop.actors.cdp.model import CdpModel, Pending
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.runtime.actor import Actor, Started, Unfinished, Wake

WINDOWS = "cdp:windows"
DELIVERY = "cdp:delivery"
AUDIENCE_PREFIX = "cdp:audience:"


class ComputeAudience(msgspec.Struct, frozen=True):
    """Ask the CDP to compute an audience now (ad-hoc audiences, or a backfill)."""

    key: str


class CdpActor(Actor):
    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "cdp",
        model: CdpModel | None = None,
        deliveries: Deliveries | None = None,
    ) -> None:
        super().__init__(name)
        self.model = model or CdpModel()
        self.deliveries = deliveries or Deliveries()
        self._timers: set[tuple[float, str]] = set()
        self._flush_delay = 0.0
        self._blocked = False
        """A lane was full during this turn's flush: a DELIVERY wake retries it."""

    def receive_now(self, message: Any, sender: str) -> Any:
        # Every message is handled here, in the conductor's task (see Actor.receive_now); only
        # an outbox over its bound, whose lane is full, makes the turn end in the CDP's task.
        self._handle(message, sender)
        stop = self._hand_over()
        if stop is not None:
            return Unfinished(self._finish(stop))
        self._arm()
        return None

    def _handle(self, message: Any, sender: str) -> None:
        """The model's work for ``message``; its Engage events and routed calls are queued in
        the destinations' outboxes."""
        now = self.now_dt()
        # The lazy forms leave membership changes unbuilt: route() builds the Engage events
        # only for destinations that take them.
        routed: list[Pending] = self.model.advance_lazy(now)
        if isinstance(message, Started):
            for audience in self.model.scheduled_audiences():
                if audience.mode == "batch":
                    hours = audience.every_hours
                    self._wake_at(self.now + hours * 3_600.0, AUDIENCE_PREFIX + audience.key)
        elif isinstance(message, ComputeAudience):
            routed.extend(self.model.compute_audience_lazy(message.key, now))
        elif isinstance(message, EventBatch):
            routed.extend(self.model.ingest_batch_lazy(message.source, message.events, now))
        elif isinstance(message, DeliveryFailed):
            self.deliveries.failed(sender, message.batch, message.reason, self.now)
        elif isinstance(message, Wake):
            self._timers = {(at, tag) for at, tag in self._timers if at > self.now}
            if message.tag.startswith(AUDIENCE_PREFIX):
                key = message.tag.removeprefix(AUDIENCE_PREFIX)
                audience = self.model.audiences[key]
                routed.extend(self.model.compute_audience_lazy(key, now))
                if audience.mode == "batch":
                    self._wake_at(self.now + audience.every_hours * 3_600.0, message.tag)
            elif message.tag not in (WINDOWS, DELIVERY):
                raise ValueError(f"the CDP set no timer tagged {message.tag!r}")
        else:
            raise TypeError(
                "the CDP takes EventBatch, DeliveryFailed or ComputeAudience messages, "
                f"not {type(message).__name__}"
            )
        for destination, batches in self.model.route_batches(routed).items():
            for batch in batches:
                self.deliveries.enqueue(destination, batch)
        self.deliveries.release(self.now)
        self._blocked = False

    # -- delivery ---------------------------------------------------------------------------
    def _hand_over(self, start: int = 0) -> int | None:
        """Hand ready batches to destination lanes (in destination order, from the ``start``-th)
        without waiting. Returns the position of the first destination whose outbox stays
        over its bound (its lane full): the rest of the flush must wait, from there
        (:meth:`_finish`); None when nothing has to."""
        deliveries = self.deliveries
        destinations = sorted(deliveries.outboxes)
        for position in range(start, len(destinations)):
            destination = destinations[position]
            box = deliveries.outboxes[destination]
            lane = self.world.lane(self.name, destination)
            while box.ready:
                if not lane.try_send(self._envelope(destination, box.ready[0])):
                    deliveries.deferred[destination] += 1
                    self._blocked = True
                    break
                box.ready.popleft()
                deliveries.sent[destination] += 1
            if len(box.ready) > deliveries.max_pending:
                return position
        return None

    async def _finish(self, stop: int | None) -> None:
        """The end of a turn: wait for room for the outboxes over their bound (backpressure
        instead of unbounded memory), from the ``stop``-th destination on, then set the
        timers."""
        deliveries = self.deliveries
        while stop is not None:
            destination = sorted(deliveries.outboxes)[stop]
            box = deliveries.outboxes[destination]
            while len(box.ready) > deliveries.max_pending:
                await self.tell(destination, box.ready.popleft())
                deliveries.sent[destination] += 1
            stop = self._hand_over(stop + 1)
        self._arm()

    # -- timers -----------------------------------------------------------------------------
    def _wake_at(self, sim_at: float, tag: str) -> None:
        at = max(sim_at, self.now)
        if (at, tag) not in self._timers:
            self._timers.add((at, tag))
            self.schedule(at, Wake(tag))

    def _arm(self) -> None:
        if self._blocked:
            # Retry as soon as the destinations have taken mail (same instant); if a retry
            # finds them still full, back off a little so a busy destination is not polled.
            self._wake_at(self.now + self._flush_delay, DELIVERY)
            self._flush_delay = min(max(self._flush_delay * 2, 0.001), 1.0)
        else:
            self._flush_delay = 0.0
        due = self.model.next_due()
        if due is not None:
            self._wake_at((due - self.world.time.epoch).total_seconds(), WINDOWS)
        retry = self.deliveries.next_retry()
        if retry is not None:
            self._wake_at(retry, DELIVERY)
