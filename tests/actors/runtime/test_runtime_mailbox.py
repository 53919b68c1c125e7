"""Bounded mailboxes: a full lane makes the sender wait; nothing is lost, per-sender order kept."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
import pytest
import trio
import trio.testing

from promoloop.actors.runtime import Actor, Started, World

CAPACITY = 2
COUNT = 12


class Item(msgspec.Struct, frozen=True):
    sender: str
    index: int


class Producer(Actor):
    """On Started, tells ``COUNT`` items to the consumer as fast as its lane allows."""

    def __init__(self, name: str, target: str) -> None:
        super().__init__(name)
        self.target = target
        self.sent = 0

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for index in range(COUNT):
                await self.tell(self.target, Item(self.name, index))
                self.sent += 1
        return None


class Consumer(Actor):
    """Records each item and how far ahead its producer was; spends ``work`` sim s per item."""

    mailbox_capacity: ClassVar[int] = CAPACITY
    work: ClassVar[float] = 0.0

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.items: list[Item] = []
        self.leads_on_arrival: list[int] = []
        self.leads_after_work: list[int] = []

    def _lead(self, producer_name: str) -> int:
        """Completed tells of that producer minus its items handled so far (this one included)."""
        producer = self.world.actor(producer_name)
        assert isinstance(producer, Producer)
        handled = sum(1 for item in self.items if item.sender == producer_name)
        return producer.sent - handled

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Item):
            self.items.append(message)
            self.leads_on_arrival.append(self._lead(message.sender))
            if self.work:
                await trio.sleep(self.work)  # slow work, in virtual time
                self.leads_after_work.append(self._lead(message.sender))
        return None


class SlowConsumer(Consumer):
    work: ClassVar[float] = 1.0


@pytest.mark.parametrize("kind", [Consumer, SlowConsumer])
async def test_sender_cannot_run_ahead_of_a_full_lane(
    autojump_clock: trio.testing.MockClock, kind: type[Consumer]
) -> None:
    """A sender never gets more than capacity + 1 tells ahead of its receiver (without
    backpressure all 12 tells would complete before the first item is handled)."""
    world = World()
    consumer = world.add(kind("consumer"))
    world.add(Producer("producer", "consumer"))
    await world.run(until=10 * COUNT)
    leads = consumer.leads_on_arrival + consumer.leads_after_work
    assert max(leads) <= CAPACITY + 1
    assert consumer.items == [Item("producer", i) for i in range(COUNT)]


async def test_slow_receiver_keeps_the_sender_blocked_on_a_full_lane(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """While the receiver works (busy, its lane untouched) the sender fills the lane to exactly
    its capacity and then waits: it is exactly ``CAPACITY`` ahead until it runs out of items."""
    world = World()
    consumer = world.add(SlowConsumer("consumer"))
    producer = world.add(Producer("producer", "consumer"))
    await world.run(until=10 * COUNT)
    expected = [min(CAPACITY, COUNT - handled) for handled in range(1, COUNT + 1)]
    assert consumer.leads_after_work == expected
    assert producer.sent == COUNT
    # The run did not stall after the receiver's first slow item: all were handled in time.
    assert len(consumer.items) == COUNT


async def test_nothing_lost_and_order_kept_per_sender(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With two blocked senders on one small mailbox, every item arrives once, in send order
    per sender, and each sender's lead stays bounded."""
    world = World()
    consumer = world.add(SlowConsumer("consumer"))
    world.add(Producer("left", "consumer"))
    world.add(Producer("right", "consumer"))
    await world.run(until=10 * COUNT)
    assert len(consumer.items) == 2 * COUNT
    for name in ("left", "right"):
        mine = [item.index for item in consumer.items if item.sender == name]
        assert mine == list(range(COUNT))
    assert max(consumer.leads_on_arrival + consumer.leads_after_work) <= CAPACITY + 1
