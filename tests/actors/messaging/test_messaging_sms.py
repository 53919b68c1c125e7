"""SMS: phone numbers normalised, segments counted as carriers bill them, STOP and START
replies change consent, and the Twilio Engage style events go back on the SMS source."""

from __future__ import annotations

from typing import Any

import pytest
import trio.testing

from promoloop.actors.events import EventBatch, Identify, Track, names
from promoloop.actors.events.messages import MessageInteraction, SendMessage, SmsMessage
from promoloop.actors.messaging import DeliveryPolicy, MessageTemplate, SmsDestination
from promoloop.actors.messaging.sms import normalise_phone, sms_segments
from promoloop.actors.runtime import HOUR, Actor, Started, Wake, World
from promoloop.connectors.transport.inproc import InprocTrackingPort


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("", 0),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("é" * 160, 1),  # é is in the GSM-7 basic set
        ("ł" * 70, 1),  # ł is not: the whole text is UCS-2
        ("a" * 100 + "ł", 2),
        ("😀" * 35, 1),  # 70 UTF-16 code units
        ("😀" * 36, 2),
    ],
)
def test_segments_follow_gsm7_and_ucs2_limits(text: str, segments: int) -> None:
    assert sms_segments(text) == segments


@pytest.mark.parametrize(
    ("raw", "phone"),
    [
        ("+1 (555) 010-0001", "+15550100001"),
        ("44.20.7946.0000", "+442079460000"),
        ("+15550100001", "+15550100001"),
        ("555-01", None),
        ("call me", None),
        ("+0123456789", None),
        (None, None),
        (15550100001, None),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw: Any, phone: str | None) -> None:
    assert normalise_phone(raw) == phone


class Phone(Actor):
    """Receives texts; at given hours replies to the last one with the given words."""

    def __init__(self, replies: dict[float, str]) -> None:
        super().__init__("phone")
        self.replies = replies
        self.texts: list[SmsMessage] = []
        self.events: list[Track] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            for at in self.replies:
                self.schedule(at, Wake(str(at)))
        elif isinstance(message, SmsMessage):
            self.texts.append(message)
        elif isinstance(message, Wake):
            last = self.texts[-1]
            reply = MessageInteraction(
                message_id=last.message_id,
                user_id=last.user_id,
                channel="sms",
                kind="replied",
                at=self.now_dt(),
                text=self.replies[float(message.tag)],
            )
            await self.tell("sms", reply)
        elif isinstance(message, EventBatch):
            self.events += [e for e in message.events if isinstance(e, Track)]
        return None


class Sender(Actor):
    """Asks for a text every hour, to the known phone or an explicit number."""

    def __init__(self, hours: int) -> None:
        super().__init__("sender")
        self.hours = hours
        self.results: list[Any] = []

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            identify = Identify(user_id="u1", traits={"phone": "+1 555 010 0001", "name": "Pam"})
            await self.tell("sms", EventBatch("cdp", (identify,)))
            for hour in range(1, self.hours + 1):
                self.schedule(hour * HOUR, Wake(str(hour)))
        elif isinstance(message, Wake):
            n = int(message.tag)
            to = "+44 20 7946 0000" if n == 2 else None
            ask = SendMessage(
                request_id=f"r{n}",
                user_id="u1",
                channel="sms",
                campaign="flash",
                template="flash",
                to=to,
                context={"pct": n},
            )
            self.results.append(await self.ask("sms", ask))
        return None


async def test_stop_unsubscribes_start_resubscribes_and_events_flow_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    flash = MessageTemplate(
        "flash", subject="ignored", body="{{ name }}: {{ pct }}% off today. Reply STOP to end"
    )
    world = World()
    policy = DeliveryPolicy()
    sms = world.add(SmsDestination(policy=policy, templates=[flash], inbox_target="phone"))
    phone = world.add(Phone({3.5 * HOUR: " stop ", 5.5 * HOUR: "START", 6.5 * HOUR: "thanks!"}))
    sender = world.add(Sender(hours=7))
    sms.tracking = InprocTrackingPort(sms, "phone")
    await world.run(until=8 * HOUR)

    refused = [None, None, None, "unsubscribed", "unsubscribed", None, None]
    assert [r.reason for r in sender.results] == refused
    assert [t.to for t in phone.texts[:3]] == ["+15550100001", "+442079460000", "+15550100001"]
    assert phone.texts[0].body == "Pam: 1% off today. Reply STOP to end"
    assert phone.texts[0].segments == 1 and sms.segments_sent == 5
    events = [e.event for e in phone.events]
    assert events.count(names.SMS_DELIVERED) == 5
    assert events.count(names.SMS_UNSUBSCRIBED) == 1 and events.count(names.SMS_SUBSCRIBED) == 1
    stop = next(e for e in phone.events if e.event == names.SMS_UNSUBSCRIBED)
    assert stop.properties["message_id"] == phone.texts[2].message_id
    assert sms.log.for_customer("u1")[2].interactions[0][0] == "unsubscribed"
    *_, sixth, seventh = sms.log.for_customer("u1")
    assert [kind for kind, _ in sixth.interactions] == ["replied"]  # "thanks!": no status
    assert seventh.interactions == []
    assert not policy.unsubscribed("u1", "sms")
