"""The runtime's small parts: seeds, lanes, envelopes, sim time labels, timers, the event log."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from promoloop.actors.runtime import (
    DAY,
    DEFAULT_EPOCH,
    HOUR,
    MINUTE,
    Actor,
    Seeds,
    SimTime,
    Started,
    Wake,
    World,
)
from promoloop.actors.runtime.envelope import Envelope
from promoloop.actors.runtime.eventlog import EventLog
from promoloop.actors.runtime.lane import Lane

# -- seeds ------------------------------------------------------------------------------------


def test_seed_streams_are_stable_across_instances() -> None:
    """The same (root, name) gives the same numbers, whoever asks and in whatever order."""
    expected = [Seeds(1).rng("a").random() for _ in range(3)]
    assert len(set(expected)) == 1  # three fresh instances, one stream
    other = Seeds(1)
    other.rng("zzz")  # creating another stream first does not shift "a"
    assert other.rng("a").random() == expected[0]
    # Pinned derivation: a change here would silently change every run's results.
    digest = hashlib.blake2b(b"1/a", digest_size=8).digest()
    assert Seeds(1).derive("a") == int.from_bytes(digest, "big")


def test_seed_streams_differ_by_name_and_root() -> None:
    """Different names or roots give different streams; numpy streams are split the same way."""
    a = Seeds(1).rng("a").random()
    assert Seeds(1).rng("b").random() != a
    assert Seeds(2).rng("a").random() != a
    assert Seeds(1).numpy("a").integers(0, 2**32) == Seeds(1).numpy("a").integers(0, 2**32)
    assert Seeds(1).numpy("a").random() != Seeds(1).numpy("b").random()


@pytest.mark.parametrize("bad", [-1, 1.5, "7", True, None])
def test_seed_must_be_a_non_negative_integer(bad: Any) -> None:
    """Negative, non-integer and bool seeds are refused with ValueError."""
    with pytest.raises(ValueError, match="non-negative integer"):
        Seeds(bad)


def test_world_rejects_a_negative_seed() -> None:
    """World(seed=-1) fails at construction, not mid-run."""
    with pytest.raises(ValueError, match="seed"):
        World(seed=-1)


# -- lanes ------------------------------------------------------------------------------------


def _env(seq: int, at: float = 0.0, source: str = "src") -> Envelope:
    return Envelope(at, source, seq, "dst", f"m{seq}")


@pytest.mark.parametrize("capacity", [0, -3])
def test_lane_capacity_below_one_is_refused(capacity: int) -> None:
    """A lane needs room for at least one message."""
    with pytest.raises(ValueError, match="at least 1"):
        Lane("src", "dst", capacity, lambda: None)


async def test_lane_peek_pop_and_len() -> None:
    """peek shows the head without removing it, pop removes it in FIFO order, len counts both
    the peeked head and the buffer; popping an empty lane raises LookupError."""
    notified: list[int] = []
    lane = Lane("src", "dst", 2, lambda: notified.append(1))
    assert lane.peek() is None
    assert len(lane) == 0
    with pytest.raises(LookupError, match="src->dst"):
        lane.pop()

    assert lane.try_send(_env(1))
    assert lane.try_send(_env(2))
    assert not lane.try_send(_env(3))  # full
    assert len(notified) == 2  # one notification per accepted message, none for the refusal
    assert len(lane) == 2

    head = lane.peek()
    assert head is not None and head.seq == 1
    assert lane.peek() is head  # peeking twice does not advance
    assert len(lane) == 2
    # The peeked head left the channel: one more message fits (capacity + 1 in total).
    assert lane.try_send(_env(3))
    assert len(lane) == 3

    assert [lane.pop().seq, lane.pop().seq, lane.pop().seq] == [1, 2, 3]
    assert len(lane) == 0
    assert lane.peek() is None


async def test_lane_send_waits_for_room() -> None:
    """send on a full lane blocks until the receiving side takes a message, then notifies."""
    notified: list[int] = []
    lane = Lane("src", "dst", 1, lambda: notified.append(1))
    await lane.send(_env(1))
    done = trio.Event()

    async def second() -> None:
        await lane.send(_env(2))
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        assert lane.pop().seq == 1
        await done.wait()
    assert len(notified) == 2
    assert lane.pop().seq == 2


def test_envelope_key_orders_by_time_then_source_then_seq() -> None:
    """key = (at, source, seq): time first, then source name, then the sender's sequence."""
    envelopes = [
        _env(2, at=5.0, source="b"),
        _env(1, at=5.0, source="b"),
        _env(9, at=5.0, source="a"),
        _env(1, at=7.0, source="a"),
        _env(3, at=1.0, source="z"),
    ]
    ordered = sorted(envelopes, key=lambda e: e.key)
    assert [(e.at, e.source, e.seq) for e in ordered] == [
        (1.0, "z", 3),
        (5.0, "a", 9),
        (5.0, "b", 1),
        (5.0, "b", 2),
        (7.0, "a", 1),
    ]


# -- sim time ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0.0, "d0 00:00:00"),
        (59.9, "d0 00:00:59"),
        (3 * DAY + 14 * HOUR + 5 * MINUTE + 9, "d3 14:05:09"),
        (DAY - 1, "d0 23:59:59"),
        (DAY, "d1 00:00:00"),
        (120 * DAY + 1 * HOUR, "d120 01:00:00"),
    ],
)
def test_simtime_label(seconds: float, label: str) -> None:
    """label() shows the day number and a zero-padded time of day."""
    assert SimTime().label(seconds) == label


async def test_simtime_follows_the_trio_clock(autojump_clock: trio.testing.MockClock) -> None:
    """seconds() counts from start(); datetimes are the epoch plus sim seconds."""
    await trio.sleep(1000.0)  # the origin need not be trio time 0
    time = SimTime()
    time.start()
    assert time.seconds() == 0.0
    await trio.sleep(2 * HOUR)
    assert time.seconds() == pytest.approx(2 * HOUR)
    assert time.now() == DEFAULT_EPOCH + timedelta(hours=2)
    assert time.label() == "d0 02:00:00"
    assert time.to_trio(0.0) == pytest.approx(1000.0)
    assert time.datetime_at(DAY) == datetime(2026, 1, 6, tzinfo=UTC)


def test_simtime_needs_an_aware_epoch() -> None:
    """A naive epoch is refused: sim timestamps are UTC."""
    with pytest.raises(ValueError, match="timezone-aware"):
        SimTime(datetime(2026, 1, 1))


# -- timers -----------------------------------------------------------------------------------


class Tagged(msgspec.Struct, frozen=True):
    name: str


class Alarm(Actor):
    """Schedules a wake at ``at`` on Started (or, if ``arm_at`` is set, when woken then)."""

    def __init__(self, name: str, at: float, arm_at: float | None = None) -> None:
        super().__init__(name)
        self.at = at
        self.arm_at = arm_at
        self.wakes: list[tuple[Any, float]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            if self.arm_at is None:
                self.schedule(self.at, Tagged(self.name))
            else:
                self.schedule(self.arm_at, Wake("arm"))
        elif isinstance(message, Wake) and message.tag == "arm":
            self.schedule(self.at, Tagged(self.name))
        else:
            self.wakes.append((message, self.now))
        return None


async def test_same_time_timers_wake_each_once_in_scheduling_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Many actors due at the same sim time: one wake each, delivered in the order the timers
    were set (not in name order: "a" sets its timer last)."""
    world = World(keep_log=True)
    alarms = [world.add(Alarm(name, 50.0)) for name in ("b", "c", "d", "e")]
    late = world.add(Alarm("a", 50.0, arm_at=10.0))
    await world.run(until=100.0)
    for alarm in [*alarms, late]:
        assert alarm.wakes == [(Tagged(alarm.name), pytest.approx(50.0))]
    fired = [e.target for e in world.log.entries if isinstance(e.body, Tagged)]
    assert fired == ["b", "c", "d", "e", "a"]
    assert world.timers.next_due is None


class Burst(Actor):
    """Sets ``count`` timers for itself at sim time 5, more than its clock lane holds."""

    mailbox_capacity = 2

    def __init__(self, count: int) -> None:
        super().__init__("burst")
        self.count = count
        self.wakes: list[tuple[str, float]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for n in range(self.count):
                self.schedule(5.0, Wake(f"w{n}"))
        elif isinstance(message, Wake):
            self.wakes.append((message.tag, self.now))
        return None


async def test_timers_beyond_a_full_clock_lane_wait_their_turn_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Ten timers due at once for an actor whose lanes hold two: the conductor holds back the
    ones that do not fit and sends them as the actor takes mail, all at their due time, in the
    order they were set, none lost or repeated; nothing stays behind in the heap."""
    world = World()
    burst = world.add(Burst(10))
    await world.run(until=20.0)
    assert burst.wakes == [(f"w{n}", pytest.approx(5.0)) for n in range(10)]
    assert world.timers.next_due is None


class Sleeper(Actor):
    """Sets a far timer, then (told by the poker) a nearer one while the conductor sleeps."""

    def __init__(self) -> None:
        super().__init__("sleeper")
        self.wakes: list[tuple[str, float]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(100.0, Wake("far"))
        elif isinstance(message, Wake):
            self.wakes.append((message.tag, self.now))
        elif message == "near":
            self.schedule(self.now + 1.0, Wake("near"))
        return None


async def test_a_nearer_timer_set_while_the_conductor_sleeps_wakes_it_on_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The conductor sleeps until the earliest timer it knows (sim 100); a message posted
    from outside at sim 10 sets a timer for sim 11: it fires at 11, not at 100."""
    world = World()
    sleeper = world.add(Sleeper())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(world.run, 200.0)
        await trio.sleep(10.0)
        await world.post("outside", "sleeper", "near")
    assert sleeper.wakes == [("near", pytest.approx(11.0)), ("far", pytest.approx(100.0))]


# -- event log --------------------------------------------------------------------------------


def test_event_log_digest_depends_on_content_and_order() -> None:
    """Same deliveries → same digest; other order or content → other digest; disabled logs
    count but do not hash; keep=True keeps entries."""

    def digest(*envelopes: Envelope, **kwargs: Any) -> EventLog:
        log = EventLog(**kwargs)
        for envelope in envelopes:
            log.record(envelope)
        return log

    one, two = _env(1), _env(2)
    assert digest(one, two).digest() == digest(_env(1), _env(2)).digest()
    assert digest(one, two).digest() != digest(two, one).digest()
    assert digest(one).digest() != digest(_env(1, at=0.5)).digest()
    off = digest(one, two, enabled=False)
    assert off.count == 2
    assert off.digest() == EventLog().digest()
    kept = digest(one, two, keep=True)
    assert [(e.seq, e.body) for e in kept.entries] == [(1, "m1"), (2, "m2")]
    assert digest(one).entries == []
