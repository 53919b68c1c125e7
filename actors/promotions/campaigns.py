"""Campaigns, vouchers, segments and distributions: the promotion engine's definitions.

A campaign is immutable once created (a frozen Struct validated on construction: a malformed
definition raises ValueError naming the field); what changes as codes are used lives in
:class:`Voucher` and in the model's usage ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.promotions.codes import CodeConfig
from promoloop.actors.promotions.discounts import Discount, check_cents
from promoloop.actors.promotions.limits import HourWindow, Quotas, Window

GIFT_VOUCHERS = "GIFT_VOUCHERS"
DISCOUNT_COUPONS = "DISCOUNT_COUPONS"


class _Campaign(msgspec.Struct, frozen=True, kw_only=True):
    """What every campaign has: identity, codes, time limits, usage limits and rules."""

    id: str
    name: str
    description: str = ""
    code_config: CodeConfig = msgspec.field(default_factory=CodeConfig)
    join_once: bool = True
    holder_only: bool = True
    """A code published to a customer may be redeemed only by that customer (anti-fraud, as in
    the seed). Codes nobody holds (generated or imported, not yet published) are bearer codes."""
    start_date: datetime | None = None
    expiration_date: datetime | None = None
    validity_day_of_week: frozenset[int] | None = None
    validity_hours: tuple[HourWindow, ...] = ()
    quotas: Quotas = msgspec.field(default_factory=Quotas)
    validation_rule_ids: tuple[str, ...] = ()
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    active: bool = True
    standalone: bool = False
    """A campaign made for one standalone code (Voucherify's generic vouchers): not listed."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("campaign.id must be a non-empty string")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("campaign.name must be a non-empty string")
        self.window  # noqa: B018 -- builds the Window, which validates dates and weekdays

    @property
    def window(self) -> Window:
        return Window(
            start_date=self.start_date,
            expiration_date=self.expiration_date,
            days_of_week=self.validity_day_of_week,
            hours=self.validity_hours,
        )


class GiftCardCampaign(_Campaign, frozen=True, kw_only=True):
    """A gift-card campaign: every code starts with ``amount_cents`` of balance."""

    amount_cents: int
    type: str = GIFT_VOUCHERS

    def __post_init__(self) -> None:
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int):
            raise ValueError(
                f"campaign.amount_cents must be integer cents, got {self.amount_cents!r}"
            )
        if self.amount_cents <= 0:
            raise ValueError(f"campaign.amount_cents must be > 0, got {self.amount_cents}")
        super().__post_init__()

    @property
    def voucher_type(self) -> str:
        return "GIFT_VOUCHER"


class DiscountCampaign(_Campaign, frozen=True, kw_only=True):
    """A discount-coupon campaign: every code gives ``discount``. Coupons are bearer codes
    unless ``holder_only`` is set."""

    discount: Discount
    holder_only: bool = False
    join_once: bool = False
    type: str = DISCOUNT_COUPONS

    def __post_init__(self) -> None:
        if not isinstance(self.discount, Discount):
            raise ValueError("campaign.discount must be a Discount")
        super().__post_init__()

    @property
    def voucher_type(self) -> str:
        return "DISCOUNT_VOUCHER"


Campaign = GiftCardCampaign | DiscountCampaign


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    """Publish a code of ``campaign_id`` to every customer who enters ``audience_key``, or who
    does ``event`` (a tracked event the CDP routes to the engine); exactly one of the two."""

    id: str
    name: str
    campaign_id: str
    audience_key: str | None = None
    event: str | None = None
    channel: str = "push"

    def __post_init__(self) -> None:
        if (self.audience_key is None) == (self.event is None):
            raise ValueError(
                f"distribution {self.name!r}: give exactly one trigger, audience_key or event"
            )


class Segment(msgspec.Struct, frozen=True, kw_only=True):
    """A static segment: a fixed set of customer source ids (Voucherify ``type: static``)."""

    id: str
    name: str
    customers: frozenset[str] = frozenset()
    created_at: datetime | None = None


@dataclass(slots=True)
class Voucher:
    code: str
    campaign_id: str
    initial_cents: int
    balance_cents: int
    holder: str | None = None
    published_at: datetime | None = None
    active: bool = True
    redemptions: list[str] = field(default_factory=list)
    """Every redemption id of this code, rolled back or not (its history)."""
    redeemed_quantity: int = 0
    """Live redemptions (rollbacks subtract), what the code-level quantity limit counts."""
    created_at: datetime | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_cents("voucher.balance", self.balance_cents)
