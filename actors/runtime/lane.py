"""A bounded FIFO from one source to one actor: a trio memory channel plus a one-item peek.

One lane per (source, target) pair keeps each sender's order intact, and lets the conductor
compare the heads of all lanes to pick the globally next message. The channel's capacity is the
backpressure: a sender whose lane is full waits until the target has taken from it.
"""

from __future__ import annotations

from collections.abc import Callable

import trio

from promoloop.actors.runtime.envelope import Envelope


class Lane:
    __slots__ = ("_head", "_notify", "_recv", "_send", "source", "target")

    def __init__(self, source: str, target: str, capacity: int, notify: Callable[[], None]) -> None:
        if capacity < 1:
            raise ValueError(f"lane capacity must be at least 1, got {capacity}")
        self.source = source
        self.target = target
        self._send, self._recv = trio.open_memory_channel[Envelope](capacity)
        self._head: Envelope | None = None
        self._notify = notify

    def try_send(self, envelope: Envelope) -> bool:
        """Enqueue without waiting; False when the lane is full."""
        try:
            self._send.send_nowait(envelope)
        except trio.WouldBlock:
            return False
        self._notify()
        return True

    async def send(self, envelope: Envelope) -> None:
        """Enqueue, waiting for room when the lane is full (backpressure)."""
        if not self.try_send(envelope):
            await self._send.send(envelope)
            self._notify()

    def room(self) -> int:
        """How many more envelopes ``try_send`` takes now."""
        stats = self._recv.statistics()
        return stats.max_buffer_size - stats.current_buffer_used

    def peek(self) -> Envelope | None:
        if self._head is None:
            try:
                self._head = self._recv.receive_nowait()
            except trio.WouldBlock:
                return None
        return self._head

    def pop(self) -> Envelope:
        head = self.peek()
        if head is None:
            raise LookupError(f"lane {self.source}->{self.target} is empty")
        self._head = None
        return head

    def __len__(self) -> int:
        return (self._head is not None) + self._recv.statistics().current_buffer_used
