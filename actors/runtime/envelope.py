"""What travels between actors: a message with its delivery key and an optional reply slot."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio


class ReplySlot:
    """Where the answer to an ``ask`` lands; the asker waits on it."""

    __slots__ = ("_done", "value")

    def __init__(self) -> None:
        self._done = trio.Event()
        self.value: Any = None

    def set(self, value: Any) -> None:
        self.value = value
        self._done.set()

    async def wait(self) -> Any:
        await self._done.wait()
        return self.value


@dataclass(slots=True)
class Envelope:
    """A message in flight.

    ``key`` = (send time, source, per-source sequence) is the total order the conductor delivers
    in; it depends only on what was sent, never on how trio happened to schedule the senders.
    """

    at: float
    source: str
    seq: int
    target: str
    body: Any
    reply: ReplySlot | None = field(default=None, repr=False)

    @property
    def key(self) -> tuple[float, str, int]:
        return (self.at, self.source, self.seq)
