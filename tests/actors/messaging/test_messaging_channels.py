"""Every channel destination answers SendMessage under one shared policy: caps hold across
channels whatever the interleaving, suppressed and unsubscribed customers get nothing there,
quiet hours defer, bad requests are refused with a reason that names the problem, orders are
attributed to the last message, and the log answers "messages per customer per week"."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, Track, names
from promoloop.actors.events.messages import SendMessage, SendResult
from promoloop.actors.messaging import (
    AdsAudienceDestination,
    Cap,
    ChannelDestination,
    DeliveryPolicy,
    EmailDestination,
    MessageLog,
    MessageTemplate,
    PushDestination,
    QuietHours,
    SmsDestination,
)
from promoloop.actors.runtime import DAY, DEFAULT_EPOCH, HOUR, Actor, Started, Wake, World
from promoloop.connectors.transport.inproc import InprocTrackingPort

OFFER = MessageTemplate(
    "offer", subject="Hi {{ first_name }}", body="{{ first_name }}, use {{ code }} today."
)
CHANNELS = ("email", "push", "sms", "ads")
USERS = [f"u{i}" for i in range(6)]


def identify(user: str, **extra: Any) -> Identify:
    traits = {"email": f"{user}@example.com", "phone": f"+1555000000{user[1:]}"}
    return Identify(user_id=user, traits=traits | {"first_name": user.upper()} | extra)


def request(n: int, user: str, channel: str, campaign: str = "promo", **kw: Any) -> SendMessage:
    fields: dict[str, Any] = {"template": "offer", "code": f"C{n}"} | kw
    return SendMessage(
        request_id=f"r{n}", user_id=user, channel=channel, campaign=campaign, **fields
    )


class Sink(Actor):
    """The customers' side and the CDP: keeps every delivery and every reported event."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.received: list[Any] = []
        self.events: list[tuple[str, Track]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            self.events += [(message.source, e) for e in message.events if isinstance(e, Track)]
        elif not isinstance(message, Started):
            self.received.append(message)
        return None

    def tracks(self, event: str) -> list[Track]:
        return [e for _, e in self.events if e.event == event]


Step = tuple[float, str, Any]
"""(sim second, target actor or "", message or callable): asked if a SendMessage, else told;
with target "" the callable runs (the test acting on the world)."""


class Script(Actor):
    def __init__(self, steps: list[Step]) -> None:
        super().__init__("script")
        self.steps = sorted(steps, key=lambda s: s[0])
        self.results: list[tuple[float, SendResult]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for at in sorted({s[0] for s in self.steps}):
                self.schedule(at, Wake(str(at)))
        elif isinstance(message, Wake):
            at = float(message.tag)
            for when, target, item in self.steps:
                if when != at:
                    continue
                if isinstance(item, SendMessage):
                    self.results.append((at, await self.ask(target, item)))
                elif callable(item):
                    item()
                else:
                    await self.tell(target, item)
        return None


def world_with(
    policy: DeliveryPolicy, log: MessageLog, steps: list[Step], seed: int = 1
) -> tuple[World, dict[str, ChannelDestination], Sink, Script]:
    world = World(seed=seed)
    sink = world.add(Sink("sink"))
    cdp = world.add(Sink("cdp"))
    destinations: dict[str, ChannelDestination] = {
        "email": EmailDestination("email", policy=policy, templates=[OFFER], log=log),
        "push": PushDestination("push", device_target="sink", policy=policy, log=log),
        "sms": SmsDestination("sms", policy=policy, templates=[OFFER], log=log),
        "ads": AdsAudienceDestination("ads", policy=policy, templates=[OFFER], log=log),
    }
    destinations["push"].register_template(OFFER)
    for destination in destinations.values():
        destination.inbox_target = "sink"
        world.add(destination)
        destination.tracking = InprocTrackingPort(destination, "cdp")
    script = world.add(Script(steps))
    del cdp
    return world, destinations, sink, script


def introductions(at: float, *extra: Identify) -> list[Step]:
    """Every destination learns every customer (as the CDP's identify fan-out does)."""
    batch = EventBatch("cdp", tuple(identify(u) for u in USERS) + extra)
    return [(at, channel, batch) for channel in CHANNELS]


def assert_caps_hold(log: MessageLog, caps: list[Cap]) -> None:
    for user in USERS:
        sent = [(e.sent_at, e.channel) for e in log.for_customer(user)]
        for at, _ in sent:
            for cap in caps:
                since = at - timedelta(days=cap.window_days)
                n = sum(1 for t, ch in sent if since < t <= at and cap.channel in (None, ch))
                assert n <= cap.max_messages, (user, at, cap)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_caps_hold_across_channels_whatever_the_interleaving(
    autojump_clock: trio.testing.MockClock, seed: int
) -> None:
    """400 random asks on four destinations sharing one policy and one log: no customer ever
    exceeds the cross-channel cap or a channel's cap, and every refusal says why."""
    caps = [
        Cap(max_messages=4, window_days=7),
        Cap(max_messages=1, window_days=1, channel="sms"),
        Cap(max_messages=2, window_days=7, channel="email"),
    ]
    policy = DeliveryPolicy(caps=caps, quiet_hours=QuietHours(start_hour=22, end_hour=7))
    log = MessageLog()
    rng = random.Random(seed)
    steps = introductions(1.0)
    for n in range(400):
        at = round(rng.uniform(HOUR, 30 * DAY), 3)
        channel = rng.choice(CHANNELS)
        steps.append((at, channel, request(n, rng.choice(USERS), channel)))
    world, destinations, sink, script = world_with(policy, log, steps, seed)
    await world.run(until=32 * DAY)

    assert len(script.results) == 400
    assert_caps_hold(log, caps)
    reasons = {r.reason for _, r in script.results if not r.sent}
    assert {"frequency_cap", "quiet_hours"} <= reasons
    assert reasons <= {"frequency_cap", "quiet_hours"}
    sent = sum(len(d.sent) for d in destinations.values())
    assert sent == len(log) == len(sink.received) > 0
    for at, result in script.results:  # a deferral names when; it happens then, or is refused
        if result.reason == "quiet_hours":
            assert result.deferred_until is not None
            assert result.deferred_until > world.time.datetime_at(at)
            outcome = next(
                d.outcomes[result.request_id]
                for d in destinations.values()
                if result.request_id in d.outcomes
            )
            if outcome.sent:
                entry = log.get(outcome.message_id or "")
                assert entry is not None and entry.sent_at == result.deferred_until
            else:
                assert outcome.reason == "frequency_cap"
    for entry in log:
        local_hour = entry.sent_at.hour
        assert 7 <= local_hour < 22, entry


async def test_suppressed_and_unsubscribed_customers_receive_nothing_on_that_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Audience suppression per channel and per campaign, a customer suppression list, and an
    unsubscribe mid-run: from then on nothing reaches them there, other channels still do."""
    policy = DeliveryPolicy(
        suppressed_audiences={"sms": frozenset({"vip"}), "winback": frozenset({"recent_buyers"})}
    )
    policy.suppress("u3", "ads")
    log = MessageLog()
    steps = introductions(
        1.0,
        Identify(user_id="u1", traits={"vip": True}),
        Identify(user_id="u2", traits={"recent_buyers": True}),
    )
    unsubscribed_at = 10 * DAY
    steps.append((unsubscribed_at, "", lambda: policy.unsubscribe("u4", "email")))
    rng = random.Random(7)
    for n in range(300):
        channel = rng.choice(CHANNELS)
        campaign = rng.choice(["winback", "promo"])
        at = round(rng.uniform(HOUR, 20 * DAY), 3)
        steps.append((at, channel, request(n, rng.choice(USERS), channel, campaign)))
    world, _, _, script = world_with(policy, log, steps)
    await world.run(until=21 * DAY)

    entries = list(log)
    assert not [e for e in entries if e.user_id == "u1" and e.channel == "sms"]
    assert not [e for e in entries if e.user_id == "u2" and e.campaign == "winback"]
    assert not [e for e in entries if e.user_id == "u3" and e.channel == "ads"]
    cutoff = world.time.datetime_at(unsubscribed_at)
    assert not [
        e for e in entries if e.user_id == "u4" and e.channel == "email" and e.sent_at >= cutoff
    ]
    # The rules bite only where they should: each of them still hears on other channels.
    assert {e.channel for e in entries if e.user_id == "u1"} >= {"email", "push", "ads"}
    assert [e for e in entries if e.user_id == "u4" and e.channel == "email"]
    reasons = {r.reason for _, r in script.results if not r.sent}
    assert reasons == {"suppressed", "unsubscribed"}


async def test_quiet_hours_answer_deferred_and_send_in_the_customers_morning(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """At 23:00 UTC a customer in New York (18:00) gets the push now; one in Paris (midnight)
    is deferred to 08:00 Paris time and gets it then, rendered at that moment."""
    policy = DeliveryPolicy(quiet_hours=QuietHours(start_hour=21, end_hour=8))
    log = MessageLog()
    steps = introductions(
        1.0,
        Identify(user_id="u1", traits={"timezone": "America/New_York"}),
        Identify(user_id="u2", traits={"timezone": "Europe/Paris"}),
    )
    late = 23 * HOUR
    steps += [(late, "push", request(1, "u1", "push")), (late, "push", request(2, "u2", "push"))]
    world, destinations, sink, script = world_with(policy, log, steps)
    await world.run(until=2 * DAY)

    (_, now), (_, deferred) = script.results
    assert now.sent and now.message_id is not None
    assert not deferred.sent and deferred.reason == "quiet_hours"
    assert deferred.deferred_until == world.time.datetime_at(DAY + 7 * HOUR)  # 08:00 in Paris
    outcome = destinations["push"].outcomes["r2"]
    assert outcome.sent
    entry = log.get(outcome.message_id or "")
    assert entry is not None and entry.sent_at == deferred.deferred_until
    assert entry.body == "U2, use C2 today."
    assert [p.user_id for p in sink.received] == ["u1", "u2"]


def test_send_status_follows_a_deferred_request_to_its_end() -> None:
    """While quiet hours hold it the answer is the deferral; afterwards the final result (here
    the cap, filled meanwhile); a request never seen is named as such."""
    policy = DeliveryPolicy(
        quiet_hours=QuietHours(start_hour=21, end_hour=8), caps=[Cap(max_messages=1, window_days=7)]
    )
    email = EmailDestination("email", policy=policy, templates=[OFFER])
    email.tracking = _Null()
    email.observe(EventBatch("cdp", (identify("u1"),)))
    night = DEFAULT_EPOCH + timedelta(hours=23)
    held = email.send(request(1, "u1", "email"), night)
    assert held.reason == "quiet_hours" and email.status("r1") == held
    assert email.send(request(2, "u1", "email"), night + timedelta(hours=10)).sent  # 09:00
    email.run_deferred(night + timedelta(hours=10))
    final = email.status("r1")
    assert (final.sent, final.reason) == (False, "frequency_cap")
    assert email.status("nope").reason == "unknown_request"


async def test_bad_requests_are_refused_with_a_reason_naming_the_problem(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Unknown template, a channel this destination does not send, no channel at all, no
    content, no address, a template that fails: refused, never a crash, never capped."""
    policy = DeliveryPolicy(caps=[Cap(max_messages=1, window_days=7)])
    log = MessageLog()
    broken = MessageTemplate("broken", subject="x", body="{{ first_name.missing() }}")
    steps = introductions(1.0)
    steps += [
        (HOUR, "email", request(1, "u1", "email", template="welcom")),
        (HOUR, "email", request(2, "u1", "sms")),
        (HOUR, "sms", request(3, "u1", "fax")),
        (HOUR, "push", request(4, "u1", "push", template="")),
        (HOUR, "sms", request(5, "nobody", "sms")),
        (HOUR, "email", request(6, "u1", "email", template="broken")),
        (2 * HOUR, "email", request(7, "u1", "email")),  # the cap is still free
    ]
    world, destinations, _, script = world_with(policy, log, steps)
    destinations["email"].register_template(broken)
    await world.run(until=DAY)

    reasons = [r.reason for _, r in script.results]
    assert reasons == [
        "unknown_template",
        "unknown_channel",
        "unknown_channel",
        "no_content",
        "no_address",
        "template_error",
        None,
    ]
    problems = destinations["email"].problems + destinations["sms"].problems
    problems += destinations["push"].problems
    assert any("'welcom'" in p and "'offer'" in p for p in problems)  # names it and the known
    assert any("channel 'sms'" in p for p in problems)
    assert any("unknown channel 'fax'" in p for p in problems)
    assert any("'broken'" in p for p in problems)
    assert len(log) == 1 and policy.sent("u1")[0][1] == "email"


def test_registering_two_templates_under_one_name_is_an_error() -> None:
    destination = SmsDestination("sms", templates=[OFFER])
    destination.register_template(OFFER)  # the same one again is harmless
    with pytest.raises(ValueError, match=r"sms: template 'offer' is already registered"):
        destination.register_template(MessageTemplate("offer", subject="", body="other"))


async def test_an_order_is_credited_once_to_the_last_message_within_the_window(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Email then SMS, then an order: the SMS destination claims it (Message Converted on its
    source) and the email destination does not; an order after the window earns nothing."""
    policy = DeliveryPolicy()
    log = MessageLog(attribution_window_days=2)
    steps = introductions(1.0)
    steps += [
        (HOUR, "email", request(1, "u1", "email")),
        (2 * HOUR, "sms", request(2, "u1", "sms")),
    ]

    def order(order_id: str, at: float) -> EventBatch:
        placed = Track(
            user_id="u1",
            event=names.ORDER_COMPLETED,
            timestamp=DEFAULT_EPOCH + timedelta(seconds=at),
            properties={"order_id": order_id, "total_cents": 4_200},
        )
        return EventBatch("storefront", (placed,))

    for channel in CHANNELS:
        steps.append((5 * HOUR, channel, order("o1", 5 * HOUR)))
        steps.append((4 * DAY, channel, order("o2", 4 * DAY)))
    world, _, _, _ = world_with(policy, log, steps)
    await world.run(until=5 * DAY)

    sms_entry = log.for_customer("u1")[1]
    assert sms_entry.channel == "sms" and sms_entry.conversion is not None
    assert sms_entry.conversion.order_id == "o1" and sms_entry.conversion.revenue_cents == 4_200
    assert log.for_customer("u1")[0].conversion is None
    assert [c.order_id for c in log.conversions] == ["o1"]
    cdp = world.actors["cdp"]
    assert isinstance(cdp, Sink)
    (converted,) = cdp.tracks(names.MESSAGE_CONVERTED)
    sources = [s for s, e in cdp.events if e.event == names.MESSAGE_CONVERTED]
    assert sources == ["sms"]
    assert converted.properties["order_id"] == "o1"
    assert converted.properties["hours_since_message"] == 3.0


async def test_the_log_counts_messages_per_customer_per_week(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Sends on several channels over three weeks land in ISO weeks per customer; separate
    logs merge into the same view."""
    steps = introductions(1.0)
    plan = [(0.5, "email"), (1.5, "push"), (2.5, "sms"), (8.5, "ads"), (9.5, "email")]
    plan += [(16.5, "push")]
    for n, (day, channel) in enumerate(plan):
        steps.append((day * DAY, channel, request(n, "u1", channel)))
    shared = MessageLog()
    world, destinations, _, _ = world_with(DeliveryPolicy(), shared, steps)
    await world.run(until=20 * DAY)
    assert shared.per_customer_per_week() == {"u1": {"2026-W02": 3, "2026-W03": 2, "2026-W04": 1}}
    assert shared.per_customer_per_week("email") == {"u1": {"2026-W02": 1, "2026-W03": 1}}
    assert shared.max_per_week() == 3
    assert shared.by_channel() == {"email": 2, "push": 2, "sms": 1, "ads": 1}
    entry = shared.for_customer("u1")[0]
    assert (entry.subject, entry.body, entry.code) == ("Hi U1", "U1, use C0 today.", "C0")
    assert entry.to == "u1@example.com" and entry.request_id == "r0"

    separate = [MessageLog() for _ in CHANNELS]
    world, destinations, _, _ = world_with(DeliveryPolicy(), shared, steps)
    for destination, log in zip(destinations.values(), separate, strict=True):
        destination.log = log
    await world.run(until=20 * DAY)
    merged = MessageLog.combined([*separate, separate[0]])
    assert merged.per_customer_per_week() == shared.per_customer_per_week()
    assert [e.channel for e in merged] == [e.channel for e in shared]


def test_the_synchronous_core_keeps_the_caps_without_a_world() -> None:
    """``send(message, now)`` is the whole decision: the bench drives it directly."""
    policy = DeliveryPolicy(caps=[Cap(max_messages=2, window_days=1)])
    email = EmailDestination("email", policy=policy, templates=[OFFER])
    sms = SmsDestination("sms", policy=policy, templates=[OFFER])
    email.tracking = sms.tracking = _Null()
    for d in (email, sms):
        d.observe(EventBatch("cdp", (identify("u1"),)))
    noon = DEFAULT_EPOCH + timedelta(hours=12)
    outcomes: list[Callable[[], SendResult]] = [
        lambda: email.send(request(1, "u1", "email"), noon),
        lambda: sms.send(request(2, "u1", "sms"), noon),
        lambda: email.send(request(3, "u1", "email"), noon),
    ]
    assert [o().reason for o in outcomes] == [None, None, "frequency_cap"]


class _Null:
    async def send(self, events: Any) -> None:
        return None
