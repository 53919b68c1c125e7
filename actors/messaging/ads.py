"""An ads audience destination: audience membership synced to an ad platform, and impressions.

Why hashed, batched and late: Segment's Facebook Custom Audiences and Google Customer Match
destinations do not tell the platform "user-42 entered"; they upload SHA-256 hashes of
normalised emails (trimmed, lower-cased) in add/remove batches, on a schedule, and the platform
matches them to its own users. So an audience on the platform lags the CDP by up to one sync
interval, a customer without an email cannot be matched, and an enter followed by an exit
within one interval never reaches the platform at all. :meth:`AdsAudienceDestination.members`
answers what the platform holds *now*; :attr:`batches` is the upload history.

A :class:`SendMessage` on channel ``ads`` is an impression the platform served to that customer
(``headline`` = the template's subject), under the same delivery policy as every channel. With
``context={"audience": key}`` the customer must be in that synced audience, as a platform only
serves to people it matched. Reported on this destination's own source: ``Ad Impression``,
``Ad Clicked`` (from the storefront playing the person who saw it) and conversions.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.messages import AdImpression, MessageInteraction, SendMessage
from promoloop.actors.events.segment import Track
from promoloop.actors.messaging.channel import ChannelDestination
from promoloop.actors.messaging.email import valid_address
from promoloop.actors.messaging.log import LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import DeliveryPolicy
from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.actors.runtime.actor import Wake
from promoloop.actors.runtime.clock import HOUR

SYNC = "sync"
MAX_BATCH = 10_000
"""Facebook's Custom Audience API takes at most 10,000 identifiers per request."""


def hash_email(address: str) -> str:
    """SHA-256 hex of the trimmed, lower-cased address, as Custom Audiences and Customer Match
    expect it."""
    return hashlib.sha256(address.strip().lower().encode()).hexdigest()


class AudienceSyncBatch(msgspec.Struct, frozen=True, kw_only=True):
    """One upload to the platform: hashed identifiers added to and removed from an audience."""

    platform: str
    audience: str
    at: datetime
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()


class AdsAudienceDestination(ChannelDestination):
    channel = "ads"

    def __init__(
        self,
        name: str = "ads",
        *,
        platform: str = "facebook_custom_audiences",
        audiences: list[str] | None = None,
        sync_interval: float = HOUR,
        batch_size: int = MAX_BATCH,
        policy: DeliveryPolicy | None = None,
        templates: list[MessageTemplate] | None = None,
        log: MessageLog | None = None,
        inbox_target: str = "storefront",
    ) -> None:
        """``audiences``: the audience keys synced (None: every audience the CDP sends)."""
        super().__init__(
            name, policy=policy, templates=templates, log=log, inbox_target=inbox_target
        )
        if not platform:
            raise ValueError("ads platform name is required")
        if sync_interval <= 0:
            raise ValueError(f"sync_interval must be > 0 seconds, got {sync_interval}")
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be within 1..{MAX_BATCH}, got {batch_size}")
        self.platform = platform
        self.synced_audiences = frozenset(audiences) if audiences is not None else None
        self.sync_interval = sync_interval
        self.batch_size = batch_size
        self.batches: list[AudienceSyncBatch] = []
        self.unmatched: dict[str, int] = {}
        """Per audience: entries that could not be uploaded (no email known at sync time)."""
        self._synced: dict[str, dict[str, str]] = {}
        """audience → user_id → the hash the platform holds for them."""
        self._pending: dict[str, dict[str, bool]] = {}
        """audience → user_id → entered (True) / exited (False), the last word since the sync."""
        self._sync_at: float | None = None

    # -- audience sync --------------------------------------------------------------------------
    def on_track(self, event: Track) -> None:
        if event.event not in (names.AUDIENCE_ENTERED, names.AUDIENCE_EXITED):
            return
        key = event.properties.get("audience_key")
        if not isinstance(key, str) or event.user_id is None:
            return
        if self.synced_audiences is not None and key not in self.synced_audiences:
            return
        email = (event.context.get("traits") or {}).get("email")  # Engage sends it along
        if valid_address(email):
            self.traits.setdefault(event.user_id, {})["email"] = email
        self._pending.setdefault(key, {})[event.user_id] = event.event == names.AUDIENCE_ENTERED
        if self._sync_at is None:
            self._sync_at = (math.floor(self.now / self.sync_interval) + 1) * self.sync_interval
            self.schedule(self._sync_at, Wake(SYNC))

    def sync(self, at: datetime) -> list[AudienceSyncBatch]:
        """Upload everything pending, audience by audience (sorted), in batches."""
        uploaded: list[AudienceSyncBatch] = []
        pending, self._pending = self._pending, {}
        for audience in sorted(pending):
            held = self._synced.setdefault(audience, {})
            add: list[str] = []
            remove: list[str] = []
            for user_id, entered in pending[audience].items():
                if entered:
                    email = self.traits.get(user_id, {}).get("email")
                    if not valid_address(email):
                        self.unmatched[audience] = self.unmatched.get(audience, 0) + 1
                        continue
                    digest = hash_email(email)
                    if held.get(user_id) != digest:
                        if user_id in held:  # the address changed: replace the old hash
                            remove.append(held[user_id])
                        held[user_id] = digest
                        add.append(digest)
                elif user_id in held:
                    remove.append(held.pop(user_id))
            for start in range(0, max(len(add), len(remove)), self.batch_size):
                batch = AudienceSyncBatch(
                    platform=self.platform,
                    audience=audience,
                    at=at,
                    add=tuple(add[start : start + self.batch_size]),
                    remove=tuple(remove[start : start + self.batch_size]),
                )
                uploaded.append(batch)
        self.batches.extend(uploaded)
        return uploaded

    def members(self, audience: str) -> frozenset[str]:
        """The hashed emails the platform holds for ``audience`` now."""
        return frozenset(self._synced.get(audience, {}).values())

    def is_member(self, audience: str, user_id: str) -> bool:
        return user_id in self._synced.get(audience, {})

    def audience_sizes(self) -> dict[str, int]:
        return {key: len(held) for key, held in sorted(self._synced.items())}

    # -- impressions ----------------------------------------------------------------------------
    def address(self, message: SendMessage, traits: dict[str, Any]) -> str | None:
        """The hashed email the platform matches on; None when it cannot be matched, or when
        the request names an audience the customer is not synced into."""
        audience = message.context.get("audience")
        if isinstance(audience, str):
            return self._synced.get(audience, {}).get(message.user_id)
        email = message.to if message.to is not None else traits.get("email")
        return hash_email(email) if valid_address(email) else None

    def compose(
        self, message: SendMessage, message_id: str, to: str, subject: str, body: str, at: datetime
    ) -> AdImpression:
        return AdImpression(
            message_id=message_id,
            user_id=message.user_id,
            sent_at=at,
            campaign=message.campaign,
            headline=subject,
            body=body,
            code=message.code,
        )

    def report_sent(self, delivery: AdImpression, entry: LoggedMessage) -> None:
        self._report(delivery.user_id, names.AD_IMPRESSION, entry, entry.sent_at)

    def _report(self, user_id: str, event: str, entry: LoggedMessage, at: datetime) -> None:
        self.track(
            user_id,
            event,
            {
                "ad_id": entry.message_id,
                "platform": self.platform,
                "campaign_name": entry.campaign,
                "headline": entry.subject,
                "journey": entry.journey,
                "step": entry.step,
            },
            at,
        )

    async def handle(self, message: Any, sender: str) -> bool:
        if isinstance(message, Wake) and message.tag == SYNC:
            self._sync_at = None
            self.sync(self.now_dt())
            return True
        if not isinstance(message, MessageInteraction) or message.channel != self.channel:
            return False
        if message.kind != "clicked":
            raise ValueError(
                f"unknown ads interaction {message.kind!r} on {message.message_id!r} "
                "(kinds: clicked)"
            )
        self.sent_message(message.message_id)
        entry = self.log.get(message.message_id)
        assert entry is not None
        self.log.interact(message.message_id, message.kind, message.at)
        self._report(message.user_id, names.AD_CLICKED, entry, message.at)
        return True
