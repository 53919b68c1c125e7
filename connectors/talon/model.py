"""The Talon.One application: customer sessions, profiles and a rule engine, over the shared
promotion engine model.

**One engine, two faces.** Talon.One's concepts that Voucherify has no word for (rules of
conditions and effects, customer sessions open → closed → cancelled, campaign budgets over
``setDiscount`` effects, integer ids) live here; everything both products mean the same way is
the engine model's state, shared with the Voucherify face and the in-world actor:

- coupons are engine vouchers (a Talon campaign names its engine coupon campaign), so a code
  redeemed through one face is used up for the other, and code, campaign and per-customer
  limits are the engine's counters; a closed session records an engine redemption whose amount
  is the Talon discount;
- customer profiles are engine customers (Talon ``attributes`` are the engine's metadata;
  CDP audiences count for ``profile.audiences``);
- loyalty points go to the engine's loyalty ledger (``addLoyaltyPoints``), referral codes are
  the engine's referral codes (``redeemReferral`` rewards the advocate as the engine defines).

Like the engine model, this is plain synchronous code: :meth:`TalonModel.update_session` plans
every effect first (all checks), then writes; if a write is refused anyway, what was already
written is undone before the refusal propagates. The HTTP face calls it under one FIFO lock.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promoloop.actors.events.promotions import EngineEvent
from promoloop.actors.promotions import (
    Cart,
    DiscountCampaign,
    PromotionEngineModel,
    PromotionError,
)
from promoloop.actors.promotions.referrals import ALREADY_REFERRED, SELF_REFERRAL
from promoloop.connectors.talon.rules import (
    AddLoyaltyPoints,
    Check,
    CouponValid,
    CreateCoupon,
    EventIs,
    ReferralValid,
    SetDiscount,
    TalonCampaign,
    TalonRule,
    compare,
)

OPEN = "open"
CLOSED = "closed"
CANCELLED = "cancelled"
PARTIALLY_RETURNED = "partially_returned"
STATES = (OPEN, CLOSED, CANCELLED, PARTIALLY_RETURNED)

COUPON_REASONS = {
    "not_found": "CouponNotFound",
    "voucher_disabled": "CouponPartOfNotRunningCampaign",
    "campaign_disabled": "CouponPartOfNotRunningCampaign",
    "voucher_expired": "CouponExpired",
    "voucher_not_active": "CouponStartDateInFuture",
    "customer_rules_violated": "CouponRecipientDoesNotMatch",
    "order_rules_violated": "CouponRejectedByCondition",
    "invalid_amount": "CouponRejectedByCondition",
}
"""Engine error key → Talon.One ``rejectCoupon`` reason (limits are told apart in code)."""

REFERRAL_REASONS = {
    "not_found": "ReferralNotFound",
    SELF_REFERRAL: "ReferralRecipientIdSameAsAdvocate",
    ALREADY_REFERRED: "ReferralCustomerAlreadyReferred",
    "quantity_exceeded": "ReferralLimitReached",
    "voucher_expired": "ReferralExpired",
    "voucher_not_active": "ReferralStartDateInFuture",
    "voucher_disabled": "ReferralPartOfNotRunningCampaign",
    "customer_rules_violated": "ReferralRecipientDoesNotMatch",
}


class TalonRefusal(Exception):
    """A request the Talon face refuses (bad state transition, unknown campaign...)."""

    def __init__(self, status: int, message: str, pointer: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.pointer = pointer


@dataclass(slots=True)
class CartLine:
    sku: str
    quantity: int
    price_cents: int
    name: str | None = None
    category: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def line_cents(self) -> int:
        return self.price_cents * self.quantity


@dataclass(slots=True)
class SessionUpdate:
    """The fields of ``customerSession`` a PUT carries; None keeps the stored value."""

    profile_id: str | None = None
    state: str | None = None
    coupon_codes: list[str] | None = None
    referral_code: str | None = None
    cart: list[CartLine] | None = None
    additional_costs: dict[str, int] | None = None
    attributes: dict[str, Any] | None = None
    identifiers: list[str] | None = None
    store_integration_id: str | None = None
    evaluable_campaign_ids: list[int] | None = None


@dataclass(slots=True)
class Confirmation:
    """What closing a session wrote, so that cancelling it can undo exactly that."""

    redemptions: list[tuple[int, str, str]] = field(default_factory=list)
    """(Talon campaign id, coupon code, engine redemption id)."""
    discounts: list[tuple[int, str, int]] = field(default_factory=list)
    """(Talon campaign id, effect name, cents) taken from the campaign budgets."""
    points: list[tuple[int, str]] = field(default_factory=list)
    """(Talon campaign id, loyalty transaction id)."""
    coupons: list[str] = field(default_factory=list)
    referral: tuple[int, str, str] | None = None
    """(Talon campaign id, referral code, engine referral id)."""
    sales_cents: int = 0
    counted_session: bool = False


@dataclass(slots=True)
class Session:
    integration_id: str
    number: int
    created: datetime
    updated: datetime
    profile_id: str | None = None
    state: str = OPEN
    coupon_codes: list[str] = field(default_factory=list)
    referral_code: str | None = None
    cart: list[CartLine] = field(default_factory=list)
    additional_costs: dict[str, int] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    identifiers: list[str] = field(default_factory=list)
    store_integration_id: str | None = None
    evaluable_campaign_ids: list[int] | None = None
    update_count: int = 0
    first_session: bool = True
    confirmation: Confirmation | None = None
    effects: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cart_item_cents(self) -> int:
        return sum(line.line_cents for line in self.cart)

    @property
    def additional_cost_cents(self) -> int:
        return sum(self.additional_costs.values())

    @property
    def total_cents(self) -> int:
        return self.cart_item_cents + self.additional_cost_cents


@dataclass(slots=True)
class Profile:
    integration_id: str
    number: int
    created: datetime
    last_activity: datetime
    closed_sessions: int = 0
    total_sales_cents: int = 0


@dataclass(slots=True)
class Outcome:
    """What one evaluation produced: effects (Talon JSON), failures, created coupons/referrals,
    and the engine events to report to the CDP."""

    effects: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    created_coupons: list[str] = field(default_factory=list)
    events: list[EngineEvent] = field(default_factory=list)


@dataclass(slots=True)
class _Planned:
    """One campaign's evaluation, before any write."""

    campaign: TalonCampaign
    effects: list[dict[str, Any]] = field(default_factory=list)
    discounts: list[tuple[str, int, bool]] = field(default_factory=list)
    """(name, cents, triggered by the coupon)."""
    points: list[tuple[str, int]] = field(default_factory=list)
    """(engine loyalty program id, points)."""
    coupons_to_create: list[str] = field(default_factory=list)
    coupon: str | None = None
    referral: str | None = None


class TalonModel:
    def __init__(self, engine: PromotionEngineModel, application_id: int = 1) -> None:
        self.engine = engine
        self.application_id = application_id
        self.campaigns: dict[int, TalonCampaign] = {}
        self.sessions: dict[str, Session] = {}
        self.profiles: dict[str, Profile] = {}
        self.spent: dict[int, int] = {}
        """Cents of ``setDiscount`` confirmed per campaign (closed, not cancelled, sessions)."""
        self.events: list[dict[str, Any]] = []
        self._numbers: dict[tuple[str, str], int] = {}
        self._counters: dict[str, int] = {}

    # -- numbering: Talon.One's ids are integers ---------------------------------------------------
    def number(self, kind: str, key: str) -> int:
        """A stable integer id for ``key`` of ``kind`` (coupon, program, referral, ...)."""
        got = self._numbers.get((kind, key))
        if got is None:
            got = self._counters[kind] = self._counters.get(kind, 0) + 1
            self._numbers[(kind, key)] = got
        return got

    def _next(self, kind: str) -> int:
        self._counters[kind] = self._counters.get(kind, 0) + 1
        return self._counters[kind]

    # -- configuration -------------------------------------------------------------------------
    def add_campaign(self, campaign: TalonCampaign) -> TalonCampaign:
        """Register a campaign; everything it names must exist (checked before storing)."""
        if campaign.id in self.campaigns:
            raise ValueError(f"campaign {campaign.id} exists")
        if campaign.coupon_campaign_id is not None:
            coupons = self.engine.campaigns.get(campaign.coupon_campaign_id)
            if not isinstance(coupons, DiscountCampaign):
                raise ValueError("campaign.coupon_campaign_id must name a discount campaign")
            if any(
                c.coupon_campaign_id == campaign.coupon_campaign_id for c in self.campaigns.values()
            ):
                raise ValueError("another campaign already uses these coupons")
        if campaign.referral_program_id is not None:
            self.engine.referrals.program(campaign.referral_program_id)
        for rule in campaign.rules:
            for effect in rule.effects:
                if isinstance(effect, AddLoyaltyPoints):
                    self.engine.loyalty.program(effect.program_id)
                elif isinstance(effect, CreateCoupon):
                    created = self.engine.campaigns.get(effect.campaign_id)
                    if created is None:
                        raise ValueError(f"createCoupon: no campaign {effect.campaign_id!r}")
                    if created.join_once:
                        raise ValueError("createCoupon: the campaign must not be join_once")
            for condition in rule.conditions:
                if isinstance(condition, Check) and condition.program_id is not None:
                    self.engine.loyalty.program(condition.program_id)
        self.campaigns[campaign.id] = campaign
        self.spent.setdefault(campaign.id, 0)
        return campaign

    # -- profiles ------------------------------------------------------------------------------
    def profile(self, integration_id: str, now: datetime) -> Profile:
        """The profile, created empty on first sight (as Talon.One does for sessions)."""
        profile = self.profiles.get(integration_id)
        if profile is None:
            profile = Profile(
                integration_id=integration_id,
                number=self.number("profile", integration_id),
                created=now,
                last_activity=now,
            )
            self.profiles[integration_id] = profile
            self.engine.upsert_customer(integration_id, {})
        return profile

    def update_profile(
        self,
        integration_id: str,
        attributes: dict[str, Any] | None,
        now: datetime,
        *,
        audiences_add: Iterable[str] = (),
        audiences_remove: Iterable[str] = (),
    ) -> Profile:
        profile = self.profile(integration_id, now)
        if attributes:
            self.engine.upsert_customer(integration_id, {"metadata": dict(attributes)})
        joined = self.engine.audiences.setdefault(integration_id, set())
        joined.update(audiences_add)
        joined.difference_update(audiences_remove)
        profile.last_activity = now
        return profile

    def attributes_of(self, integration_id: str | None) -> dict[str, Any]:
        if integration_id is None:
            return {}
        traits = self.engine.customers.get(integration_id, {})
        nested = traits.get("metadata")
        return dict(nested) if isinstance(nested, dict) else {}

    # -- sessions ------------------------------------------------------------------------------
    def update_session(
        self, integration_id: str, update: SessionUpdate, now: datetime, *, dry: bool = False
    ) -> tuple[Session, Outcome]:
        """Create or update a session and evaluate the rules. Closing confirms the effects
        (unless ``dry``); cancelling a closed session rolls them back."""
        current = self.sessions.get(integration_id)
        state = update.state or (current.state if current is not None else OPEN)
        if state not in STATES:
            raise TalonRefusal(
                400, f"state must be one of {list(STATES)}", "/customerSession/state"
            )
        if state == PARTIALLY_RETURNED:
            raise TalonRefusal(
                400, "partially_returned is set by returning cart items", "/customerSession/state"
            )
        if current is None:
            if state == CANCELLED:
                raise TalonRefusal(400, "a new session cannot be cancelled")
        elif current.state == CANCELLED:
            raise TalonRefusal(400, f"customer session {integration_id} is cancelled")
        elif current.state == CLOSED and state != CANCELLED:
            raise TalonRefusal(
                400, f"customer session {integration_id} is closed; it can only be cancelled"
            )
        if update.evaluable_campaign_ids is not None:
            unknown = [c for c in update.evaluable_campaign_ids if c not in self.campaigns]
            if unknown:
                raise TalonRefusal(
                    400, f"unknown campaign ids {unknown}", "/customerSession/evaluableCampaignIds"
                )
        if current is not None and current.state == CLOSED and state == CANCELLED:
            if dry:
                return current, Outcome(effects=self._rollback_effects(current, preview=True))
            return current, self._cancel(current, now)
        session = self._merged(integration_id, current, update, state, now)
        if dry:
            return session, self._evaluate(session, now, commit=False)
        if session.profile_id and current is None:
            session.first_session = not any(
                s.profile_id == session.profile_id for s in self.sessions.values()
            )
        # evaluate (and confirm) before storing: a refused close leaves the old session as it was
        outcome = self._evaluate(session, now, commit=state == CLOSED)
        if session.profile_id:
            self.profile(session.profile_id, now).last_activity = now
        self.sessions[integration_id] = session
        session.effects = outcome.effects
        return session, outcome

    def _merged(
        self,
        integration_id: str,
        current: Session | None,
        update: SessionUpdate,
        state: str,
        now: datetime,
    ) -> Session:
        base = current or Session(
            integration_id=integration_id,
            number=self.number("session", integration_id),
            created=now,
            updated=now,
        )
        profile_id = base.profile_id if update.profile_id is None else (update.profile_id or None)
        if current is not None and current.profile_id and profile_id != current.profile_id:
            raise TalonRefusal(
                400, "a session's profileId cannot change once set", "/customerSession/profileId"
            )
        return Session(
            integration_id=integration_id,
            number=base.number,
            created=base.created,
            updated=now,
            profile_id=profile_id,
            state=state,
            coupon_codes=list(
                base.coupon_codes if update.coupon_codes is None else update.coupon_codes
            ),
            referral_code=(
                base.referral_code
                if update.referral_code is None
                else (update.referral_code or None)
            ),
            cart=list(base.cart if update.cart is None else update.cart),
            additional_costs=dict(
                base.additional_costs
                if update.additional_costs is None
                else update.additional_costs
            ),
            attributes=dict(base.attributes if update.attributes is None else update.attributes),
            identifiers=list(
                base.identifiers if update.identifiers is None else update.identifiers
            ),
            store_integration_id=update.store_integration_id or base.store_integration_id,
            evaluable_campaign_ids=(
                base.evaluable_campaign_ids
                if update.evaluable_campaign_ids is None
                else list(update.evaluable_campaign_ids)
            ),
            update_count=base.update_count + 1 if current is not None else 1,
            first_session=base.first_session,
        )

    # -- evaluation ----------------------------------------------------------------------------
    def _effect(
        self,
        campaign: TalonCampaign | None,
        rule_index: int,
        rule: TalonRule | None,
        effect_type: str,
        props: dict[str, Any],
        coupon: str | None = None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "campaignId": campaign.id if campaign else 0,
            "rulesetId": campaign.id if campaign else 0,
            "ruleIndex": rule_index,
            "ruleName": rule.title if rule else "",
            "effectType": effect_type,
            "props": props,
        }
        if coupon is not None:
            out["triggeredByCoupon"] = self.number("coupon", coupon)
        return out

    def _field(self, check: Check, session: Session, event: dict[str, Any] | None) -> Any:
        profile_id = session.profile_id
        match check.field:
            case "session.total":
                return session.total_cents
            case "session.cartItemTotal":
                return session.cart_item_cents
            case "session.itemCount":
                return sum(line.quantity for line in session.cart)
            case "session.attributes":
                return session.attributes.get(check.key or "")
            case "profile.attributes":
                return self.attributes_of(profile_id).get(check.key or "")
            case "profile.audiences":
                return sorted(self.engine.audiences.get(profile_id or "", set()))
            case "profile.closedSessions":
                profile = self.profiles.get(profile_id or "")
                return profile.closed_sessions if profile else 0
            case "loyalty.points" | "loyalty.tier":
                card = (
                    self.engine.loyalty.card_of(check.program_id or "", profile_id)
                    if profile_id
                    else None
                )
                if check.field == "loyalty.points":
                    return card.balance if card else 0
                program = self.engine.loyalty.programs[check.program_id or ""]
                tier = program.tier_for(card.earned) if card else None
                return tier.name if tier else None
            case "event.attributes":
                return (event or {}).get(check.key or "")
        raise AssertionError(f"unhandled field {check.field}")  # Check refuses the rest

    def _coupon_reason(self, code: str, error: PromotionError) -> str:
        if error.key == "quantity_exceeded":
            voucher = self.engine.vouchers.get(code)
            campaign = self.engine.campaigns.get(voucher.campaign_id) if voucher else None
            per_code = campaign.quotas.per_code if campaign else None
            if (
                voucher is not None
                and per_code is not None
                and voucher.redeemed_quantity >= per_code
            ):
                return "CouponLimitReached"
            return "CampaignLimitReached"
        if error.key == "redemption_rules_violated":
            if "budget" in error.message:
                return "CouponLimitReached"
            if "customer" in error.message:
                return "ProfileLimitReached"
            return "CouponRejectedByCondition"
        return COUPON_REASONS.get(error.key, "CouponRejectedByCondition")

    def _campaigns_for(self, session: Session, now: datetime) -> list[TalonCampaign]:
        wanted = session.evaluable_campaign_ids
        return [
            c
            for _, c in sorted(self.campaigns.items())
            if c.running(now) and (wanted is None or c.id in wanted)
        ]

    def _evaluate(
        self,
        session: Session,
        now: datetime,
        *,
        commit: bool,
        event: tuple[str, dict[str, Any]] | None = None,
    ) -> Outcome:
        """Plan every campaign's effects (no writes), then, when ``commit``, confirm them."""
        outcome = Outcome()
        campaigns = self._campaigns_for(session, now)
        order = Cart(amount_cents=session.cart_item_cents)
        # coupons: which campaign each belongs to, and whether the engine accepts it
        coupon_of: dict[int, str] = {}
        seen: set[str] = set()
        for code in session.coupon_codes:
            if code in seen:
                continue
            seen.add(code)
            voucher = self.engine.vouchers.get(code)
            owner = next(
                (
                    c
                    for c in self.campaigns.values()
                    if voucher is not None and c.coupon_campaign_id == voucher.campaign_id
                ),
                None,
            )
            if owner is None:
                outcome.effects.append(self._reject_coupon(None, code, "CouponNotFound"))
                continue
            if owner not in campaigns:
                reason = (
                    "CouponPartOfNotRunningCampaign"
                    if not owner.running(now)
                    else "CouponPartOfNotTriggeredCampaign"
                )
                outcome.effects.append(self._reject_coupon(owner, code, reason))
                continue
            if owner.id in coupon_of:
                outcome.effects.append(
                    self._reject_coupon(
                        owner,
                        code,
                        "CouponRejectedByCondition",
                        "the session already holds a coupon of this campaign",
                    )
                )
                continue
            try:
                self.engine.quote(code, session.profile_id, order, now, amount_cents=0)
            except PromotionError as error:
                outcome.effects.append(
                    self._reject_coupon(
                        owner, code, self._coupon_reason(code, error), error.message
                    )
                )
                continue
            coupon_of[owner.id] = code
        # the referral code: which campaign it belongs to, and whether the friend may use it
        referral_for: dict[int, str] = {}
        code = session.referral_code
        if code is not None:
            referral = self.engine.referrals.codes.get(code)
            owners = [
                c
                for c in campaigns
                if referral is not None and c.referral_program_id == referral.program_id
            ]
            if not owners:
                outcome.effects.append(
                    self._effect(
                        None,
                        0,
                        None,
                        "rejectReferral",
                        {"value": code, "rejectionReason": "ReferralNotFound"},
                    )
                )
            else:
                try:
                    self.engine.referrals.check(code, session.profile_id, now)
                except PromotionError as error:
                    reason = REFERRAL_REASONS.get(error.key, "ReferralRejectedByCondition")
                    outcome.effects.append(
                        self._effect(
                            owners[0],
                            0,
                            None,
                            "rejectReferral",
                            {"value": code, "rejectionReason": reason, "details": error.message},
                        )
                    )
                else:
                    for owner in owners:
                        referral_for[owner.id] = code
        plans = [
            self._plan(c, session, coupon_of.get(c.id), referral_for.get(c.id), event, outcome)
            for c in campaigns
        ]
        referral_taken = False
        for plan in plans:  # one referral per session: the first campaign that accepts it
            if plan.referral is not None:
                if referral_taken:
                    plan.referral = None
                else:
                    referral_taken = True
        for plan in plans:
            outcome.effects.extend(plan.effects)
        if commit:
            self._confirm(session, plans, now, outcome)
        return outcome

    def _reject_coupon(
        self, campaign: TalonCampaign | None, code: str, reason: str, details: str | None = None
    ) -> dict[str, Any]:
        props: dict[str, Any] = {"value": code, "rejectionReason": reason}
        if details:
            props["details"] = details
        return self._effect(campaign, 0, None, "rejectCoupon", props)

    def _plan(
        self,
        campaign: TalonCampaign,
        session: Session,
        coupon: str | None,
        referral: str | None,
        event: tuple[str, dict[str, Any]] | None,
        outcome: Outcome,
    ) -> _Planned:
        plan = _Planned(campaign=campaign)
        left = (
            None
            if campaign.budget_cents is None
            else campaign.budget_cents - self.spent.get(campaign.id, 0)
        )
        remaining = session.cart_item_cents
        coupon_fired = referral_fired = False
        coupon_condition: int | None = None
        event_type, event_attrs = event if event is not None else (None, None)
        for index, rule in enumerate(campaign.rules):
            if event_type is not None and rule.event != event_type:
                continue  # an event evaluates only the rules listening to it
            failed: int | None = None
            for c_index, condition in enumerate(rule.conditions):
                if isinstance(condition, CouponValid):
                    holds = coupon is not None
                elif isinstance(condition, ReferralValid):
                    holds = referral is not None
                elif isinstance(condition, EventIs):
                    holds = condition.event == event_type
                else:
                    holds = compare(
                        self._field(condition, session, event_attrs), condition.op, condition.value
                    )
                if not holds:
                    failed = c_index
                    break
            by_coupon = coupon if rule.needs_coupon else None
            if failed is not None:
                if rule.needs_coupon and coupon_condition is None:
                    coupon_condition = failed
                outcome.failures.append(
                    self._failure(campaign, index, rule, failed, None, coupon, "condition failed")
                )
                continue
            coupon_fired |= rule.needs_coupon
            referral_fired |= rule.needs_referral
            effect_failure = functools.partial(self._failure, campaign, index, rule, None)
            for e_index, effect in enumerate(rule.effects):
                if isinstance(effect, SetDiscount):
                    if event is not None:
                        outcome.failures.append(
                            effect_failure(e_index, coupon, "setDiscount needs a session")
                        )
                        continue
                    desired = effect.cents(remaining)
                    value = desired if left is None else min(desired, left)
                    if value <= 0:
                        if desired > 0:
                            outcome.failures.append(
                                effect_failure(e_index, coupon, "the campaign budget is spent")
                            )
                        continue
                    props: dict[str, Any] = {"name": effect.name, "value": money(value)}
                    if value < desired:
                        props["desiredValue"] = money(desired)
                    if left is not None:
                        left -= value
                    remaining -= value
                    plan.discounts.append((effect.name, value, by_coupon is not None))
                    plan.effects.append(
                        self._effect(campaign, index, rule, "setDiscount", props, by_coupon)
                    )
                elif isinstance(effect, AddLoyaltyPoints):
                    points = effect.points_for(session.cart_item_cents)
                    if session.profile_id is None or points <= 0:
                        if session.profile_id is None:
                            outcome.failures.append(
                                effect_failure(
                                    e_index, coupon, "loyalty points need a customer profile"
                                )
                            )
                        continue
                    plan.points.append((effect.program_id, points))
                    plan.effects.append(
                        self._effect(
                            campaign,
                            index,
                            rule,
                            "addLoyaltyPoints",
                            {
                                "name": effect.name,
                                "programId": self.number("program", effect.program_id),
                                "subLedgerId": "",
                                "value": points,
                                "recipientIntegrationId": session.profile_id,
                                "transactionUUID": "",
                            },
                            by_coupon,
                        )
                    )
                elif session.profile_id is not None:  # CreateCoupon: created when confirmed
                    plan.coupons_to_create.append(effect.campaign_id)
        if coupon is not None:
            if coupon_fired:
                coupon_cents = sum(cents for _, cents, by in plan.discounts if by)
                try:  # the engine's own limits with the real amount (e.g. its budget)
                    self.engine.quote(
                        coupon,
                        session.profile_id,
                        Cart(amount_cents=session.cart_item_cents),
                        session.updated,
                        amount_cents=coupon_cents,
                    )
                except PromotionError as error:
                    plan.discounts = [d for d in plan.discounts if not d[2]]
                    plan.effects = [e for e in plan.effects if "triggeredByCoupon" not in e]
                    plan.effects.insert(
                        0,
                        self._reject_coupon(
                            campaign, coupon, self._coupon_reason(coupon, error), error.message
                        ),
                    )
                else:
                    plan.coupon = coupon
                    plan.effects.insert(
                        0, self._effect(campaign, 0, None, "acceptCoupon", {"value": coupon})
                    )
            else:
                props = {"value": coupon, "rejectionReason": "CouponRejectedByCondition"}
                if coupon_condition is not None:
                    props["conditionIndex"] = coupon_condition
                plan.effects.insert(0, self._effect(campaign, 0, None, "rejectCoupon", props))
        if referral is not None:
            if referral_fired:
                plan.referral = referral
                plan.effects.insert(
                    0, self._effect(campaign, 0, None, "acceptReferral", {"value": referral})
                )
            else:
                plan.effects.insert(
                    0,
                    self._effect(
                        campaign,
                        0,
                        None,
                        "rejectReferral",
                        {"value": referral, "rejectionReason": "ReferralRejectedByCondition"},
                    ),
                )
        return plan

    def _failure(
        self,
        campaign: TalonCampaign,
        rule_index: int,
        rule: TalonRule,
        condition: int | None,
        effect: int | None,
        coupon: str | None,
        details: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "campaignID": campaign.id,
            "campaignName": campaign.name,
            "rulesetID": campaign.id,
            "ruleIndex": rule_index,
            "ruleName": rule.title,
            "details": details,
        }
        if condition is not None:
            out["conditionIndex"] = condition
        if effect is not None:
            out["effectIndex"] = effect
        if coupon is not None:
            out["couponID"] = self.number("coupon", coupon)
            out["couponValue"] = coupon
        return out

    # -- confirmation (close) and rollback (cancel) --------------------------------------------
    def _confirm(
        self, session: Session, plans: list[_Planned], now: datetime, outcome: Outcome
    ) -> None:
        done = Confirmation()
        profile_id = session.profile_id
        try:
            for plan in plans:
                cid = plan.campaign.id
                if plan.coupon is not None:
                    cents = sum(c for _, c, by in plan.discounts if by)
                    redemption = self.engine.redeem_code(
                        plan.coupon,
                        profile_id,
                        Cart(id=session.integration_id, amount_cents=session.cart_item_cents),
                        now,
                        amount_cents=cents,
                        metadata={"talon_session": session.integration_id},
                    )
                    done.redemptions.append((cid, plan.coupon, redemption.id))
                    outcome.events.append(self.engine.success_event(redemption))
                for name, cents, _ in plan.discounts:
                    self.spent[cid] = self.spent.get(cid, 0) + cents
                    done.discounts.append((cid, name, cents))
                if profile_id is None:
                    continue
                points_effects = iter(
                    e for e in plan.effects if e["effectType"] == "addLoyaltyPoints"
                )
                for program_id, points in plan.points:
                    tx, earned = self.engine.earn_points(
                        program_id, profile_id, points, f"talon:{session.integration_id}", now
                    )
                    done.points.append((cid, tx.id))
                    next(points_effects)["props"]["transactionUUID"] = tx.id
                    outcome.events.append(earned)
                for campaign_id in plan.coupons_to_create:
                    voucher, published = self.engine.publish(campaign_id, profile_id, now, "talon")
                    done.coupons.append(voucher.code)
                    outcome.created_coupons.append(voucher.code)
                    self.number("coupon", voucher.code)
                    outcome.effects.append(
                        self._effect(
                            plan.campaign,
                            0,
                            None,
                            "couponCreated",
                            {"value": voucher.code, "profileId": profile_id},
                        )
                    )
                    if published is not None:
                        outcome.events.append(published)
                if plan.referral is not None:
                    referral, events = self.engine.redeem_referral(plan.referral, profile_id, now)
                    done.referral = (cid, plan.referral, referral.id)
                    outcome.events.extend(events)
                    outcome.effects.append(
                        self._effect(
                            plan.campaign,
                            0,
                            None,
                            "redeemReferral",
                            {"id": self.number("referral", plan.referral), "value": plan.referral},
                        )
                    )
        except PromotionError:
            session.confirmation = done
            self._undo(session, now)
            raise
        discount = sum(cents for _, _, cents in done.discounts)
        done.sales_cents = session.total_cents - discount
        if profile_id is not None:
            profile = self.profile(profile_id, now)
            profile.closed_sessions += 1
            profile.total_sales_cents += done.sales_cents
            done.counted_session = True
        session.confirmation = done

    def _undo(self, session: Session, now: datetime) -> list[EngineEvent]:
        done = session.confirmation
        events: list[EngineEvent] = []
        if done is None:
            return events
        for _, _, redemption_id in reversed(done.redemptions):
            rollback = self.engine.rollback(redemption_id, now, "talon session cancelled")
            if rollback.customer_id:
                events.append(self.engine.rollback_event(rollback))
        for cid, _, cents in done.discounts:
            self.spent[cid] -= cents
        for _, tx in reversed(done.points):
            self.engine.loyalty.reverse(tx, now)
        for code in done.coupons:
            self.engine.vouchers[code].active = False
        if done.referral is not None:
            self.engine.rollback_referral(done.referral[2], now)
        if done.counted_session and session.profile_id is not None:
            profile = self.profiles[session.profile_id]
            profile.closed_sessions -= 1
            profile.total_sales_cents -= done.sales_cents
        session.confirmation = None
        return events

    def _rollback_effects(self, session: Session, *, preview: bool = False) -> list[dict]:
        done = session.confirmation or Confirmation()
        effects = []
        for cid, code, _ in done.redemptions:
            effects.append(
                self._effect(self.campaigns[cid], 0, None, "rollbackCoupon", {"value": code})
            )
        for cid, name, cents in done.discounts:
            effects.append(
                self._effect(
                    self.campaigns[cid],
                    0,
                    None,
                    "rollbackDiscount",
                    {"name": name, "value": money(cents)},
                )
            )
        for cid, tx_id in done.points:
            tx = self.engine.loyalty.transactions[tx_id]
            effects.append(
                self._effect(
                    self.campaigns[cid],
                    0,
                    None,
                    "rollbackAddedLoyaltyPoints",
                    {
                        "programId": self.number("program", tx.program_id),
                        "subLedgerId": "",
                        "value": tx.points,
                        "recipientIntegrationId": tx.customer_id,
                        "transactionUUID": tx.id,
                    },
                )
            )
        if done.referral is not None:
            cid, code, _ = done.referral
            effects.append(
                self._effect(self.campaigns[cid], 0, None, "rollbackReferral", {"value": code})
            )
        return effects

    def _cancel(self, session: Session, now: datetime) -> Outcome:
        effects = self._rollback_effects(session)
        events = self._undo(session, now)
        session.state = CANCELLED
        session.updated = now
        session.update_count += 1
        session.effects = effects
        return Outcome(effects=effects, events=events)

    # -- events --------------------------------------------------------------------------------
    def track_event(
        self, profile_id: str | None, event_type: str, attributes: dict[str, Any], now: datetime
    ) -> tuple[dict[str, Any], Outcome]:
        """A custom event: the rules listening to it fire at once (no session to close)."""
        if not event_type:
            raise TalonRefusal(400, "type must be a non-empty string", "/type")
        if profile_id:
            self.profile(profile_id, now).last_activity = now
        scratch = Session(
            integration_id=f"event-{len(self.events) + 1}",
            number=0,
            created=now,
            updated=now,
            profile_id=profile_id or None,
        )
        outcome = self._evaluate(scratch, now, commit=True, event=(event_type, attributes))
        record = {
            "id": self._next("event"),
            "created": now,
            "applicationId": self.application_id,
            "profileId": profile_id or None,
            "type": event_type,
            "attributes": attributes,
            "effects": outcome.effects,
        }
        self.events.append(record)
        return record, outcome


def money(cents: int) -> int | float:
    """Cents as Talon.One's currency amount: whole units stay integers (``5``), the rest is the
    shortest float that reads back as the same cents (``19.99``)."""
    return cents // 100 if cents % 100 == 0 else cents / 100
