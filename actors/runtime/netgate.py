"""Keeps virtual time honest while real sockets are involved.

A bridge wraps each HTTP request in :meth:`NetGate.request`. While any request is on the wire,
the mock clock's autojump is off (no timeout fires in virtual time under a pending socket) and
the conductor holds its next delivery until the request has landed, so an HTTP run delivers in
the same order as an in-process one.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
import trio.testing


class NetGate:
    def __init__(self) -> None:
        self.inflight = 0
        self.stalled = 0
        """Requests that reached the server and wait on a full lane: they need the conductor."""
        self._changed = trio.Event()
        self._clock: trio.testing.MockClock | None = None

    def attach_clock(self, clock: object) -> None:
        self._clock = clock if isinstance(clock, trio.testing.MockClock) else None

    @property
    def busy(self) -> bool:
        return self.inflight > self.stalled

    async def wait_changed(self) -> None:
        await self._changed.wait()

    def _signal(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @asynccontextmanager
    async def request(self) -> AsyncIterator[None]:
        self.inflight += 1
        if self._clock is not None:
            self._clock.autojump_threshold = math.inf
        try:
            yield
        finally:
            self.inflight -= 1
            if self.inflight == 0 and self._clock is not None:
                self._clock.autojump_threshold = 0
            self._signal()

    @asynccontextmanager
    async def stall(self) -> AsyncIterator[None]:
        self.stalled += 1
        self._signal()
        try:
            yield
        finally:
            self.stalled -= 1
            self._signal()
