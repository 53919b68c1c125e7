"""Records of what happened: publications, redemptions, rollbacks and custom events.

A :class:`Redemption` keeps exactly what it took (cents off the balance or the budget, one unit
of each quantity), which is what its rollback gives back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from promoloop.actors.promotions.discounts import Cart

SUCCEEDED = "SUCCEEDED"
ROLLED_BACK = "ROLLED_BACK"


@dataclass(slots=True)
class Publication:
    id: str
    created_at: datetime
    customer_id: str
    code: str
    campaign_id: str
    channel: str


@dataclass(slots=True)
class Redemption:
    id: str
    date: datetime
    code: str
    campaign_id: str
    customer_id: str | None
    order: Cart
    amount_cents: int
    """Cents this redemption paid: the discount, or the credits taken off a gift card."""
    gift: bool
    balance_after_cents: int | None
    metadata: dict[str, Any] = field(default_factory=dict)
    status: str = SUCCEEDED
    rollback_id: str | None = None
    points: int = 0
    """Loyalty points this redemption spent (paying with points; ``code`` is the card)."""
    points_transaction: str | None = None
    """The spend in the loyalty ledger, which a rollback reverses."""


@dataclass(slots=True)
class Rollback:
    id: str
    date: datetime
    redemption_id: str
    code: str
    campaign_id: str
    customer_id: str | None
    amount_cents: int
    reason: str | None
    balance_after_cents: int | None


@dataclass(slots=True)
class CustomEvent:
    """A ``POST /v1/events`` custom event, kept in arrival order."""

    name: str
    customer_id: str
    date: datetime
    metadata: dict[str, Any] = field(default_factory=dict)
