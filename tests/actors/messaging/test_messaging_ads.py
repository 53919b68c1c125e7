"""Ads audiences: membership reaches the platform as batches of hashed emails on the sync
schedule; impressions are served only to matched customers, under the policy."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, Track, names
from promoloop.actors.events.messages import AdImpression, MessageInteraction, SendMessage
from promoloop.actors.messaging import (
    AdsAudienceDestination,
    Cap,
    DeliveryPolicy,
    MessageTemplate,
    hash_email,
)
from promoloop.actors.runtime import HOUR, MINUTE, Actor, Started, Wake, World
from promoloop.connectors.transport.inproc import InprocTrackingPort

BANNER = MessageTemplate("banner", subject="{{ first_name }}, back in stock", body="Shop now")


def membership(event: str, user: str, audience: str, email: str | None = None) -> Track:
    context = {"traits": {"email": email}} if email else {}
    return Track(user_id=user, event=event, properties={"audience_key": audience}, context=context)


def test_hashes_are_sha256_of_trimmed_lowercase_emails() -> None:
    expected = hashlib.sha256(b"pam.beesly@example.com").hexdigest()
    assert hash_email("  Pam.Beesly@Example.COM ") == expected


def test_bad_configuration_names_the_setting() -> None:
    with pytest.raises(ValueError, match="sync_interval"):
        AdsAudienceDestination(sync_interval=0)
    with pytest.raises(ValueError, match="batch_size"):
        AdsAudienceDestination(batch_size=10_001)


class Cdp(Actor):
    """Sends scripted batches to the ads destination at given sim times; records its reports;
    plays the person an ad is served to (clicks every other one)."""

    def __init__(self, script: list[tuple[float, Any]]) -> None:
        super().__init__("cdp")
        self.script = script
        self.events: list[Track] = []
        self.seen: list[AdImpression] = []
        self.results: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for n, (at, _) in enumerate(self.script):
                self.schedule(at, Wake(str(n)))
        elif isinstance(message, Wake):
            _, item = self.script[int(message.tag)]
            if isinstance(item, SendMessage):
                self.results.append(await self.ask("ads", item))
            else:
                await self.tell("ads", item)
        elif isinstance(message, EventBatch):
            self.events += [e for e in message.events if isinstance(e, Track)]
        elif isinstance(message, AdImpression):
            self.seen.append(message)
            if len(self.seen) % 2:
                click = MessageInteraction(
                    message_id=message.message_id,
                    user_id=message.user_id,
                    channel="ads",
                    kind="clicked",
                    at=self.now_dt(),
                )
                await self.tell("ads", click)
        return None


def impression(n: int, user: str, audience: str | None = None) -> SendMessage:
    return SendMessage(
        request_id=f"r{n}",
        user_id=user,
        channel="ads",
        campaign="restock",
        template="banner",
        context={"audience": audience} if audience else {},
    )


async def test_membership_syncs_in_batches_and_impressions_need_a_match(
    autojump_clock: trio.testing.MockClock,
) -> None:
    people = {f"u{i}": f"U{i}@Example.com " for i in range(5)}
    identifies = [
        Identify(user_id=u, traits={"email": e, "first_name": u}) for u, e in people.items()
    ]
    identifies.append(Identify(user_id="nomail", traits={"first_name": "x"}))
    known = EventBatch("cdp", tuple(identifies))
    memberships = [membership(names.AUDIENCE_ENTERED, u, "lapsed") for u in people]
    memberships += [
        membership(names.AUDIENCE_ENTERED, "nomail", "lapsed"),
        membership(names.AUDIENCE_ENTERED, "late", "lapsed", email="late@example.com"),
        membership(names.AUDIENCE_ENTERED, "u0", "vip"),  # not a synced audience
        membership(names.AUDIENCE_ENTERED, "u1", "lapsed_fast"),
        membership(names.AUDIENCE_EXITED, "u1", "lapsed_fast"),  # same interval: never sent
    ]
    entered = EventBatch("engage", tuple(memberships))
    exited = EventBatch("engage", (membership(names.AUDIENCE_EXITED, "u2", "lapsed"),))
    script = [
        (1.0, known),
        (10 * MINUTE, entered),
        (30 * MINUTE, impression(1, "u0", "lapsed")),  # not synced yet: the platform cannot
        (90 * MINUTE, exited),
        (100 * MINUTE, impression(2, "u0", "lapsed")),
        (101 * MINUTE, impression(3, "u2", "lapsed")),  # exited, but still held until 2 h
        (130 * MINUTE, impression(4, "u2", "lapsed")),  # removed by the 2 h sync
        (131 * MINUTE, impression(5, "u0", "lapsed")),  # the cap: one a day
        (132 * MINUTE, impression(6, "nomail")),
        (133 * MINUTE, impression(7, "u3")),  # no audience named: the hashed email matches
    ]
    world = World()
    ads = world.add(
        AdsAudienceDestination(
            audiences=["lapsed", "lapsed_fast"],
            batch_size=2,
            policy=DeliveryPolicy(caps=[Cap(max_messages=1, window_days=1, channel="ads")]),
            templates=[BANNER],
            inbox_target="cdp",
        )
    )
    cdp = world.add(Cdp(script))
    ads.tracking = InprocTrackingPort(ads, "cdp")
    await world.run(until=3 * HOUR)

    first_sync = [b for b in ads.batches if b.at == world.time.datetime_at(HOUR)]
    assert [(b.audience, len(b.add), len(b.remove)) for b in first_sync] == [
        ("lapsed", 2, 0),
        ("lapsed", 2, 0),
        ("lapsed", 2, 0),
    ]
    added = {h for b in first_sync for h in b.add}
    assert added == {hash_email(e) for e in people.values()} | {hash_email("late@example.com")}
    assert ads.unmatched == {"lapsed": 1}  # nomail
    (second_sync,) = [b for b in ads.batches if b.at == world.time.datetime_at(2 * HOUR)]
    assert second_sync.remove == (hash_email(people["u2"]),) and second_sync.add == ()
    assert hash_email(people["u2"]) not in ads.members("lapsed")
    assert ads.audience_sizes() == {"lapsed": 5, "lapsed_fast": 0}
    assert ads.is_member("lapsed", "late") and not ads.is_member("lapsed", "nomail")

    reasons = [r.reason for r in cdp.results]
    assert reasons == [
        "no_address",
        None,
        None,
        "no_address",
        "frequency_cap",
        "no_address",
        None,
    ]
    assert [(a.user_id, a.headline) for a in cdp.seen] == [
        ("u0", "u0, back in stock"),
        ("u2", "u2, back in stock"),
        ("u3", "u3, back in stock"),
    ]
    events = [(e.event, e.user_id) for e in cdp.events]
    assert events.count((names.AD_IMPRESSION, "u0")) == 1
    clicked = [e for e in cdp.events if e.event == names.AD_CLICKED]
    assert [e.user_id for e in clicked] == ["u0", "u3"]
    assert clicked[0].properties["platform"] == "facebook_custom_audiences"
    assert ads.log.for_customer("u0")[0].interactions[0][0] == "clicked"
