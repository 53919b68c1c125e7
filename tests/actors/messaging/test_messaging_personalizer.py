"""Personalizer: triggers wait and re-check membership, the matrix picks the module, weekly
newsletters, blasts per experiment arm (in the newsletter's place), codes published once and
kept when a send is refused, and what it refuses to be built with."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, Track, names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.events.promotions import PublishCode, PublishOutcome
from promoloop.actors.messaging.decisions import ContentModule, DecisionMatrix, DecisionRule
from promoloop.actors.messaging.personalizer import Blast, Personalized, Personalizer
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.runtime import DAY, HOUR, Actor, Started, Wake, World

AUDIENCES = ("cart", "buyer", "vip")


def _module(key: str, body: str, offer: str | None = None) -> ContentModule:
    template = MessageTemplate(key, subject=key, body=body, fallbacks={"first_name": "there"})
    return ContentModule(key, template, offer_campaign=offer)


def matrix() -> DecisionMatrix:
    modules = {
        "recovery": _module("recovery", "Hi {{ first_name }}, {{ discount }} with {{ code }}", "c"),
        "thanks": _module("thanks", "Hi {{ first_name }}, thanks"),
        "vip": _module("vip", "Hi {{ first_name }}, {{ code }}", "v"),
        "news": _module("news", "Hi {{ first_name }}, news"),
    }
    rules = [
        DecisionRule(audience="cart", module="recovery"),
        DecisionRule(audience="buyer", module="thanks"),
    ]
    return DecisionMatrix("m", rules, default="news", modules=modules, audiences=AUDIENCES)


class Email(Actor):
    """Sends everything except to ``refuse`` (answered ``frequency_cap``)."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        super().__init__("email")
        self.refuse = refuse or set()
        self.received: list[tuple[float, SendMessage]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, SendMessage):
            self.received.append((self.now, message))
            if message.user_id in self.refuse:
                return SendResult(request_id=message.request_id, sent=False, reason="frequency_cap")
            return SendResult(
                request_id=message.request_id, sent=True, message_id=f"m-{len(self.received)}"
            )
        return None


class Engine(Actor):
    """Publishes numbered codes; refuses customers in ``refuse``."""

    def __init__(self, refuse: set[str] | None = None) -> None:
        super().__init__("promotions")
        self.refuse = refuse or set()
        self.published: list[PublishCode] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, PublishCode):
            if message.customer_id in self.refuse:
                return PublishOutcome(reason="customer_rules_violated")
            self.published.append(message)
            return PublishOutcome(code=f"CODE-{len(self.published)}")
        return None


class Cdp(Actor):
    """Sends ``(sim seconds, events)`` to the personalizer at their time."""

    def __init__(self, plan: list[tuple[float, list[Any]]]) -> None:
        super().__init__("cdp")
        self.plan = plan

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for index, (at, _) in enumerate(self.plan):
                self.schedule(at, Wake(str(index)))
        elif isinstance(message, Wake):
            await self.tell(
                "personalizer", EventBatch("cdp", tuple(self.plan[int(message.tag)][1]))
            )
        return None


def identify(user: str, **traits: Any) -> Identify:
    return Identify(user_id=user, traits={"email": f"{user}@example.com", **traits})


def enter(user: str, audience: str) -> Track:
    return Track(user_id=user, event=names.AUDIENCE_ENTERED, properties={"audience_key": audience})


def leave(user: str, audience: str) -> Track:
    return Track(user_id=user, event=names.AUDIENCE_EXITED, properties={"audience_key": audience})


def build(
    plan: list[tuple[float, list[Any]]],
    *,
    days: int = 2,
    blasts: tuple[Blast, ...] = (),
    refuse_send: set[str] | None = None,
    refuse_publish: set[str] | None = None,
) -> tuple[World, Personalizer, Email, Engine, list[Personalized]]:
    world = World()
    seen: list[Personalized] = []
    personalizer = world.add(
        Personalizer(
            "personalizer",
            matrix=matrix(),
            days=days,
            email="email",
            promotions="promotions",
            discounts={"c": "15%", "v": "20%"},
            triggers=("cart", "buyer"),
            blasts=blasts,
            on_send=seen.append,
            campaign="shop",
        )
    )
    email = world.add(Email(refuse_send))
    engine = world.add(Engine(refuse_publish))
    world.add(Cdp(plan))
    return world, personalizer, email, engine, seen


async def test_a_trigger_waits_an_hour_and_fires_only_for_members(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan = [
        (0.0, [identify("u-1", first_name="Ada"), identify("u-2"), identify("u-3")]),
        (1.0 * HOUR, [enter("u-1", "cart"), enter("u-2", "cart"), enter("u-3", "buyer")]),
        (1.5 * HOUR, [leave("u-2", "cart")]),  # checked out: no longer abandoned
        (1.6 * HOUR, [enter("u-3", "cart")]),  # in both: the matrix's first row wins
    ]
    world, personalizer, email, engine, seen = build(plan)
    await world.run(until=1 * DAY)
    sent = [(at / HOUR, m.user_id, m.context["module"]) for at, m in email.received]
    assert sent == [
        (2.0, "u-1", "recovery"),
        (2.0, "u-3", "recovery"),  # the buyer trigger, but the cart row comes first
        (2.6, "u-3", "recovery"),  # the cart trigger (the delivery policy caps repeats)
    ]
    first = personalizer.decided[0]
    assert (first.trigger, first.audience, first.code) == ("cart", "cart", "CODE-1")
    assert first.body == "Hi Ada, 15% with CODE-1" and first.sent and first.arm is None
    assert email.received[0][1].campaign == "shop/recovery"
    assert email.received[0][1].to == "u-1@example.com"
    assert email.received[1][1].body == "Hi there, 15% with CODE-2"  # the fallback name
    u3 = personalizer.decided[1]
    assert (u3.trigger, u3.audience, u3.audiences) == ("buyer", "cart", ("buyer", "cart"))
    assert [p.customer_id for p in engine.published] == ["u-1", "u-3", "u-3"]
    assert seen == personalizer.decided


async def test_newsletters_and_a_blast_in_the_newsletters_place(
    autojump_clock: trio.testing.MockClock,
) -> None:
    arms = {"u-1": "A", "u-2": "B", "u-3": "A", "u-4": "control"}
    blast = Blast(
        "test",
        7 * DAY + 10 * HOUR,
        "vip",
        {"A": "vip", "B": "buyer", "control": None},
        arms.__getitem__,
    )
    plan = [
        (0.0, [identify(u) for u in arms]),
        (1.0 * DAY, [enter("u-1", "vip"), enter("u-2", "vip"), enter("u-4", "vip")]),
        (1.0 * DAY, [enter("u-3", "cart"), leave("u-3", "cart")]),
    ]
    world, personalizer, email, _, _ = build(plan, days=15, blasts=(blast,))
    await world.run(until=15 * DAY)
    by_time: dict[float, list[tuple[str, str]]] = {}
    for at, m in email.received:
        by_time.setdefault(at / DAY, []).append((m.user_id, m.context["module"]))
    blast_day = 7 + 10 / 24
    assert by_time[blast_day] == [
        ("u-1", "vip"),  # arm A, in A's definition: the offer instead of the newsletter
        ("u-2", "news"),  # arm B's definition is "buyer": not a member
        ("u-3", "news"),
        ("u-4", "news"),  # the control arm is never targeted
    ]
    assert by_time[14 + 10 / 24] == [(u, "news") for u in arms]  # the next week: newsletters
    offer = next(p for p in personalizer.decided if p.module == "vip")
    assert (offer.trigger, offer.arm, offer.audience) == ("test", "A", "vip")
    assert email.received[0][1].context == {"module": "vip", "arm": "A"}
    assert set(by_time) == {blast_day, 14 + 10 / 24}  # no newsletter on day 0 or past the end


async def test_a_blast_off_the_newsletter_schedule_has_its_own_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    blast = Blast("flash", 2 * DAY, "vip", {"A": "vip"}, lambda user: "A")
    plan = [(0.0, [identify("u-1"), identify("u-2")]), (1.0 * DAY, [enter("u-2", "vip")])]
    world, _, email, _, _ = build(plan, days=3, blasts=(blast,))
    await world.run(until=3 * DAY)
    assert [(at / DAY, m.user_id, m.context) for at, m in email.received] == [
        (2.0, "u-2", {"module": "vip", "arm": "A"})
    ]


async def test_a_refused_offer_keeps_its_code_for_the_next_one(
    autojump_clock: trio.testing.MockClock,
) -> None:
    plan = [
        (0.0, [identify("u-1"), identify("u-2")]),
        (1.0 * HOUR, [enter("u-1", "cart"), enter("u-2", "cart")]),
        (3.0 * HOUR, [leave("u-1", "cart"), leave("u-2", "cart")]),
        (5.0 * HOUR, [enter("u-1", "cart"), enter("u-2", "cart")]),
    ]
    world, personalizer, email, engine, _ = build(plan, refuse_send={"u-1"}, refuse_publish={"u-2"})
    await world.run(until=1 * DAY)
    u1 = [p for p in personalizer.decided if p.user_id == "u-1"]
    assert [(p.code, p.sent, p.reason) for p in u1] == [
        ("CODE-1", False, "frequency_cap"),
        ("CODE-1", False, "frequency_cap"),  # the same code again, not a second publication
    ]
    assert [p.customer_id for p in engine.published] == ["u-1"]
    assert personalizer.codes_published == {"c": 1}
    # no code, no offer email: the refusal is counted instead
    assert all(m.user_id != "u-2" for _, m in email.received)
    assert personalizer.publish_refusals == {"customer_rules_violated": 2}


def test_what_a_personalizer_refuses_to_be_built_with() -> None:
    common: dict[str, Any] = {"matrix": matrix(), "days": 7, "email": "e", "promotions": "p"}
    with pytest.raises(ValueError, match=r"no discount label for \['v'\]"):
        Personalizer("x", discounts={"c": "15%"}, **common)
    blast = Blast("b", 0.0, "missing", {"A": "vip"}, lambda user: "A")
    with pytest.raises(ValueError, match="blast 'b': unknown module 'missing'"):
        Personalizer("x", discounts={"c": "1", "v": "2"}, blasts=[blast], **common)
    with pytest.raises(ValueError, match="trigger_delay must be >= 0"):
        Personalizer("x", discounts={"c": "1", "v": "2"}, trigger_delay=-1.0, **common)
