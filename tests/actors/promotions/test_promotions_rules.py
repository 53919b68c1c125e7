"""Validation rules: conditions, operators, and/or logic, error keys, strict parsing."""

from __future__ import annotations

from typing import Any

import pytest

from promoloop.actors.promotions import Cart, Item, RuleContext, parse_rule


def rule(rules: dict[str, Any], **extra: Any) -> Any:
    return parse_rule("val_1", {"name": "R", "rules": rules, **extra})


def ctx(amount: int = 1000, **fields: Any) -> RuleContext:
    order = fields.pop("order", Cart(amount_cents=amount))
    return RuleContext(customer_id=fields.pop("customer_id", "u-1"), order=order, **fields)


AMOUNT_OVER_20 = {"name": "order.amount", "conditions": {"$more_than": [2000]}}
IN_VIP = {"name": "customer.segment", "conditions": {"$is": ["seg_vip"]}}
GOLD = {"name": "customer.metadata", "property": "tier", "conditions": {"$is": ["gold"]}}


def test_and_or_logic_with_parentheses() -> None:
    """ "1 and (2 or 3)": amount AND (segment OR gold tier); "and" binds tighter than "or"."""
    r = rule({"1": AMOUNT_OVER_20, "2": IN_VIP, "3": GOLD, "logic": "1 and (2 or 3)"})
    assert r.violation(ctx(3000, segments=frozenset({"seg_vip"}))) is None
    assert r.violation(ctx(3000, customer_metadata={"tier": "gold"})) is None
    assert r.violation(ctx(3000))[0] == "customer_rules_violated"
    assert r.violation(ctx(1000, segments=frozenset({"seg_vip"})))[0] == "order_rules_violated"
    loose = rule({"1": AMOUNT_OVER_20, "2": IN_VIP, "3": GOLD, "logic": "1 and 2 or 3"})
    assert loose.violation(ctx(10, customer_metadata={"tier": "gold"})) is None


def test_default_logic_is_all_conditions() -> None:
    r = rule({"1": AMOUNT_OVER_20, "2": IN_VIP})
    assert r.tree.logic == "1 and 2"
    assert r.violation(ctx(3000)) is not None


def test_custom_error_message_is_the_reason_text() -> None:
    r = rule({"1": AMOUNT_OVER_20}, error={"message": "Orders over $20"})
    assert r.violation(ctx(100)) == ("order_rules_violated", "Orders over $20")


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"name": "order.amount", "conditions": {"$less_than_equal": [1000]}}, ctx(1000), True),
        ({"name": "order.amount", "conditions": {"$less_than": [1000]}}, ctx(1000), False),
        (
            {
                "name": "order.amount",
                "conditions": {"$more_than_equal": [1000], "$less_than": [2000]},
            },
            ctx(1500),
            True,
        ),
        (
            {
                "name": "order.amount",
                "conditions": {"$more_than_equal": [1000], "$less_than": [2000]},
            },
            ctx(2000),
            False,
        ),
        (
            {"name": "customer.segment", "conditions": {"$is_not": ["seg_x"]}},
            ctx(segments=frozenset({"seg_x"})),
            False,
        ),
        (
            {"name": "customer.segment", "conditions": {"$in": ["a", "b"]}},
            ctx(segments=frozenset({"b", "c"})),
            True,
        ),
        (
            {"name": "redemption.count.per_customer", "conditions": {"$less_than": [2]}},
            ctx(customer_redemptions=1),
            True,
        ),
        (
            {"name": "redemption.count.per_customer", "conditions": {"$less_than": [2]}},
            ctx(customer_redemptions=2),
            False,
        ),
        (
            {"name": "order.metadata", "property": "channel", "conditions": {"$is": ["web"]}},
            ctx(order=Cart(amount_cents=1, metadata={"channel": "web"})),
            True,
        ),
        (
            {"name": "redemption.metadata", "property": "store", "conditions": {"$is_not": ["s1"]}},
            ctx(redemption_metadata={"store": "s1"}),
            False,
        ),
        (
            {"name": "customer.metadata", "property": "name", "conditions": {"$contains": ["am"]}},
            ctx(customer_metadata={"name": "Pam"}),
            True,
        ),
        (
            {"name": "customer.metadata", "property": "age", "conditions": {"$more_than": [17]}},
            ctx(customer_metadata={"age": "18"}),
            False,
        ),
        (
            {"name": "order.items.count", "conditions": {"$more_than_equal": [2]}},
            ctx(
                order=Cart.of(
                    None, (Item(product_id="a", price_cents=1), Item(product_id="b", price_cents=1))
                )
            ),
            True,
        ),
        (
            {"name": "order.items.quantity", "conditions": {"$more_than": [2]}},
            ctx(order=Cart.of(None, (Item(product_id="a", quantity=3, price_cents=1),))),
            True,
        ),
    ],
)
def test_conditions(condition: dict[str, Any], context: RuleContext, holds: bool) -> None:
    """Each supported condition name and operator (a text is never a number)."""
    assert (rule({"1": condition}).violation(context) is None) is holds


def test_product_rule_with_nested_quantity() -> None:
    """The order holds product p1, and at least 2 of it."""
    r = rule(
        {
            "1": {
                "name": "product.id",
                "conditions": {"$is": ["p1"]},
                "rules": {
                    "1": {"name": "product.quantity", "conditions": {"$more_than_equal": [2]}}
                },
            }
        }
    )
    two = Cart.of(None, (Item(product_id="p1", quantity=2, price_cents=100),))
    one = Cart.of(
        None,
        (
            Item(product_id="p1", quantity=1, price_cents=100),
            Item(product_id="p2", quantity=5, price_cents=1),
        ),
    )
    assert r.violation(ctx(order=two)) is None
    assert r.violation(ctx(order=one))[0] == "order_rules_violated"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"rules": {"1": AMOUNT_OVER_20}}, "name"),
        ({"name": "R", "rules": {}}, "at least one condition"),
        ({"name": "R", "rules": "1"}, "rules"),
        ({"name": "R", "rules": {"a": AMOUNT_OVER_20}}, "keys are numbers"),
        (
            {"name": "R", "rules": {"1": {"name": "order.colour", "conditions": {"$is": [1]}}}},
            "name must be one of",
        ),
        (
            {"name": "R", "rules": {"1": {"name": "order.amount", "conditions": {"$near": [1]}}}},
            "unknown operator",
        ),
        (
            {"name": "R", "rules": {"1": {"name": "order.amount", "conditions": {"$is": []}}}},
            "non-empty list",
        ),
        (
            {
                "name": "R",
                "rules": {"1": {"name": "order.amount", "conditions": {"$more_than": [1, 2]}}},
            },
            "one number",
        ),
        (
            {
                "name": "R",
                "rules": {"1": {"name": "customer.metadata", "conditions": {"$is": [1]}}},
            },
            "property",
        ),
        ({"name": "R", "rules": {"1": AMOUNT_OVER_20, "logic": "1 and 3"}}, "not defined"),
        ({"name": "R", "rules": {"1": AMOUNT_OVER_20, "logic": "(1"}}, r"missing '\)'"),
        ({"name": "R", "rules": {"1": AMOUNT_OVER_20, "logic": "1 1"}}, "unexpected"),
        ({"name": "R", "rules": {"1": AMOUNT_OVER_20, "logic": "1 & 1"}}, "cannot parse"),
        ({"name": "R", "rules": {"1": {**AMOUNT_OVER_20, "rules": {"1": IN_VIP}}}}, "nested rules"),
        ({"name": "R", "rules": {"1": AMOUNT_OVER_20}, "error": "no"}, "error"),
    ],
)
def test_malformed_rules_name_the_problem(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        parse_rule("val_1", body)


def test_customer_did_event_x() -> None:
    """``customer.event.count`` counts the customer's events by name; property is required."""
    reviewed = rule(
        {
            "1": {
                "name": "customer.event.count",
                "property": "review_left",
                "conditions": {"$more_than": [0]},
            }
        }
    )
    assert reviewed.violation(ctx(customer_events={"review_left": 1})) is None
    assert reviewed.violation(ctx(customer_events={"Order Completed": 3})) is not None
    assert reviewed.violation(ctx())[0] == "customer_rules_violated"
    with pytest.raises(ValueError, match=r"property is required for customer\.event\.count"):
        rule({"1": {"name": "customer.event.count", "conditions": {"$more_than": [0]}}})
