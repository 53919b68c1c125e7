"""Who may receive a marketing message on which channel, and when.

A destination asks :meth:`DeliveryPolicy.admit` before every send. It checks, in this order:
channel known, consent (unsubscribes), suppression lists (audiences excluded from a channel or
a campaign, and customers put on a channel's or a campaign's list, e.g. after a hard bounce),
quiet hours in the customer's time zone (deferred, not refused), and frequency caps per channel
and across channels over sliding windows. Admission and recording happen in one synchronous
call, so no interleaving of sends can ever exceed a cap. A destination that has work to do
between the decision and the send (rendering, which may fail) calls :meth:`check`, then
:meth:`record`, with no ``await`` in between: the same guarantee, one actor at a time.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

import msgspec

CHANNELS = frozenset({"email", "push", "sms", "ads"})


class Cap(msgspec.Struct, frozen=True, kw_only=True):
    """At most ``max_messages`` in any ``window_days``; ``channel=None`` counts every channel."""

    max_messages: int
    window_days: float
    channel: str | None = None

    def __post_init__(self) -> None:
        if self.max_messages < 1:
            raise ValueError(f"cap.max_messages must be >= 1, got {self.max_messages}")
        if self.window_days <= 0:
            raise ValueError(f"cap.window_days must be > 0, got {self.window_days}")
        if self.channel is not None and self.channel not in CHANNELS:
            raise ValueError(f"cap.channel must be one of {sorted(CHANNELS)}, got {self.channel!r}")


class QuietHours(msgspec.Struct, frozen=True, kw_only=True):
    """No sends between ``start_hour`` and ``end_hour`` local time (wrapping midnight)."""

    start_hour: int = 21
    end_hour: int = 8

    def __post_init__(self) -> None:
        for name in ("start_hour", "end_hour"):
            if not 0 <= getattr(self, name) <= 23:
                raise ValueError(f"quiet_hours.{name} must be 0..23, got {getattr(self, name)}")

    def next_allowed(self, local: datetime) -> datetime | None:
        """None when ``local`` is outside quiet hours, else the local time they end."""
        hour = local.hour
        quiet = (
            self.start_hour <= hour < self.end_hour
            if self.start_hour < self.end_hour
            else hour >= self.start_hour or hour < self.end_hour
        )
        if not quiet:
            return None
        end = local.replace(hour=self.end_hour, minute=0, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)


class Decision(msgspec.Struct, frozen=True):
    allowed: bool
    reason: str | None = None
    """``unknown_channel``, ``unsubscribed``, ``suppressed``, ``quiet_hours``, ``frequency_cap``."""
    retry_at: datetime | None = None
    """For ``quiet_hours``: when the message may go (UTC)."""


class DeliveryPolicy:
    def __init__(
        self,
        *,
        caps: list[Cap] | None = None,
        quiet_hours: QuietHours | None = None,
        suppressed_audiences: dict[str, frozenset[str]] | None = None,
    ) -> None:
        """``suppressed_audiences`` maps a channel or a campaign name to audience keys whose
        members must receive nothing from it."""
        self.caps = list(caps or [])
        self.quiet_hours = quiet_hours
        self.suppressed = dict(suppressed_audiences or {})
        self._longest = max(
            (timedelta(days=c.window_days) for c in self.caps), default=timedelta(0)
        )
        self._sent: dict[str, deque[tuple[datetime, str]]] = {}
        self._unsubscribed: set[tuple[str, str]] = set()
        self._suppressed_customers: set[tuple[str, str]] = set()
        self.refusals: dict[str, int] = {}

    def unsubscribe(self, customer_id: str, channel: str) -> None:
        self._check_channel(channel)
        self._unsubscribed.add((customer_id, channel))

    def resubscribe(self, customer_id: str, channel: str) -> None:
        """Consent given again (an SMS ``START`` reply)."""
        self._check_channel(channel)
        self._unsubscribed.discard((customer_id, channel))

    def unsubscribed(self, customer_id: str, channel: str) -> bool:
        return (customer_id, channel) in self._unsubscribed

    def suppress(self, customer_id: str, scope: str) -> None:
        """Put one customer on the suppression list of a channel or a campaign (``scope``)."""
        if not scope:
            raise ValueError("suppression scope must be a channel or a campaign name")
        self._suppressed_customers.add((customer_id, scope))

    @staticmethod
    def _check_channel(channel: str) -> None:
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r} (channels: {sorted(CHANNELS)})")

    def sent(self, customer_id: str) -> list[tuple[datetime, str]]:
        return list(self._sent.get(customer_id, ()))

    def admit(
        self,
        customer_id: str,
        channel: str,
        now: datetime,
        *,
        audiences: frozenset[str] | set[str] = frozenset(),
        campaign: str | None = None,
        utc_offset_hours: float = 0.0,
    ) -> Decision:
        """Decide, and record the send when allowed."""
        decision = self.check(
            customer_id,
            channel,
            now,
            audiences=audiences,
            campaign=campaign,
            utc_offset_hours=utc_offset_hours,
        )
        if decision.allowed:
            self.record(customer_id, channel, now)
        return decision

    def check(
        self,
        customer_id: str,
        channel: str,
        now: datetime,
        *,
        audiences: frozenset[str] | set[str] = frozenset(),
        campaign: str | None = None,
        utc_offset_hours: float = 0.0,
    ) -> Decision:
        """Decide without recording; follow an allowed decision with :meth:`record` before
        the next ``await``, or the caps no longer hold."""
        decision = self._decide(customer_id, channel, now, audiences, campaign, utc_offset_hours)
        if not decision.allowed:
            self.refusals[decision.reason or "?"] = self.refusals.get(decision.reason or "?", 0) + 1
        return decision

    def record(self, customer_id: str, channel: str, now: datetime) -> None:
        """Count a send against the customer's caps."""
        self._sent.setdefault(customer_id, deque()).append((now, channel))

    def _decide(
        self,
        customer_id: str,
        channel: str,
        now: datetime,
        audiences: frozenset[str] | set[str],
        campaign: str | None,
        utc_offset_hours: float,
    ) -> Decision:
        if channel not in CHANNELS:
            return Decision(False, "unknown_channel")
        if (customer_id, channel) in self._unsubscribed:
            return Decision(False, "unsubscribed")
        for scope in (channel, campaign):
            if scope is None:
                continue
            if (customer_id, scope) in self._suppressed_customers:
                return Decision(False, "suppressed")
            listed = self.suppressed.get(scope)
            if listed and not listed.isdisjoint(audiences):
                return Decision(False, "suppressed")
        if self.quiet_hours is not None:
            offset = timedelta(hours=utc_offset_hours)
            resume = self.quiet_hours.next_allowed(now + offset)
            if resume is not None:
                return Decision(False, "quiet_hours", resume - offset)
        history = self._sent.get(customer_id)
        if history:
            while history and now - history[0][0] >= self._longest:
                history.popleft()
            for cap in self.caps:
                since = now - timedelta(days=cap.window_days)
                count = sum(1 for at, ch in history if at > since and (cap.channel in (None, ch)))
                if count >= cap.max_messages:
                    return Decision(False, "frequency_cap")
        return Decision(True)
