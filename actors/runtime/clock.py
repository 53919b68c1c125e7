"""Simulation time: trio's clock in seconds, mapped to UTC datetimes from a fixed epoch.

In-process runs use ``MockClock(autojump_threshold=0)``: whenever every task is blocked the clock
jumps to the next deadline, so days of customer life pass in seconds. HTTP runs use the same
clock, but :class:`~promoloop.actors.runtime.netgate.NetGate` switches autojump off while a
request is on the wire, so no timeout fires in virtual time under a pending socket.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import trio
import trio.testing

DEFAULT_EPOCH = datetime(2026, 1, 5, tzinfo=UTC)
"""Simulation time 0 (a Monday at midnight UTC), so day boundaries are round numbers."""

DAY = 86_400.0
HOUR = 3_600.0
MINUTE = 60.0


def virtual_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


class SimTime:
    """Converts between trio's float seconds and wall-calendar datetimes."""

    def __init__(self, epoch: datetime = DEFAULT_EPOCH) -> None:
        if epoch.tzinfo is None:
            raise ValueError("the simulation epoch must be timezone-aware (UTC)")
        self.epoch = epoch
        self._origin = 0.0

    def start(self) -> None:
        """Anchor sim time 0 at the current trio time (called once the run has started)."""
        self._origin = trio.current_time()

    def seconds(self) -> float:
        return trio.current_time() - self._origin

    def to_trio(self, sim_seconds: float) -> float:
        return self._origin + sim_seconds

    def datetime_at(self, sim_seconds: float) -> datetime:
        return self.epoch + timedelta(seconds=sim_seconds)

    def seconds_at(self, moment: datetime) -> float:
        """Sim seconds of a datetime (the inverse of :meth:`datetime_at`)."""
        return (moment - self.epoch).total_seconds()

    def now(self) -> datetime:
        return self.datetime_at(self.seconds())

    def label(self, sim_seconds: float | None = None) -> str:
        """``d3 14:05:09``: the day number and time of day, for timelines."""
        s = self.seconds() if sim_seconds is None else sim_seconds
        day, rem = divmod(int(s), int(DAY))
        return f"d{day} {rem // 3600:02d}:{rem // 60 % 60:02d}:{rem % 60:02d}"
