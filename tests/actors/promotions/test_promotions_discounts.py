"""Discounts in integer cents: amount, percent (rounding rule, cap), unit, fixed price."""

from __future__ import annotations

import pytest

from promoloop.actors.promotions import Cart, Discount, Item, PromotionError


def cart(cents: int, *items: Item) -> Cart:
    return Cart.of(cents, items)


@pytest.mark.parametrize(
    ("discount", "order", "off"),
    [
        (Discount.amount(500), 2000, 500),
        (Discount.amount(500), 300, 300),  # never more than the order
        (Discount.percent(10), 2000, 200),
        (Discount.percent(10), 1999, 200),  # 199.9 rounds half up to 200
        (Discount.percent(10), 1994, 199),  # 199.4 rounds down
        (Discount.percent(10), 1995, 200),  # 199.5: exactly half rounds up
        (Discount.percent("12.5"), 1999, 250),  # 249.875
        (Discount.percent(12.5), 1000, 125),
        (Discount.percent(10, cap_cents=150), 9000, 150),  # capped by amount_limit
        (Discount.percent(100), 777, 777),
        (Discount.fixed(1500), 2000, 500),  # the order costs $15
        (Discount.fixed(1500), 1000, 0),  # already below the fixed price
    ],
)
def test_order_level_discounts(discount: Discount, order: int, off: int) -> None:
    """Each type's amount off, integer cents only."""
    result = discount.cents_off(cart(order))
    assert result == off and type(result) is int


def test_unit_discount_takes_units_of_the_product() -> None:
    """Two free units of p1 at $3: $6 off; fewer units in the order → only those."""
    two_free = Discount.units(2, "p1")
    order = cart(
        None,
        Item(product_id="p1", quantity=3, price_cents=300),
        Item(product_id="p2", price_cents=999),
    )  # type: ignore[arg-type]
    assert two_free.cents_off(order) == 600
    one = cart(None, Item(product_id="p1", quantity=1, price_cents=300))  # type: ignore[arg-type]
    assert two_free.cents_off(one) == 300
    by_line = cart(None, Item(sku_id="p1", quantity=2, amount_cents=500))  # type: ignore[arg-type]
    assert two_free.cents_off(by_line) == 500  # unit price from an exact split of the line


def test_unit_discount_without_the_product_does_not_apply() -> None:
    """No such product, or no unit price → order_rules_violated."""
    with pytest.raises(PromotionError) as info:
        Discount.units(1, "p9").cents_off(cart(1000, Item(product_id="p1", price_cents=1000)))
    assert info.value.key == "order_rules_violated"
    with pytest.raises(PromotionError):
        Discount.units(1, "p1").cents_off(
            cart(1000, Item(product_id="p1", quantity=3, amount_cents=1000))
        )


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Discount(type="AMOUNT"), "amount_off_cents"),
        (lambda: Discount.amount(0), "amount_off"),
        (lambda: Discount.amount(-5), "amount_off"),
        (lambda: Discount(type="AMOUNT", amount_off_cents=1.5), "amount_off"),  # type: ignore[arg-type]
        (lambda: Discount(type="AMOUNT", amount_off_cents=True), "amount_off"),
        (lambda: Discount.percent(0), "percent_off"),
        (lambda: Discount.percent(101), "percent_off"),
        (lambda: Discount.percent("1.125"), "percent_off"),
        (lambda: Discount.percent("ten"), "percent_off"),
        (lambda: Discount.percent(10, cap_cents=0), "amount_limit"),
        (lambda: Discount(type="UNIT", unit_off=1), "unit_type"),
        (lambda: Discount.fixed(-1), "fixed_amount"),
        (lambda: Discount(type="BOGO"), "discount.type"),
        (lambda: Item(quantity=-1), "quantity"),
        (lambda: Item(price_cents=-1), "price"),
    ],
)
def test_malformed_discounts_name_the_field(build: object, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build()  # type: ignore[operator]


def test_wire_form_round_trips_the_percent() -> None:
    """to_wire gives Voucherify's numbers back: 10 stays 10, 12.5 stays 12.5."""
    assert Discount.percent(10).to_wire() == {"type": "PERCENT", "percent_off": 10}
    assert Discount.percent("12.5", cap_cents=300).to_wire() == {
        "type": "PERCENT",
        "percent_off": 12.5,
        "amount_limit": 300,
    }
