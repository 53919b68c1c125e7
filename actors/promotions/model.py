"""The promotion engine as a plain model (Voucherify-like): campaigns, codes, publications,
validation rules, validations, redemptions and rollbacks. No I/O, no trio; money in integer
cents.

Every method either applies completely or raises :class:`PromotionError` having changed
nothing: all checks run before the first write. That, plus one caller at a time (the actor's
mailbox, or the HTTP face's engine lock), is what keeps budgets and balances from being
overspent under concurrency.

Loyalty programs (:mod:`.loyalty`) and referral programs (:mod:`.referrals`) live in two
ledgers the model owns (``model.loyalty``, ``model.referrals``); the methods here tie them to
codes, publications and redemptions and turn their changes into events for the CDP.

Errors use Voucherify's keys so the HTTP face can return them unchanged: ``not_found``,
``voucher_not_active``, ``voucher_expired``, ``voucher_disabled``, ``customer_rules_violated``,
``order_rules_violated``, ``redemption_rules_violated``, ``quantity_exceeded``,
``gift_amount_exceeded``, ``invalid_amount``, ``already_rolled_back``,
``duplicate_resource_key``, ``loyalty_card_points_exceeded``, and for referrals
``referral_self`` / ``customer_already_referred``.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.events.promotions import (
    EngineEvent,
    LoyaltyPointsEarned,
    PublicationSucceeded,
    RedeemCode,
    RedemptionFailed,
    RedemptionRollbackSucceeded,
    RedemptionSucceeded,
    ValidateCode,
    Verdict,
)
from promoloop.actors.promotions.campaigns import (
    Campaign,
    Distribution,
    GiftCardCampaign,
    Segment,
    Voucher,
)
from promoloop.actors.promotions.codes import CodeConfig, CodeSpaceExhausted, generate_codes
from promoloop.actors.promotions.discounts import Cart
from promoloop.actors.promotions.errors import PromotionError
from promoloop.actors.promotions.ledger import (
    ROLLED_BACK,
    CustomEvent,
    Publication,
    Redemption,
    Rollback,
)
from promoloop.actors.promotions.limits import Usage
from promoloop.actors.promotions.loyalty import LoyaltyLedger, LoyaltyProgram, PointsTransaction
from promoloop.actors.promotions.referrals import Referral, ReferralLedger, ReferralProgram
from promoloop.actors.promotions.rules import RuleContext, ValidationRule

__all__ = ["PromotionEngineModel", "PromotionError", "Quote"]


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """What a code would pay on an order, right now (a validation's answer)."""

    voucher: Any  # Voucher (a mutable dataclass, so not a Struct field type)
    campaign: Any  # Campaign
    amount_cents: int
    gift: bool

    @property
    def balance_after_cents(self) -> int | None:
        return self.voucher.balance_cents - self.amount_cents if self.gift else None


class PromotionEngineModel:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.campaigns: dict[str, Campaign] = {}
        self.vouchers: dict[str, Voucher] = {}
        self.distributions: list[Distribution] = []
        self.customers: dict[str, dict[str, Any]] = {}
        """Traits by customer source id (from the CDP's identify calls or the customers API)."""
        self.customer_ids: dict[str, str] = {}
        """Voucherify-style ``cust_...`` id by source id."""
        self.segments: dict[str, Segment] = {}
        self.audiences: dict[str, set[str]] = {}
        """CDP audience keys each customer entered; ``customer.segment`` rules match them."""
        self.validation_rules: dict[str, ValidationRule] = {}
        self.usage: dict[str, Usage] = {}
        self.publications: dict[str, Publication] = {}
        self.redemptions: dict[str, Redemption] = {}
        self.rollbacks: dict[str, Rollback] = {}
        self.events: list[CustomEvent] = []
        self.event_counts: dict[str, dict[str, int]] = {}
        """customer → event name → how many times (custom events and routed tracks)."""
        self._published: dict[tuple[str, str], str] = {}
        self._taken: set[str] = set()
        self._issued: Counter[str] = Counter()
        self._unpublished: dict[str, deque[str]] = {}
        """Per campaign, codes nobody holds yet, oldest first: what a publication hands out."""
        self._seq = 0
        self.loyalty = LoyaltyLedger(self.new_id, self._new_code)
        self.referrals = ReferralLedger(self._new_code)

    def new_id(self, prefix: str) -> str:
        """A fresh id (``camp_00000007``); one sequence for all kinds keeps runs reproducible."""
        self._seq += 1
        return f"{prefix}_{self._seq:08d}"

    # -- configuration ----------------------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, *, vouchers_count: int = 0, now: datetime | None = None
    ) -> Campaign:
        """Register a campaign and bulk-generate ``vouchers_count`` unpublished codes."""
        if campaign.id in self.campaigns:
            raise PromotionError("duplicate_resource_key", f"campaign {campaign.id!r} exists", 409)
        self._check_rules_exist(campaign.validation_rule_ids)
        if isinstance(vouchers_count, bool) or not isinstance(vouchers_count, int):
            raise ValueError("campaign.vouchers_count must be an integer")
        if vouchers_count < 0:
            raise ValueError(f"campaign.vouchers_count must be >= 0, got {vouchers_count}")
        # check capacity before registering, so a refused campaign leaves nothing behind
        capacity_left = campaign.code_config.capacity // 2
        if vouchers_count > capacity_left:
            raise ValueError(
                f"campaign.vouchers_count {vouchers_count} exceeds half of the "
                f"{campaign.code_config.capacity} codes its code_config allows"
            )
        self.campaigns[campaign.id] = campaign
        self.usage[campaign.id] = Usage()
        if vouchers_count:
            self.generate(campaign.id, vouchers_count, now)
        return campaign

    def generate(self, campaign_id: str, count: int, now: datetime | None) -> list[Voucher]:
        """``count`` new unpublished codes from the campaign's code config, unique engine-wide."""
        campaign = self._campaign(campaign_id)
        try:
            codes = generate_codes(
                campaign.code_config, count, self._rng, self._taken, used=self._issued[campaign_id]
            )
        except CodeSpaceExhausted as error:
            raise PromotionError("quantity_exceeded", str(error)) from None
        self._issued[campaign_id] += count
        return [self._new_voucher(campaign, code, now) for code in codes]

    def import_codes(
        self, campaign_id: str, codes: Iterable[str], now: datetime | None = None
    ) -> list[Voucher]:
        """Add given codes to a campaign; all or none (a taken or repeated code refuses all)."""
        campaign = self._campaign(campaign_id)
        wanted = list(codes)
        for code in wanted:
            if not isinstance(code, str) or not code.strip():
                raise ValueError(f"voucher.code must be a non-empty string, got {code!r}")
        repeated = [c for c, n in Counter(wanted).items() if n > 1]
        clash = repeated or [c for c in wanted if c in self._taken]
        if clash:
            raise PromotionError(
                "duplicate_resource_key", f"voucher code(s) already exist: {clash[:5]}", 409
            )
        self._taken.update(wanted)
        return [self._new_voucher(campaign, code, now) for code in wanted]

    def add_standalone(
        self, campaign: Campaign, code: str | None = None, now: datetime | None = None
    ) -> Voucher:
        """A standalone code with its own definition (held in a hidden one-code campaign)."""
        if not campaign.standalone:
            raise ValueError("campaign.standalone must be true for a standalone code")
        if code is not None:
            if not isinstance(code, str) or not code.strip():
                raise ValueError(f"voucher.code must be a non-empty string, got {code!r}")
            if code in self._taken:
                raise PromotionError("duplicate_resource_key", f"voucher {code} exists", 409)
        self.add_campaign(campaign)
        if code is None:
            return self.generate(campaign.id, 1, now)[0]
        return self.import_codes(campaign.id, [code], now)[0]

    def _new_voucher(self, campaign: Campaign, code: str, now: datetime | None) -> Voucher:
        cents = campaign.amount_cents if isinstance(campaign, GiftCardCampaign) else 0
        voucher = Voucher(
            code=code,
            campaign_id=campaign.id,
            initial_cents=cents,
            balance_cents=cents,
            created_at=now,
        )
        self.vouchers[code] = voucher
        self._unpublished.setdefault(campaign.id, deque()).append(code)
        return voucher

    def add_distribution(self, distribution: Distribution) -> Distribution:
        if distribution.campaign_id not in self.campaigns:
            raise PromotionError(
                "not_found",
                f"distribution {distribution.name!r}: no campaign {distribution.campaign_id!r}",
                404,
            )
        self.distributions.append(distribution)
        return distribution

    def add_validation_rule(self, rule: ValidationRule) -> ValidationRule:
        if rule.id in self.validation_rules:
            raise PromotionError("duplicate_resource_key", f"validation rule {rule.id} exists", 409)
        self.validation_rules[rule.id] = rule
        return rule

    def assign_rule(self, rule_id: str, campaign_id: str) -> Campaign:
        """Attach a validation rule to an existing campaign."""
        self._check_rules_exist([rule_id])
        campaign = self._campaign(campaign_id)
        if rule_id not in campaign.validation_rule_ids:
            campaign = msgspec.structs.replace(
                campaign, validation_rule_ids=(*campaign.validation_rule_ids, rule_id)
            )
            self.campaigns[campaign_id] = campaign
        return campaign

    def add_segment(self, segment: Segment) -> Segment:
        if segment.id in self.segments:
            raise PromotionError("duplicate_resource_key", f"segment {segment.id} exists", 409)
        self.segments[segment.id] = segment
        return segment

    def upsert_customer(self, source_id: str, traits: dict[str, Any]) -> None:
        current = self.customers.setdefault(source_id, {})
        for key, value in traits.items():
            if key == "metadata" and isinstance(value, dict):
                current.setdefault("metadata", {}).update(value)
            else:
                current[key] = value
        if source_id not in self.customer_ids:
            self.customer_ids[source_id] = self.new_id("cust")

    def track_event(
        self, customer_id: str, name: str, now: datetime, metadata: dict[str, Any] | None = None
    ) -> CustomEvent:
        """Record a custom event (``POST /v1/events``); the customer is upserted."""
        if not isinstance(name, str) or not name:
            raise ValueError("event must be a non-empty string")
        self.upsert_customer(customer_id, {})
        event = CustomEvent(name=name, customer_id=customer_id, date=now, metadata=metadata or {})
        self.events.append(event)
        self.note_event(customer_id, name)
        return event

    def note_event(self, customer_id: str, name: str) -> None:
        """Count an event the customer did (for ``customer.event.count`` rules)."""
        counts = self.event_counts.setdefault(customer_id, {})
        counts[name] = counts.get(name, 0) + 1

    # -- publication ---------------------------------------------------------------------------
    def publish(
        self,
        campaign_id: str,
        customer_id: str,
        now: datetime,
        channel: str = "API",
        *,
        join_once: bool = False,
    ) -> tuple[Voucher, PublicationSucceeded | None]:
        """Assign a code to a customer: the campaign's oldest unpublished code, or a new one.
        With the campaign's ``join_once`` (or ``join_once=True`` for this call) a second call
        returns the same code and no new event."""
        campaign = self._campaign(campaign_id)
        if not campaign.active:
            raise PromotionError("campaign_disabled", f"campaign {campaign.name!r} is disabled")
        self._check_dates(campaign, now)
        once = campaign.join_once or join_once
        if once and (campaign_id, customer_id) in self._published:
            return self.vouchers[self._published[(campaign_id, customer_id)]], None
        pool = self._unpublished.get(campaign_id)
        if not pool:
            self.generate(campaign_id, 1, now)
            pool = self._unpublished[campaign_id]
        voucher = self.vouchers[pool.popleft()]
        voucher.holder = customer_id
        voucher.published_at = now
        self._published[(campaign_id, customer_id)] = voucher.code
        self.upsert_customer(customer_id, {})
        publication = Publication(
            id=self.new_id("pub"),
            created_at=now,
            customer_id=customer_id,
            code=voucher.code,
            campaign_id=campaign_id,
            channel=channel,
        )
        self.publications[publication.id] = publication
        event = PublicationSucceeded(
            id=publication.id,
            created_at=now,
            customer_id=customer_id,
            code=voucher.code,
            campaign=campaign.name,
            voucher_type=campaign.voucher_type,
            balance_cents=voucher.balance_cents if isinstance(campaign, GiftCardCampaign) else None,
            channel=channel,
        )
        return voucher, event

    def on_audience_entered(
        self, customer_id: str, audience_key: str, now: datetime
    ) -> list[PublicationSucceeded]:
        """Remember the membership (for ``customer.segment`` rules) and run every distribution
        triggered by this audience (at most one code per campaign with join once)."""
        self.audiences.setdefault(customer_id, set()).add(audience_key)
        return self._distribute(
            customer_id, now, [d for d in self.distributions if d.audience_key == audience_key]
        )

    def on_tracked_event(
        self, customer_id: str, event_name: str, now: datetime
    ) -> list[PublicationSucceeded]:
        """Run every distribution triggered by this customer event."""
        return self._distribute(
            customer_id, now, [d for d in self.distributions if d.event == event_name]
        )

    def _distribute(
        self, customer_id: str, now: datetime, distributions: list[Distribution]
    ) -> list[PublicationSucceeded]:
        events = []
        for distribution in distributions:
            _, event = self.publish(
                distribution.campaign_id, customer_id, now, distribution.channel
            )
            if event is not None:
                events.append(event)
        return events

    # -- validation and redemption -----------------------------------------------------------
    def quote(
        self,
        code: str,
        customer_id: str | None,
        cart: Cart,
        now: datetime,
        *,
        credits_cents: int | None = None,
        metadata: dict[str, Any] | None = None,
        amount_cents: int | None = None,
    ) -> Quote:
        """What ``code`` pays on ``cart`` now, or the PromotionError saying why not.

        Gift cards pay ``credits_cents`` if given (at most the balance and the order), else
        as much of the order as the balance covers; discounts pay their discount, unless
        ``amount_cents`` says what another rule engine decided (the Talon.One face's
        ``setDiscount`` effects): the code, its limits and its campaign's budget are still
        checked here, so both faces draw on the same counters.
        """
        if cart.amount_cents <= 0:
            raise PromotionError(
                "invalid_amount", f"order amount must be > 0 cents, got {cart.amount_cents}"
            )
        voucher = self.vouchers.get(code)
        if voucher is None:
            raise PromotionError("not_found", f"Cannot find voucher with id {code}", 404)
        campaign = self.campaigns[voucher.campaign_id]
        if not voucher.active or not campaign.active:
            raise PromotionError("voucher_disabled", f"voucher {code} is disabled")
        campaign.window.check(f"campaign {campaign.name!r}", now)
        if campaign.holder_only and voucher.holder is not None and voucher.holder != customer_id:
            raise PromotionError(
                "customer_rules_violated", f"voucher {code} belongs to another customer"
            )
        gift = isinstance(campaign, GiftCardCampaign)
        if gift:
            if voucher.balance_cents <= 0:
                raise PromotionError(
                    "gift_amount_exceeded", f"gift card {code} has no balance left"
                )
            if credits_cents is not None:
                if isinstance(credits_cents, bool) or not isinstance(credits_cents, int):
                    raise PromotionError("invalid_amount", "gift.credits must be integer cents")
                if credits_cents <= 0:
                    raise PromotionError(
                        "invalid_amount", f"gift.credits must be > 0, got {credits_cents}"
                    )
                if credits_cents > voucher.balance_cents:
                    raise PromotionError(
                        "gift_amount_exceeded",
                        f"gift card {code} has {voucher.balance_cents} cents, "
                        f"{credits_cents} requested",
                    )
                amount = min(credits_cents, cart.amount_cents)
            else:
                amount = min(voucher.balance_cents, cart.amount_cents)
        elif amount_cents is not None:
            if isinstance(amount_cents, bool) or not isinstance(amount_cents, int):
                raise PromotionError("invalid_amount", "a discount must be integer cents")
            if not 0 <= amount_cents <= cart.amount_cents:
                raise PromotionError(
                    "invalid_amount", f"a discount of {amount_cents} cents does not fit the order"
                )
            amount = amount_cents
        else:
            amount = campaign.discount.cents_off(cart)
        customer_redemptions = (
            self.usage[campaign.id].per_customer[customer_id] if customer_id is not None else 0
        )
        if campaign.validation_rule_ids:
            ctx = RuleContext(
                customer_id=customer_id,
                segments=self._segments_of(customer_id),
                customer_metadata=self._customer_metadata(customer_id),
                order=cart,
                redemption_metadata=metadata or {},
                customer_redemptions=customer_redemptions,
                customer_events=self.event_counts.get(customer_id or "", {}),
            )
            for rule_id in campaign.validation_rule_ids:
                violation = self.validation_rules[rule_id].violation(ctx)
                if violation is not None:
                    raise PromotionError(*violation)
        self.usage[campaign.id].check(
            campaign.quotas,
            what=f"campaign {campaign.name!r}",
            code_redeemed=voucher.redeemed_quantity,
            code_quantity=campaign.quotas.per_code,
            customer_id=customer_id,
            cents=amount,
        )
        return Quote(voucher=voucher, campaign=campaign, amount_cents=amount, gift=gift)

    def redeem_code(
        self,
        code: str,
        customer_id: str | None,
        cart: Cart,
        now: datetime,
        *,
        credits_cents: int | None = None,
        metadata: dict[str, Any] | None = None,
        amount_cents: int | None = None,
    ) -> Redemption:
        """Quote, then take: balance, code quantity, campaign usage; recorded as a Redemption."""
        quote = self.quote(
            code,
            customer_id,
            cart,
            now,
            credits_cents=credits_cents,
            metadata=metadata,
            amount_cents=amount_cents,
        )
        voucher, campaign = quote.voucher, quote.campaign
        if quote.gift:
            voucher.balance_cents -= quote.amount_cents
        voucher.redeemed_quantity += 1
        self.usage[campaign.id].take(customer_id, quote.amount_cents)
        if customer_id is not None:
            self.upsert_customer(customer_id, {})
        redemption = Redemption(
            id=self.new_id("r"),
            date=now,
            code=voucher.code,
            campaign_id=campaign.id,
            customer_id=customer_id,
            order=cart,
            amount_cents=quote.amount_cents,
            gift=quote.gift,
            balance_after_cents=voucher.balance_cents if quote.gift else None,
            metadata=dict(metadata or {}),
        )
        voucher.redemptions.append(redemption.id)
        self.redemptions[redemption.id] = redemption
        return redemption

    def redeem_many(
        self,
        codes: list[tuple[str, int | None]],
        customer_id: str | None,
        cart: Cart,
        now: datetime,
        *,
        metadata: dict[str, Any] | None = None,
    ) -> list[Redemption]:
        """Redeem several codes on one order (Voucherify stacking), all or nothing.

        Each ``(code, gift credits)`` applies to what the previous ones left of the order. If
        one is refused, the ones already applied are undone without a trace (no rollback
        record: they never happened) and the refusal is raised.
        """
        if len({code for code, _ in codes}) != len(codes):
            raise PromotionError("invalid_payload", "the same code appears twice in one request")
        known_customer = customer_id is None or customer_id in self.customers
        done: list[Redemption] = []
        remaining = cart
        try:
            for code, credits in codes:
                redemption = self.redeem_code(
                    code, customer_id, remaining, now, credits_cents=credits, metadata=metadata
                )
                done.append(redemption)
                remaining = msgspec.structs.replace(
                    remaining, amount_cents=remaining.amount_cents - redemption.amount_cents
                )
        except PromotionError as error:
            error.subject = codes[len(done)][0]
            for redemption in reversed(done):
                self._give_back(redemption)
                self.vouchers[redemption.code].redemptions.pop()
                del self.redemptions[redemption.id]
            if not known_customer and customer_id is not None:
                self.customers.pop(customer_id, None)
                self.customer_ids.pop(customer_id, None)
            raise
        return done

    def _give_back(self, redemption: Redemption) -> Voucher:
        voucher = self.vouchers[redemption.code]
        if redemption.gift:
            voucher.balance_cents += redemption.amount_cents
        voucher.redeemed_quantity -= 1
        self.usage[redemption.campaign_id].give_back(
            redemption.customer_id, redemption.amount_cents
        )
        return voucher

    def rollback(self, redemption_id: str, now: datetime, reason: str | None = None) -> Rollback:
        """Give back exactly what a redemption took; a second rollback is refused."""
        redemption = self.redemptions.get(redemption_id)
        if redemption is None:
            raise PromotionError(
                "not_found", f"Cannot find redemption with id {redemption_id}", 404
            )
        if redemption.status == ROLLED_BACK:
            raise PromotionError(
                "already_rolled_back", f"redemption {redemption_id} was already rolled back"
            )
        if redemption.points_transaction is not None:
            self.loyalty.reverse(redemption.points_transaction, now)
            voucher = None
        else:
            voucher = self._give_back(redemption)
        rollback = Rollback(
            id=self.new_id("rr"),
            date=now,
            redemption_id=redemption_id,
            code=redemption.code,
            campaign_id=redemption.campaign_id,
            customer_id=redemption.customer_id,
            amount_cents=redemption.amount_cents,
            reason=reason,
            balance_after_cents=(
                voucher.balance_cents if voucher is not None and redemption.gift else None
            ),
        )
        redemption.status = ROLLED_BACK
        redemption.rollback_id = rollback.id
        self.rollbacks[rollback.id] = rollback
        return rollback

    def list_redemptions(
        self,
        *,
        code: str | None = None,
        campaign_id: str | None = None,
        customer_id: str | None = None,
    ) -> list[Redemption]:
        """Redemptions in the order they happened, optionally filtered."""
        return [
            r
            for r in self.redemptions.values()
            if (code is None or r.code == code)
            and (campaign_id is None or r.campaign_id == campaign_id)
            and (customer_id is None or r.customer_id == customer_id)
        ]

    # -- the actor's messages (review-giftcard) ---------------------------------------------------
    def validate(self, request: ValidateCode, now: datetime) -> Verdict:
        try:
            quote = self.quote(request.code, request.customer_id, _cart(request), now)
        except PromotionError as error:
            return Verdict(valid=False, code=request.code, reason=error.key, message=error.message)
        return Verdict(
            valid=True,
            code=request.code,
            amount_cents=quote.amount_cents,
            balance_cents=quote.voucher.balance_cents if quote.gift else None,
        )

    def redeem(self, request: RedeemCode, now: datetime) -> tuple[Verdict, EngineEvent | None]:
        try:
            redemption = self.redeem_code(request.code, request.customer_id, _cart(request), now)
        except PromotionError as error:
            verdict = Verdict(
                valid=False, code=request.code, reason=error.key, message=error.message
            )
            return verdict, self.failure_event(
                request.code,
                request.customer_id,
                request.order.id,
                request.order.amount_cents,
                error,
                now,
            )
        return (
            Verdict(
                valid=True,
                code=redemption.code,
                amount_cents=redemption.amount_cents,
                balance_cents=redemption.balance_after_cents,
                redemption_id=redemption.id,
            ),
            self.success_event(redemption),
        )

    def success_event(self, redemption: Redemption) -> RedemptionSucceeded:
        """The ``redemption.succeeded`` event the engine reports to the CDP."""
        return RedemptionSucceeded(
            id=self.new_id("evt"),
            created_at=redemption.date,
            customer_id=redemption.customer_id or "",
            code=redemption.code,
            campaign=self.campaign_name(redemption.campaign_id),
            redemption_id=redemption.id,
            order_id=redemption.order.id or "",
            amount_cents=redemption.amount_cents,
            balance_cents=redemption.balance_after_cents,
        )

    def rollback_event(self, rollback: Rollback) -> RedemptionRollbackSucceeded:
        """The ``redemption.rollback.succeeded`` event the engine reports to the CDP."""
        return RedemptionRollbackSucceeded(
            id=self.new_id("evt"),
            created_at=rollback.date,
            customer_id=rollback.customer_id or "",
            code=rollback.code,
            campaign=self.campaign_name(rollback.campaign_id),
            rollback_id=rollback.id,
            redemption_id=rollback.redemption_id,
            amount_cents=rollback.amount_cents,
            balance_cents=rollback.balance_after_cents,
            reason=rollback.reason,
        )

    def failure_event(
        self,
        code: str,
        customer_id: str | None,
        order_id: str | None,
        amount_cents: int,
        error: PromotionError,
        now: datetime,
    ) -> RedemptionFailed | None:
        """``redemption.failed`` for a known code; unknown codes are not the engine's to report."""
        voucher = self.vouchers.get(code)
        if voucher is None or customer_id is None:
            return None
        return RedemptionFailed(
            id=self.new_id("evt"),
            created_at=now,
            customer_id=customer_id,
            code=code,
            campaign=self.campaigns[voucher.campaign_id].name,
            order_id=order_id or "",
            amount_cents=amount_cents,
            reason=error.key,
            message=error.message,
        )

    # -- loyalty ----------------------------------------------------------------------------------
    def add_loyalty_program(self, program: LoyaltyProgram) -> LoyaltyProgram:
        """Register a program; its rewards must name existing campaigns (checked first)."""
        for reward in program.rewards:
            campaign = self._campaign(reward.campaign_id)
            if reward.credits_cents is not None and not isinstance(campaign, GiftCardCampaign):
                raise ValueError(f"reward {reward.id!r}: credits need a gift card campaign")
            if reward.credits_cents is None and campaign.join_once:
                # a join-once campaign would hand the same code back for the points again
                raise ValueError(f"reward {reward.id!r}: its campaign must not be join_once")
        return self.loyalty.add_program(program)

    def earn_points(
        self, program_id: str, customer_id: str, points: int, source: str, now: datetime
    ) -> tuple[PointsTransaction, LoyaltyPointsEarned]:
        """Add points to the customer's card (joining the program if needed), with the event."""
        self.loyalty.program(program_id)  # not_found before the customer is upserted
        self.upsert_customer(customer_id, {})
        tx = self.loyalty.earn(program_id, customer_id, points, source, now)
        return tx, self.points_event(tx)

    def points_event(self, tx: PointsTransaction) -> LoyaltyPointsEarned:
        """The ``customer.rewarded.loyalty_points`` event of an earn transaction."""
        card = self.loyalty.cards[tx.card]
        program = self.loyalty.programs[tx.program_id]
        tier = program.tier_for(card.earned)
        return LoyaltyPointsEarned(
            id=self.new_id("evt"),
            created_at=tx.date,
            customer_id=card.holder,
            code=card.code,
            campaign=program.name,
            points=tx.points,
            balance=card.balance,
            source=tx.source,
            tier=tier.name if tier is not None else None,
        )

    def on_customer_event(
        self, customer_id: str, event: str, now: datetime, amount_cents: int | None = None
    ) -> list[LoyaltyPointsEarned]:
        """Run every earning rule listening to ``event`` (an order, a redemption, a custom
        event) for this customer; ``amount_cents`` is the order amount when there is one."""
        out = []
        for program, rule in self.loyalty.matching_rules(event):
            points = rule.points_for(amount_cents)
            if points > 0:
                out.append(self.earn_points(program.id, customer_id, points, rule.id, now)[1])
        return out

    def buy_reward(
        self, program_id: str, customer_id: str, reward_id: str, now: datetime
    ) -> tuple[PointsTransaction, Voucher, list[EngineEvent]]:
        """Spend points on a reward: a new code from its discount campaign, or credits added to
        the member's gift card (published first if they hold none). Checks come first: a
        refused purchase spends nothing."""
        program = self.loyalty.program(program_id)
        reward = program.reward(reward_id)
        card = self.loyalty.card_of(program_id, customer_id)
        if card is None:
            raise PromotionError("not_found", f"customer {customer_id} has no card", 404)
        if card.balance < reward.points:
            raise PromotionError(
                "loyalty_card_points_exceeded",
                f"reward {reward.name!r} costs {reward.points} points, the card has {card.balance}",
            )
        campaign = self._campaign(reward.campaign_id)
        if not campaign.active:
            raise PromotionError("campaign_disabled", f"campaign {campaign.name!r} is disabled")
        self._check_dates(campaign, now)
        events: list[EngineEvent] = []
        if reward.credits_cents is not None:
            held = next(
                (
                    self.vouchers[code]
                    for (cid, holder), code in self._published.items()
                    if cid == campaign.id and holder == customer_id
                ),
                None,
            )
            if held is None:
                held, event = self.publish(campaign.id, customer_id, now, "loyalty_reward")
                held.initial_cents = held.balance_cents = 0
                if event is not None:
                    events.append(msgspec.structs.replace(event, balance_cents=0))
            held.initial_cents += reward.credits_cents
            held.balance_cents += reward.credits_cents
            voucher = held
        else:
            voucher, event = self.publish(campaign.id, customer_id, now, "loyalty_reward")
            if event is not None:
                events.append(event)
        tx = self.loyalty.spend(card.code, reward.points, reward.id, now)
        return tx, voucher, events

    def redeem_points(
        self,
        card_code: str,
        customer_id: str,
        cart: Cart,
        points: int,
        now: datetime,
    ) -> Redemption:
        """Pay ``points × points_value_cents`` of an order with a loyalty card; a rollback of
        the redemption gives the points back."""
        card = self.loyalty.card(card_code)
        program = self.loyalty.programs[card.program_id]
        if card.holder != customer_id:
            raise PromotionError(
                "customer_rules_violated", f"loyalty card {card_code} belongs to another customer"
            )
        if program.points_value_cents is None:
            raise PromotionError(
                "redemption_rules_violated", f"{program.name!r} does not allow paying with points"
            )
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
            raise PromotionError("invalid_amount", f"points must be an integer > 0, got {points}")
        amount = points * program.points_value_cents
        if amount > cart.amount_cents:
            raise PromotionError(
                "invalid_amount",
                f"{points} points pay {amount} cents, more than the order's {cart.amount_cents}",
            )
        redemption_id = self.new_id("r")
        tx = self.loyalty.spend(card_code, points, redemption_id, now)
        redemption = Redemption(
            id=redemption_id,
            date=now,
            code=card_code,
            campaign_id=program.id,
            customer_id=customer_id,
            order=cart,
            amount_cents=amount,
            gift=False,
            balance_after_cents=None,
            points=points,
            points_transaction=tx.id,
        )
        self.redemptions[redemption.id] = redemption
        return redemption

    # -- referrals --------------------------------------------------------------------------------
    def add_referral_program(self, program: ReferralProgram) -> ReferralProgram:
        if program.loyalty_program_id is not None:
            self.loyalty.program(program.loyalty_program_id)
        campaign_id = program.advocate_campaign_id
        if campaign_id is not None and self._campaign(campaign_id).join_once:
            # a second referral would hand the advocate the same code again
            raise ValueError("referral_program.advocate_campaign_id must not be join_once")
        return self.referrals.add_program(program)

    def referral_code(self, program_id: str, advocate: str, now: datetime | None) -> str:
        """The advocate's referral code (one per program)."""
        code = self.referrals.code_for(program_id, advocate, now)
        self.upsert_customer(advocate, {})
        return code.code

    def redeem_referral(
        self, code: str, friend: str, now: datetime
    ) -> tuple[Referral, list[EngineEvent]]:
        """The friend redeems the advocate's code: checks, then the advocate's reward."""
        referral_code = self.referrals.check(code, friend, now)
        program = self.referrals.programs[referral_code.program_id]
        if program.advocate_campaign_id is not None:
            campaign = self._campaign(program.advocate_campaign_id)
            if not campaign.active:
                raise PromotionError("campaign_disabled", f"campaign {campaign.name!r} is off")
            self._check_dates(campaign, now)
        referral = Referral(
            id=self.new_id("ref"),
            date=now,
            code=code,
            program_id=program.id,
            advocate=referral_code.advocate,
            friend=friend,
        )
        events: list[EngineEvent] = []
        self.upsert_customer(friend, {})
        if program.advocate_points and program.loyalty_program_id is not None:
            tx, earned = self.earn_points(
                program.loyalty_program_id,
                referral_code.advocate,
                program.advocate_points,
                referral.id,
                now,
            )
            referral.points_transaction = tx.id
            events.append(earned)
        if program.advocate_campaign_id is not None:
            voucher, published = self.publish(
                program.advocate_campaign_id, referral_code.advocate, now, "referral"
            )
            referral.reward_code = voucher.code
            if published is not None:
                events.append(published)
        self.referrals.record(referral)
        return referral, events

    def rollback_referral(self, referral_id: str, now: datetime) -> Referral:
        """Take back exactly what the advocate got: the points, and the reward code (disabled)."""
        referral = self.referrals.undo(referral_id)
        if referral.points_transaction is not None:
            self.loyalty.reverse(referral.points_transaction, now)
        if referral.reward_code is not None:
            self.vouchers[referral.reward_code].active = False
        return referral

    # -- helpers --------------------------------------------------------------------------------
    def campaign_name(self, campaign_id: str) -> str:
        """A campaign's or a loyalty program's name (a points redemption names its program)."""
        if campaign_id in self.campaigns:
            return self.campaigns[campaign_id].name
        return self.loyalty.program(campaign_id).name

    def _new_code(self, config: CodeConfig) -> str:
        """One new code, unique engine-wide (loyalty cards and referral codes)."""
        try:
            return generate_codes(config, 1, self._rng, self._taken)[0]
        except CodeSpaceExhausted as error:
            raise PromotionError("quantity_exceeded", str(error)) from None

    def _campaign(self, campaign_id: str) -> Campaign:
        try:
            return self.campaigns[campaign_id]
        except KeyError:
            raise PromotionError(
                "not_found", f"Cannot find campaign with id {campaign_id}", 404
            ) from None

    def _check_rules_exist(self, rule_ids: Iterable[str]) -> None:
        for rule_id in rule_ids:
            if rule_id not in self.validation_rules:
                raise PromotionError(
                    "not_found", f"Cannot find validation_rule with id {rule_id}", 404
                )

    @staticmethod
    def _check_dates(campaign: Campaign, now: datetime) -> None:
        if campaign.start_date and now < campaign.start_date:
            raise PromotionError(
                "voucher_not_active", f"campaign {campaign.name!r} has not started"
            )
        if campaign.expiration_date and now >= campaign.expiration_date:
            raise PromotionError("voucher_expired", f"campaign {campaign.name!r} has expired")

    def _segments_of(self, customer_id: str | None) -> frozenset[str]:
        if customer_id is None:
            return frozenset()
        static = {s.id for s in self.segments.values() if customer_id in s.customers}
        return frozenset(static | self.audiences.get(customer_id, set()))

    def _customer_metadata(self, customer_id: str | None) -> dict[str, Any]:
        """Voucherify's customer metadata, with the CDP's flat traits underneath it."""
        traits = self.customers.get(customer_id or "", {})
        merged = {k: v for k, v in traits.items() if k != "metadata"}
        nested = traits.get("metadata")
        if isinstance(nested, dict):
            merged.update(nested)
        return merged


def _cart(request: ValidateCode | RedeemCode) -> Cart:
    return Cart(id=request.order.id, amount_cents=request.order.amount_cents)
