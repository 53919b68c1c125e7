"""An SMS destination: text messages under the delivery policy, Twilio Engage style.

Why segments are counted: carriers bill (and phones reassemble) a text in parts, 160 GSM-7
characters for a single part, 153 per part once concatenated; one character outside GSM-7 (an
emoji, a curly quote) switches the whole text to UCS-2, 70 and 67. A template that grows past a
boundary doubles the cost of a campaign, and a test should see it.

Why STOP is handled here: replying STOP (or UNSUBSCRIBE, CANCEL, END, QUIT, STOPALL) to a
sender's number is a legal opt-out in the US; the provider enforces it, whatever the CDP says.
START (or UNSTOP) opts back in. Both are reported to the CDP (``SMS Unsubscribed`` /
``SMS Subscribed``), with ``SMS Delivered``, ``SMS Undelivered`` and ``SMS Link Clicked``.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import MessageInteraction, SendMessage, SmsMessage
from promoloop.actors.messaging.channel import ChannelDestination
from promoloop.actors.messaging.log import LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")
"""Characters that take two septets (an escape, then the character)."""

_PHONE_NOISE = re.compile(r"[\s().\-]")
_E164 = re.compile(r"\+?[1-9]\d{6,14}")


def sms_segments(text: str) -> int:
    """How many parts a carrier splits ``text`` into (0 for an empty text)."""
    if not text:
        return 0
    septets = 0
    for char in text:
        if char in GSM7_BASIC:
            septets += 1
        elif char in GSM7_EXTENDED:
            septets += 2
        else:  # UCS-2: UTF-16 code units, 70 in one part, 67 per concatenated part
            units = len(text.encode("utf-16-le")) // 2
            return 1 if units <= 70 else math.ceil(units / 67)
    return 1 if septets <= 160 else math.ceil(septets / 153)


def normalise_phone(phone: Any) -> str | None:
    """E.164 (``+15551234567``) from a number written with spaces, dots, dashes or brackets;
    None when it is not a phone number. A number without ``+`` is taken as already
    international (no country is guessed)."""
    if not isinstance(phone, str):
        return None
    digits = _PHONE_NOISE.sub("", phone)
    if not _E164.fullmatch(digits):
        return None
    return digits if digits.startswith("+") else f"+{digits}"


class SmsDestination(ChannelDestination):
    channel = "sms"

    def __init__(
        self,
        name: str = "sms",
        *,
        policy: DeliveryPolicy | None = None,
        templates: list[MessageTemplate] | None = None,
        log: MessageLog | None = None,
        inbox_target: str = "storefront",
    ) -> None:
        super().__init__(
            name, policy=policy, templates=templates, log=log, inbox_target=inbox_target
        )
        self.segments_sent = 0
        """Billed parts, over every text sent."""

    def address(self, message: SendMessage, traits: dict[str, Any]) -> str | None:
        return normalise_phone(message.to if message.to is not None else traits.get("phone"))

    def compose(
        self, message: SendMessage, message_id: str, to: str, subject: str, body: str, at: datetime
    ) -> SmsMessage:
        """A text has no subject: a template's subject is ignored, its body is the text."""
        segments = sms_segments(body)
        self.segments_sent += segments
        return SmsMessage(
            message_id=message_id,
            user_id=message.user_id,
            to=to,
            sent_at=at,
            campaign=message.campaign,
            body=body,
            segments=segments,
            code=message.code,
        )

    def report_sent(self, delivery: SmsMessage, entry: LoggedMessage) -> None:
        self._report(delivery.user_id, names.SMS_DELIVERED, entry, entry.sent_at, delivery.segments)

    def _report(
        self, user_id: str, event: str, entry: LoggedMessage, at: datetime, segments: int
    ) -> None:
        self.track(
            user_id,
            event,
            {
                "message_id": entry.message_id,
                "campaign_name": entry.campaign,
                "journey": entry.journey,
                "step": entry.step,
                "segments": segments,
            },
            at,
        )

    async def handle(self, message: Any, sender: str) -> bool:
        if not isinstance(message, MessageInteraction) or message.channel != self.channel:
            return False
        text: SmsMessage = self.sent_message(message.message_id)
        entry = self.log.get(message.message_id)
        assert entry is not None
        kind = message.kind
        if kind == "replied":
            word = (message.text or "").strip().upper()
            if word in STOP_WORDS:
                kind = "unsubscribed"
                self.policy.unsubscribe(message.user_id, self.channel)
            elif word in START_WORDS:
                kind = "subscribed"
                self.policy.resubscribe(message.user_id, self.channel)
        events = {
            "clicked": names.SMS_LINK_CLICKED,
            "undelivered": names.SMS_UNDELIVERED,
            "unsubscribed": names.SMS_UNSUBSCRIBED,
            "subscribed": names.SMS_SUBSCRIBED,
        }
        if kind == "replied":  # any other reply is conversation, not a status
            self.log.interact(message.message_id, kind, message.at)
            return True
        event = events.get(kind)
        if event is None:
            raise ValueError(
                f"unknown sms interaction {message.kind!r} on {message.message_id!r} "
                "(kinds: clicked, replied, undelivered)"
            )
        self.log.interact(message.message_id, kind, message.at)
        if kind == "undelivered":
            self.policy.suppress(message.user_id, self.channel)
        self._report(message.user_id, event, entry, message.at, text.segments)
        return True
