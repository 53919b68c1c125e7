"""Delivery to destinations: per-destination outboxes, retries with backoff, dead letters.

Why not simply ``await tell(destination, batch)`` (what the CDP did first)? A ``tell`` into a
full lane waits, so one slow destination would stall ingestion for every profile and every
other destination. Instead each destination has an outbox here, and the actor hands batches to
the destination's lane only while it has room (``Lane.try_send``); a full lane leaves the rest
in the outbox, flushed again as soon as the actor runs next. So ingestion goes on while one
destination is slow, and every destination still gets its batches in order.

The lanes' principle is kept, with a larger bound: an outbox holds at most ``max_pending``
batches. Beyond it the actor falls back to a waiting ``tell`` (backpressure on the CDP's own
senders), so memory stays bounded and nothing is dropped for being slow.

Failing is different from being slow: a destination that cannot deliver a batch (a webhook
answering 500, a partner API down) tells the CDP :class:`DeliveryFailed` with the batch. The
batch is retried after ``base_delay * 2**(attempt-1)`` seconds (capped at ``max_delay``), and
after ``max_attempts`` failures it is dead-lettered: counted and kept in ``dead_letters``
(bounded), never dropped silently. All of this is plain state, no trio: the actor drives it.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from dataclasses import dataclass, field

import msgspec

from promoloop.actors.events.messages import EventBatch


class DeliveryFailed(msgspec.Struct, frozen=True, kw_only=True):
    """A destination tells the CDP it could not deliver ``batch`` (it will be retried)."""

    batch: EventBatch
    reason: str = ""


class DeadLetter(msgspec.Struct, frozen=True, kw_only=True):
    destination: str
    batch: EventBatch
    attempts: int
    reason: str
    at: float


@dataclass
class Outbox:
    ready: deque[EventBatch] = field(default_factory=deque)
    retries: list[tuple[float, int, EventBatch]] = field(default_factory=list)


class Deliveries:
    def __init__(
        self,
        *,
        base_delay: float = 1.0,
        max_delay: float = 3_600.0,
        max_attempts: int = 8,
        max_pending: int = 1_024,
        keep_dead: int = 1_000,
    ) -> None:
        if max_attempts < 1 or max_pending < 1 or base_delay <= 0 or max_delay < base_delay:
            raise ValueError(
                "deliveries need max_attempts >= 1, max_pending >= 1 and "
                "0 < base_delay <= max_delay"
            )
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self.max_pending = max_pending
        self.outboxes: dict[str, Outbox] = {}
        self._attempts: dict[int, tuple[EventBatch, int, float]] = {}
        self._seq = 0
        self.sent: Counter[str] = Counter()
        """Batches handed to each destination's lane."""
        self.deferred: Counter[str] = Counter()
        """Times a destination's lane was full and its outbox had to wait."""
        self.failures: Counter[str] = Counter()
        self.retried: Counter[str] = Counter()
        self.dead: Counter[str] = Counter()
        self.dead_letters: deque[DeadLetter] = deque(maxlen=keep_dead)

    def outbox(self, destination: str) -> Outbox:
        box = self.outboxes.get(destination)
        if box is None:
            box = self.outboxes[destination] = Outbox()
        return box

    def enqueue(self, destination: str, batch: EventBatch) -> None:
        self.outbox(destination).ready.append(batch)

    def pending(self, destination: str | None = None) -> int:
        """Batches waiting (ready or for a retry), for one destination or all."""
        if destination is None:
            boxes = list(self.outboxes.values())
        else:
            box = self.outboxes.get(destination)
            boxes = [box] if box is not None else []
        return sum(len(b.ready) + len(b.retries) for b in boxes)

    def delay(self, attempt: int) -> float:
        return min(self.base_delay * 2 ** (attempt - 1), self.max_delay)

    def failed(self, destination: str, batch: EventBatch, reason: str, now: float) -> None:
        """Schedule ``batch`` for another attempt, or dead-letter it after the last one."""
        self.failures[destination] += 1
        self._forget_old(now)
        key = id(batch)
        _, attempts, _ = self._attempts.pop(key, (batch, 0, now))
        attempts += 1
        if attempts >= self.max_attempts:
            self.dead[destination] += 1
            self.dead_letters.append(
                DeadLetter(
                    destination=destination, batch=batch, attempts=attempts, reason=reason, at=now
                )
            )
            return
        self._attempts[key] = (batch, attempts, now)
        self._seq += 1
        heapq.heappush(
            self.outbox(destination).retries, (now + self.delay(attempts), self._seq, batch)
        )

    def _forget_old(self, now: float) -> None:
        """Attempt counts of batches that have not failed again for longer than the whole
        backoff schedule were delivered: drop them (insertion order is time order)."""
        horizon = now - self.max_delay * 2
        while self._attempts:
            key, (_, _, at) = next(iter(self._attempts.items()))
            if at >= horizon:
                break
            del self._attempts[key]

    def release(self, now: float) -> None:
        """Move retries that are due to the front of their outbox, oldest first."""
        for destination in sorted(self.outboxes):
            box = self.outboxes[destination]
            due: list[EventBatch] = []
            while box.retries and box.retries[0][0] <= now:
                due.append(heapq.heappop(box.retries)[2])
            if due:
                self.retried[destination] += len(due)
                box.ready.extendleft(reversed(due))

    def next_retry(self) -> float | None:
        times = [box.retries[0][0] for box in self.outboxes.values() if box.retries]
        return min(times) if times else None

    def stats(self) -> dict[str, dict[str, int]]:
        return {
            name: {
                "sent": self.sent[name],
                "pending": self.pending(name),
                "deferred": self.deferred[name],
                "failures": self.failures[name],
                "retried": self.retried[name],
                "dead_lettered": self.dead[name],
            }
            for name in sorted(self.outboxes)
        }
