"""Talon.One campaigns as data: rules of conditions and effects.

Talon.One defines rules in its Campaign Manager (Talang underneath); the Integration API only
evaluates them. Here a campaign is a msgspec Struct, buildable in Python or decoded from JSON
(:func:`decode_campaign`), validated strictly so a typo never becomes a rule that always fires.

Conditions (all must hold for a rule to fire):

- ``couponValid``: the session carries a code of the campaign's coupon campaign that the
  engine accepts (dates, holder, limits); the rule is then "triggered by" that coupon;
- ``referralValid``: the session carries a referral code of the campaign's referral program
  that the friend (the session's profile) may use;
- ``event``: the event being tracked (``POST /v2/events``) has this type;
- ``check``: ``field op value`` on the session, cart or profile (see :data:`FIELDS`).

Effects: ``setDiscount`` (an amount or a percentage of what the cart still costs, capped by the
campaign budget), ``addLoyaltyPoints`` (flat, or per whole ``per_cents`` of the cart),
``createCoupon`` (a code published to the profile from an engine campaign). ``acceptCoupon`` /
``rejectCoupon``, ``acceptReferral`` / ``rejectReferral`` and ``redeemReferral`` come from the
``couponValid`` / ``referralValid`` conditions themselves, as in Talon.One.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from promoloop.actors.promotions.discounts import check_cents, percent_to_bp

FIELDS = frozenset(
    {
        "session.total",
        "session.cartItemTotal",
        "session.itemCount",
        "session.attributes",
        "profile.attributes",
        "profile.audiences",
        "profile.closedSessions",
        "loyalty.points",
        "loyalty.tier",
        "event.attributes",
    }
)
"""Fields a ``check`` reads; ``*.attributes`` take a ``key``; money fields are cents."""
KEYED = frozenset({"session.attributes", "profile.attributes", "event.attributes"})
NEEDS_PROGRAM = frozenset({"loyalty.points", "loyalty.tier"})

OPS = ("==", "!=", ">", ">=", "<", "<=", "in", "not in", "contains")
NUMERIC_OPS = frozenset({">", ">=", "<", "<="})


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(left: Any, op: str, right: Any) -> bool:
    """``left op right``; a numeric comparison with a non-number is simply false."""
    if op in NUMERIC_OPS:
        if not (_number(left) and _number(right)):
            return False
        return {">": left > right, ">=": left >= right, "<": left < right, "<=": left <= right}[op]
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "in":
        return left in right
    if op == "not in":
        return left not in right
    # contains: a list holds the value, or a string holds the substring
    return isinstance(left, list | tuple | frozenset | set | str) and right in left


class _Condition(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class CouponValid(_Condition, tag="couponValid"):
    pass


class ReferralValid(_Condition, tag="referralValid"):
    pass


class EventIs(_Condition, tag="event"):
    event: str

    def __post_init__(self) -> None:
        if not isinstance(self.event, str) or not self.event:
            raise ValueError("condition event.event must be a non-empty string")


class Check(_Condition, tag="check"):
    field: str
    op: str
    value: Any
    key: str | None = None
    program_id: str | None = None

    def __post_init__(self) -> None:
        if self.field not in FIELDS:
            raise ValueError(f"condition check.field must be one of {sorted(FIELDS)}")
        if self.op not in OPS:
            raise ValueError(f"condition check.op must be one of {list(OPS)}, got {self.op!r}")
        if self.field in KEYED and not self.key:
            raise ValueError(f"condition check on {self.field} needs a key")
        if self.field in NEEDS_PROGRAM and not self.program_id:
            raise ValueError(f"condition check on {self.field} needs a program_id")
        if self.op in NUMERIC_OPS and not _number(self.value):
            raise ValueError(f"condition check {self.op} needs a number, got {self.value!r}")
        if self.op in ("in", "not in") and not isinstance(self.value, list):
            raise ValueError(f"condition check {self.op} needs a list value")


Condition = CouponValid | ReferralValid | EventIs | Check


class _Effect(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class SetDiscount(_Effect, tag="setDiscount"):
    """A discount named ``name`` on the cart: ``amount_cents`` off, or ``percent_bp`` of what
    the cart still costs after earlier discounts (capped by ``cap_cents``)."""

    name: str
    amount_cents: int | None = None
    percent_bp: int | None = None
    cap_cents: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("setDiscount.name must be a non-empty string")
        if (self.amount_cents is None) == (self.percent_bp is None):
            raise ValueError("setDiscount needs exactly one of amount_cents, percent_bp")
        if self.amount_cents is not None:
            check_cents("setDiscount.amount_cents", self.amount_cents, allow_zero=False)
        if self.percent_bp is not None:
            bp = self.percent_bp
            if isinstance(bp, bool) or not isinstance(bp, int) or not 0 < bp <= 10000:
                raise ValueError(f"setDiscount.percent_bp must be in 1..10000, got {bp!r}")
        if self.cap_cents is not None:
            check_cents("setDiscount.cap_cents", self.cap_cents, allow_zero=False)

    @classmethod
    def percent(cls, name: str, percent: Any, cap_cents: int | None = None) -> SetDiscount:
        return cls(
            name=name, percent_bp=percent_to_bp("setDiscount.percent", percent), cap_cents=cap_cents
        )

    def cents(self, remaining_cents: int) -> int:
        """What it takes off a cart that still costs ``remaining_cents`` (half up to a cent)."""
        if self.amount_cents is not None:
            off = self.amount_cents
        else:
            off = (remaining_cents * (self.percent_bp or 0) + 5000) // 10000
            if self.cap_cents is not None:
                off = min(off, self.cap_cents)
        return max(0, min(off, remaining_cents))


class AddLoyaltyPoints(_Effect, tag="addLoyaltyPoints"):
    """``points`` flat, or ``points`` per whole ``per_cents`` of the cart item total."""

    name: str
    program_id: str
    points: int
    per_cents: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.points, bool) or not isinstance(self.points, int) or self.points < 1:
            raise ValueError(f"addLoyaltyPoints.points must be a positive integer: {self.points}")
        if self.per_cents is not None:
            check_cents("addLoyaltyPoints.per_cents", self.per_cents, allow_zero=False)

    def points_for(self, cart_cents: int) -> int:
        if self.per_cents is None:
            return self.points
        return self.points * (max(cart_cents, 0) // self.per_cents)


class CreateCoupon(_Effect, tag="createCoupon"):
    """Publish a code of the engine campaign ``campaign_id`` to the session's profile."""

    campaign_id: str


Effect = SetDiscount | AddLoyaltyPoints | CreateCoupon


class TalonRule(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    conditions: tuple[Condition, ...] = ()
    effects: tuple[Effect, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.title, str) or not self.title:
            raise ValueError("rule.title must be a non-empty string")
        kinds = [type(c) for c in self.conditions]
        if kinds.count(CouponValid) > 1 or kinds.count(ReferralValid) > 1:
            raise ValueError(f"rule {self.title!r}: couponValid/referralValid at most once")

    @property
    def needs_coupon(self) -> bool:
        return any(isinstance(c, CouponValid) for c in self.conditions)

    @property
    def needs_referral(self) -> bool:
        return any(isinstance(c, ReferralValid) for c in self.conditions)

    @property
    def event(self) -> str | None:
        return next((c.event for c in self.conditions if isinstance(c, EventIs)), None)


class TalonCampaign(msgspec.Struct, frozen=True, kw_only=True):
    """A Talon.One campaign of the application.

    ``coupon_campaign_id`` names the engine campaign (a discount-coupon campaign) whose codes
    are this campaign's coupons, so code limits and redemptions are shared with the Voucherify
    face; ``budget_cents`` caps the sum of its ``setDiscount`` effects in closed sessions.
    """

    id: int
    name: str
    rules: tuple[TalonRule, ...]
    coupon_campaign_id: str | None = None
    referral_program_id: str | None = None
    budget_cents: int | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int) or self.id < 1:
            raise ValueError(f"campaign.id must be a positive integer, got {self.id!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("campaign.name must be a non-empty string")
        if not self.rules:
            raise ValueError("campaign.rules needs at least one rule")
        if self.budget_cents is not None:
            check_cents("campaign.budget_cents", self.budget_cents, allow_zero=False)
        for rule in self.rules:
            if rule.needs_coupon and self.coupon_campaign_id is None:
                raise ValueError(f"rule {rule.title!r}: couponValid needs coupon_campaign_id")
            if rule.needs_referral and self.referral_program_id is None:
                raise ValueError(f"rule {rule.title!r}: referralValid needs referral_program_id")
        for name in ("start_time", "end_time"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"campaign.{name} must be timezone-aware (UTC)")

    def running(self, now: datetime) -> bool:
        return (
            self.active
            and (self.start_time is None or now >= self.start_time)
            and (self.end_time is None or now < self.end_time)
        )


def decode_campaign(data: bytes | str) -> TalonCampaign:
    """A campaign from JSON, or ValueError naming the field."""
    try:
        return msgspec.json.decode(data, type=TalonCampaign)
    except msgspec.DecodeError as error:
        raise ValueError(str(error)) from None
