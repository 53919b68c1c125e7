"""Talon.One Integration API v2 wire format: request bodies in, model state out.

Pure functions, no Quart and no trio. Bodies are decoded strictly with msgspec (camelCase
names; the official SDK omits unset fields, other clients may send ``null``, both accepted);
anything malformed raises :class:`TalonError` 400 with Talon.One's error shape, naming the
field as a JSON pointer. Money arrives as currency amounts (``19.99``) and is held as integer
cents: more than two decimal places, negatives, NaN are refused rather than rounded.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from promoloop.connectors.talon.model import (
    CartLine,
    Profile,
    Session,
    SessionUpdate,
    TalonModel,
    money,
)

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

MAX_BODY_BYTES = 1024 * 1024
MAX_CART_ITEMS = 1000
RESPONSE_CONTENT = frozenset(
    {
        "customerSession",
        "customerProfile",
        "coupons",
        "triggeredCampaigns",
        "referral",
        "loyalty",
        "event",
        "awardedGiveaways",
        "ruleFailureReasons",
        "previousReturns",
    }
)
"""What the SDK lets a client ask for; the ones this face does not fill are left out."""


class TalonError(Exception):
    """Rendered as Talon.One's ``{"message", "errors": [{"title", "details", "source"}]}``
    (``ErrorResponse``), plus ``StatusCode`` for 401/404 (``ErrorResponseWithStatus``)."""

    def __init__(self, status: int, message: str, pointer: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.pointer = pointer

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "title": _TITLES.get(self.status, "Error"),
            "details": self.message,
        }
        error["source"] = {"pointer": self.pointer} if self.pointer else {}
        out: dict[str, Any] = {"message": self.message, "errors": [error]}
        if self.status != 400:
            out["StatusCode"] = self.status
        return out


_TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
}


def invalid(message: str, pointer: str | None = None) -> TalonError:
    return TalonError(400, message, pointer)


# -- request bodies ----------------------------------------------------------------------------


class _Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Unknown fields are ignored, as Talon.One ignores fields it does not use."""


class WCartItem(_Body):
    sku: str
    quantity: int
    name: str | None = None
    price: int | float | None = None
    category: str | None = None
    attributes: dict[str, Any] | None = None


class WAdditionalCost(_Body):
    price: int | float


class WSession(_Body):
    profileId: str | None = None
    storeIntegrationId: str | None = None
    evaluableCampaignIds: list[int] | None = None
    couponCodes: list[str] | None = None
    referralCode: str | None = None
    loyaltyCards: list[str] | None = None
    state: str | None = None
    cartItems: list[WCartItem] | None = None
    additionalCosts: dict[str, WAdditionalCost] | None = None
    identifiers: list[str] | None = None
    attributes: dict[str, Any] | None = None


class WIntegrationRequest(_Body):
    customerSession: WSession
    responseContent: list[str] | None = None


class WAudiencesChanges(_Body):
    adds: list[int] | None = None
    deletes: list[int] | None = None


class WProfile(_Body):
    attributes: dict[str, Any] | None = None
    evaluableCampaignIds: list[int] | None = None
    audiencesChanges: WAudiencesChanges | None = None
    responseContent: list[str] | None = None


class WEvent(_Body):
    type: str
    profileId: str | None = None
    storeIntegrationId: str | None = None
    evaluableCampaignIds: list[int] | None = None
    attributes: dict[str, Any] | None = None
    loyaltyCards: list[str] | None = None
    responseContent: list[str] | None = None


_PATH = re.compile(r"\$((?:\.\w+|\[\d+\])*)")


def _pointer(message: str) -> str | None:
    """msgspec's ``$.customerSession.cartItems[0].price`` as a JSON pointer
    (``/customerSession/cartItems/0/price``)."""
    match = _PATH.search(message)
    if match is None or not match.group(1):
        return None
    return re.sub(r"\.(\w+)|\[(\d+)\]", lambda m: "/" + (m.group(1) or m.group(2)), match.group(1))


def decode(body: bytes, kind: type[T]) -> T:
    if not body.strip():
        raise invalid("request body is empty; a JSON object is expected")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as error:
        raise invalid(str(error), _pointer(str(error))) from None


def cents(value: int | float, pointer: str) -> int:
    """A currency amount as integer cents, exactly, or 400 naming the field."""
    if isinstance(value, bool):
        raise invalid("an amount must be a number", pointer)
    try:
        amount = Decimal(str(value)) * 100
    except InvalidOperation:
        raise invalid(f"{value!r} is not an amount", pointer) from None
    if not amount.is_finite() or amount != amount.to_integral_value():
        raise invalid(f"{value!r}: at most two decimal places", pointer)
    if amount < 0:
        raise invalid(f"{value!r}: an amount cannot be negative", pointer)
    return int(amount)


def response_content(requested: list[str] | None, pointer: str) -> frozenset[str]:
    wanted = frozenset(requested or ())
    unknown = sorted(wanted - RESPONSE_CONTENT)
    if unknown:
        raise invalid(f"unknown responseContent {unknown}", pointer)
    return wanted


def session_update(req: WSession) -> SessionUpdate:
    cart = None
    if req.cartItems is not None:
        if len(req.cartItems) > MAX_CART_ITEMS:
            raise invalid(f"at most {MAX_CART_ITEMS} cart items", "/customerSession/cartItems")
        cart = []
        for i, item in enumerate(req.cartItems):
            where = f"/customerSession/cartItems/{i}"
            if not item.sku:
                raise invalid("sku must be a non-empty string", f"{where}/sku")
            if item.quantity < 1:
                raise invalid("quantity must be >= 1", f"{where}/quantity")
            cart.append(
                CartLine(
                    sku=item.sku,
                    quantity=item.quantity,
                    price_cents=cents(item.price or 0, f"{where}/price"),
                    name=item.name,
                    category=item.category,
                    attributes=dict(item.attributes or {}),
                )
            )
    costs = None
    if req.additionalCosts is not None:
        costs = {
            name: cents(cost.price, f"/customerSession/additionalCosts/{name}/price")
            for name, cost in req.additionalCosts.items()
        }
    if req.couponCodes is not None and any(not c for c in req.couponCodes):
        raise invalid("coupon codes must be non-empty strings", "/customerSession/couponCodes")
    return SessionUpdate(
        profile_id=req.profileId,
        state=req.state,
        coupon_codes=req.couponCodes,
        referral_code=req.referralCode,
        cart=cart,
        additional_costs=costs,
        attributes=req.attributes,
        identifiers=req.identifiers,
        store_integration_id=req.storeIntegrationId,
        evaluable_campaign_ids=req.evaluableCampaignIds,
    )


# -- model → JSON --------------------------------------------------------------------------------


def ts(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def session_json(talon: TalonModel, session: Session) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": session.number,
        "created": ts(session.created),
        "integrationId": session.integration_id,
        "applicationId": talon.application_id,
        "profileId": session.profile_id or "",
        "couponCodes": session.coupon_codes,
        "loyaltyCards": [],
        "state": session.state,
        "cartItems": [
            {
                "name": line.name,
                "sku": line.sku,
                "quantity": line.quantity,
                "price": money(line.price_cents),
                "category": line.category,
                "attributes": line.attributes,
                "position": i,
            }
            for i, line in enumerate(session.cart)
        ],
        "additionalCosts": {k: {"price": money(v)} for k, v in session.additional_costs.items()},
        "identifiers": session.identifiers,
        "attributes": session.attributes,
        "firstSession": session.first_session,
        "total": money(session.total_cents),
        "cartItemTotal": money(session.cart_item_cents),
        "additionalCostTotal": money(session.additional_cost_cents),
        "updated": ts(session.updated),
        "updateCount": session.update_count,
    }
    if session.referral_code:
        out["referralCode"] = session.referral_code
    if session.store_integration_id:
        out["storeIntegrationId"] = session.store_integration_id
    for line in out["cartItems"]:
        for key in ("name", "category"):
            if line[key] is None:
                del line[key]
    return out


def profile_json(talon: TalonModel, profile: Profile) -> dict[str, Any]:
    memberships = [
        {
            "loyaltyProgramId": talon.number("program", card.program_id),
            "joined": ts(card.created_at),
        }
        for card in talon.engine.loyalty.cards.values()
        if card.holder == profile.integration_id and card.created_at is not None
    ]
    return {
        "id": profile.number,
        "created": ts(profile.created),
        "integrationId": profile.integration_id,
        "attributes": talon.attributes_of(profile.integration_id),
        "accountId": 1,
        "closedSessions": profile.closed_sessions,
        "totalSales": money(profile.total_sales_cents),
        "loyaltyMemberships": memberships,
        "lastActivity": ts(profile.last_activity),
    }


def loyalty_json(talon: TalonModel, profile_id: str | None) -> dict[str, Any]:
    programs: dict[str, Any] = {}
    if profile_id:
        for program in talon.engine.loyalty.programs.values():
            card = talon.engine.loyalty.card_of(program.id, profile_id)
            if card is None:
                continue
            number = talon.number("program", program.id)
            ledger: dict[str, Any] = {
                "currentBalance": card.balance,
                "pendingBalance": 0,
                "expiredBalance": 0,
                "spentBalance": card.spent,
                "tentativeCurrentBalance": card.balance,
            }
            tier = program.tier_for(card.earned)
            if tier is not None:
                ledger["currentTier"] = {"id": talon.number("tier", tier.id), "name": tier.name}
            following = program.next_tier(card.earned)
            if following is not None:
                ledger["pointsToNextTier"] = following.min_points - card.earned
            programs[str(number)] = {
                "id": number,
                "title": program.name,
                "name": program.id,
                "ledger": ledger,
                "joinDate": ts(card.created_at) if card.created_at else None,
            }
            if programs[str(number)]["joinDate"] is None:
                del programs[str(number)]["joinDate"]
    return {"programs": programs}


def coupon_json(talon: TalonModel, code: str) -> dict[str, Any]:
    voucher = talon.engine.vouchers[code]
    campaign = talon.engine.campaigns[voucher.campaign_id]
    owner = next((c.id for c in talon.campaigns.values() if c.coupon_campaign_id == campaign.id), 0)
    out: dict[str, Any] = {
        "id": talon.number("coupon", code),
        "created": ts(voucher.created_at or voucher.published_at or EPOCH),
        "campaignId": owner,
        "value": code,
        "usageLimit": campaign.quotas.per_code or 0,
        "usageCounter": voucher.redeemed_quantity,
        "attributes": dict(voucher.metadata),
    }
    if voucher.holder:
        out["recipientIntegrationId"] = voucher.holder
    if campaign.start_date:
        out["startDate"] = ts(campaign.start_date)
    if campaign.expiration_date:
        out["expiryDate"] = ts(campaign.expiration_date)
    return out


def referral_json(talon: TalonModel, code: str) -> dict[str, Any]:
    referral = talon.engine.referrals.codes[code]
    program = talon.engine.referrals.programs[referral.program_id]
    owner = next((c.id for c in talon.campaigns.values() if c.referral_program_id == program.id), 0)
    out: dict[str, Any] = {
        "id": talon.number("referral", code),
        "created": ts(referral.created_at or EPOCH),
        "campaignId": owner,
        "advocateProfileIntegrationId": referral.advocate,
        "code": code,
        "usageCounter": referral.usage_counter,
        "usageLimit": program.per_code_limit or 0,
        "referredCustomers": list(referral.friends),
    }
    if referral.friends:
        out["friendProfileIntegrationId"] = referral.friends[-1]
    return out
