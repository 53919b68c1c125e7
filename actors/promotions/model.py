"""The promotion engine as a plain model (Voucherify-like): campaigns, codes, publications,
validations and redemptions. No I/O, no trio; money in integer cents.

Errors use Voucherify's keys so the HTTP face can return them unchanged:
``not_found``, ``voucher_not_active``, ``voucher_expired``, ``voucher_disabled``,
``customer_rules_violated``, ``gift_amount_exceeded``, ``invalid_amount``.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime
from typing import Any

from promoloop.actors.events.promotions import (
    EngineEvent,
    PublicationSucceeded,
    RedeemCode,
    RedemptionFailed,
    RedemptionSucceeded,
    ValidateCode,
    Verdict,
)
from promoloop.actors.promotions.campaigns import Distribution, GiftCardCampaign, Voucher
from promoloop.actors.promotions.codes import generate_codes


class PromotionError(Exception):
    """A request the engine refuses; ``key`` is the Voucherify error key."""

    def __init__(self, key: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.status = status


class PromotionEngineModel:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.campaigns: dict[str, GiftCardCampaign] = {}
        self.vouchers: dict[str, Voucher] = {}
        self.distributions: list[Distribution] = []
        self.customers: dict[str, dict[str, Any]] = {}
        self._published: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()
        self._issued: Counter[str] = Counter()
        self._seq = 0

    def _id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_{self._seq:08d}"

    # -- configuration ----------------------------------------------------------------------
    def add_campaign(self, campaign: GiftCardCampaign) -> GiftCardCampaign:
        if campaign.id in self.campaigns:
            raise PromotionError("duplicate_resource_key", f"campaign {campaign.id!r} exists", 409)
        self.campaigns[campaign.id] = campaign
        return campaign

    def add_distribution(self, distribution: Distribution) -> Distribution:
        if distribution.campaign_id not in self.campaigns:
            raise PromotionError(
                "not_found",
                f"distribution {distribution.name!r}: no campaign {distribution.campaign_id!r}",
                404,
            )
        self.distributions.append(distribution)
        return distribution

    def upsert_customer(self, source_id: str, traits: dict[str, Any]) -> None:
        self.customers.setdefault(source_id, {}).update(traits)

    # -- publication ---------------------------------------------------------------------------
    def publish(
        self, campaign_id: str, customer_id: str, now: datetime, channel: str = "API"
    ) -> tuple[Voucher, PublicationSucceeded | None]:
        """Assign a code to a customer. With ``join_once`` a second call returns the same code
        and no new event."""
        campaign = self._campaign(campaign_id)
        self._check_dates(campaign, now)
        if campaign.join_once and (campaign_id, customer_id) in self._published:
            return self.vouchers[self._published[(campaign_id, customer_id)]], None
        (code,) = generate_codes(
            campaign.code_config, 1, self._rng, self._taken, used=self._issued[campaign_id]
        )
        voucher = Voucher(
            code=code,
            campaign_id=campaign_id,
            initial_cents=campaign.amount_cents,
            balance_cents=campaign.amount_cents,
            holder=customer_id,
            published_at=now,
        )
        self.vouchers[code] = voucher
        self._issued[campaign_id] += 1
        self._published[(campaign_id, customer_id)] = code
        event = PublicationSucceeded(
            id=self._id("pub"),
            created_at=now,
            customer_id=customer_id,
            code=code,
            campaign=campaign.name,
            voucher_type="GIFT_VOUCHER",
            balance_cents=voucher.balance_cents,
            channel=channel,
        )
        return voucher, event

    def on_audience_entered(
        self, customer_id: str, audience_key: str, now: datetime
    ) -> list[PublicationSucceeded]:
        """Run every distribution triggered by this audience (at most one code per campaign)."""
        events = []
        for distribution in self.distributions:
            if distribution.audience_key == audience_key:
                _, event = self.publish(
                    distribution.campaign_id, customer_id, now, distribution.channel
                )
                if event is not None:
                    events.append(event)
        return events

    # -- validation and redemption -----------------------------------------------------------
    def validate(self, request: ValidateCode, now: datetime) -> Verdict:
        try:
            voucher, amount = self._applicable(
                request.code, request.customer_id, request.order.amount_cents, now
            )
        except PromotionError as error:
            return Verdict(valid=False, code=request.code, reason=error.key, message=error.message)
        return Verdict(
            valid=True, code=request.code, amount_cents=amount, balance_cents=voucher.balance_cents
        )

    def redeem(self, request: RedeemCode, now: datetime) -> tuple[Verdict, EngineEvent | None]:
        try:
            voucher, amount = self._applicable(
                request.code, request.customer_id, request.order.amount_cents, now
            )
        except PromotionError as error:
            verdict = Verdict(
                valid=False, code=request.code, reason=error.key, message=error.message
            )
            voucher = self.vouchers.get(request.code)
            if voucher is None:
                return verdict, None  # unknown codes are not the engine's events to report
            failed = RedemptionFailed(
                id=self._id("evt"),
                created_at=now,
                customer_id=request.customer_id,
                code=request.code,
                campaign=self.campaigns[voucher.campaign_id].name,
                order_id=request.order.id,
                amount_cents=request.order.amount_cents,
                reason=error.key,
                message=error.message,
            )
            return verdict, failed
        voucher.balance_cents -= amount
        redemption_id = self._id("r")
        voucher.redemptions.append(redemption_id)
        event = RedemptionSucceeded(
            id=self._id("evt"),
            created_at=now,
            customer_id=request.customer_id,
            code=voucher.code,
            campaign=self.campaigns[voucher.campaign_id].name,
            redemption_id=redemption_id,
            order_id=request.order.id,
            amount_cents=amount,
            balance_cents=voucher.balance_cents,
        )
        verdict = Verdict(
            valid=True,
            code=voucher.code,
            amount_cents=amount,
            balance_cents=voucher.balance_cents,
            redemption_id=redemption_id,
        )
        return verdict, event

    # -- rules --------------------------------------------------------------------------------
    def _campaign(self, campaign_id: str) -> GiftCardCampaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise PromotionError(
                "not_found", f"Cannot find campaign with id {campaign_id}", 404
            ) from None

    @staticmethod
    def _check_dates(campaign: GiftCardCampaign, now: datetime) -> None:
        if campaign.start_date and now < campaign.start_date:
            raise PromotionError(
                "voucher_not_active", f"campaign {campaign.name!r} has not started"
            )
        if campaign.expiration_date and now >= campaign.expiration_date:
            raise PromotionError("voucher_expired", f"campaign {campaign.name!r} has expired")

    def _applicable(
        self, code: str, customer_id: str, order_cents: int, now: datetime
    ) -> tuple[Voucher, int]:
        if order_cents <= 0:
            raise PromotionError(
                "invalid_amount", f"order amount must be > 0 cents, got {order_cents}"
            )
        voucher = self.vouchers.get(code)
        if voucher is None:
            raise PromotionError("not_found", f"Cannot find voucher with id {code}", 404)
        campaign = self.campaigns[voucher.campaign_id]
        if not voucher.active:
            raise PromotionError("voucher_disabled", f"voucher {code} is disabled")
        self._check_dates(campaign, now)
        if campaign.holder_only and voucher.holder != customer_id:
            raise PromotionError(
                "customer_rules_violated", f"voucher {code} belongs to another customer"
            )
        if voucher.balance_cents <= 0:
            raise PromotionError("gift_amount_exceeded", f"gift card {code} has no balance left")
        return voucher, min(voucher.balance_cents, order_cents)
