"""World + Actor: tell/ask, timers, Started, supervision and deadlock detection."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
import trio
import trio.testing

from promoloop.actors.runtime import (
    DAY,
    HOUR,
    Actor,
    ActorCrashed,
    Deadlock,
    Started,
    UnknownActor,
    Wake,
    World,
)


class Question(msgspec.Struct, frozen=True):
    value: int


class Note(msgspec.Struct, frozen=True):
    text: str


class Recorder(Actor):
    """Remembers every (message, sender, sim time) it handles; answers Question with 2*value."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[tuple[Any, str, float]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        self.seen.append((message, sender, self.now))
        if isinstance(message, Question):
            return message.value * 2
        return None


class Client(Recorder):
    """On Started: tells the server a note, then asks it a question and keeps the answer."""

    def __init__(self, name: str, server: str) -> None:
        super().__init__(name)
        self.server = server
        self.answers: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        await super().receive(message, sender)
        if isinstance(message, Started):
            await self.tell(self.server, Note("hello"))
            self.answers.append(await self.ask(self.server, Question(21)))
        return None


async def test_tell_and_ask_round_trip(autojump_clock: trio.testing.MockClock) -> None:
    """A tell arrives with its sender's name; an ask returns what the target's receive returned."""
    world = World()
    server = world.add(Recorder("server"))
    client = world.add(Client("client", "server"))
    await world.run(until=1.0)
    assert client.answers == [42]
    bodies = [(m, s) for m, s, _ in server.seen if not isinstance(m, Started)]
    assert bodies == [(Note("hello"), "client"), (Question(21), "client")]
    assert server.handled == 3  # Started, the note, the question


class Sleeper(Recorder):
    """Schedules two wake-ups at Started (out of order) and records when they arrive."""

    async def receive(self, message: Any, sender: str) -> Any:
        await super().receive(message, sender)
        if isinstance(message, Started):
            self.schedule(2 * DAY + 3 * HOUR, Wake("late"))
            self.schedule(90.0, Wake("early"))
        return None


async def test_schedule_wakes_at_the_requested_sim_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Wakes arrive from the clock at exactly the sim second asked for, earliest first."""
    world = World()
    sleeper = world.add(Sleeper("sleeper"))
    await world.run(until=3 * DAY)
    wakes = [(m.tag, s, t) for m, s, t in sleeper.seen if isinstance(m, Wake)]
    assert [tag for tag, _, _ in wakes] == ["early", "late"]
    assert all(sender == "clock" for _, sender, _ in wakes)
    assert wakes[0][2] == pytest.approx(90.0, abs=1e-9)
    assert wakes[1][2] == pytest.approx(2 * DAY + 3 * HOUR, abs=1e-9)
    assert world.ended_at == pytest.approx(3 * DAY, abs=1e-9)


class PastScheduler(Recorder):
    """At sim time 100 asks for a wake at sim time 10 (already past)."""

    async def receive(self, message: Any, sender: str) -> Any:
        await super().receive(message, sender)
        if isinstance(message, Started):
            self.schedule(100.0, Wake("first"))
        elif isinstance(message, Wake) and message.tag == "first":
            self.schedule(10.0, Wake("past"))
        return None


async def test_schedule_in_the_past_fires_now(autojump_clock: trio.testing.MockClock) -> None:
    """A wake asked for a past time is delivered at the current time, never back in time."""
    world = World()
    actor = world.add(PastScheduler("p"))
    await world.run(until=200.0)
    times = {m.tag: t for m, _, t in actor.seen if isinstance(m, Wake)}
    assert times["past"] == pytest.approx(100.0, abs=1e-9)


async def test_started_is_delivered_once_to_each_actor_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Every actor's first message is Started, exactly once, at sim time 0, in name order."""
    world = World(keep_log=True)
    server = world.add(Recorder("zeta"))
    client = world.add(Client("alpha", "zeta"))
    other = world.add(Recorder("mid"))
    await world.run(until=5.0)
    for actor in (server, client, other):
        assert isinstance(actor.seen[0][0], Started)
        assert actor.seen[0][1] == "clock"
        assert actor.seen[0][2] == 0.0
        assert sum(isinstance(m, Started) for m, _, _ in actor.seen) == 1
    started_targets = [e.target for e in world.log.entries if isinstance(e.body, Started)]
    assert started_targets == ["alpha", "mid", "zeta"]


class Boom(Exception):
    pass


class Bomb(Actor):
    """Raises when it receives a Note."""

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Note):
            raise Boom("kaboom")
        return None


class Ticker(Actor):
    """Wakes every hour forever and counts."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.ticks = 0

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Wake):
            self.ticks += 1
        if isinstance(message, Started | Wake):
            self.schedule(self.now + HOUR)
        return None


class Fuse(Actor):
    """Tells the bomb a note at sim time 5 hours."""

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(5 * HOUR)
        elif isinstance(message, Wake):
            await self.tell("bomb", Note("light"))
        return None


async def test_a_crash_stops_the_run_with_actor_crashed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """ActorCrashed names actor, message type and source; the run ends early, others stopped."""
    world = World()
    world.add(Bomb("bomb"))
    world.add(Fuse("fuse"))
    ticker = world.add(Ticker("ticker"))
    start = trio.current_time()
    with pytest.raises(ActorCrashed) as info:
        await world.run(until=10 * DAY)
    error = info.value
    assert error.actor == "bomb"
    assert error.source == "fuse"
    assert error.message == Note("light")
    assert isinstance(error.cause, Boom)
    assert error.__cause__ is error.cause
    text = str(error)
    assert "'bomb'" in text and "Note" in text and "'fuse'" in text and "kaboom" in text
    # The run stopped at the crash (5 h), not at `until`; the ticker got no further.
    assert trio.current_time() - start == pytest.approx(5 * HOUR, abs=1e-9)
    assert ticker.ticks == 5
    ticks_at_crash = ticker.ticks
    await trio.sleep(DAY)
    assert ticker.ticks == ticks_at_crash


class MutualAsker(Actor):
    """Asks its peer inside receive, whatever it gets: two of them wait on each other."""

    def __init__(self, name: str, peer: str) -> None:
        super().__init__(name)
        self.peer = peer

    async def receive(self, message: Any, sender: str) -> Any:
        return await self.ask(self.peer, Question(1))


async def test_actors_asking_each_other_deadlock(autojump_clock: trio.testing.MockClock) -> None:
    """Two actors asking each other inside receive make World.run raise Deadlock.

    Detection happens when the run tries to drain (at ``until``), naming who waits on whom.
    """
    world = World()
    world.add(MutualAsker("a", "b"))
    world.add(MutualAsker("b", "a"))
    with pytest.raises(Deadlock, match=r"a waits on b, b waits on a"):
        await world.run(until=10.0)


class SlowWorker(Actor):
    """Takes a whole simulated hour per message (sleeps inside receive): busy, not stuck."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.done: list[int] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Question):
            await trio.sleep(HOUR)
            self.done.append(message.value)
        return None


class Burst(Actor):
    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for value in range(3):
                await self.tell("worker", Question(value))
        return None


async def test_a_busy_actor_with_mail_at_the_end_is_drained_not_a_deadlock(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At ``until`` the worker is mid-message with mail waiting: the run waits for it."""
    world = World()
    world.add(Burst("burst"))
    worker = world.add(SlowWorker("worker"))
    await world.run(until=HOUR / 2)
    assert worker.done == [0, 1, 2]


def test_world_wiring_errors() -> None:
    """Duplicate names, unknown targets and bad actor names are refused with clear errors."""
    world = World()
    world.add(Recorder("one"))
    with pytest.raises(ValueError, match="already"):
        world.add(Recorder("one"))
    with pytest.raises(UnknownActor, match=r"'nobody'.*one"):
        world.actor("nobody")
    with pytest.raises(UnknownActor):
        world.lane("one", "nobody")
    for bad in ("", "has space", "dot.ted"):
        with pytest.raises(ValueError, match="short identifiers"):
            Recorder(bad)
    with pytest.raises(RuntimeError, match="not part of a world"):
        _ = Recorder("loose").world


async def test_tell_to_an_unknown_actor_crashes_the_sender(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A tell to a name that is not in the world is an error of the sender, not a silent drop."""

    class Lost(Actor):
        async def receive(self, message: Any, sender: str) -> Any:
            await self.tell("ghost", Note("?"))

    world = World()
    world.add(Lost("lost"))
    with pytest.raises(ActorCrashed) as info:
        await world.run(until=1.0)
    assert info.value.actor == "lost"
    assert isinstance(info.value.cause, UnknownActor)


async def test_post_injects_messages_from_outside(autojump_clock: trio.testing.MockClock) -> None:
    """World.post delivers an external message, with its source name, during a run."""
    world = World()
    sink = world.add(Recorder("sink"))
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run, 60.0)
        await world.post("http", "sink", Note("outside"))
        await world.post("http", "sink", Note("again"))
    got = [(m, s) for m, s, _ in sink.seen if isinstance(m, Note)]
    assert got == [(Note("outside"), "http"), (Note("again"), "http")]


class Planner(Actor):
    """Keeps a wake-up far beyond the run's end, and records every time it is woken."""

    def __init__(self) -> None:
        super().__init__("planner")
        self.woken: list[float] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            self.schedule(10 * DAY, Wake("far"))
            self.schedule(HOUR, Wake("soon"))
        else:
            self.woken.append(self.now)
        return None


async def test_a_run_ends_at_its_end_with_timers_still_pending_beyond_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A timer set beyond ``until`` neither fires nor moves the clock: the run ends at
    ``until``, and the clock is still there after it."""
    world = World()
    planner = world.add(Planner())
    start = trio.current_time()
    await world.run(until=DAY)
    assert planner.woken == [pytest.approx(HOUR)]
    assert world.ended_at == pytest.approx(DAY, abs=1e-9)
    assert trio.current_time() - start == pytest.approx(DAY, abs=1e-9)
    assert world.timers.next_due == pytest.approx(10 * DAY)
