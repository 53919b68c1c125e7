"""Turns run in the conductor's task (Actor.receive_now): same deliveries, same order, same
digest as turns in the actors' tasks; a turn that must wait ends in its task; crashes, replies
and the run-queue probe."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from promoloop.actors.runtime import Actor, ActorCrashed, Started, Wake, World
from promoloop.actors.runtime.actor import LATER, Unfinished
from promoloop.actors.runtime.conductor import _runnable_probe


class Item(msgspec.Struct, frozen=True):
    n: int


class Count(msgspec.Struct, frozen=True):
    """Asks the counter how many items it has."""


class Counter(Actor):
    """Keeps (sim time, sender, n) of every Item; answers Count with how many it has. With
    ``inline`` its turns run in the conductor's task; otherwise in its own."""

    mailbox_capacity = 4

    def __init__(self, name: str, *, inline: bool) -> None:
        super().__init__(name)
        self.inline = inline
        self.got: list[tuple[float, str, int]] = []

    def _take(self, message: Any, sender: str) -> Any:
        if isinstance(message, Item):
            self.got.append((self.now, sender, message.n))
        if isinstance(message, Count):
            return len(self.got)
        return None

    def receive_now(self, message: Any, sender: str) -> Any:
        return self._take(message, sender) if self.inline else LATER

    async def receive(self, message: Any, sender: str) -> Any:
        return self._take(message, sender)


class Producer(Actor):
    """Every second for ``rounds`` seconds: a burst of items (more than the counter's lane
    holds), then asks the count and tells it back as an item. With ``inline`` a wake whose
    burst fits the lane runs in the conductor's task, and one that does not returns
    Unfinished: it ends in the producer's task, waiting for room."""

    def __init__(self, name: str, target: str, *, burst: int, rounds: int, inline: bool) -> None:
        super().__init__(name)
        self.target = target
        self.burst = burst
        self.rounds = rounds
        self.inline = inline
        self.sent = 0
        self.counts: list[int] = []
        self.unfinished = 0

    def receive_now(self, message: Any, sender: str) -> Any:
        if not self.inline:
            return LATER
        if isinstance(message, Started):
            self.schedule(1.0)
            return None
        if self.room(self.target) >= self.burst:
            for _ in range(self.burst):
                self.sent += 1
                assert self.tell_now(self.target, Item(self.sent))
            return Unfinished(self._ask_and_rearm())
        self.unfinished += 1
        return Unfinished(self._burst_then_rest())

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(1.0)
            return None
        await self._burst_then_rest()
        return None

    async def _burst_then_rest(self) -> None:
        for _ in range(self.burst):
            self.sent += 1
            await self.tell(self.target, Item(self.sent))
        await self._ask_and_rearm()

    async def _ask_and_rearm(self) -> None:
        self.counts.append(await self.ask(self.target, Count()))
        self.sent += 1
        await self.tell(self.target, Item(-self.sent))
        if len(self.counts) < self.rounds:
            self.schedule(self.now + 1.0)


def _run(*, inline: bool, burst: int, trio_seed: int = 0) -> tuple[Any, ...]:
    async def main() -> tuple[Any, ...]:
        world = World(seed=1, keep_log=True)
        counter = world.add(Counter("counter", inline=inline))
        producers = [
            world.add(Producer(f"p{i}", "counter", burst=burst, rounds=3, inline=inline))
            for i in range(3)
        ]
        await world.run(until=10.0)
        return (
            counter.got,
            [p.counts for p in producers],
            world.log.digest(),
            world.conductor.inline_turns,
            sum(p.unfinished for p in producers),
        )

    random.seed(trio_seed)
    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("burst", [2, 6])
def test_inline_turns_deliver_what_task_turns_deliver(
    burst: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same world with every turn in the actors' tasks and with turns in the conductor's:
    the same items in the same order at the same times, the same replies, the same digest,
    whatever order trio runs ready tasks in. A burst of 6 does not fit the counter's lane of
    4: those turns begin in the conductor and end in the producer's task."""
    monkeypatch.setattr(trio._core._run, "_r", random.Random(5))
    tasks = _run(inline=False, burst=burst)
    for trio_seed in range(3):
        monkeypatch.setattr(trio._core._run, "_r", random.Random(trio_seed))
        inline = _run(inline=True, burst=burst, trio_seed=trio_seed)
        assert inline[:3] == tasks[:3]
        assert inline[3] > 0  # turns did run in the conductor's task
    got, counts, *_ = tasks
    assert len(got) == 3 * 3 * (burst + 1)
    assert [n for _, sender, n in got if sender == "p0"][: burst + 1] == [
        *range(1, burst + 1),
        -(burst + 1),
    ]
    # p0 asks first at each second, after its burst and after everything of the rounds before.
    assert counts[0] == [burst + r * 3 * (burst + 1) for r in range(3)]
    assert tasks[3] == 0
    unfinished = inline[4]
    assert (unfinished > 0) == (burst > Counter.mailbox_capacity)


class Breaker(Actor):
    def receive_now(self, message: Any, sender: str) -> Any:
        if isinstance(message, Wake):
            raise ValueError("no wakes here")
        if isinstance(message, Started):
            self.schedule(2.0)
        return None


async def test_a_crash_in_an_inline_turn_stops_the_run_with_actor_crashed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    world.add(Breaker("breaker"))
    with pytest.raises(ActorCrashed, match=r"breaker.*Wake.*no wakes here"):
        await world.run(until=10.0)


class Later(Actor):
    """Takes Started in the conductor's task and everything else in its own."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.where: list[str] = []

    def receive_now(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.where.append("inline")
            self.schedule(1.0)
            return None
        return LATER

    async def receive(self, message: Any, sender: str) -> Any:
        await trio.sleep(0.5)  # a real wait: only the actor's task can do this
        self.where.append(f"task at {self.now}")
        return None


async def test_later_hands_the_message_to_receive_in_the_actors_task(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World()
    later = world.add(Later("later"))
    await world.run(until=5.0)
    assert later.where == ["inline", "task at 1.5"]
    assert world.conductor.inline_turns == 1
    assert world.conductor.deliveries == 2


async def test_the_run_queue_probe_agrees_with_trio_statistics() -> None:
    probe = _runnable_probe()
    public = trio.lowlevel.current_statistics
    assert probe() == public().tasks_runnable
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(trio.lowlevel.checkpoint)
        assert probe() == public().tasks_runnable == 3


@pytest.mark.parametrize("where", ["gone", "not a deque", "disagrees"])
async def test_the_run_queue_probe_falls_back_to_the_public_call(where: str) -> None:
    """Where trio keeps its run queue is not public: if it moves or changes, the probe uses
    ``current_statistics``."""

    def locate() -> object:
        if where == "gone":
            raise AttributeError("runq")
        return [] if where == "not a deque" else deque([None])

    probe = _runnable_probe(locate)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.lowlevel.checkpoint)
        nursery.start_soon(trio.lowlevel.checkpoint)
        assert probe() == 2
