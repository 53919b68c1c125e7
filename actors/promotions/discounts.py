"""Discount definitions and what they take off an order, in integer cents.

Four Voucherify discount types: ``AMOUNT`` (a fixed amount off), ``PERCENT`` (a share of the
order, optionally capped by ``amount_limit``), ``UNIT`` (units of one product for free) and
``FIXED`` (the order costs a fixed price). A discount never exceeds the order amount.

Rounding rule (the only place money is divided): a percent discount is
``order_cents * percent_off_bp / 10000`` rounded half up to a whole cent, computed with integer
arithmetic only (``(order * bp + 5000) // 10000``), then capped by ``amount_limit_cents`` and by
the order amount. Percentages are held in basis points (hundredths of a percent), so
``12.5 %`` is ``1250`` and no float ever touches a balance.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from promoloop.actors.promotions.errors import PromotionError

AMOUNT = "AMOUNT"
PERCENT = "PERCENT"
UNIT = "UNIT"
FIXED = "FIXED"
DISCOUNT_TYPES = (AMOUNT, PERCENT, UNIT, FIXED)


def check_cents(field: str, value: Any, *, allow_zero: bool = True) -> int:
    """``value`` as integer cents, or ValueError naming ``field`` (bools are not money)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field} must be an integer number of cents, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{field} must be {bound}, got {value}")
    return value


def percent_to_bp(field: str, value: Any) -> int:
    """A percentage (``10``, ``12.5``, ``"7.25"``) as integer basis points.

    Goes through ``Decimal(str(value))`` so ``12.34`` is exactly 1234 bp; more than two decimal
    places would need a rounding rule of its own, so it is refused instead.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(f"{field} must be a number, got {value!r}")
    try:
        bp = Decimal(str(value)) * 100
    except InvalidOperation:
        raise ValueError(f"{field} must be a number, got {value!r}") from None
    if not bp.is_finite() or bp != bp.to_integral_value():
        raise ValueError(f"{field} allows at most two decimal places, got {value!r}")
    if not 0 < bp <= 10000:
        raise ValueError(f"{field} must be in (0, 100], got {value!r}")
    return int(bp)


class Item(msgspec.Struct, frozen=True, kw_only=True):
    """One order line. ``price_cents`` is the unit price; ``amount_cents`` the line total."""

    product_id: str | None = None
    sku_id: str | None = None
    quantity: int = 1
    price_cents: int | None = None
    amount_cents: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int):
            raise ValueError(f"order.items.quantity must be an integer, got {self.quantity!r}")
        if self.quantity < 0:
            raise ValueError(f"order.items.quantity must be >= 0, got {self.quantity}")
        if self.price_cents is not None:
            check_cents("order.items.price", self.price_cents)
        if self.amount_cents is not None:
            check_cents("order.items.amount", self.amount_cents)

    @property
    def line_cents(self) -> int:
        if self.amount_cents is not None:
            return self.amount_cents
        return (self.price_cents or 0) * self.quantity

    @property
    def unit_cents(self) -> int | None:
        """The unit price, from ``price`` or, failing that, an exact split of the line."""
        if self.price_cents is not None:
            return self.price_cents
        if (
            self.amount_cents is not None
            and self.quantity
            and not self.amount_cents % self.quantity
        ):
            return self.amount_cents // self.quantity
        return None


class Cart(msgspec.Struct, frozen=True, kw_only=True):
    """The order a code is quoted against: amount, lines and metadata for validation rules."""

    id: str | None = None
    amount_cents: int = 0
    items: tuple[Item, ...] = ()
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.amount_cents, bool) or not isinstance(self.amount_cents, int):
            raise ValueError(f"order.amount must be integer cents, got {self.amount_cents!r}")

    @classmethod
    def of(
        cls,
        amount_cents: int | None,
        items: tuple[Item, ...] = (),
        *,
        id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Cart:
        """A cart whose amount defaults to the sum of its lines, as Voucherify computes it."""
        amount = sum(i.line_cents for i in items) if amount_cents is None else amount_cents
        return cls(id=id, amount_cents=amount, items=items, metadata=metadata or {})

    def quantity_of(self, product_id: str) -> int:
        return sum(i.quantity for i in self.items if product_id in (i.product_id, i.sku_id))


class Discount(msgspec.Struct, frozen=True, kw_only=True):
    """A Voucherify discount; build it with the classmethods, which name what they need."""

    type: str
    amount_off_cents: int | None = None
    percent_off_bp: int | None = None
    amount_limit_cents: int | None = None
    unit_off: int | None = None
    unit_type: str | None = None
    """The product (or SKU) id whose units are free."""
    fixed_amount_cents: int | None = None

    def __post_init__(self) -> None:
        if self.type not in DISCOUNT_TYPES:
            raise ValueError(f"discount.type must be one of {DISCOUNT_TYPES}, got {self.type!r}")
        needs = {
            AMOUNT: ("amount_off_cents",),
            PERCENT: ("percent_off_bp",),
            UNIT: ("unit_off", "unit_type"),
            FIXED: ("fixed_amount_cents",),
        }[self.type]
        for name in needs:
            if getattr(self, name) is None:
                raise ValueError(f"discount.{name} is required for a {self.type} discount")
        if self.amount_off_cents is not None:
            check_cents("discount.amount_off", self.amount_off_cents, allow_zero=False)
        if self.percent_off_bp is not None:
            value = self.percent_off_bp
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10000:
                raise ValueError(f"discount.percent_off_bp must be in 1..10000, got {value!r}")
        if self.amount_limit_cents is not None:
            check_cents("discount.amount_limit", self.amount_limit_cents, allow_zero=False)
        if self.unit_off is not None:
            check_cents("discount.unit_off", self.unit_off, allow_zero=False)
        if self.unit_type is not None and (
            not isinstance(self.unit_type, str) or not self.unit_type
        ):
            raise ValueError("discount.unit_type must be a product id")
        if self.fixed_amount_cents is not None:
            check_cents("discount.fixed_amount", self.fixed_amount_cents)

    @classmethod
    def amount(cls, cents: int) -> Discount:
        return cls(type=AMOUNT, amount_off_cents=cents)

    @classmethod
    def percent(
        cls, percent: int | float | str | Decimal, cap_cents: int | None = None
    ) -> Discount:
        return cls(
            type=PERCENT,
            percent_off_bp=percent_to_bp("discount.percent_off", percent),
            amount_limit_cents=cap_cents,
        )

    @classmethod
    def units(cls, units: int, product_id: str) -> Discount:
        return cls(type=UNIT, unit_off=units, unit_type=product_id)

    @classmethod
    def fixed(cls, price_cents: int) -> Discount:
        return cls(type=FIXED, fixed_amount_cents=price_cents)

    def cents_off(self, cart: Cart) -> int:
        """What this discount takes off ``cart``, never more than the order amount.

        A unit discount whose product is not in the order (or has no unit price) does not
        apply: ``order_rules_violated``, as Voucherify answers for missing applicable items.
        """
        order = cart.amount_cents
        if self.type == AMOUNT:
            off = self.amount_off_cents or 0
        elif self.type == PERCENT:
            off = (order * (self.percent_off_bp or 0) + 5000) // 10000
            if self.amount_limit_cents is not None:
                off = min(off, self.amount_limit_cents)
        elif self.type == FIXED:
            off = max(0, order - (self.fixed_amount_cents or 0))
        else:
            product = self.unit_type or ""
            have = cart.quantity_of(product)
            prices = [
                i.unit_cents
                for i in cart.items
                if product in (i.product_id, i.sku_id) and i.quantity > 0
            ]
            if not have or any(p is None for p in prices):
                raise PromotionError(
                    "order_rules_violated",
                    f"the order holds no priced units of product {product!r} to discount",
                )
            unit_price = min(p for p in prices if p is not None)
            off = min(self.unit_off or 0, have) * unit_price
        return min(off, order)

    def to_wire(self) -> dict[str, Any]:
        """Voucherify's ``discount`` object (cents stay cents; percent back to a number)."""
        out: dict[str, Any] = {"type": self.type}
        if self.amount_off_cents is not None:
            out["amount_off"] = self.amount_off_cents
        if self.percent_off_bp is not None:
            bp = self.percent_off_bp
            out["percent_off"] = bp // 100 if bp % 100 == 0 else bp / 100
        if self.amount_limit_cents is not None:
            out["amount_limit"] = self.amount_limit_cents
        if self.unit_off is not None:
            out["unit_off"] = self.unit_off
            out["unit_type"] = self.unit_type
        if self.fixed_amount_cents is not None:
            out["fixed_amount"] = self.fixed_amount_cents
        return out
