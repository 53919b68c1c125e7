"""The promotion engine's vocabulary: its outbound events and the requests it answers.

Outbound events mirror what Voucherify's Segment source forwards (the event name is the
Voucherify event type, the payload its main fields). ``to_track`` is that connector: it turns an
engine event into the Segment ``track`` call the CDP ingests on the engine's own source.
Money is always integer minor units (cents).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.segment import Track


class _EngineEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    id: str
    created_at: datetime
    customer_id: str
    code: str
    campaign: str

    def properties(self) -> dict[str, Any]:
        """The Segment ``properties`` of this event (everything but the customer and id)."""
        data = msgspec.to_builtins(self)
        data.pop("type", None)
        data.pop("customer_id", None)
        data.pop("created_at", None)
        data["event_id"] = data.pop("id")
        return data

    def to_track(self) -> Track:
        """Forward as Voucherify's Segment source does: a track on the customer's userId."""
        return Track(
            message_id=f"vcrf-{self.id}",
            timestamp=self.created_at,
            user_id=self.customer_id,
            event=self.__struct_config__.tag,  # type: ignore[arg-type]
            properties=self.properties(),
        )


class PublicationSucceeded(_EngineEvent, tag=names.PUBLICATION_SUCCEEDED):
    """A code was assigned to a customer (a publication)."""

    voucher_type: str
    balance_cents: int | None = None
    channel: str = "API"


class RedemptionSucceeded(_EngineEvent, tag=names.REDEMPTION_SUCCEEDED):
    redemption_id: str
    order_id: str
    amount_cents: int
    balance_cents: int | None = None


class RedemptionFailed(_EngineEvent, tag=names.REDEMPTION_FAILED):
    order_id: str
    amount_cents: int
    reason: str
    message: str


class RedemptionRollbackSucceeded(_EngineEvent, tag=names.REDEMPTION_ROLLBACK_SUCCEEDED):
    """A redemption was undone: ``amount_cents`` went back to the code (and the budget)."""

    rollback_id: str
    redemption_id: str
    amount_cents: int
    balance_cents: int | None = None
    reason: str | None = None


class LoyaltyPointsEarned(_EngineEvent, tag=names.LOYALTY_POINTS_EARNED):
    """Points were added to a customer's loyalty card (``code`` is the card, ``campaign`` the
    program): an earning rule, a referral reward or a Talon.One ``addLoyaltyPoints`` effect."""

    points: int
    balance: int
    source: str
    tier: str | None = None


EngineEvent = (
    PublicationSucceeded
    | RedemptionSucceeded
    | RedemptionFailed
    | RedemptionRollbackSucceeded
    | LoyaltyPointsEarned
)


class Order(msgspec.Struct, frozen=True, kw_only=True):
    """The order a code is validated or redeemed against."""

    id: str
    amount_cents: int


class ValidateCode(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    customer_id: str
    order: Order


class RedeemCode(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    customer_id: str
    order: Order


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """The answer to a validation or a redemption.

    ``reason`` is a Voucherify error key (``voucher_not_found``, ``gift_amount_exceeded``...)
    when ``valid`` is false; ``amount_cents`` is what the code pays on this order.
    """

    valid: bool
    code: str
    amount_cents: int = 0
    balance_cents: int | None = None
    redemption_id: str | None = None
    reason: str | None = None
    message: str | None = None


class PublishCode(msgspec.Struct, frozen=True, kw_only=True):
    """Ask the engine to publish (assign) a code of ``campaign`` to a customer, as Voucherify's
    ``POST /publications`` does; the reply is a :class:`PublishOutcome`.

    Journeys use it to put a unique code into a following message: the caller needs the code
    itself (not only the ``customer.publication.succeeded`` event), so it is a request/reply.
    ``campaign`` is the campaign's id or, failing that, its name.
    """

    campaign: str
    customer_id: str
    channel: str = "API"
    join_once: bool = False


class PublishOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The published ``code``, or ``reason`` (a Voucherify error key) when none was."""

    code: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.code is not None
