"""A webhook destination: every event it receives is POSTed as signed JSON to a URL.

Used two ways: as a CDP destination (Segment's webhook destination: the raw Segment call as
JSON) and for the promotion engine's event webhooks (Voucherify's shape:
``{"type": "redemption.succeeded", "data": {...}}``). Deliveries keep their order; a failed one
is retried with exponential backoff in virtual time; after ``max_attempts`` (or on a refusal
that retrying cannot fix) it goes to ``dead_letters`` with the reason: counted, never silent.
The backlog is bounded: past ``max_pending`` new events are dead-lettered as ``backlog_full``.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Protocol

import msgspec

from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.promotions import (
    PublicationSucceeded,
    RedemptionFailed,
    RedemptionRollbackSucceeded,
    RedemptionSucceeded,
)
from promoloop.actors.runtime.actor import Actor, Started, Wake

ENGINE_EVENTS = (
    PublicationSucceeded,
    RedemptionSucceeded,
    RedemptionFailed,
    RedemptionRollbackSucceeded,
)


class WebhookPort(Protocol):
    async def post(self, payload: Any) -> None:
        """Deliver one payload; raise on failure (``retryable`` attribute, default True)."""
        ...


class DeadLetter(msgspec.Struct, frozen=True):
    payload: Any
    reason: str
    attempts: int


class WebhookDestination(Actor):
    mailbox_capacity = 128

    def __init__(
        self,
        name: str = "webhook",
        *,
        port: WebhookPort | None = None,
        max_attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_pending: int = 10_000,
    ) -> None:
        super().__init__(name)
        if max_attempts < 1 or backoff_seconds <= 0 or max_pending < 1:
            raise ValueError("max_attempts and max_pending must be >= 1, backoff_seconds > 0")
        self.port = port
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_pending = max_pending
        self.delivered = 0
        self.failures = 0
        """Failed attempts, retried or not."""
        self.dead_letters: list[DeadLetter] = []
        self._pending: deque[tuple[Any, int]] = deque()
        self._waiting = False

    @staticmethod
    def payload(item: Any) -> Any:
        if isinstance(item, ENGINE_EVENTS):
            data = msgspec.to_builtins(item)
            return {"type": data.pop("type"), "data": data}
        return msgspec.to_builtins(item)

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                return None
            case EventBatch():
                for event in message.events:
                    self._enqueue(self.payload(event))
            case Wake():
                self._waiting = False
            case _ if isinstance(message, ENGINE_EVENTS):
                self._enqueue(self.payload(message))
            case _:
                raise TypeError(f"the webhook destination cannot handle {type(message).__name__}")
        if not self._waiting:
            await self._drain()
        return None

    def _enqueue(self, payload: Any) -> None:
        if len(self._pending) >= self.max_pending:
            self.dead_letters.append(DeadLetter(payload, "backlog_full", 0))
            return
        self._pending.append((payload, 0))

    async def _drain(self) -> None:
        if self.port is None:
            raise RuntimeError(f"{self.name}: no webhook port configured")
        while self._pending:
            payload, attempts = self._pending[0]
            try:
                await self.port.post(payload)
            except Exception as error:
                self.failures += 1
                attempts += 1
                retryable = getattr(error, "retryable", True)
                if not retryable or attempts >= self.max_attempts:
                    self._pending.popleft()
                    self.dead_letters.append(DeadLetter(payload, str(error), attempts))
                    continue
                self._pending[0] = (payload, attempts)
                self._waiting = True
                self.schedule(self.now + self.backoff_seconds * 2 ** (attempts - 1), Wake("retry"))
                return
            self._pending.popleft()
            self.delivered += 1
