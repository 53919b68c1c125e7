"""The face in front of a simulated population: the official SDK mails customers the CDP
learned from the storefront, the email destination applies the policy, the customers (the
storefront plays their inboxes) open and click with their hidden propensities, a clicked code
reaches the wallet and the checkout, and Email Activity shows what each of them did. All in
virtual time, the SDK's requests under the net gate so no virtual timeout fires while a socket
is open."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import trio
import trio.testing
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Mail, SendAt

from promoloop.actors.cdp import ENGAGE_SOURCE, Subscription
from promoloop.actors.events import names
from promoloop.actors.messaging.email import EmailDestination
from promoloop.actors.messaging.policy import Cap, DeliveryPolicy, QuietHours
from promoloop.actors.promotions import DiscountCampaign
from promoloop.actors.promotions.discounts import Discount
from promoloop.actors.runtime import DAY, HOUR, World
from promoloop.actors.storefront import PopulationParams
from promoloop.connectors.config import Settings
from promoloop.connectors.sendgrid import SendGridFace, add_sendgrid, serve_sendgrid_api
from promoloop.scenarios.loop import STOREFRONT, Loop, add_reporter, build_loop, connect

KEY = "world-sendgrid-key"
T = TypeVar("T")


@dataclass
class Running:
    loop: Loop
    email: EmailDestination
    face: SendGridFace
    sdk: SendGridAPIClient
    known: dict[str, str]
    """address → user id of every customer the CDP knows by email."""

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """A blocking SDK call in a thread, with the clock held while its socket is open."""
        async with self.loop.world.net.request():
            return await trio.to_thread.run_sync(fn, *args)

    def mail(self, subject: str) -> Mail:
        return Mail(
            from_email="shop@promoloop.example",
            to_emails=sorted(self.known),
            subject=subject,
            plain_text_content="Fresh stock this week.",
            is_multiple=True,
        )

    async def activity(self) -> list[dict[str, Any]]:
        found = await self.call(lambda: self.sdk.client.messages.get(query_params={"limit": 1000}))
        return found.to_dict["messages"]


@asynccontextmanager
async def running(policy: DeliveryPolicy | None = None) -> AsyncIterator[Running]:
    world = World(seed=5, record=False)
    params = PopulationParams(
        customers=30, email_open_rate=0.9, email_click_rate=0.6, churn_hazard_per_day=0.0
    )
    loop = build_loop(world, params, Settings(sendgrid_api_key=KEY))
    email = add_reporter(loop, EmailDestination("email", policy=policy))
    loop.cdp.model.subscribe(
        Subscription(
            destination="email",
            sources=frozenset({STOREFRONT, ENGAGE_SOURCE}),
            types=frozenset({"identify", "track"}),
        )
    )
    face = add_sendgrid(world, cdp=loop.cdp.model, email=email, api_key=KEY)
    async with connect(loop, "inproc"), trio.open_nursery() as nursery:
        await nursery.start(world.run)
        await trio.sleep(3 * DAY)  # customers arrive and sign up
        known = {
            p.traits["email"]: next(i.id for i in p.identifiers if i.type == "user_id")
            for p in loop.cdp.model.profiles()
            if isinstance(p.traits.get("email"), str)
            and any(i.type == "user_id" for i in p.identifiers)
        }
        assert len(known) >= 10
        async with serve_sendgrid_api(face) as url:
            sdk = SendGridAPIClient(api_key=KEY, host=url)
            yield Running(loop, email, face, sdk, known)
        nursery.cancel_scope.cancel()


async def test_customers_react_to_what_the_sdk_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as run:
        promotions = run.loop.promotions.model
        promotions.add_campaign(
            DiscountCampaign(id="camp_sg", name="SendGrid spring", discount=Discount.percent(10))
        )
        promotions.import_codes("camp_sg", ["SG-SPRING"])
        message = run.mail("New arrivals")
        message.custom_arg = CustomArg("code", "SG-SPRING")  # the offer the email carries
        response = await run.call(run.sdk.send, message)
        assert response.status_code == 202
        await trio.sleep(5 * DAY)  # time to read the mail, and to shop
        listed = await run.activity()
    assert {m["to_email"] for m in listed} == set(run.known)
    sent = list(run.email.log)
    assert len(sent) == len(run.known)  # every recipient passed the destination
    interactions = [kind for entry in sent for kind, _ in entry.interactions]
    opens = sum(m["opens_count"] for m in listed)
    clicks = sum(m["clicks_count"] for m in listed)
    assert opens == interactions.count("opened") > 0
    assert clicks == interactions.count("clicked") > 0
    profiles = run.loop.cdp.model.profiles()
    assert sum(p.event_counts.get(names.EMAIL_OPENED, 0) for p in profiles) == opens
    bounced = [m for m in listed if m["status"] == "not_delivered"]
    assert len(bounced) == interactions.count("bounced")
    assert all(m["status"] == "delivered" for m in listed if m not in bounced)
    clickers = {entry.user_id for entry in sent if "clicked" in {k for k, _ in entry.interactions}}
    storefront = run.loop.storefront
    assert storefront is not None
    holders = {c.user_id for c in storefront.customers if "SG-SPRING" in c.wallet}
    redeemers = {
        r.customer_id for r in run.loop.promotions.model.list_redemptions(code="SG-SPRING")
    }
    # clicking through put the emailed code in the wallet; some have redeemed it since
    assert holders | redeemers == clickers and redeemers


async def test_quiet_hours_defer_and_activity_follows_the_later_delivery(
    autojump_clock: trio.testing.MockClock,
) -> None:
    policy = DeliveryPolicy(quiet_hours=QuietHours(start_hour=0, end_hour=23))
    async with running(policy) as run:
        response = await run.call(run.sdk.send, run.mail("Night owls"))
        assert response.status_code == 202
        await trio.sleep(HOUR)
        held = await run.activity()
        assert {m["status"] for m in held} == {"processed"}
        assert all(m["reason"].startswith("quiet hours") for m in held)
        assert list(run.email.log) == []
        await trio.sleep(DAY)
        later = await run.activity()
    delivered = [m for m in later if m["status"] == "delivered"]
    assert (
        len(delivered)
        == len(run.email.log)
        == len(run.known) - sum(m["status"] == "not_delivered" for m in later)
    )
    assert delivered
    details = run.face.model.activities[delivered[0]["msg_id"]]
    assert [e.event for e in details.events][:3] == ["processed", "deferred", "delivered"]


async def test_send_at_goes_out_on_the_worlds_timer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running() as run:
        message = run.mail("Tomorrow morning")
        message.send_at = SendAt(int(run.loop.world.time.now().timestamp() + 2 * HOUR))
        assert (await run.call(run.sdk.send, message)).status_code == 202
        await trio.sleep(HOUR)
        assert {m["status"] for m in await run.activity()} == {"processed"}
        assert list(run.email.log) == []
        await trio.sleep(2 * HOUR)
        later = await run.activity()
    assert {m["status"] for m in later} <= {"delivered", "not_delivered"}
    due = datetime.fromtimestamp(message.send_at.send_at, UTC)
    assert len(run.email.log) > 0
    assert all(abs(e.sent_at - due) < timedelta(milliseconds=1) for e in run.email.log)


async def test_a_deferred_send_the_cap_then_refuses_is_reported_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Two mails held overnight by quiet hours, a cap of one a week: when the quiet hours end
    the destination sends the first and refuses the second, and Email Activity says so."""
    policy = DeliveryPolicy(
        quiet_hours=QuietHours(start_hour=0, end_hour=23), caps=[Cap(max_messages=1, window_days=7)]
    )
    async with running(policy) as run:
        for subject in ("First", "Second"):
            assert (await run.call(run.sdk.send, run.mail(subject))).status_code == 202
        await trio.sleep(HOUR)
        assert {m["status"] for m in await run.activity()} == {"processed"}
        await trio.sleep(DAY)
        later = await run.activity()
    by_subject = {
        subject: [m for m in later if m["subject"] == subject] for subject in ("First", "Second")
    }
    bounced = {m["to_email"] for m in later if m["reason"] and m["reason"].startswith("550")}
    reachable = set(run.known) - bounced
    assert reachable
    assert {m["to_email"] for m in by_subject["First"] if m["status"] == "delivered"} == reachable
    dropped = [m for m in by_subject["Second"] if m["to_email"] in reachable]
    assert {(m["status"], m["reason"]) for m in dropped} == {
        ("not_delivered", "Frequency Cap Reached")
    }
    assert len(run.email.log) == len(reachable)
