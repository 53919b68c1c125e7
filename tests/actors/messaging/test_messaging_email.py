"""Email destination + customers' inboxes: campaigns on audience entry, policy, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import trio.testing

from promoloop.actors.events import EventBatch, Identify, SegmentEvent, Track, names
from promoloop.actors.events.messages import EmailInteraction, EmailMessage, SendMessage
from promoloop.actors.messaging.email import EmailCampaign, EmailDestination
from promoloop.actors.messaging.policy import Cap, DeliveryPolicy, QuietHours
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.runtime import DAY, HOUR, Actor, Started, Wake, World
from promoloop.actors.storefront import PopulationParams, StorefrontActor
from promoloop.connectors.transport.inproc import InprocTrackingPort

WELCOME = MessageTemplate(
    "welcome",
    subject="Welcome, {{ first_name }}",
    body="{% if 'vip' in audiences %}VIP perks inside.{% else %}Glad you're here.{% endif %}",
)


class FakeCdp(Actor):
    """Records what reaches the CDP; every identify from the shop also enters 'new_customers'."""

    def __init__(self) -> None:
        super().__init__("cdp")
        self.events: list[tuple[str, SegmentEvent]] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        assert isinstance(message, EventBatch)
        self.events += [(message.source, e) for e in message.events]
        if message.source == "storefront":
            forwarded: list[SegmentEvent] = []
            for e in message.events:
                if isinstance(e, Identify) and e.user_id:
                    forwarded.append(e)
                    forwarded.append(
                        Track(
                            message_id=f"enter-{e.user_id}",
                            user_id=e.user_id,
                            event=names.AUDIENCE_ENTERED,
                            properties={"audience_key": "new_customers"},
                        )
                    )
            if forwarded:
                await self.tell("email", EventBatch("engage", tuple(forwarded)))
        return None

    def tracks(self, source: str, event: str) -> list[Track]:
        return [
            e for s, e in self.events if s == source and isinstance(e, Track) and e.event == event
        ]


def build(
    policy: DeliveryPolicy | None = None, customers: int = 40
) -> tuple[World, FakeCdp, EmailDestination, StorefrontActor]:
    world = World(seed=3)
    params = PopulationParams(
        customers=customers, email_open_rate=0.8, email_click_rate=0.5, churn_hazard_per_day=0.0
    )
    shop = world.add(StorefrontActor(params=params))
    cdp = world.add(FakeCdp())
    email = world.add(
        EmailDestination(
            campaigns=[
                EmailCampaign(name="welcome", audience_key="new_customers", template=WELCOME)
            ],
            policy=policy,
        )
    )
    shop.tracking = InprocTrackingPort(shop, "cdp")
    email.tracking = InprocTrackingPort(email, "cdp")
    return world, cdp, email, shop


async def test_each_new_customer_gets_the_welcome_email_and_engagement_flows_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    world, cdp, email, shop = build()
    await world.run(until=3 * DAY)
    assert sorted(m.user_id for m in email.sent) == sorted(c.user_id for c in shop.customers)
    first = email.sent[0]
    customer = next(c for c in shop.customers if c.user_id == first.user_id)
    assert first.subject == f"Welcome, {customer.first_name}" and first.to == customer.email
    delivered = cdp.tracks("email", names.EMAIL_DELIVERED)
    opened = cdp.tracks("email", names.EMAIL_OPENED)
    clicked = cdp.tracks("email", names.EMAIL_LINK_CLICKED)
    assert len(delivered) == len(email.sent)
    assert 0 < len(clicked) < len(opened) < len(delivered)
    sent_ids = {m.message_id for m in email.sent}
    assert {t.properties["email_id"] for t in opened} <= sent_ids
    for click in clicked:  # a click is always preceded by an open of the same email
        assert any(o.properties["email_id"] == click.properties["email_id"] for o in opened)


async def test_caps_and_quiet_hours_are_applied(autojump_clock: trio.testing.MockClock) -> None:
    policy = DeliveryPolicy(
        caps=[Cap(max_messages=1, window_days=7)], quiet_hours=QuietHours(start_hour=0, end_hour=12)
    )
    world, _, email, shop = build(policy, customers=10)
    await world.run(until=3 * DAY)
    assert len(email.sent) == 10
    for message in email.sent:
        assert message.sent_at.hour >= 12  # deferred out of the quiet morning
    for customer in shop.customers:
        assert len(policy.sent(customer.user_id)) == 1


async def test_no_address_is_refused_not_sent(autojump_clock: trio.testing.MockClock) -> None:
    world = World(seed=1)
    email = world.add(
        EmailDestination(campaigns=[EmailCampaign(name="w", audience_key="a", template=WELCOME)])
    )

    class Feeder(Actor):
        async def receive(self, message: Any, sender: str) -> Any:
            if isinstance(message, Started):
                entered = Track(
                    message_id="m",
                    user_id="ghost",
                    event=names.AUDIENCE_ENTERED,
                    properties={"audience_key": "a"},
                )
                await self.tell("email", EventBatch("engage", (entered,)))
            return None

    world.add(Feeder("feeder"))
    email.tracking = _Null()
    await world.run(until=DAY)
    assert email.sent == [] and email.refused == [("ghost", "w", "no_address")]


class _Null:
    async def send(self, events: Sequence[SegmentEvent]) -> None:
        return None


class Provider(Actor):
    """Asks the email destination with the given requests at 1 h, 2 h, ...; plays the inbox."""

    def __init__(self, requests: list[Any]) -> None:
        super().__init__("provider")
        self.requests = requests
        self.results: list[Any] = []
        self.inbox: list[EmailMessage] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            identify = Identify(
                user_id="u1", traits={"email": "pam@example.com", "first_name": "Pam"}
            )
            await self.tell("email", EventBatch("cdp", (identify,)))
            for n in range(len(self.requests)):
                self.schedule((n + 1) * HOUR, Wake(str(n)))
        elif isinstance(message, Wake):
            self.results.append(await self.ask("email", self.requests[int(message.tag)]))
        elif isinstance(message, EmailMessage):
            self.inbox.append(message)
            if message.to == "nobody@example.com":  # no such mailbox
                bounce = EmailInteraction(
                    message_id=message.message_id,
                    user_id=message.user_id,
                    kind="bounced",
                    at=self.now_dt(),
                )
                await self.tell("email", bounce)
        return None


async def test_send_message_with_a_template_pre_rendered_content_and_an_explicit_address(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """A registered template by name renders with the customer's traits and the request's
    context; a SendGrid-style send arrives finished and goes to its explicit ``to``; a bounce
    reports Email Bounced and suppresses the customer's email from then on."""
    cdp = Recorder("cdp")

    def ask(n: int, **kw: Any) -> SendMessage:
        return SendMessage(request_id=f"r{n}", user_id="u1", channel="email", campaign="c", **kw)

    provider = Provider(
        [
            ask(1, template="welcome", context={"audiences": ["vip"]}),
            ask(2, subject="Your receipt", body="<p>Thanks</p>", to="pam.work@example.com"),
            ask(3, subject="x", body="y", to="not-an-address"),
            ask(4, subject="Hello", body="z", to="nobody@example.com"),
            ask(5, template="welcome"),
        ]
    )
    world = World()
    email = world.add(EmailDestination(templates=[WELCOME], inbox_target="provider"))
    world.add(provider)
    world.add(cdp)
    email.tracking = InprocTrackingPort(email, "cdp")
    await world.run(until=DAY)

    assert [r.reason for r in provider.results] == [None, None, "no_address", None, "suppressed"]
    first, second, third = provider.inbox
    assert (first.subject, first.body, first.to) == (
        "Welcome, Pam",
        "VIP perks inside.",
        "pam@example.com",
    )
    assert (second.subject, second.body, second.to) == (
        "Your receipt",
        "<p>Thanks</p>",
        "pam.work@example.com",
    )
    assert third.to == "nobody@example.com"
    events = [(e.event, e.properties["email_id"]) for e in cdp.tracks]
    assert events == [
        (names.EMAIL_DELIVERED, first.message_id),
        (names.EMAIL_DELIVERED, second.message_id),
        (names.EMAIL_DELIVERED, third.message_id),
        (names.EMAIL_BOUNCED, third.message_id),
    ]
    assert [kind for kind, _ in email.log.get(third.message_id).interactions] == ["bounced"]  # type: ignore[union-attr]


class Recorder(Actor):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.tracks: list[Track] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            self.tracks += [e for e in message.events if isinstance(e, Track)]
        return None


async def test_a_customer_whose_address_bounces_is_reported_and_suppressed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """With every address bouncing, the storefront's inboxes report a bounce for each welcome
    email; nothing is opened."""
    world = World(seed=3)
    params = PopulationParams(customers=6, email_bounce_rate=1.0, churn_hazard_per_day=0.0)
    shop = world.add(StorefrontActor(params=params))
    cdp = world.add(FakeCdp())
    email = world.add(
        EmailDestination(
            campaigns=[
                EmailCampaign(name="welcome", audience_key="new_customers", template=WELCOME)
            ]
        )
    )
    shop.tracking = InprocTrackingPort(shop, "cdp")
    email.tracking = InprocTrackingPort(email, "cdp")
    await world.run(until=2 * DAY)
    bounced = cdp.tracks("email", names.EMAIL_BOUNCED)
    assert len(bounced) == len(email.sent) == 6
    assert cdp.tracks("email", names.EMAIL_OPENED) == []
    for customer in shop.customers:
        assert email.policy.admit(customer.user_id, "email", email.now_dt()).reason == "suppressed"
