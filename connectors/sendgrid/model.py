"""What the SendGrid face remembers: dynamic templates, one activity record per recipient (Email
Activity), the global unsubscribe list, and message ids.

Plain synchronous state (design.md §3): the HTTP face writes accepted sends here and the gateway
actor writes their outcomes, both between awaits of the same trio run, so every read is one
consistent snapshot. Ids come from a counter hashed with a seed: the same run gives the same
``X-Message-Id`` values.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promoloop.actors.messaging.templates import MessageTemplate

TEMPLATE_ID = re.compile(r"^d-[0-9a-f]{32}$")
"""A dynamic template id as SendGrid issues them: ``d-`` and 32 lowercase hex digits."""

PROCESSED = "processed"
DELIVERED = "delivered"
NOT_DELIVERED = "not_delivered"


@dataclass(slots=True)
class ActivityEvent:
    """One step in a message's life, named as SendGrid's Event Webhook names them."""

    event: str
    """``processed``, ``deferred``, ``delivered``, ``dropped``, ``bounce``, ``open``, ``click``,
    ``unsubscribe``."""
    at: datetime
    reason: str | None = None


@dataclass(slots=True)
class Activity:
    """One recipient of one accepted Mail Send (SendGrid's unit of Email Activity)."""

    msg_id: str
    x_message_id: str
    from_email: str
    to_email: str
    subject: str
    body: str
    campaign: str
    due: datetime
    """When it goes out: the request's time, or its ``send_at``."""
    user_id: str | None
    """The customer the CDP knows by this address; None means the address bounces."""
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)
    template_id: str | None = None
    asm_group_id: int | None = None
    status: str = PROCESSED
    reason: str | None = None
    destination_id: str | None = None
    """The email destination's id for the email it sent (its ``email_id`` in CDP events)."""
    events: list[ActivityEvent] = field(default_factory=list)
    opens_count: int = 0
    clicks_count: int = 0

    @property
    def last_event_time(self) -> datetime:
        return self.events[-1].at if self.events else self.due


@dataclass(slots=True)
class Unsubscribe:
    """An address on the global unsubscribe list, and since when."""

    email: str
    created: datetime


@dataclass(slots=True)
class TemplateRecord:
    """A dynamic template made over HTTP (``POST /v3/templates``) and its versions, as JSON."""

    id: str
    name: str
    updated_at: datetime
    versions: list[dict[str, Any]] = field(default_factory=list)


class SendGridModel:
    def __init__(self, *, seed: int = 0) -> None:
        self.templates: dict[str, MessageTemplate] = {}
        """What a send's ``template_id`` renders with: the active version of each template."""
        self.template_records: dict[str, TemplateRecord] = {}
        self.activities: dict[str, Activity] = {}
        self.unsubscribes: dict[str, Unsubscribe] = {}
        """Global unsubscribes by lower-cased address (SendGrid keys suppressions by address)."""
        self._by_destination: dict[str, Activity] = {}
        self._deferred: dict[tuple[str | None, str, str], list[Activity]] = {}
        """Deferred, not yet sent activities by (user, subject, campaign), oldest first."""
        self._seed = seed
        self._requests = 0

    # -- templates ------------------------------------------------------------------------------
    def add_template(self, template_id: str, template: MessageTemplate) -> None:
        """Register a dynamic template under a SendGrid-style id (``d-`` + 32 hex digits)."""
        if not TEMPLATE_ID.match(template_id):
            raise ValueError(f"template id must be 'd-' and 32 hex digits, got {template_id!r}")
        if not isinstance(template, MessageTemplate):
            raise ValueError(f"template {template_id!r} must be a MessageTemplate")
        self.templates[template_id] = template

    def new_template_id(self) -> str:
        return "d-" + self._digest("template", len(self.template_records)).hex()[:32]

    def new_version_id(self, template_id: str, n: int) -> str:
        """A UUID-shaped id, as SendGrid gives template versions."""
        h = self._digest(f"version:{template_id}", n).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    # -- ids ------------------------------------------------------------------------------------
    def _digest(self, kind: str, n: int) -> bytes:
        return hashlib.blake2b(f"{self._seed}:{kind}:{n}".encode(), digest_size=16).digest()

    def new_x_message_id(self) -> str:
        """22 url-safe characters, like SendGrid's ``X-Message-Id``."""
        self._requests += 1
        return base64.urlsafe_b64encode(self._digest("msg", self._requests)).decode()[:22]

    # -- activity -------------------------------------------------------------------------------
    def add(self, activity: Activity) -> None:
        if activity.msg_id in self.activities:
            raise ValueError(f"message {activity.msg_id!r} is already recorded")
        self.activities[activity.msg_id] = activity

    def note(self, activity: Activity, event: str, at: datetime, reason: str | None = None) -> None:
        activity.events.append(ActivityEvent(event, at, reason))
        if event == "delivered":
            activity.status, activity.reason = DELIVERED, None
        elif event in ("dropped", "bounce"):
            activity.status, activity.reason = NOT_DELIVERED, reason
        elif event == "deferred":
            activity.reason = reason
            key = (activity.user_id, activity.subject, activity.campaign)
            self._deferred.setdefault(key, []).append(activity)
        elif event == "open":
            activity.opens_count += 1
        elif event == "click":
            activity.clicks_count += 1

    def link(self, activity: Activity, destination_id: str) -> None:
        activity.destination_id = destination_id
        self._by_destination[destination_id] = activity
        waiting = self._deferred.get((activity.user_id, activity.subject, activity.campaign))
        if waiting and activity in waiting:
            waiting.remove(activity)

    def by_destination(self, destination_id: str) -> Activity | None:
        return self._by_destination.get(destination_id)

    def deferred_for(self, user_id: str, subject: str, campaign: str) -> Activity | None:
        """The oldest deferred, not yet sent activity that an email the destination sent later
        (after quiet hours) stands for. The destination reports such a send with its own id,
        so the match is by customer, subject and campaign (an index: every email the
        destination reports, from any sender, is looked up here)."""
        waiting = self._deferred.get((user_id, subject, campaign))
        return waiting[0] if waiting else None

    def search(self, filters: dict[str, str], limit: int) -> list[Activity]:
        """Newest first, as Email Activity lists them; ``filters`` compare exact values of
        ``to_email``, ``from_email``, ``msg_id``, ``status``, ``subject`` (addresses
        case-insensitively)."""
        out: list[Activity] = []
        for activity in reversed(self.activities.values()):
            if all(_matches(activity, key, value) for key, value in filters.items()):
                out.append(activity)
                if len(out) >= limit:
                    break
        return out

    # -- global unsubscribes ----------------------------------------------------------------------
    def unsubscribe(self, email: str, at: datetime) -> bool:
        """True when the address was not on the list yet."""
        key = email.lower()
        if key in self.unsubscribes:
            return False
        self.unsubscribes[key] = Unsubscribe(email, at)
        return True

    def resubscribe(self, email: str) -> bool:
        return self.unsubscribes.pop(email.lower(), None) is not None

    def is_unsubscribed(self, email: str) -> bool:
        return email.lower() in self.unsubscribes

    def __iter__(self) -> Iterator[Activity]:
        return iter(self.activities.values())


def _matches(activity: Activity, key: str, value: str) -> bool:
    actual: Any = getattr(activity, key)
    if key in ("to_email", "from_email"):
        return str(actual).lower() == value.lower()
    return actual == value
