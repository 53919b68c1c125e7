"""Campaigns, vouchers and distributions: the promotion engine's state."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from promoloop.actors.promotions.codes import CodeConfig

GIFT_VOUCHERS = "GIFT_VOUCHERS"


class GiftCardCampaign(msgspec.Struct, frozen=True, kw_only=True):
    """A bulk gift-card campaign: every code starts with ``amount_cents`` of balance."""

    id: str
    name: str
    amount_cents: int
    code_config: CodeConfig = msgspec.field(default_factory=CodeConfig)
    join_once: bool = True
    holder_only: bool = True
    """Only the customer a code was published to may redeem it (anti-fraud, as in the seed)."""
    start_date: datetime | None = None
    expiration_date: datetime | None = None
    type: str = GIFT_VOUCHERS

    def __post_init__(self) -> None:
        if self.amount_cents <= 0:
            raise ValueError(f"campaign.amount_cents must be > 0, got {self.amount_cents}")
        if self.start_date and self.expiration_date and self.expiration_date <= self.start_date:
            raise ValueError("campaign.expiration_date must be after campaign.start_date")


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    """Publish a code of ``campaign_id`` to every customer who enters ``audience_key``."""

    id: str
    name: str
    campaign_id: str
    audience_key: str
    channel: str = "push"


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
