"""Loyalty programs: cards holding integer points, earning rules, tiers and rewards.

A program (Voucherify ``LOYALTY_PROGRAM``, Talon.One loyalty program) gives each member one
card. Points are earned by :class:`EarningRule`s (N points per whole currency unit of an order,
or a fixed bonus on a named event), by referral rewards, or by a Talon.One ``addLoyaltyPoints``
effect; they are spent on :class:`Reward`s or on paying part of an order
(``points_value_cents``). Tiers follow the points a member has *earned* over the card's life,
so spending points never demotes anyone (Voucherify's "points earned" tier mode).

Every change is a :class:`PointsTransaction`; :meth:`LoyaltyLedger.reverse` undoes exactly one,
which is how a rolled-back redemption restores the points it spent and a cancelled Talon.One
session takes back the points it added. A reversal may leave a balance negative (Talon.One's
``negativeBalance``: the points were already spent) rather than refusing a rollback.

Plain state, no I/O; the engine model owns one ledger and calls it under its one-caller rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from promoloop.actors.promotions.codes import CodeConfig
from promoloop.actors.promotions.errors import PromotionError

EARN = "EARN"
SPEND = "SPEND"
REVERSAL = "REVERSAL"


def _positive(field_name: str, value: object, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{field_name} must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{field_name} must be {'>= 0' if allow_zero else '> 0'}, got {value}")


class EarningRule(msgspec.Struct, frozen=True, kw_only=True):
    """Points for an event: ``points`` per whole ``per_cents`` of the amount (``points=1,
    per_cents=100``: a point per dollar), or ``points`` flat when ``per_cents`` is None."""

    id: str
    event: str
    """An event name: ``Order Completed``, ``redemption.succeeded``, or any custom event."""
    points: int
    per_cents: int | None = None
    min_amount_cents: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("earning_rule.id must be a non-empty string")
        if not isinstance(self.event, str) or not self.event:
            raise ValueError("earning_rule.event must be a non-empty string")
        _positive("earning_rule.points", self.points)
        if self.per_cents is not None:
            _positive("earning_rule.per_cents", self.per_cents)
        if self.min_amount_cents is not None:
            _positive("earning_rule.min_amount_cents", self.min_amount_cents, allow_zero=True)

    def points_for(self, amount_cents: int | None) -> int:
        """Integer points for an event carrying ``amount_cents`` (floor: no partial points)."""
        if self.min_amount_cents is not None and (amount_cents or 0) < self.min_amount_cents:
            return 0
        if self.per_cents is None:
            return self.points
        if amount_cents is None or amount_cents <= 0:
            return 0
        return self.points * (amount_cents // self.per_cents)


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    """Members whose earned points reach ``min_points`` are in this tier (the highest one)."""

    id: str
    name: str
    min_points: int

    def __post_init__(self) -> None:
        _positive("tier.min_points", self.min_points, allow_zero=True)


class Reward(msgspec.Struct, frozen=True, kw_only=True):
    """Bought with ``points``: a code published from ``campaign_id`` (a discount coupon), or
    ``credits_cents`` added to the member's gift card in ``campaign_id`` (a gift campaign)."""

    id: str
    name: str
    points: int
    campaign_id: str
    credits_cents: int | None = None

    def __post_init__(self) -> None:
        _positive("reward.points", self.points)
        if self.credits_cents is not None:
            _positive("reward.credits_cents", self.credits_cents)


class LoyaltyProgram(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    code_config: CodeConfig = msgspec.field(
        default_factory=lambda: CodeConfig(pattern="LC-########")
    )
    earning_rules: tuple[EarningRule, ...] = ()
    tiers: tuple[Tier, ...] = ()
    rewards: tuple[Reward, ...] = ()
    points_value_cents: int | None = None
    """What one point pays off an order when a member pays with points (None: not allowed)."""
    active: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("loyalty_program.id must be a non-empty string")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("loyalty_program.name must be a non-empty string")
        thresholds = [t.min_points for t in self.tiers]
        if thresholds != sorted(set(thresholds)):
            raise ValueError("loyalty_program.tiers must have strictly increasing min_points")
        for kind, items in (("earning_rules", self.earning_rules), ("rewards", self.rewards)):
            ids = [i.id for i in items]
            if len(ids) != len(set(ids)):
                raise ValueError(f"loyalty_program.{kind} ids must be unique")
        if self.points_value_cents is not None:
            _positive("loyalty_program.points_value_cents", self.points_value_cents)

    def tier_for(self, earned: int) -> Tier | None:
        reached = [t for t in self.tiers if earned >= t.min_points]
        return reached[-1] if reached else None

    def next_tier(self, earned: int) -> Tier | None:
        return next((t for t in self.tiers if t.min_points > earned), None)

    def reward(self, reward_id: str) -> Reward:
        for reward in self.rewards:
            if reward.id == reward_id:
                return reward
        raise PromotionError("not_found", f"Cannot find reward with id {reward_id}", 404)


@dataclass(slots=True)
class PointsTransaction:
    id: str
    date: datetime
    card: str
    program_id: str
    customer_id: str
    kind: str
    """EARN, SPEND or REVERSAL (of the transaction named in ``reverses``)."""
    points: int
    """Signed change of the balance."""
    source: str
    """What caused it: an earning rule id, a reward id, a redemption id, a referral id..."""
    reverses: str | None = None
    reversed_by: str | None = None


@dataclass(slots=True)
class LoyaltyCard:
    code: str
    program_id: str
    holder: str
    created_at: datetime | None = None
    balance: int = 0
    earned: int = 0
    """Points earned over the card's life minus reversed earnings: what tiers follow."""
    spent: int = 0
    transactions: list[str] = field(default_factory=list)


class LoyaltyLedger:
    """Programs, cards (one per member and program) and every points transaction."""

    def __init__(self, new_id: Callable[[str], str], new_code: Callable[[CodeConfig], str]) -> None:
        self._new_id = new_id
        self._new_code = new_code
        self.programs: dict[str, LoyaltyProgram] = {}
        self.cards: dict[str, LoyaltyCard] = {}
        self.transactions: dict[str, PointsTransaction] = {}
        self._card_of: dict[tuple[str, str], str] = {}

    def add_program(self, program: LoyaltyProgram) -> LoyaltyProgram:
        if program.id in self.programs:
            raise PromotionError(
                "duplicate_resource_key", f"loyalty program {program.id!r} exists", 409
            )
        self.programs[program.id] = program
        return program

    def program(self, program_id: str) -> LoyaltyProgram:
        try:
            return self.programs[program_id]
        except KeyError:
            raise PromotionError(
                "not_found", f"Cannot find loyalty program with id {program_id}", 404
            ) from None

    def card(self, code: str) -> LoyaltyCard:
        try:
            return self.cards[code]
        except KeyError:
            raise PromotionError("not_found", f"Cannot find loyalty card {code}", 404) from None

    def card_of(self, program_id: str, customer_id: str) -> LoyaltyCard | None:
        code = self._card_of.get((program_id, customer_id))
        return self.cards[code] if code is not None else None

    def join(self, program_id: str, customer_id: str, now: datetime | None) -> LoyaltyCard:
        """The member's card, issued on first call (join once: one card per program)."""
        program = self.program(program_id)
        existing = self.card_of(program_id, customer_id)
        if existing is not None:
            return existing
        if not program.active:
            raise PromotionError("campaign_disabled", f"loyalty program {program.name!r} is off")
        card = LoyaltyCard(
            code=self._new_code(program.code_config),
            program_id=program_id,
            holder=customer_id,
            created_at=now,
        )
        self.cards[card.code] = card
        self._card_of[(program_id, customer_id)] = card.code
        return card

    def _record(
        self,
        card: LoyaltyCard,
        kind: str,
        points: int,
        source: str,
        now: datetime,
        reverses: str | None = None,
    ) -> PointsTransaction:
        tx = PointsTransaction(
            id=self._new_id("lt"),
            date=now,
            card=card.code,
            program_id=card.program_id,
            customer_id=card.holder,
            kind=kind,
            points=points,
            source=source,
            reverses=reverses,
        )
        card.balance += points
        card.transactions.append(tx.id)
        self.transactions[tx.id] = tx
        return tx

    def earn(
        self, program_id: str, customer_id: str, points: int, source: str, now: datetime
    ) -> PointsTransaction:
        """Add ``points`` (> 0) to the member's card, joining the program if needed."""
        _positive("points", points)
        card = self.join(program_id, customer_id, now)
        card.earned += points
        return self._record(card, EARN, points, source, now)

    def spend(self, card_code: str, points: int, source: str, now: datetime) -> PointsTransaction:
        """Take ``points`` off a card; refused (nothing written) when the balance is short."""
        if isinstance(points, bool) or not isinstance(points, int) or points <= 0:
            raise PromotionError("invalid_amount", f"points must be an integer > 0, got {points}")
        card = self.card(card_code)
        if card.balance < points:
            raise PromotionError(
                "loyalty_card_points_exceeded",
                f"loyalty card {card_code} has {card.balance} points, {points} requested",
            )
        card.spent += points
        return self._record(card, SPEND, -points, source, now)

    def reverse(self, transaction_id: str, now: datetime) -> PointsTransaction:
        """Undo one earn or spend exactly; a second reversal is refused."""
        tx = self.transactions.get(transaction_id)
        if tx is None:
            raise PromotionError("not_found", f"Cannot find transaction {transaction_id}", 404)
        if tx.kind == REVERSAL or tx.reversed_by is not None:
            raise PromotionError(
                "already_rolled_back", f"points transaction {transaction_id} was reversed"
            )
        card = self.cards[tx.card]
        if tx.kind == EARN:
            card.earned -= tx.points
        else:
            card.spent += tx.points  # tx.points is negative for a spend
        back = self._record(card, REVERSAL, -tx.points, tx.source, now, reverses=tx.id)
        tx.reversed_by = back.id
        return back

    def matching_rules(self, event: str) -> list[tuple[LoyaltyProgram, EarningRule]]:
        return [
            (program, rule)
            for program in self.programs.values()
            if program.active
            for rule in program.earning_rules
            if rule.event == event
        ]
