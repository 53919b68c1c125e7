"""TierWatch: moves between tiers from Engage's Audience Entered, counted by move and by day."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.analytics.tiers import TierWatch
from promoloop.actors.events import EventBatch, Track, names
from promoloop.actors.runtime import DAY, Actor, ActorCrashed, Started, Wake, World

TIERS = ("cold", "warm", "hot")


def entered(user: str, audience: str) -> Track:
    return Track(user_id=user, event=names.AUDIENCE_ENTERED, properties={"audience_key": audience})


class Engage(Actor):
    """Sends ``(sim seconds, events)`` batches at their time, stamped with that time."""

    def __init__(self, plan: list[tuple[float, list[Any]]]) -> None:
        super().__init__("engage")
        self.plan = plan

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for index, (at, _) in enumerate(self.plan):
                self.schedule(at, Wake(str(index)))
        elif isinstance(message, Wake):
            stamp = self.world.time.datetime_at(self.now)
            events = self.plan[int(message.tag)][1]
            stamped = tuple(
                e.__class__(**{**_fields(e), "timestamp": stamp}) if isinstance(e, Track) else e
                for e in events
            )
            await self.tell("tiers", EventBatch("engage", stamped))
        return None


def _fields(event: Track) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


async def test_moves_are_counted_by_move_and_day(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    watch = world.add(TierWatch("tiers", tiers=TIERS))
    world.add(
        Engage(
            [
                (0.5 * DAY, [entered("u-1", "cold"), entered("u-2", "warm")]),  # starting tiers
                (1.5 * DAY, [entered("u-1", "warm"), entered("u-1", "cart")]),  # not a tier
                (1.6 * DAY, [entered("u-1", "warm")]),  # re-entered the same tier: no move
                (2.5 * DAY, [entered("u-1", "hot"), entered("u-2", "cold")]),
                (2.7 * DAY, [Track(user_id="u-3", event=names.ORDER_COMPLETED)]),
            ]
        )
    )
    await world.run(until=3 * DAY)
    assert [(round(at / DAY, 1), a, b) for at, a, b in watch.transitions] == [
        (1.5, "cold", "warm"),
        (2.5, "warm", "hot"),
        (2.5, "warm", "cold"),
    ]
    assert watch.by_move() == {"cold->warm": 1, "warm->cold": 1, "warm->hot": 1}
    assert watch.daily(3) == [0, 1, 2]
    assert watch.daily(2) == [0, 3]  # later moves count on the last day asked for
    assert watch.current == {"u-1": "hot", "u-2": "cold"}


def test_a_watch_needs_two_tiers() -> None:
    with pytest.raises(ValueError, match="at least two distinct tiers"):
        TierWatch("tiers", tiers=("hot", "hot"))


async def test_the_watch_refuses_foreign_messages(autojump_clock: trio.testing.MockClock) -> None:
    class Stranger(Actor):
        async def receive(self, message: Any, sender: str) -> Any:
            if isinstance(message, Started):
                await self.tell("tiers", "hello")
            return None

    world = World()
    world.add(TierWatch("tiers", tiers=TIERS))
    world.add(Stranger("stranger"))
    with pytest.raises(ActorCrashed, match="takes EventBatch, not str"):
        await world.run(until=1.0)
