"""The journey engine as a plain model: entries, steps, waits, branches, exits, re-entry,
codes, traits, stages, determinism."""

from __future__ import annotations

from typing import Any

import pytest

from promoloop.actors.cdp.audiences import And, Not, PerformedAfter, PerformedEvent, TraitCondition
from promoloop.actors.events import names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.events.promotions import PublishCode as PublishRequest
from promoloop.actors.events.promotions import PublishOutcome
from promoloop.actors.messaging.journeys import (
    AudienceEntry,
    Branch,
    Case,
    EventEntry,
    ExitOnAudienceExit,
    ExitOnEvent,
    Journey,
    JourneyEngine,
    PublishCode,
    Send,
    SetStage,
    SetTrait,
    StageEntry,
    StageRules,
    Wait,
    WaitUntil,
)

DAY = 86_400.0
HOUR = 3_600.0


class Driver:
    """Runs an engine at given instants, answering every request like fake services would:
    sends are accepted unless the user is in ``refuse``; publications give CODE-<user>."""

    def __init__(self, engine: JourneyEngine, refuse: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.refuse = refuse or {}
        self.sent: list[tuple[float, SendMessage]] = []
        self.asked: list[tuple[float, PublishRequest]] = []
        self.publish_fails = False

    def at(self, now: float) -> None:
        while requests := self.engine.run(now):
            for token, request in requests:
                reply: Any
                if isinstance(request, SendMessage):
                    self.sent.append((now, request))
                    reason = self.refuse.get(request.user_id)
                    reply = SendResult(
                        request_id=request.request_id, sent=reason is None, reason=reason
                    )
                else:
                    self.asked.append((now, request))
                    reply = (
                        PublishOutcome(reason="quantity_exceeded")
                        if self.publish_fails
                        else PublishOutcome(code=f"CODE-{request.customer_id}")
                    )
                self.engine.complete(token, reply, now)

    def until(self, end: float) -> None:
        """Run every due instant up to ``end``, as the actor's wake-ups would."""
        while (due := self.engine.next_due()) is not None and due <= end:
            self.at(due)

    def templates(self, user: str | None = None) -> list[str]:
        return [m.template for _, m in self.sent if user is None or m.user_id == user]


def entered(engine: JourneyEngine, user: str, key: str, now: float = 0.0) -> None:
    engine.track(user, names.AUDIENCE_ENTERED, {"audience_key": key}, now)


CART = Journey(
    name="cart recovery",
    entry=AudienceEntry(audience="cart_abandoners"),
    exit_on=(ExitOnEvent(event=names.ORDER_COMPLETED),),
    steps=(
        Send(name="nudge", channel="email", template="cart_nudge"),
        WaitUntil(
            name="back?",
            event=names.CHECKOUT_STARTED,
            timeout_days=1,
            on_event="thanks",
            on_timeout="vip?",
        ),
        Branch(
            name="vip?",
            cases=(Case(when=TraitCondition(trait="vip", value=True), goto="offer"),),
            otherwise="reminder",
        ),
        Send(name="reminder", channel="push", template="cart_push", next="end"),
        PublishCode(name="offer", campaign="cart10", on_failure="reminder"),
        Send(name="offer mail", channel="email", template="cart_offer", next="end"),
        Send(name="thanks", channel="sms", template="thanks"),
        SetTrait(name="end", traits={"cart_journey_done": True}),
    ),
)


def test_audience_entry_wait_until_timeout_branch_and_code() -> None:
    """Nobody comes back: after a day the VIP gets a published code in an email, the other a
    push; both runs end with the trait written."""
    engine = JourneyEngine([CART], stages=StageRules(trait=None))
    driver = Driver(engine)
    engine.identify("vip", {"vip": True}, 0.0)
    entered(engine, "vip", "cart_abandoners")
    entered(engine, "joe", "cart_abandoners")
    driver.at(0.0)
    assert driver.templates() == ["cart_nudge", "cart_nudge"]
    assert engine.next_due() == DAY
    driver.until(2 * DAY)
    assert driver.templates("vip") == ["cart_nudge", "cart_offer"]
    assert driver.templates("joe") == ["cart_nudge", "cart_push"]
    offer = next(m for _, m in driver.sent if m.template == "cart_offer")
    assert (offer.code, offer.context["code"]) == ("CODE-vip", "CODE-vip")
    assert (offer.journey, offer.step, offer.campaign) == (
        "cart recovery",
        "offer mail",
        "cart recovery",
    )
    assert [r.campaign for _, r in driver.asked] == ["cart10"]
    assert [(u.user_id, u.traits) for u in engine.outbox] == [
        ("joe", {"cart_journey_done": True}),  # one reply to wait for; the VIP two
        ("vip", {"cart_journey_done": True}),
    ]
    report = engine.report()["journeys"]["cart recovery"]
    assert (report["entered"], report["completed"], report["active"]) == (2, 2, 0)
    assert report["step_visits"]["back?"] == 2 and report["step_visits"]["thanks"] == 0
    assert engine.report()["sends"] == {
        "email": {"requested": 3, "sent": 3},
        "push": {"requested": 1, "sent": 1},
    }


def test_wait_until_event_takes_the_event_branch_and_exit_criteria_stop_a_run() -> None:
    engine = JourneyEngine([CART], stages=StageRules(trait=None))
    driver = Driver(engine)
    for user in ("ann", "bob"):
        entered(engine, user, "cart_abandoners")
    driver.at(0.0)
    engine.track("ann", names.CHECKOUT_STARTED, {}, 2 * HOUR)
    engine.track("bob", names.ORDER_COMPLETED, {}, 2 * HOUR)
    driver.at(2 * HOUR)
    driver.until(3 * DAY)
    assert driver.templates("ann") == ["cart_nudge", "thanks"]
    assert driver.sent[-1][0] == 2 * HOUR  # at once, not at the (cancelled) timeout
    assert driver.templates("bob") == ["cart_nudge"]
    report = engine.report()["journeys"]["cart recovery"]
    assert (report["completed"], report["exited_by_criteria"]) == (1, 1)
    assert engine.next_due() is None  # the stale timeouts were discarded


def test_a_publication_refused_goes_to_on_failure() -> None:
    engine = JourneyEngine([CART], stages=StageRules(trait=None))
    driver = Driver(engine)
    driver.publish_fails = True
    engine.identify("vip", {"vip": True}, 0.0)
    entered(engine, "vip", "cart_abandoners")
    driver.at(0.0)
    driver.until(2 * DAY)
    assert driver.templates("vip") == ["cart_nudge", "cart_push"]
    assert engine.report()["publications"] == {"quantity_exceeded": 1}


def test_a_refused_send_is_counted_and_the_run_goes_on() -> None:
    engine = JourneyEngine([CART], stages=StageRules(trait=None))
    driver = Driver(engine, refuse={"joe": "frequency_cap"})
    entered(engine, "joe", "cart_abandoners")
    driver.at(0.0)
    driver.until(2 * DAY)
    assert driver.templates("joe") == ["cart_nudge", "cart_push"]
    assert engine.report()["sends"]["email"] == {"requested": 1, "sent": 0, "frequency_cap": 1}
    assert engine.report()["journeys"]["cart recovery"]["completed"] == 1


def test_audience_exit_criterion() -> None:
    journey = Journey(
        name="winback",
        entry=AudienceEntry(audience="lapsing"),
        exit_on=(ExitOnAudienceExit(audience="lapsing"),),
        steps=(Wait(name="w", days=3), Send(name="s", channel="email", template="t")),
    )
    engine = JourneyEngine([journey], stages=StageRules(trait=None))
    driver = Driver(engine)
    entered(engine, "a", "lapsing")
    entered(engine, "b", "lapsing")
    driver.at(0.0)
    engine.track("a", names.AUDIENCE_EXITED, {"audience_key": "lapsing"}, DAY)
    driver.until(5 * DAY)
    assert [m.user_id for _, m in driver.sent] == ["b"]
    assert engine.customers["a"].traits["lapsing"] is False


@pytest.mark.parametrize(
    ("reentry", "days", "expected"),
    [("never", 0.0, 1), ("after", 10.0, 2), ("always", 0.0, 3)],
)
def test_reentry_rules(reentry: str, days: float, expected: int) -> None:
    """Entries at day 0, 5 and 12 (each run lasts one send): never → 1 run; after 10 days →
    days 0 and 12; always → all three."""
    journey = Journey(
        name="browse",
        entry=EventEntry(event=names.PRODUCT_VIEWED, where={"category": "shoes"}),
        steps=(Send(name="s", channel="ads", template="shoes"),),
        reentry=reentry,  # type: ignore[arg-type]
        reentry_days=days,
    )
    engine = JourneyEngine([journey], stages=StageRules(trait=None))
    driver = Driver(engine)
    for day in (0, 5, 12):
        engine.track("u", names.PRODUCT_VIEWED, {"category": "shoes"}, day * DAY)
        engine.track("u", names.PRODUCT_VIEWED, {"category": "hats"}, day * DAY)
        driver.at(day * DAY)
    assert len(driver.sent) == expected
    assert engine.report()["journeys"]["browse"]["entered"] == expected


def test_nobody_is_twice_in_the_same_journey() -> None:
    journey = Journey(
        name="j",
        entry=EventEntry(event="Ping"),
        steps=(Wait(name="w", days=2), Send(name="s", channel="email", template="t")),
        reentry="always",
    )
    engine = JourneyEngine([journey], stages=StageRules(trait=None))
    driver = Driver(engine)
    engine.track("u", "Ping", {}, 0.0)
    driver.at(0.0)
    engine.track("u", "Ping", {}, DAY)
    driver.at(DAY)
    driver.until(3 * DAY)
    assert len(driver.sent) == 1


def test_branches_read_traits_audiences_and_events() -> None:
    journey = Journey(
        name="route",
        entry=EventEntry(event="Go"),
        steps=(
            Branch(
                name="which",
                cases=(
                    Case(when=TraitCondition(trait="loyal", value=True), goto="loyal"),
                    Case(
                        when=And(
                            conditions=[
                                PerformedEvent(event=names.PRODUCT_ADDED, within_days=7),
                                Not(
                                    condition=PerformedAfter(
                                        event=names.ORDER_COMPLETED, after=names.PRODUCT_ADDED
                                    )
                                ),
                            ]
                        ),
                        goto="cart",
                    ),
                    Case(
                        when=PerformedEvent(event=names.PRODUCT_VIEWED, at_least=2), goto="browser"
                    ),
                ),
                otherwise="generic",
            ),
            Send(name="loyal", channel="email", template="loyal", next="stop"),
            Send(name="cart", channel="email", template="cart", next="stop"),
            Send(name="browser", channel="email", template="browser", next="stop"),
            Send(name="generic", channel="email", template="generic", next="stop"),
            SetTrait(name="stop", traits={}),
        ),
    )
    engine = JourneyEngine([journey], stages=StageRules(trait=None))
    driver = Driver(engine)
    entered(engine, "member", "loyal")  # an audience reads as its boolean trait
    engine.track("carter", names.PRODUCT_ADDED, {}, 0.0)
    engine.track("buyer", names.PRODUCT_ADDED, {}, 0.0)
    engine.track("buyer", names.ORDER_COMPLETED, {}, HOUR)
    engine.track("old cart", names.PRODUCT_ADDED, {}, 0.0)
    engine.track("viewer", names.PRODUCT_VIEWED, {}, 0.0)
    engine.track("viewer", names.PRODUCT_VIEWED, {}, 0.0)
    for user in ("member", "carter", "buyer", "viewer"):
        engine.track(user, "Go", {}, 2 * HOUR)
    driver.at(2 * HOUR)
    engine.track("old cart", "Go", {}, 8 * DAY)  # its cart is older than 7 days by now
    driver.at(8 * DAY)
    assert {m.user_id: m.template for _, m in driver.sent} == {
        "member": "loyal",
        "carter": "cart",
        "buyer": "generic",
        "viewer": "browser",
        "old cart": "generic",
    }


def test_stages_move_forward_from_events_and_steps_and_the_funnel_is_monotone() -> None:
    promote = Journey(
        name="to intent",
        entry=EventEntry(event="Quiz Done"),
        steps=(SetStage(name="s", stage="intent"),),
    )
    loyal = Journey(
        name="retained",
        entry=StageEntry(stage="retention"),
        steps=(Send(name="thanks", channel="email", template="loyal"),),
    )
    engine = JourneyEngine([promote, loyal])
    driver = Driver(engine)
    engine.identify("a", {}, 0.0)
    engine.track("b", names.PRODUCT_VIEWED, {}, 0.0)
    engine.track("c", "Quiz Done", {}, 0.0)
    engine.track("c", names.PRODUCT_VIEWED, {}, HOUR)  # stays in intent: forward only
    for at in (1.0, 2.0):
        engine.track("d", names.ORDER_COMPLETED, {}, at)
    driver.at(2.0)
    stages = {u: c.traits["journey_stage"] for u, c in engine.customers.items()}
    assert stages == {"a": "awareness", "b": "interest", "c": "intent", "d": "retention"}
    funnel = engine.report()["funnel"]
    assert funnel["reached"] == {
        "awareness": 4,
        "interest": 3,  # c and d skipped through it: reached counts them
        "intent": 2,
        "purchase": 1,
        "retention": 1,
    }
    assert funnel["current"] == {
        "awareness": 1,
        "interest": 1,
        "intent": 1,
        "purchase": 0,
        "retention": 1,
    }
    assert driver.templates() == ["loyal"]  # the stage entry fired for d
    written = [(u.user_id, u.traits["journey_stage"]) for u in engine.outbox]
    assert ("c", "intent") in written and ("d", "purchase") not in written[:1]
    assert written.count(("d", "retention")) == 1


def test_wake_ups_are_rounded_to_the_resolution() -> None:
    journey = Journey(
        name="j",
        entry=EventEntry(event="Go"),
        steps=(Wait(name="w", hours=1), Send(name="s", channel="push", template="t")),
    )
    engine = JourneyEngine([journey], resolution=900.0)
    driver = Driver(engine)
    for i in range(50):
        engine.track(f"u{i}", "Go", {}, 10.0 * i)
    driver.at(490.0)
    assert engine.next_due() == 4_500.0  # 490 + 3600 rounded up to a 15-minute mark
    driver.until(DAY)
    assert {at for at, _ in driver.sent} == {4_500.0}
    assert len(driver.sent) == 50


def test_same_inputs_same_requests() -> None:
    def run() -> list[tuple[float, str, str, str]]:
        engine = JourneyEngine([CART], seed=3)
        driver = Driver(engine, refuse={"u3": "suppressed"})
        for i in range(20):
            engine.identify(f"u{i}", {"vip": i % 3 == 0}, 0.0)
            entered(engine, f"u{i}", "cart_abandoners", i * 60.0)
            if i % 4 == 0:
                engine.track(f"u{i}", names.CHECKOUT_STARTED, {}, HOUR)
        driver.at(HOUR)
        driver.until(3 * DAY)
        return [(at, m.request_id, m.user_id, m.template) for at, m in driver.sent]

    first = run()
    assert first == run()
    assert len(first) == 40


def test_a_holdout_enters_but_takes_no_step() -> None:
    journey = Journey(
        name="cart",
        entry=EventEntry(event=names.PRODUCT_ADDED),
        steps=(Send(name="s", channel="email", template="t"),),
        holdout_share=0.25,
    )
    engine = JourneyEngine([journey], stages=StageRules(trait=None), seed=9)
    driver = Driver(engine)
    for i in range(400):
        engine.track(f"u{i}", names.PRODUCT_ADDED, {}, 0.0)
        engine.track(f"u{i}", names.PRODUCT_ADDED, {}, 1.0)  # never re-enters, held out or not
    driver.at(1.0)
    stats = engine.stats[0]
    control = {u for u, _, treated in stats.assignments if not treated}
    assert stats.entered == 400 and stats.control == len(control)
    assert 70 < len(control) < 130
    assert {m.user_id for _, m in driver.sent} == {f"u{i}" for i in range(400)} - control
    again = JourneyEngine([journey], stages=StageRules(trait=None), seed=9)
    for i in range(400):
        again.track(f"u{i}", names.PRODUCT_ADDED, {}, 0.0)
    assert again.stats[0].assignments == [(u, 0.0, t) for u, _, t in stats.assignments]


def test_a_reply_of_the_wrong_kind_is_an_error() -> None:
    engine = JourneyEngine([CART], stages=StageRules(trait=None))
    entered(engine, "joe", "cart_abandoners")
    ((token, request),) = engine.run(0.0)
    assert isinstance(request, SendMessage)
    with pytest.raises(TypeError, match="answered with the wrong reply"):
        engine.complete(token, PublishOutcome(code="X"), 0.0)
