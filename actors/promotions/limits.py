"""When a campaign may be used and how much of it is left.

Two kinds of limit, checked in this order by the model:

- **time**: start/expiration dates, active weekdays (Voucherify numbering: 0 = Sunday) and
  daily hour windows, all evaluated in UTC on the simulation clock;
- **usage**: campaign-level and code-level redemption quantities, a per-customer redemption
  limit, and a total budget in cents (the sum of discounts and gift credits the campaign may
  ever pay). A redemption that would overspend the budget is refused, never shortened.

:class:`Usage` is the ledger the limits are checked against; ``take``/``give_back`` are exact
inverses, so a rolled-back redemption restores precisely what it took.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

import msgspec

from promoloop.actors.promotions.errors import PromotionError


class HourWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A daily window ``[start, end)`` (UTC), optionally only on some weekdays (0 = Sunday)."""

    start: time
    end: time
    days_of_week: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError("validity_hours.daily.expiration_time must be after start_time")
        if self.days_of_week is not None:
            check_weekdays("validity_hours.daily.days_of_week", self.days_of_week)

    def contains(self, now: datetime) -> bool:
        if self.days_of_week is not None and voucherify_weekday(now) not in self.days_of_week:
            return False
        return self.start <= now.time().replace(tzinfo=None) < self.end


def voucherify_weekday(now: datetime) -> int:
    """Python's Monday=0 as Voucherify's Sunday=0."""
    return (now.weekday() + 1) % 7


def check_weekdays(field_name: str, days: Any) -> frozenset[int]:
    days = frozenset(days)
    if not days or any(isinstance(d, bool) or d not in range(7) for d in days):
        raise ValueError(f"{field_name} must be a non-empty set of weekdays 0..6 (0 = Sunday)")
    return days


class Window(msgspec.Struct, frozen=True, kw_only=True):
    """The time limits of a campaign (or a standalone code)."""

    start_date: datetime | None = None
    expiration_date: datetime | None = None
    days_of_week: frozenset[int] | None = None
    hours: tuple[HourWindow, ...] = ()

    def __post_init__(self) -> None:
        for name in ("start_date", "expiration_date"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"campaign.{name} must be timezone-aware (UTC)")
        if self.start_date and self.expiration_date and self.expiration_date <= self.start_date:
            raise ValueError("campaign.expiration_date must be after campaign.start_date")
        if self.days_of_week is not None:
            check_weekdays("campaign.validity_day_of_week", self.days_of_week)

    def check(self, what: str, now: datetime) -> None:
        if self.start_date and now < self.start_date:
            raise PromotionError("voucher_not_active", f"{what} has not started")
        if self.expiration_date and now >= self.expiration_date:
            raise PromotionError("voucher_expired", f"{what} has expired")
        if self.days_of_week is not None and voucherify_weekday(now) not in self.days_of_week:
            raise PromotionError("voucher_not_active", f"{what} is not active on this weekday")
        if self.hours and not any(h.contains(now) for h in self.hours):
            raise PromotionError("voucher_not_active", f"{what} is not active at this hour")


class Quotas(msgspec.Struct, frozen=True, kw_only=True):
    """Usage limits; ``None`` means unlimited."""

    redemptions: int | None = None
    """Campaign-level: total live redemptions across all its codes."""
    per_code: int | None = None
    """Code-level: live redemptions of any one code (Voucherify ``voucher.redemption.quantity``)."""
    per_customer: int | None = None
    budget_cents: int | None = None

    def __post_init__(self) -> None:
        for name in ("redemptions", "per_code", "per_customer", "budget_cents"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"campaign.{name} must be a positive integer, got {value!r}")


@dataclass(slots=True)
class Usage:
    """What a campaign has given out so far (live redemptions only)."""

    redemptions: int = 0
    spent_cents: int = 0
    per_customer: Counter[str] = field(default_factory=Counter)

    def check(
        self,
        quotas: Quotas,
        *,
        what: str,
        code_redeemed: int,
        code_quantity: int | None,
        customer_id: str | None,
        cents: int,
    ) -> None:
        """Raise the Voucherify error for the first limit this redemption would break."""
        if code_quantity is not None and code_redeemed >= code_quantity:
            raise PromotionError(
                "quantity_exceeded", f"code of {what} was redeemed {code_redeemed} time(s) already"
            )
        if quotas.redemptions is not None and self.redemptions >= quotas.redemptions:
            raise PromotionError(
                "quantity_exceeded", f"{what} reached its limit of {quotas.redemptions} redemptions"
            )
        if (
            quotas.per_customer is not None
            and customer_id is not None
            and self.per_customer[customer_id] >= quotas.per_customer
        ):
            raise PromotionError(
                "redemption_rules_violated",
                f"customer {customer_id} reached the limit of {quotas.per_customer} "
                f"redemption(s) in {what}",
            )
        if quotas.budget_cents is not None and self.spent_cents + cents > quotas.budget_cents:
            left = quotas.budget_cents - self.spent_cents
            raise PromotionError(
                "redemption_rules_violated",
                f"{what} budget has {left} cents left, this redemption needs {cents}",
            )

    def take(self, customer_id: str | None, cents: int) -> None:
        self.redemptions += 1
        self.spent_cents += cents
        if customer_id is not None:
            self.per_customer[customer_id] += 1

    def give_back(self, customer_id: str | None, cents: int) -> None:
        self.redemptions -= 1
        self.spent_cents -= cents
        if customer_id is not None:
            self.per_customer[customer_id] -= 1
            if not self.per_customer[customer_id]:
                del self.per_customer[customer_id]
