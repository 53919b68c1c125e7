"""The points score: rules checked at definition, the ledger's arithmetic, and the actor writing
the score back so that CDP audiences on it move customers between tiers in real time."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.cdp import CdpActor, Subscription, load_audiences
from promoloop.actors.cdp.points import (
    DEFAULT_RULES,
    POINTS_SCORE,
    PointsActor,
    PointsConfig,
    PointsLedger,
    PointsRule,
    load_points_rules,
)
from promoloop.actors.events import EventBatch, Identify, Page, SegmentEvent, Track, names
from promoloop.actors.runtime import DAY, HOUR, Actor, Started, Wake, World
from promoloop.connectors.transport.inproc import InprocTrackingPort


def ledger(**options: Any) -> PointsLedger:
    return PointsLedger(load_points_rules(DEFAULT_RULES, **options))


# -- definitions ---------------------------------------------------------------------------------


def test_default_rules_are_the_seed_rules() -> None:
    config = load_points_rules(DEFAULT_RULES)
    assert config.by_event == {names.ORDER_COMPLETED: 10, names.EMAIL_OPENED: 5}
    assert config.inactivity == PointsRule(kind="inactivity", every_days=7, points=-3)
    assert (config.floor, config.cap, config.trait) == (0, 100, POINTS_SCORE)


@pytest.mark.parametrize(
    ("rules", "options", "message"),
    [
        ([], {}, "points.rules is empty"),
        ([{"kind": "event", "points": 5}], {}, r"points.rules\[0\]: points_rule.event"),
        (
            [{"kind": "event", "event": "A", "points": 1}, {"kind": "event", "points": "x"}],
            {},
            r"points.rules\[1\]: Expected `int`.*\$.points",
        ),
        ([{"kind": "event", "event": "A", "points": 0}], {}, "non-zero"),
        ([{"kind": "inactivity", "every_days": 7, "points": 3}], {}, "must be negative"),
        ([{"kind": "inactivity", "every_days": 0, "points": -3}], {}, "every_days must be > 0"),
        ([{"kind": "bonus", "event": "A", "points": 1}], {}, r"points.rules\[0\].*\$.kind"),
        (
            [{"kind": "event", "event": "A", "points": 1, "colour": "red"}],
            {},
            "unknown field `colour`",
        ),
        (
            [{"kind": "event", "event": "A", "points": 1}, {"kind": "event", "event": "A",
                                                             "points": 2}],
            {},
            r"points.rules\[1\]: event 'A' already has a rule",
        ),
        (DEFAULT_RULES, {"floor": 10, "cap": 10}, r"points.cap \(10\) must be > points.floor"),
    ],
)  # fmt: skip
def test_bad_rules_are_refused_naming_the_field(
    rules: list[dict[str, Any]], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_points_rules(rules, **options)


def test_rules_load_from_json() -> None:
    config = load_points_rules(
        b'[{"kind": "event", "event": "review_left", "points": 7},'
        b' {"kind": "inactivity", "every_days": 3, "points": -1}]',
        cap=None,
    )
    assert config.by_event == {"review_left": 7}
    assert config.cap is None and config.clamp(1_000) == 1_000


# -- the ledger ----------------------------------------------------------------------------------


def test_orders_and_opens_earn_points_and_passive_events_do_not() -> None:
    book = ledger()
    assert book.observe("u1", None, 0.0)  # the first call sets the floor: a change
    assert book.scores["u1"] == 0
    assert book.observe("u1", names.ORDER_COMPLETED, 10.0)
    assert book.observe("u1", names.EMAIL_OPENED, 20.0)
    assert not book.observe("u1", names.EMAIL_DELIVERED, 30.0)
    assert not book.observe("u1", names.PRODUCT_VIEWED, 40.0)
    assert book.scores["u1"] == 15
    assert book.last_activity["u1"] == 40.0  # a view is activity; a delivered email is not


def test_the_score_is_clamped_to_floor_and_cap() -> None:
    book = ledger(cap=25)
    for i in range(5):
        book.observe("u1", names.ORDER_COMPLETED, float(i))
    assert book.scores["u1"] == 25
    later = ledger()
    later.observe("u2", None, 0.0)
    assert later.advance(30 * DAY) == []  # already at the floor: penalties change nothing
    assert later.scores["u2"] == 0 and later.penalties_applied == 4


def test_inactivity_costs_points_per_full_period_until_the_next_activity() -> None:
    book = ledger()
    book.observe("u1", names.ORDER_COMPLETED, 0.0)
    book.observe("u1", names.ORDER_COMPLETED, 0.0)  # 20
    assert book.next_due() == 7 * DAY
    assert book.advance(7 * DAY - 1) == []
    assert book.advance(7 * DAY) == ["u1"]
    assert book.scores["u1"] == 17
    assert book.advance(15 * DAY) == ["u1"]
    assert book.scores["u1"] == 14
    book.observe("u1", names.PRODUCT_VIEWED, 16 * DAY)  # activity restarts the count
    assert book.next_due() == 23 * DAY
    assert book.advance(22 * DAY) == []
    assert book.advance(23 * DAY) == ["u1"] and book.scores["u1"] == 11


def test_an_older_event_does_not_move_the_last_activity_back() -> None:
    book = ledger()
    book.observe("u1", names.PRODUCT_VIEWED, 5 * DAY)
    book.observe("u1", names.EMAIL_OPENED, 2 * DAY)  # reported late by the email provider
    assert book.last_activity["u1"] == 5 * DAY
    assert book.scores["u1"] == 5
    assert book.next_due() == 12 * DAY


# -- the actor, with the CDP ---------------------------------------------------------------------

TIERS = load_audiences(
    [
        {"key": "cold", "name": "cold",
         "condition": {"type": "trait", "trait": POINTS_SCORE, "op": "lt", "value": 10}},
        {"key": "warm", "name": "warm",
         "condition": {"type": "and", "conditions": [
             {"type": "trait", "trait": POINTS_SCORE, "op": "gte", "value": 10},
             {"type": "trait", "trait": POINTS_SCORE, "op": "lt", "value": 30}]}},
        {"key": "hot", "name": "hot",
         "condition": {"type": "trait", "trait": POINTS_SCORE, "op": "gte", "value": 30}},
    ]
)  # fmt: skip


class Shopper(Actor):
    """Plays one customer's calls at given sim times, on the storefront source."""

    def __init__(self, script: list[tuple[float, SegmentEvent]]) -> None:
        super().__init__("storefront")
        self.script = script

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for at, _ in self.script:
                self.schedule(at, Wake())
        elif isinstance(message, Wake):
            due = [e for at, e in self.script if at == self.now]
            self.script = [(at, e) for at, e in self.script if at != self.now]
            if due:
                await self.tell("cdp", EventBatch("storefront", tuple(due)))
        return None


class Watcher(Actor):
    """Records Engage's membership events (what a destination would see)."""

    def __init__(self) -> None:
        super().__init__("watcher")
        self.moves: list[tuple[float, str, str]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            for e in message.events:
                if isinstance(e, Track):
                    self.moves.append((self.now, e.event, e.properties["audience_key"]))
        return None


def _call(world: World, kind: str, at: float, n: int, event: str = "") -> SegmentEvent:
    stamp = world.time.datetime_at(at)
    ids: dict[str, Any] = {"message_id": f"m{n}", "timestamp": stamp, "user_id": "u1"}
    if kind == "identify":
        return Identify(traits={"email": "u1@example.com"}, **ids)
    if kind == "page":
        return Page(name="Home", **ids)
    return Track(event=event, **ids)


async def test_actor_writes_the_score_and_tiers_follow_in_real_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world = World(seed=1)
    cdp = world.add(CdpActor("cdp"))
    cdp.model.add_audiences(TIERS)
    points = world.add(PointsActor("points", resolution=HOUR))
    watcher = world.add(Watcher())
    plan = [
        (60.0, "identify", ""),
        (2 * HOUR, "track", names.ORDER_COMPLETED),
        (3 * HOUR, "track", names.ORDER_COMPLETED),
        (4 * HOUR, "track", names.ORDER_COMPLETED),
    ]
    world.add(
        Shopper(
            [(at, _call(world, kind, at, n, event)) for n, (at, kind, event) in enumerate(plan)]
        )
    )
    points.tracking = InprocTrackingPort(points, "cdp")
    cdp.model.subscribe(Subscription(destination="points", sources=frozenset({"storefront"})))
    cdp.model.subscribe(
        Subscription(
            destination="watcher",
            sources=frozenset({"engage"}),
            events=frozenset({names.AUDIENCE_ENTERED, names.AUDIENCE_EXITED}),
        )
    )
    await world.run(until=4 * HOUR + 7 * DAY + 2 * HOUR)

    profile = cdp.model.find("user_id", "u1")
    assert profile is not None
    # 30 after three orders, then one inactivity period (7 days after the last order): 27.
    assert points.ledger.scores["u1"] == 27
    assert profile.traits[POINTS_SCORE] == 27
    assert profile.audiences & {"cold", "warm", "hot"} == {"warm"}
    moves = [(kind, key) for _, kind, key in watcher.moves]
    assert moves == [
        (names.AUDIENCE_ENTERED, "cold"),
        (names.AUDIENCE_EXITED, "cold"),  # 10 after the first order...
        (names.AUDIENCE_ENTERED, "warm"),
        (names.AUDIENCE_EXITED, "warm"),  # ... 30 after the third
        (names.AUDIENCE_ENTERED, "hot"),
        (names.AUDIENCE_ENTERED, "warm"),  # 27 after a quiet week
        (names.AUDIENCE_EXITED, "hot"),
    ]
    hot_at = next(t for t, kind, key in watcher.moves if key == "hot")
    assert 4 * HOUR <= hot_at < 4 * HOUR + 60  # real time: the same minute as the order
    back_at = watcher.moves[-1][0]
    assert 4 * HOUR + 7 * DAY <= back_at <= 4 * HOUR + 7 * DAY + HOUR  # within the resolution
    assert points.written == 5  # 0, 10, 20, 30, 27: one identify per change


def test_actor_refuses_a_bad_resolution_and_reports_its_config() -> None:
    with pytest.raises(ValueError, match="resolution must be > 0"):
        PointsActor(resolution=0)
    actor = PointsActor(config=PointsConfig(rules=(PointsRule(kind="event", event="A", points=1),)))
    assert actor.config.by_event == {"A": 1}
    assert actor.ledger.config.inactivity is None
    assert actor.ledger.next_due() is None  # no inactivity rule: nothing ever decays
