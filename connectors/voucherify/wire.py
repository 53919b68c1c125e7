"""Voucherify v1 wire format: request bodies in, model definitions out; model state in, JSON out.

Pure functions, no Quart and no trio. Request bodies are decoded with msgspec into the Structs
below (the official SDK sends ``null`` for every unset field, so every optional field accepts
null), then turned into model objects; anything malformed raises :class:`ApiError` with
Voucherify's ``invalid_payload`` key and a ``details`` naming the field, never a 500.

promoloop extension (documented in ``docs/voucherify-api.md``): a campaign body may carry
``"promoloop": {"budget": cents, "redemptions_quantity": n, "per_customer_quantity": n,
"holder_only": bool}`` for the limits Voucherify expresses with dashboard-only settings.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any, TypeVar

import msgspec

from promoloop.actors.promotions import (
    Campaign,
    Cart,
    CodeConfig,
    Discount,
    DiscountCampaign,
    GiftCardCampaign,
    HourWindow,
    Item,
    PromotionEngineModel,
    PromotionError,
    Publication,
    Quotas,
    Redemption,
    Rollback,
    Segment,
    ValidationRule,
    Voucher,
)
from promoloop.actors.promotions.discounts import percent_to_bp
from promoloop.actors.promotions.ledger import ROLLED_BACK

T = TypeVar("T")

MAX_BODY_BYTES = 1024 * 1024
MAX_REDEEMABLES = 5
"""Voucherify's default ``applicable_redeemables_limit``: at most 5 codes in one request."""

MESSAGES = {
    "unauthorized": "Unauthorized",
    "not_found": "Resource not found",
    "invalid_payload": "Invalid payload",
    "duplicate_resource_key": "Duplicated resource key",
    "method_not_allowed": "Method not allowed",
}


class ApiError(Exception):
    """Rendered as ``{"code", "key", "message", "details"}`` with HTTP status ``code``."""

    def __init__(self, status: int, key: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.key = key
        self.details = details

    @property
    def message(self) -> str:
        return MESSAGES.get(self.key, self.key.replace("_", " ").capitalize())

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "code": self.status,
            "key": self.key,
            "message": self.message,
            "details": self.details,
            "request_id": request_id,
        }

    @classmethod
    def of(cls, error: PromotionError) -> ApiError:
        return cls(error.status, error.key, error.message)


def invalid(details: str) -> ApiError:
    return ApiError(400, "invalid_payload", details)


# -- request bodies ---------------------------------------------------------------------------


class _Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Unknown fields are ignored, as Voucherify ignores fields it does not use."""


class WCustomer(_Body):
    id: str | None = None
    source_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class WItem(_Body):
    product_id: str | None = None
    sku_id: str | None = None
    source_id: str | None = None
    quantity: int | None = None
    price: int | None = None
    amount: int | None = None


class WOrder(_Body):
    id: str | None = None
    source_id: str | None = None
    amount: int | None = None
    items: list[WItem] | None = None
    metadata: dict[str, Any] | None = None


class WCredits(_Body):
    credits: int | None = None


class WRedeemable(_Body):
    object: str
    id: str
    gift: WCredits | None = None


class WStacked(_Body):
    redeemables: list[WRedeemable]
    order: WOrder | None = None
    customer: WCustomer | None = None
    metadata: dict[str, Any] | None = None
    tracking_id: str | None = None


class WLegacy(_Body):
    """``POST /v1/vouchers/{code}/validate`` and ``/redemption`` (pre-stacking API)."""

    order: WOrder | None = None
    customer: WCustomer | None = None
    metadata: dict[str, Any] | None = None
    gift: WCredits | None = None
    amount: int | None = None


class WCodeConfig(_Body):
    length: int | None = None
    charset: str | None = None
    prefix: str | None = None
    postfix: str | None = None
    pattern: str | None = None


class WDiscount(_Body):
    type: str
    amount_off: int | None = None
    percent_off: int | float | None = None
    amount_limit: int | None = None
    unit_off: int | None = None
    unit_type: str | None = None
    fixed_amount: int | None = None


class WGift(_Body):
    amount: int | None = None


class WQuantity(_Body):
    quantity: int | None = None


class WVoucherDef(_Body):
    type: str | None = None
    discount: WDiscount | None = None
    gift: WGift | None = None
    code_config: WCodeConfig | None = None
    redemption: WQuantity | None = None


class WDaily(_Body):
    start_time: str
    expiration_time: str
    days_of_week: list[int] | None = None


class WHours(_Body):
    daily: list[WDaily] | None = None


class WExtension(_Body):
    budget: int | None = None
    redemptions_quantity: int | None = None
    per_customer_quantity: int | None = None
    holder_only: bool | None = None


class WCampaign(_Body):
    name: str
    description: str | None = None
    type: str | None = None
    campaign_type: str | None = None
    join_once: bool | None = None
    vouchers_count: int | None = None
    start_date: datetime | None = None
    expiration_date: datetime | None = None
    validity_day_of_week: list[int] | None = None
    validity_hours: WHours | None = None
    metadata: dict[str, Any] | None = None
    validation_rules: list[str] | None = None
    voucher: WVoucherDef | None = None
    promoloop: WExtension | None = None


class WVoucher(WVoucherDef):
    """A standalone code or a code added to a campaign (``POST /v1/vouchers[/{code}]``)."""

    code: str | None = None
    campaign: str | None = None
    campaign_id: str | None = None
    start_date: datetime | None = None
    expiration_date: datetime | None = None
    active: bool | None = None
    metadata: dict[str, Any] | None = None
    validation_rules: list[str] | None = None


class WImportItem(_Body):
    code: str


class WCampaignRef(_Body):
    id: str | None = None
    name: str | None = None


class WPublication(_Body):
    campaign: WCampaignRef | str | None = None
    customer: WCustomer | None = None
    voucher: str | None = None
    channel: str | None = None
    metadata: dict[str, Any] | None = None
    source_id: str | None = None


class WRollback(_Body):
    reason: str | None = None


class WSegment(_Body):
    name: str
    type: str
    customers: list[str] | None = None


class WReferral(_Body):
    code: str
    referrer_id: str | None = None


class WEvent(_Body):
    event: str
    customer: WCustomer
    metadata: dict[str, Any] | None = None
    referral: WReferral | None = None


class WAssignment(_Body):
    related_object_type: str | None = None
    related_object_id: str | None = None
    campaign: str | None = None


def decode(body: bytes, kind: type[T]) -> T:
    """Decode a request body, or ``invalid_payload`` with msgspec's path to the bad field."""
    if not body.strip():
        raise invalid("request body is empty; a JSON object is expected")
    try:
        return msgspec.json.decode(body, type=kind)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise invalid(str(error)) from None


# -- request bodies → model -------------------------------------------------------------------


def customer_ref(customer: WCustomer | None, model: PromotionEngineModel) -> str | None:
    """The customer's source id: given directly, or found from Voucherify's ``cust_`` id."""
    if customer is None:
        return None
    if customer.source_id:
        return customer.source_id
    if customer.id:
        source = source_of(model, customer.id)
        if source is None:
            raise ApiError(404, "not_found", f"Cannot find customer with id {customer.id}")
        return source
    return None


def source_of(model: PromotionEngineModel, ref: str) -> str | None:
    if ref in model.customer_ids:
        return ref
    return next((s for s, cid in model.customer_ids.items() if cid == ref), None)


def customer_traits(customer: WCustomer) -> dict[str, Any]:
    fields = ("name", "email", "phone", "description")
    traits = {f: getattr(customer, f) for f in fields if getattr(customer, f) is not None}
    if customer.metadata is not None:
        traits["metadata"] = dict(customer.metadata)
    return traits


def cart(order: WOrder | None, fallback_amount: int | None = None) -> Cart:
    if order is None:
        if fallback_amount is None:
            raise invalid("order is required (order.amount or order.items)")
        return Cart(amount_cents=fallback_amount)
    try:
        items = tuple(
            Item(
                product_id=i.product_id,
                sku_id=i.sku_id or i.source_id,
                quantity=1 if i.quantity is None else i.quantity,
                price_cents=i.price,
                amount_cents=i.amount,
            )
            for i in order.items or ()
        )
        if order.amount is None and not items:
            raise ValueError("order.amount or order.items is required")
        return Cart.of(
            order.amount,
            items,
            id=order.id or order.source_id,
            metadata=dict(order.metadata or {}),
        )
    except ValueError as error:
        raise invalid(str(error)) from None


def _hours(hours: WHours | None) -> tuple[HourWindow, ...]:
    out = []
    for daily in (hours.daily if hours else None) or ():
        try:
            start = time.fromisoformat(daily.start_time)
            end = time.fromisoformat(daily.expiration_time)
        except ValueError:
            raise ValueError("validity_hours.daily times must be HH:MM") from None
        days = frozenset(daily.days_of_week) if daily.days_of_week is not None else None
        out.append(HourWindow(start=start, end=end, days_of_week=days))
    return tuple(out)


def _code_config(config: WCodeConfig | None) -> CodeConfig:
    if config is None:
        return CodeConfig()
    given = {
        k: v
        for k, v in msgspec.structs.asdict(config).items()
        if v is not None and not (k == "charset" and v == "")
    }
    return CodeConfig(**given)


def _discount(discount: WDiscount) -> Discount:
    percent = None
    if discount.percent_off is not None:
        percent = percent_to_bp("discount.percent_off", discount.percent_off)
    return Discount(
        type=discount.type,
        amount_off_cents=discount.amount_off,
        percent_off_bp=percent,
        amount_limit_cents=discount.amount_limit,
        unit_off=discount.unit_off,
        unit_type=discount.unit_type,
        fixed_amount_cents=discount.fixed_amount,
    )


def build_campaign(body: WCampaign | WVoucher, campaign_id: str, standalone: bool) -> Campaign:
    """A model campaign from a campaign body (or a standalone voucher body)."""
    try:
        voucher = body if isinstance(body, WVoucher) else body.voucher
        if voucher is None:
            raise ValueError("campaign.voucher is required (the definition of its codes)")
        ext = body.promoloop if isinstance(body, WCampaign) else None
        ext = ext or WExtension()
        per_code = voucher.redemption.quantity if voucher.redemption else None
        quotas = Quotas(
            redemptions=ext.redemptions_quantity,
            per_code=per_code,
            per_customer=ext.per_customer_quantity,
            budget_cents=ext.budget,
        )
        if isinstance(body, WCampaign):
            name = body.name
            common: dict[str, Any] = {
                "description": body.description or "",
                "validity_day_of_week": (
                    frozenset(body.validity_day_of_week)
                    if body.validity_day_of_week is not None
                    else None
                ),
                "validity_hours": _hours(body.validity_hours),
            }
        else:
            name = f"standalone {body.code or campaign_id}"
            common = {"active": body.active if body.active is not None else True}
        common.update(
            id=campaign_id,
            name=name,
            code_config=_code_config(voucher.code_config),
            start_date=body.start_date,
            expiration_date=body.expiration_date,
            quotas=quotas,
            validation_rule_ids=tuple(body.validation_rules or ()),
            metadata=dict(body.metadata or {}),
            standalone=standalone,
        )
        if isinstance(body, WCampaign) and body.join_once is not None:
            common["join_once"] = body.join_once
        if ext.holder_only is not None:
            common["holder_only"] = ext.holder_only
        kind = voucher.type or (
            "GIFT_VOUCHER"
            if isinstance(body, WCampaign) and body.campaign_type == "GIFT_VOUCHERS"
            else "DISCOUNT_VOUCHER"
        )
        if isinstance(body, WCampaign) and body.campaign_type not in (
            None,
            "GIFT_VOUCHERS",
            "DISCOUNT_COUPONS",
        ):
            raise ValueError(
                f"campaign.campaign_type {body.campaign_type!r} is not supported "
                "(GIFT_VOUCHERS, DISCOUNT_COUPONS)"
            )
        if kind == "GIFT_VOUCHER":
            if voucher.gift is None or voucher.gift.amount is None:
                raise ValueError("voucher.gift.amount is required for a gift voucher")
            return GiftCardCampaign(amount_cents=voucher.gift.amount, **common)
        if kind == "DISCOUNT_VOUCHER":
            if voucher.discount is None:
                raise ValueError("voucher.discount is required for a discount voucher")
            return DiscountCampaign(discount=_discount(voucher.discount), **common)
        raise ValueError(f"voucher.type {kind!r} is not supported (GIFT_VOUCHER, DISCOUNT_VOUCHER)")
    except (ValueError, TypeError) as error:
        raise invalid(str(error)) from None


# -- model → JSON -----------------------------------------------------------------------------


def ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


def voucher_id(code: str) -> str:
    return f"v_{code}"


def campaign_json(model: PromotionEngineModel, campaign: Campaign) -> dict[str, Any]:
    gift = isinstance(campaign, GiftCardCampaign)
    count = sum(1 for v in model.vouchers.values() if v.campaign_id == campaign.id)
    voucher: dict[str, Any] = {
        "type": campaign.voucher_type,
        "code_config": _drop_none(msgspec.structs.asdict(campaign.code_config)),
        "redemption": {"quantity": campaign.quotas.per_code},
    }
    if gift:
        voucher["gift"] = {"amount": campaign.amount_cents, "balance": campaign.amount_cents}
    else:
        voucher["discount"] = campaign.discount.to_wire()
    hours = [
        _drop_none(
            {
                "start_time": h.start.strftime("%H:%M"),
                "expiration_time": h.end.strftime("%H:%M"),
                "days_of_week": sorted(h.days_of_week) if h.days_of_week is not None else None,
            }
        )
        for h in campaign.validity_hours
    ]
    return _drop_none(
        {
            "id": campaign.id,
            "name": campaign.name,
            "description": campaign.description or None,
            "campaign_type": campaign.type,
            "type": "STANDALONE" if campaign.standalone else "AUTO_UPDATE",
            "voucher": voucher,
            "join_once": campaign.join_once,
            "auto_join": False,
            "vouchers_count": count,
            "start_date": ts(campaign.start_date),
            "expiration_date": ts(campaign.expiration_date),
            "validity_day_of_week": (
                sorted(campaign.validity_day_of_week)
                if campaign.validity_day_of_week is not None
                else None
            ),
            "validity_hours": {"daily": hours} if hours else None,
            "active": campaign.active,
            "metadata": campaign.metadata,
            "creation_status": "DONE",
            "vouchers_generation_status": "DONE",
            "protected": False,
            "object": "campaign",
            "validation_rules_assignments": assignments_json(campaign),
            "promoloop": _drop_none(
                {
                    "budget": campaign.quotas.budget_cents,
                    "spent": model.usage[campaign.id].spent_cents,
                    "redemptions_quantity": campaign.quotas.redemptions,
                    "redeemed_quantity": model.usage[campaign.id].redemptions,
                    "per_customer_quantity": campaign.quotas.per_customer,
                    "holder_only": campaign.holder_only,
                }
            ),
        }
    )


def assignments_json(campaign: Campaign) -> dict[str, Any]:
    data = [
        {
            "id": f"asgm_{rule_id}_{campaign.id}",
            "rule_id": rule_id,
            "related_object_id": campaign.id,
            "related_object_type": "campaign",
            "object": "validation_rules_assignment",
        }
        for rule_id in campaign.validation_rule_ids
    ]
    return {"object": "list", "data_ref": "data", "data": data, "total": len(data)}


def customer_json(model: PromotionEngineModel, source_id: str | None) -> dict[str, Any] | None:
    if source_id is None:
        return None
    traits = model.customers.get(source_id, {})
    data = {
        "id": model.customer_ids.get(source_id),
        "source_id": source_id,
        "object": "customer",
        "metadata": dict(traits.get("metadata") or {}),
    }
    for name in ("name", "email", "phone", "description"):
        if isinstance(traits.get(name), str):
            data[name] = traits[name]
    return _drop_none(data)


def _simple_customer(model: PromotionEngineModel, source_id: str | None) -> dict[str, Any] | None:
    if source_id is None:
        return None
    return {"id": model.customer_ids.get(source_id), "source_id": source_id, "object": "customer"}


def voucher_json(model: PromotionEngineModel, voucher: Voucher) -> dict[str, Any]:
    campaign = model.campaigns[voucher.campaign_id]
    gift = isinstance(campaign, GiftCardCampaign)
    published = sum(1 for p in model.publications.values() if p.code == voucher.code)
    return _drop_none(
        {
            "id": voucher_id(voucher.code),
            "code": voucher.code,
            "campaign": None if campaign.standalone else campaign.name,
            "campaign_id": None if campaign.standalone else campaign.id,
            "type": campaign.voucher_type,
            "discount": None if gift else campaign.discount.to_wire(),
            "gift": (
                {
                    "amount": voucher.initial_cents,
                    "subtracted_amount": 0,
                    "balance": voucher.balance_cents,
                }
                if gift
                else None
            ),
            "start_date": ts(campaign.start_date),
            "expiration_date": ts(campaign.expiration_date),
            "active": voucher.active and campaign.active,
            "metadata": voucher.metadata,
            "is_referral_code": False,
            "created_at": ts(voucher.created_at),
            "holder_id": model.customer_ids.get(voucher.holder) if voucher.holder else None,
            "object": "voucher",
            "publish": {"object": "list", "count": published},
            "redemption": {
                "quantity": campaign.quotas.per_code,
                "redeemed_quantity": voucher.redeemed_quantity,
                "object": "list",
                "url": f"/v1/vouchers/{voucher.code}/redemption",
            },
        }
    )


def order_json(order: Cart, discount_cents: int) -> dict[str, Any]:
    """Voucherify's calculated order; gift credits count as discount, as Voucherify reports."""
    items = [
        _drop_none(
            {
                "product_id": i.product_id,
                "sku_id": i.sku_id,
                "quantity": i.quantity,
                "price": i.price_cents,
                "amount": i.line_cents,
                "object": "order_item",
            }
        )
        for i in order.items
    ]
    return _drop_none(
        {
            "id": order.id,
            "amount": order.amount_cents,
            "discount_amount": discount_cents,
            "total_discount_amount": discount_cents,
            "total_amount": order.amount_cents - discount_cents,
            "applied_discount_amount": discount_cents,
            "total_applied_discount_amount": discount_cents,
            "items": items or None,
            "metadata": order.metadata,
            "object": "order",
        }
    )


def redemption_json(model: PromotionEngineModel, redemption: Redemption) -> dict[str, Any]:
    voucher = model.vouchers.get(redemption.code)  # None: points paid with a loyalty card
    return _drop_none(
        {
            "id": redemption.id,
            "object": "redemption",
            "date": ts(redemption.date),
            "customer_id": model.customer_ids.get(redemption.customer_id or ""),
            "tracking_id": redemption.customer_id,
            "metadata": redemption.metadata,
            "amount": redemption.amount_cents if redemption.gift else redemption.order.amount_cents,
            "result": "SUCCESS",
            "status": "ROLLED_BACK" if redemption.status == ROLLED_BACK else "SUCCEEDED",
            "order": order_json(redemption.order, redemption.amount_cents),
            "channel": {"channel_type": "API", "channel_id": "promoloop"},
            "customer": _simple_customer(model, redemption.customer_id),
            "related_object_type": "voucher",
            "related_object_id": voucher_id(redemption.code),
            "voucher": voucher_json(model, voucher) if voucher is not None else None,
            "gift": {"amount": redemption.amount_cents} if redemption.gift else None,
            "loyalty_card": {"points": redemption.points} if redemption.points else None,
            "related_redemptions": (
                {"rollbacks": [{"id": redemption.rollback_id}]} if redemption.rollback_id else None
            ),
        }
    )


def rollback_json(model: PromotionEngineModel, rollback: Rollback) -> dict[str, Any]:
    redemption = model.redemptions[rollback.redemption_id]
    gift = redemption.gift
    return _drop_none(
        {
            "id": rollback.id,
            "object": "redemption_rollback",
            "date": ts(rollback.date),
            "customer_id": model.customer_ids.get(rollback.customer_id or ""),
            "tracking_id": rollback.customer_id,
            "metadata": {},
            "amount": rollback.amount_cents if gift else redemption.order.amount_cents,
            "redemption": rollback.redemption_id,
            "reason": rollback.reason,
            "result": "SUCCESS",
            "status": "SUCCEEDED",
            "order": order_json(redemption.order, 0),
            "channel": {"channel_type": "API", "channel_id": "promoloop"},
            "customer": _simple_customer(model, rollback.customer_id),
            "related_object_type": "voucher",
            "related_object_id": voucher_id(rollback.code),
            "voucher": (
                voucher_json(model, model.vouchers[rollback.code])
                if rollback.code in model.vouchers
                else None
            ),
            "loyalty_card": {"points": redemption.points} if redemption.points else None,
            "gift": {"amount": rollback.amount_cents} if gift else None,
        }
    )


def publication_json(
    model: PromotionEngineModel, publication: Publication, metadata: dict[str, Any]
) -> dict[str, Any]:
    voucher = model.vouchers[publication.code]
    return {
        "id": publication.id,
        "object": "publication",
        "created_at": ts(publication.created_at),
        "customer_id": model.customer_ids.get(publication.customer_id),
        "tracking_id": publication.customer_id,
        "metadata": metadata,
        "channel": "API",
        "source_id": None,
        "result": "SUCCESS",
        "customer": customer_json(model, publication.customer_id),
        "vouchers_id": [voucher_id(voucher.code)],
        "voucher": voucher_json(model, voucher),
    }


def rule_json(rule: ValidationRule, created_at: datetime | None, assigned: int) -> dict[str, Any]:
    raw = rule.raw
    return _drop_none(
        {
            "id": rule.id,
            "name": rule.name,
            "rules": raw.get("rules"),
            "error": raw.get("error"),
            "applicable_to": raw.get("applicable_to")
            or {"excluded": [], "included": [], "included_all": False},
            "type": raw.get("type") or "advanced",
            "context_type": raw.get("context_type") or "global",
            "created_at": ts(created_at),
            "assignments_count": assigned,
            "object": "validation_rules",
        }
    )


def segment_json(segment: Segment) -> dict[str, Any]:
    return _drop_none(
        {
            "id": segment.id,
            "name": segment.name,
            "created_at": ts(segment.created_at),
            "type": "static",
            "filter": None,
            "initial_sync_status": "DONE",
            "object": "segment",
        }
    )


def paged_list(
    ref: str,
    items: list[Any],
    render: Callable[[Any], dict[str, Any]],
    limit: int | None,
    page_no: int | None,
) -> dict[str, Any]:
    """Voucherify's list envelope: one page of ``items`` under ``ref``, ``total`` of all."""
    return {
        "object": "list",
        "data_ref": ref,
        ref: [render(item) for item in page(items, limit, page_no)],
        "total": len(items),
    }


def page(items: list[Any], limit: int | None, page_no: int | None) -> list[Any]:
    """Voucherify paging: ``limit`` (1..100, default 10) and ``page`` (from 1)."""
    size = 10 if limit is None else limit
    number = 1 if page_no is None else page_no
    if not 1 <= size <= 100:
        raise invalid(f"limit must be between 1 and 100, got {size}")
    if number < 1:
        raise invalid(f"page must be >= 1, got {number}")
    start = (number - 1) * size
    return items[start : start + size]
