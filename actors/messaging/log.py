"""The per-customer message log: what every channel sent to whom, when, why, and what it earned.

Why one log object that destinations share (rather than only each destination's ``sent`` list):
frequency questions ("messages per customer per week", "did anyone get two texts in a day") and
last-touch attribution are cross-channel, and a journey report must see email, push, SMS and ads
side by side. A scenario passes the same :class:`MessageLog` to every destination; a destination
given none keeps its own, and :meth:`MessageLog.combined` merges separate logs into one view.

The rendered text is kept on purpose: tests assert on what a customer actually read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import msgspec


class Conversion(msgspec.Struct, frozen=True, kw_only=True):
    """An order credited to the last message the customer received before it."""

    order_id: str
    at: datetime
    revenue_cents: int
    message_id: str
    channel: str


@dataclass(slots=True)
class LoggedMessage:
    """One message as sent; ``interactions`` and ``conversion`` fill in as the customer reacts."""

    message_id: str
    request_id: str
    user_id: str
    channel: str
    destination: str
    campaign: str
    sent_at: datetime
    subject: str
    body: str
    to: str | None = None
    code: str | None = None
    journey: str | None = None
    step: str | None = None
    interactions: list[tuple[str, datetime]] = field(default_factory=list)
    """(kind, when): ``opened``, ``clicked``, ``tapped``, ``bounced``, ``unsubscribed``..."""
    conversion: Conversion | None = None

    def to_builtins(self) -> dict[str, object]:
        """A JSON-able view for reports."""
        return {
            "message_id": self.message_id,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "channel": self.channel,
            "destination": self.destination,
            "campaign": self.campaign,
            "sent_at": self.sent_at.isoformat(),
            "subject": self.subject,
            "body": self.body,
            "to": self.to,
            "code": self.code,
            "journey": self.journey,
            "step": self.step,
            "interactions": [[kind, at.isoformat()] for kind, at in self.interactions],
            "conversion": msgspec.to_builtins(self.conversion) if self.conversion else None,
        }


class MessageLog:
    """Every message sent, indexed by customer and by message id, with last-touch attribution
    of orders within ``attribution_window_days`` of a message."""

    def __init__(self, *, attribution_window_days: float = 3.0) -> None:
        if attribution_window_days <= 0:
            raise ValueError(f"attribution_window_days must be > 0, got {attribution_window_days}")
        self.attribution_window = timedelta(days=attribution_window_days)
        self.entries: list[LoggedMessage] = []
        self._by_customer: dict[str, list[LoggedMessage]] = {}
        self._by_id: dict[str, LoggedMessage] = {}
        self._attributed: dict[str, Conversion] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LoggedMessage]:
        return iter(self.entries)

    def record(self, entry: LoggedMessage) -> None:
        if entry.message_id in self._by_id:
            raise ValueError(f"message {entry.message_id!r} is already in the log")
        self.entries.append(entry)
        self._by_customer.setdefault(entry.user_id, []).append(entry)
        self._by_id[entry.message_id] = entry

    def get(self, message_id: str) -> LoggedMessage | None:
        return self._by_id.get(message_id)

    def for_customer(self, user_id: str) -> list[LoggedMessage]:
        return list(self._by_customer.get(user_id, ()))

    def interact(self, message_id: str, kind: str, at: datetime) -> LoggedMessage | None:
        """Note a reaction on a logged message; None when the message is not in this log."""
        entry = self._by_id.get(message_id)
        if entry is not None:
            entry.interactions.append((kind, at))
        return entry

    def last_before(self, user_id: str, at: datetime) -> LoggedMessage | None:
        """The customer's last message sent at or before ``at`` and within the window."""
        for entry in reversed(self._by_customer.get(user_id, ())):
            if entry.sent_at <= at:
                return entry if at - entry.sent_at <= self.attribution_window else None
        return None

    def attribute(
        self, user_id: str, order_id: str, at: datetime, revenue_cents: int, *, channel: str
    ) -> Conversion | None:
        """Credit an order to the customer's last message if that message went out on
        ``channel``. With one shared log every destination hears the order and exactly one (the
        last message's) claims it; an order is never credited twice."""
        if order_id in self._attributed:
            return None
        entry = self.last_before(user_id, at)
        if entry is None or entry.channel != channel:
            return None
        conversion = Conversion(
            order_id=order_id,
            at=at,
            revenue_cents=revenue_cents,
            message_id=entry.message_id,
            channel=entry.channel,
        )
        self._attributed[order_id] = conversion
        if entry.conversion is None:
            entry.conversion = conversion  # the first order a message earned is its conversion
        return conversion

    @property
    def conversions(self) -> list[Conversion]:
        return list(self._attributed.values())

    def per_customer_per_week(self, channel: str | None = None) -> dict[str, dict[str, int]]:
        """``{user_id: {"2026-W02": n, ...}}``: messages sent per ISO week (one channel or all)."""
        out: dict[str, dict[str, int]] = {}
        for entry in self.entries:
            if channel is not None and entry.channel != channel:
                continue
            year, week, _ = entry.sent_at.isocalendar()
            weeks = out.setdefault(entry.user_id, {})
            key = f"{year}-W{week:02d}"
            weeks[key] = weeks.get(key, 0) + 1
        return out

    def max_per_week(self, channel: str | None = None) -> int:
        """The most messages any customer received in one ISO week (0 when nothing was sent)."""
        counts = self.per_customer_per_week(channel)
        return max((n for weeks in counts.values() for n in weeks.values()), default=0)

    def by_channel(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.entries:
            out[entry.channel] = out.get(entry.channel, 0) + 1
        return out

    @classmethod
    def combined(cls, logs: Iterable[MessageLog]) -> MessageLog:
        """One view over several logs (destinations that were not given a shared log), in send
        order. The same log passed twice counts once."""
        unique = list({id(log): log for log in logs}.values())
        window = max((log.attribution_window for log in unique), default=timedelta(days=3))
        view = cls(attribution_window_days=window / timedelta(days=1))
        merged = sorted(
            (e for log in unique for e in log.entries), key=lambda e: (e.sent_at, e.message_id)
        )
        for entry in merged:
            view.record(entry)
        for log in unique:
            view._attributed.update(log._attributed)
        return view
