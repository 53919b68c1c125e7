"""Validation rules in Voucherify's shape: numbered conditions combined by a logic expression.

A rule set is what ``POST /v1/validation-rules`` takes::

    {"name": "Big gold orders",
     "rules": {"1": {"name": "order.amount", "conditions": {"$more_than": [5000]}},
               "2": {"name": "customer.segment", "conditions": {"$is": ["seg_gold"]}},
               "logic": "1 and 2"},
     "error": {"message": "Gold customers, orders over $50"}}

Supported condition names: ``customer.segment`` (static segments and CDP audiences),
``customer.metadata`` / ``order.metadata`` / ``redemption.metadata`` (with ``property``),
``order.amount``, ``order.items.count`` (order lines), ``order.items.quantity`` (units),
``product.id`` (the order holds one of these products; nested ``product.quantity`` rules apply
to that product's units), ``redemption.count.per_customer`` and ``customer.event.count`` (how
many times the customer did the event named by ``property``: custom events sent to
``/v1/events`` and the tracked events the CDP routes to the engine), e.g.
``{"name": "customer.event.count", "property": "review_left",
"conditions": {"$more_than": [0]}}``. Operators: ``$is``,
``$is_not``, ``$in``, ``$not_in``, ``$more_than``, ``$more_than_equal``, ``$less_than``,
``$less_than_equal``, ``$contains``. Several operators in one condition must all hold.

Parsing is strict (a malformed rule raises ValueError naming the field) so a typo cannot
silently turn into a rule that always passes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

from promoloop.actors.promotions.discounts import Cart

OPERATORS: dict[str, Callable[[Any, list[Any]], bool]] = {
    "$is": lambda v, args: v in args,
    "$in": lambda v, args: v in args,
    "$is_not": lambda v, args: v not in args,
    "$not_in": lambda v, args: v not in args,
    "$more_than": lambda v, args: _num(v) is not None and _num(v) > args[0],
    "$more_than_equal": lambda v, args: _num(v) is not None and _num(v) >= args[0],
    "$less_than": lambda v, args: _num(v) is not None and _num(v) < args[0],
    "$less_than_equal": lambda v, args: _num(v) is not None and _num(v) <= args[0],
    "$contains": lambda v, args: isinstance(v, str | list) and all(a in v for a in args),
}
NUMERIC_OPERATORS = frozenset({"$more_than", "$more_than_equal", "$less_than", "$less_than_equal"})

PROPERTY_NAMES = frozenset(
    {"customer.metadata", "order.metadata", "redemption.metadata", "customer.event.count"}
)
CONDITION_NAMES = frozenset(
    {
        "customer.segment",
        "order.amount",
        "order.items.count",
        "order.items.quantity",
        "product.id",
        "product.quantity",
        "redemption.count.per_customer",
        *PROPERTY_NAMES,
    }
)

VIOLATION_KEYS = {
    "customer": "customer_rules_violated",
    "order": "order_rules_violated",
    "product": "order_rules_violated",
    "redemption": "redemption_rules_violated",
}
"""The Voucherify error key of a failed rule, by the first part of the condition's name."""


def _num(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


class RuleContext(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a rule can look at, gathered by the model before evaluation."""

    customer_id: str | None
    segments: frozenset[str] = frozenset()
    """Static segment ids and CDP audience keys the customer belongs to."""
    customer_metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)
    order: Cart = msgspec.field(default_factory=Cart)
    redemption_metadata: Mapping[str, Any] = msgspec.field(default_factory=dict)
    customer_redemptions: int = 0
    """How many live (not rolled back) redemptions this customer has in the campaign."""
    customer_events: Mapping[str, int] = msgspec.field(default_factory=dict)
    """How many times the customer did each event (by name)."""


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    operators: tuple[tuple[str, tuple[Any, ...]], ...]
    property: str | None = None
    rules: RuleTree | None = None
    """Nested rules: for ``product.id``, conditions on that product's units."""

    def holds(self, ctx: RuleContext, product: str | None = None) -> bool:
        if self.name == "product.id":
            products = [
                p
                for p in {i.product_id for i in ctx.order.items}
                | {i.sku_id for i in ctx.order.items}
                if p is not None and self._ops(p)
            ]
            if self.rules is None:
                return bool(products)
            return any(self.rules.holds(ctx, p) for p in products)
        if self.name == "customer.segment":
            # a customer is in many segments: $is/$in pass if any matches, negations if none
            negated = {"$is_not", "$not_in"}
            return all(
                (not (ctx.segments & set(args)))
                if op in negated
                else bool(ctx.segments & set(args))
                for op, args in self.operators
            )
        return self._ops(self._value(ctx, product))

    def _ops(self, value: Any) -> bool:
        return all(OPERATORS[op](value, list(args)) for op, args in self.operators)

    def _value(self, ctx: RuleContext, product: str | None) -> Any:
        order = ctx.order
        match self.name:
            case "order.amount":
                return order.amount_cents
            case "order.items.count":
                return len(order.items)
            case "order.items.quantity":
                return sum(i.quantity for i in order.items)
            case "product.quantity":
                return order.quantity_of(product) if product is not None else None
            case "redemption.count.per_customer":
                return ctx.customer_redemptions
            case "customer.metadata":
                return ctx.customer_metadata.get(self.property or "")
            case "order.metadata":
                return order.metadata.get(self.property or "")
            case "redemption.metadata":
                return ctx.redemption_metadata.get(self.property or "")
            case "customer.event.count":
                return ctx.customer_events.get(self.property or "", 0)
        raise AssertionError(f"unhandled condition {self.name}")  # parse() refuses the rest


class RuleTree(msgspec.Struct, frozen=True, kw_only=True):
    conditions: dict[str, Condition]
    logic: str

    def holds(self, ctx: RuleContext, product: str | None = None) -> bool:
        return _Logic(self.logic, lambda key: self.conditions[key].holds(ctx, product)).run()

    def failed(self, ctx: RuleContext) -> list[Condition]:
        return [c for _, c in sorted(self.conditions.items()) if not c.holds(ctx)]


class ValidationRule(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    tree: RuleTree
    error_message: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)
    """The rule set as it was sent, returned unchanged by the HTTP face."""

    def violation(self, ctx: RuleContext) -> tuple[str, str] | None:
        """``None`` when the rule passes, else ``(Voucherify error key, message)``."""
        if self.tree.holds(ctx):
            return None
        failed = self.tree.failed(ctx)
        first = failed[0].name if failed else next(iter(self.tree.conditions.values())).name
        key = VIOLATION_KEYS.get(first.split(".")[0], "customer_rules_violated")
        return key, self.error_message or f"validation rule {self.name!r} is not met ({first})"


def parse_rule(rule_id: str, body: Mapping[str, Any]) -> ValidationRule:
    """A :class:`ValidationRule` from Voucherify's JSON, or ValueError naming the field."""
    if not isinstance(body, Mapping):
        raise ValueError("validation_rule must be an object")
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError("validation_rule.name is required and must be a string")
    error = body.get("error")
    message = None
    if error is not None:
        if not isinstance(error, Mapping) or not isinstance(error.get("message", ""), str):
            raise ValueError("validation_rule.error must be an object with a string message")
        message = error.get("message") or None
    tree = _parse_tree("validation_rule.rules", body.get("rules"), top=True)
    return ValidationRule(id=rule_id, name=name, tree=tree, error_message=message, raw=dict(body))


def _parse_tree(field: str, rules: Any, *, top: bool) -> RuleTree:
    if not isinstance(rules, Mapping):
        raise ValueError(f"{field} must be an object of numbered conditions")
    conditions: dict[str, Condition] = {}
    for key, value in rules.items():
        if key == "logic":
            continue
        if not isinstance(key, str) or not key.isdigit():
            raise ValueError(f"{field}: condition keys are numbers, got {key!r}")
        conditions[key] = _parse_condition(f"{field}.{key}", value)
    if top and not conditions:
        raise ValueError(f"{field} needs at least one condition")
    logic = rules.get("logic")
    if logic is None or logic == "":
        logic = " and ".join(sorted(conditions, key=int))
    if not isinstance(logic, str):
        raise ValueError(f"{field}.logic must be a string such as '(1 and 2) or 3'")
    if conditions:
        _Logic(logic, lambda key: key in conditions or _unknown(field, key)).run(check=True)
    return RuleTree(conditions=conditions, logic=logic)


def _unknown(field: str, key: str) -> bool:
    raise ValueError(f"{field}.logic refers to condition {key!r}, which is not defined")


def _parse_condition(field: str, value: Any) -> Condition:
    if not isinstance(value, Mapping):
        raise ValueError(f"{field} must be an object")
    name = value.get("name")
    if name not in CONDITION_NAMES:
        raise ValueError(f"{field}.name must be one of {sorted(CONDITION_NAMES)}, got {name!r}")
    prop = value.get("property")
    if name in PROPERTY_NAMES and (not isinstance(prop, str) or not prop):
        raise ValueError(f"{field}.property is required for {name}")
    raw_ops = value.get("conditions")
    if not isinstance(raw_ops, Mapping) or not raw_ops:
        raise ValueError(f"{field}.conditions must be an object such as {{'$is': [...]}}")
    operators: list[tuple[str, tuple[Any, ...]]] = []
    for op, args in raw_ops.items():
        if op not in OPERATORS:
            raise ValueError(f"{field}.conditions: unknown operator {op!r}")
        if not isinstance(args, list) or not args:
            raise ValueError(f"{field}.conditions.{op} must be a non-empty list")
        if op in NUMERIC_OPERATORS and (len(args) != 1 or _num(args[0]) is None):
            raise ValueError(f"{field}.conditions.{op} must be a list of one number")
        operators.append((op, tuple(args)))
    nested = value.get("rules")
    tree = None
    if nested:
        if name != "product.id":
            raise ValueError(f"{field}.rules: nested rules are only supported under product.id")
        tree = _parse_tree(f"{field}.rules", nested, top=False)
    return Condition(name=name, operators=tuple(operators), property=prop, rules=tree)


_TOKEN = re.compile(r"\s*(\(|\)|and\b|or\b|\d+)\s*", re.IGNORECASE)


class _Logic:
    """``(1 and 2) or 3``: recursive descent, ``and`` binds tighter than ``or``."""

    def __init__(self, text: str, leaf: Callable[[str], bool]) -> None:
        self.tokens: list[str] = []
        pos = 0
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise ValueError(f"validation_rule.rules.logic: cannot parse {text!r}")
            self.tokens.append(match.group(1).lower())
            pos = match.end()
        self.pos = 0
        self.leaf = leaf
        self.check = False

    def run(self, check: bool = False) -> bool:
        """Evaluate; with ``check`` every leaf is visited (no short circuit) to validate keys."""
        self.check = check
        if not self.tokens:
            raise ValueError("validation_rule.rules.logic is empty")
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError(f"validation_rule.rules.logic: unexpected {self.tokens[self.pos]!r}")
        return value

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> bool:
        value = self._and()
        while self._peek() == "or":
            self.pos += 1
            right = self._and()
            value = value or right
        return value

    def _and(self) -> bool:
        value = self._atom()
        while self._peek() == "and":
            self.pos += 1
            right = self._atom()
            value = value and right
        return value

    def _atom(self) -> bool:
        token = self._peek()
        if token is None:
            raise ValueError("validation_rule.rules.logic ends too early")
        self.pos += 1
        if token == "(":
            value = self._or()
            if self._peek() != ")":
                raise ValueError("validation_rule.rules.logic: missing ')'")
            self.pos += 1
            return value
        if token.isdigit():
            return self.leaf(token)
        raise ValueError(f"validation_rule.rules.logic: unexpected {token!r}")
