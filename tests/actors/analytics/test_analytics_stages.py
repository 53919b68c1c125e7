"""The stage watch: the lifecycle funnel from the storefront's tracks, monotone by construction."""

from __future__ import annotations

from typing import Any

import pytest

from promoloop.actors.analytics.stages import StageWatch
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Track
from promoloop.actors.runtime import DAY, Actor, ActorCrashed, Started, Wake, World


def track(user: str, event: str, n: int) -> Track:
    return Track(message_id=f"m-{user}-{n}", user_id=user, event=event)


class Shop(Actor):
    """Tells the watch one batch at noon of each day, as the CDP would route them."""

    def __init__(self, batches: list[list[Any]]) -> None:
        super().__init__("shop")
        self.batches = batches

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for day in range(len(self.batches)):
                self.schedule(day * DAY + DAY / 2, Wake(str(day)))
        elif isinstance(message, Wake):
            await self.tell("stages", EventBatch("shop", tuple(self.batches[int(message.tag)])))


async def run(batches: list[list[Any]], days: int = 3) -> StageWatch:
    world = World(seed=1, record=False)
    watch = world.add(StageWatch("stages"))
    world.add(Shop(batches))
    await world.run(until=days * DAY)
    return watch


async def test_stages_move_forward_and_the_funnel_is_monotone(autojump_clock: object) -> None:
    watch = await run(
        [
            [track("a", names.PRODUCT_VIEWED, 1), track("b", "Signed Up", 1)],
            [track("a", names.ORDER_COMPLETED, 2), track("c", names.PRODUCT_ADDED, 1)],
            [track("a", names.PRODUCT_VIEWED, 3), track("a", names.ORDER_COMPLETED, 4)],
        ]
    )
    report = watch.report(days=3)
    assert report["reached"] == {
        "awareness": 3,
        "interest": 2,  # a viewed; c's cart passes through interest on its way to intent
        "intent": 2,
        "purchase": 1,
        "retention": 1,  # a's second order
    }
    assert report["current"] == {
        "awareness": 1, "interest": 0, "intent": 1, "purchase": 0, "retention": 1,
    }  # fmt: skip
    assert report["daily"] == [[2, 1, 0, 0, 0], [3, 2, 2, 1, 0], [3, 2, 2, 1, 1]]
    assert report["step_rates"]["awareness->interest"] == pytest.approx(2 / 3, abs=1e-4)
    for day in report["daily"]:
        assert day == sorted(day, reverse=True)


async def test_a_later_view_never_moves_a_buyer_back(autojump_clock: object) -> None:
    watch = await run([[track("a", names.ORDER_COMPLETED, 1), track("a", names.PRODUCT_VIEWED, 2)]])
    assert watch.stage["a"] == 3 and watch.report(days=1)["current"]["purchase"] == 1


class Prankster(Actor):
    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            await self.tell("stages", "junk")


async def test_it_refuses_what_it_cannot_read(autojump_clock: object) -> None:
    world = World(seed=1, record=False)
    world.add(StageWatch("stages"))
    world.add(Prankster("prankster"))
    with pytest.raises(ActorCrashed, match="stage watch takes EventBatch, not str"):
        await world.run(until=DAY)
