"""A progress bar for long scenarios, driven by simulated days (one redraw per day)."""

from __future__ import annotations

from typing import Any, TextIO

from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY

WIDTH = 30


class ProgressBar(Actor):
    def __init__(self, days: int, out: TextIO | None, name: str = "progress") -> None:
        super().__init__(name)
        self.days = days
        self.out = out

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started | Wake):
            day = round(self.now / DAY)
            self.draw(day)
            if day < self.days:
                self.schedule((day + 1) * DAY)
        return None

    def draw(self, day: int) -> None:
        if self.out is None:
            return
        done = WIDTH * day // max(self.days, 1)
        end = "\n" if day >= self.days else ""
        self.out.write(f"\r[{'#' * done}{'.' * (WIDTH - done)}] day {day}/{self.days}{end}")
        self.out.flush()
