"""A Voucherify-compatible HTTP API (v1) as a quart-trio app, in front of the engine model.

Close enough to the real one that the official ``voucherify`` Python SDK (v6, generated from
Voucherify's OpenAPI document) works unmodified against it with only host and keys changed:
same paths, ``X-App-Id`` / ``X-App-Token`` auth, the stacked ``/v1/validations`` and
``/v1/redemptions`` bodies, response shapes its pydantic models accept, and Voucherify's error
shape ``{"code", "key", "message", "details", "request_id"}`` on every refusal.

Bad input never produces a 500 and never changes state: bodies are decoded strictly
(:mod:`.wire`), and every model call either applies completely or raises before writing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import msgspec
import quart_trio
from quart import Response, request
from werkzeug.exceptions import HTTPException

from promoloop.actors.events.names import REDEMPTION_SUCCEEDED
from promoloop.actors.events.promotions import EngineEvent
from promoloop.actors.promotions import (
    PromotionEngineModel,
    PromotionError,
    Quote,
    Segment,
    parse_rule,
)
from promoloop.connectors.voucherify import wire
from promoloop.connectors.voucherify.engine import VoucherifyEngine
from promoloop.connectors.voucherify.wire import ApiError, invalid

logger = logging.getLogger(__name__)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


class FaceStats:
    """Counters of the face; ``internal_errors`` must stay 0 (tests assert it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.internal_errors = 0
        self.errors_by_key: dict[str, int] = {}


def create_voucherify_app(
    *,
    engine: VoucherifyEngine,
    app_id: str,
    app_token: str,
    now: Callable[[], datetime],
) -> quart_trio.QuartTrio:
    """Build the app. ``now`` is the engine's clock (simulation time, UTC)."""
    app = quart_trio.QuartTrio(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=wire.MAX_BODY_BYTES,
        # Quart's timeouts run on the trio clock and would fire in virtual time (see
        # connectors/transport/http.py); Voucherify has none we need to emulate.
        BODY_TIMEOUT=None,
        RESPONSE_TIMEOUT=None,
    )
    stats = FaceStats()
    app.extensions["promoloop_voucherify_stats"] = stats
    request_ids = iter(range(1, 1 << 62))

    # -- plumbing ------------------------------------------------------------------------------

    @app.before_request
    async def authenticate() -> None:
        stats.requests += 1
        if request.path == "/health":
            return
        given_id = request.headers.get("X-App-Id", "")
        given_token = request.headers.get("X-App-Token", "")
        if not given_id or not given_token:
            raise ApiError(401, "unauthorized", "Missing X-App-Id or X-App-Token header")
        ok_id = hmac.compare_digest(given_id.encode(), app_id.encode())
        ok_token = hmac.compare_digest(given_token.encode(), app_token.encode())
        if not (ok_id and ok_token):
            raise ApiError(401, "unauthorized", "Cannot authenticate: wrong application keys")

    def render(error: ApiError) -> Response:
        stats.errors_by_key[error.key] = stats.errors_by_key.get(error.key, 0) + 1
        return _json(error.body(f"req_{next(request_ids):012d}"), error.status)

    @app.errorhandler(ApiError)
    async def api_error(error: ApiError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 404:
            return render(
                ApiError(404, "not_found", f"No endpoint {request.method} {request.path}")
            )
        if status == 405:
            return render(
                ApiError(405, "method_not_allowed", f"{request.method} is not allowed here")
            )
        if status == 413:
            return render(
                ApiError(413, "request_too_large", f"body exceeds {wire.MAX_BODY_BYTES} bytes")
            )
        return render(ApiError(status, "invalid_payload", error.description or "bad request"))

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        """Genuine bugs only (tests assert bad input never lands here); no traceback leaks."""
        stats.internal_errors += 1
        logger.exception("voucherify API internal error", exc_info=error)
        return _json(
            {"code": 500, "key": "internal_error", "message": "Internal server error"}, 500
        )

    async def body(kind: type[wire.T]) -> wire.T:
        return wire.decode(await request.get_data(), kind)

    async def call(fn: Callable[[PromotionEngineModel], Any]) -> Any:
        """Run ``fn`` on the model alone; refusals become Voucherify errors."""
        try:
            return await engine.call(fn)
        except PromotionError as error:
            raise ApiError.of(error) from None
        except ValueError as error:  # a malformed definition, refused before any write
            raise invalid(str(error)) from None

    def int_arg(name: str) -> int | None:
        value = request.args.get(name)
        if value is None or value == "":
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid(f"query parameter {name} must be an integer, got {value!r}") from None

    def bool_arg(name: str) -> bool:
        return request.args.get(name, "").lower() in ("true", "1")

    def find_campaign(model: PromotionEngineModel, ref: str) -> Any:
        campaign = model.campaigns.get(ref)
        if campaign is None:
            campaign = next(
                (c for c in model.campaigns.values() if c.name == ref and not c.standalone), None
            )
        if campaign is None or campaign.standalone:
            raise ApiError(404, "not_found", f"Cannot find campaign with id {ref}")
        return campaign

    def find_voucher(model: PromotionEngineModel, code: str) -> Any:
        voucher = model.vouchers.get(code) or model.vouchers.get(code.removeprefix("v_"))
        if voucher is None:
            raise ApiError(404, "not_found", f"Cannot find voucher with id {code}")
        return voucher

    def find_customer(model: PromotionEngineModel, ref: str) -> str:
        source = wire.source_of(model, ref)
        if source is None:
            raise ApiError(404, "not_found", f"Cannot find customer with id {ref}")
        return source

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    # -- campaigns and vouchers ----------------------------------------------------------------

    @app.post("/v1/campaigns")
    async def create_campaign() -> Response:
        req = await body(wire.WCampaign)
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            if any(c.name == req.name and not c.standalone for c in model.campaigns.values()):
                raise ApiError(
                    409, "duplicate_resource_key", f"Duplicated resource key: {req.name}"
                )
            campaign = wire.build_campaign(req, model.new_id("camp"), standalone=False)
            model.add_campaign(campaign, vouchers_count=req.vouchers_count or 0, now=when)
            return wire.campaign_json(model, campaign)

        return _json(await call(run))

    @app.get("/v1/campaigns")
    async def list_campaigns() -> Response:
        limit, page_no = int_arg("limit"), int_arg("page")

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            listed = [c for c in model.campaigns.values() if not c.standalone]
            return wire.paged_list(
                "campaigns", listed, lambda c: wire.campaign_json(model, c), limit, page_no
            )

        return _json(await call(run))

    @app.get("/v1/campaigns/<campaign_id>")
    async def get_campaign(campaign_id: str) -> Response:
        return _json(
            await call(lambda model: wire.campaign_json(model, find_campaign(model, campaign_id)))
        )

    @app.post("/v1/campaigns/<campaign_id>/vouchers")
    async def add_vouchers(campaign_id: str) -> Response:
        count = int_arg("vouchers_count")
        count = 1 if count is None else count
        if not 1 <= count <= 10_000:
            raise invalid(f"vouchers_count must be between 1 and 10000, got {count}")
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            campaign = find_campaign(model, campaign_id)
            vouchers = model.generate(campaign.id, count, when)
            if count == 1:
                return wire.voucher_json(model, vouchers[0])
            # Voucherify answers a bulk request with an async action; here it is already done.
            return {"async_action_id": model.new_id("aa")}

        return _json(await call(run))

    @app.post("/v1/campaigns/<campaign_id>/import")
    async def import_vouchers(campaign_id: str) -> Response:
        items = await body(list[wire.WImportItem])
        if not items:
            raise invalid("nothing to import: the body must list at least one code")
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            campaign = find_campaign(model, campaign_id)
            model.import_codes(campaign.id, [i.code for i in items], when)
            return {"async_action_id": model.new_id("aa")}

        return _json(await call(run))

    @app.post("/v1/vouchers")
    @app.post("/v1/vouchers/<code>")
    async def create_voucher(code: str | None = None) -> Response:
        req = await body(wire.WVoucher)
        code = code if code is not None else req.code
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            ref = req.campaign_id or req.campaign
            if ref:  # a code added to an existing campaign
                campaign = find_campaign(model, ref)
                if code is None:
                    (voucher,) = model.generate(campaign.id, 1, when)
                else:
                    (voucher,) = model.import_codes(campaign.id, [code], when)
            else:
                standalone = wire.build_campaign(req, model.new_id("camp"), standalone=True)
                voucher = model.add_standalone(standalone, code, when)
            if req.metadata:
                voucher.metadata.update(req.metadata)
            return wire.voucher_json(model, voucher)

        return _json(await call(run))

    @app.get("/v1/vouchers/<code>")
    async def get_voucher(code: str) -> Response:
        return _json(await call(lambda model: wire.voucher_json(model, find_voucher(model, code))))

    @app.get("/v1/vouchers")
    async def list_vouchers() -> Response:
        limit, page_no = int_arg("limit"), int_arg("page")
        campaign_ref = request.args.get("campaign_id") or request.args.get("campaign")
        customer_ref = request.args.get("customer")

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            campaign_id = find_campaign(model, campaign_ref).id if campaign_ref else None
            holder = find_customer(model, customer_ref) if customer_ref else None
            listed = [
                v
                for v in model.vouchers.values()
                if (campaign_id is None or v.campaign_id == campaign_id)
                and (holder is None or v.holder == holder)
            ]
            return wire.paged_list(
                "vouchers", listed, lambda v: wire.voucher_json(model, v), limit, page_no
            )

        return _json(await call(run))

    # -- customers, segments, events, validation rules -------------------------------------------

    @app.post("/v1/customers")
    async def upsert_customer() -> Response:
        req = await body(wire.WCustomer)
        if not req.source_id:
            raise invalid("customer.source_id is required")
        source_id = req.source_id

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            model.upsert_customer(source_id, wire.customer_traits(req))
            return wire.customer_json(model, source_id) or {}

        return _json(await call(run))

    @app.get("/v1/customers/<customer_id>")
    async def get_customer(customer_id: str) -> Response:
        return _json(
            await call(
                lambda model: wire.customer_json(model, find_customer(model, customer_id)) or {}
            )
        )

    @app.post("/v1/segments")
    async def create_segment() -> Response:
        req = await body(wire.WSegment)
        if req.type != "static":
            raise invalid(f"segment.type {req.type!r} is not supported (only static)")
        if not req.name:
            raise invalid("segment.name is required")
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            segment = Segment(
                id=model.new_id("seg"),
                name=req.name,
                customers=frozenset(req.customers or ()),
                created_at=when,
            )
            return wire.segment_json(model.add_segment(segment))

        return _json(await call(run))

    @app.get("/v1/segments/<segment_id>")
    async def get_segment(segment_id: str) -> Response:
        def run(model: PromotionEngineModel) -> dict[str, Any]:
            segment = model.segments.get(segment_id)
            if segment is None:
                raise ApiError(404, "not_found", f"Cannot find segment with id {segment_id}")
            return wire.segment_json(segment)

        return _json(await call(run))

    @app.post("/v1/events")
    async def track_event() -> Response:
        req = await body(wire.WEvent)
        when = now()

        def run(model: PromotionEngineModel) -> tuple[dict[str, Any], list[EngineEvent]]:
            source = wire.customer_ref(req.customer, model)
            if source is None:
                raise invalid("customer.source_id or customer.id is required")
            referral = req.referral.code if req.referral is not None else None
            if referral is not None:
                model.referrals.check(referral, source, when)  # refused before any write
            if req.customer.metadata is not None or req.customer.name or req.customer.email:
                model.upsert_customer(source, wire.customer_traits(req.customer))
            event = model.track_event(source, req.event, when, req.metadata)
            events: list[EngineEvent] = []
            if referral is not None:
                events += model.redeem_referral(referral, source, when)[1]
            events += model.on_customer_event(source, req.event, when)
            reply = {
                "object": "event",
                "type": event.name,
                "customer": {
                    "id": model.customer_ids[source],
                    "source_id": source,
                    "object": "customer",
                },
                "referral": None,
                "loyalty": None,
                "metadata": event.metadata,
            }
            return reply, events

        reply, events = await call(run)
        await engine.report(events)
        return _json(reply)

    rule_meta: dict[str, datetime] = {}

    @app.post("/v1/validation-rules")
    async def create_rule() -> Response:
        raw = await body(dict[str, Any])
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            rule = model.add_validation_rule(parse_rule(model.new_id("val"), raw))
            rule_meta[rule.id] = when
            return wire.rule_json(rule, when, 0)

        return _json(await call(run))

    def assigned(model: PromotionEngineModel, rule_id: str) -> int:
        return sum(rule_id in c.validation_rule_ids for c in model.campaigns.values())

    @app.get("/v1/validation-rules")
    async def list_rules() -> Response:
        limit, page_no = int_arg("limit"), int_arg("page")

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            rules = list(model.validation_rules.values())
            return wire.paged_list(
                "data",
                rules,
                lambda r: wire.rule_json(r, rule_meta.get(r.id), assigned(model, r.id)),
                limit,
                page_no,
            )

        return _json(await call(run))

    @app.get("/v1/validation-rules/<rule_id>")
    async def get_rule(rule_id: str) -> Response:
        def run(model: PromotionEngineModel) -> dict[str, Any]:
            rule = model.validation_rules.get(rule_id)
            if rule is None:
                raise ApiError(404, "not_found", f"Cannot find validation_rule with id {rule_id}")
            return wire.rule_json(rule, rule_meta.get(rule_id), assigned(model, rule_id))

        return _json(await call(run))

    @app.post("/v1/validation-rules/<rule_id>/assignments")
    async def assign_rule(rule_id: str) -> Response:
        req = await body(wire.WAssignment)
        ref = req.related_object_id or req.campaign
        if not ref or req.related_object_type not in (None, "campaign"):
            raise invalid("only campaign assignments are supported (related_object_id)")
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            campaign = model.assign_rule(rule_id, find_campaign(model, ref).id)
            return {
                "id": f"asgm_{rule_id}_{campaign.id}",
                "rule_id": rule_id,
                "related_object_id": campaign.id,
                "related_object_type": "campaign",
                "created_at": wire.ts(when),
                "object": "validation_rules_assignment",
            }

        return _json(await call(run))

    # -- publications ------------------------------------------------------------------------------

    @app.post("/v1/publications")
    async def publish() -> Response:
        req = await body(wire.WPublication)
        join_once = bool_arg("join_once")
        if req.voucher is not None:
            raise invalid("publishing a given voucher code is not supported; give a campaign")
        ref = req.campaign if isinstance(req.campaign, str) else None
        if isinstance(req.campaign, wire.WCampaignRef):
            ref = req.campaign.id or req.campaign.name
        if not ref:
            raise invalid("campaign (its name or id) is required")
        campaign_ref: str = ref
        when = now()

        def run(model: PromotionEngineModel) -> tuple[dict[str, Any], list[EngineEvent]]:
            campaign = find_campaign(model, campaign_ref)
            source = wire.customer_ref(req.customer, model)
            if source is None:
                raise invalid("customer.source_id or customer.id is required")
            if req.customer is not None:
                traits = wire.customer_traits(req.customer)
                if traits:
                    model.upsert_customer(source, traits)
            voucher, event = model.publish(campaign.id, source, when, join_once=join_once)
            publication = next(
                p
                for p in reversed(model.publications.values())
                if p.code == voucher.code and p.customer_id == source
            )
            return (
                wire.publication_json(model, publication, dict(req.metadata or {})),
                [event] if event is not None else [],
            )

        reply, events = await call(run)
        await engine.report(events)
        return _json(reply)

    # -- validations and redemptions -------------------------------------------------------------

    def redeemables(req: wire.WStacked) -> list[tuple[str, int | None]]:
        if not 1 <= len(req.redeemables) <= wire.MAX_REDEEMABLES:
            raise invalid(f"redeemables must hold 1 to {wire.MAX_REDEEMABLES} items")
        out = []
        for r in req.redeemables:
            if r.object != "voucher":
                raise invalid(f"redeemable object {r.object!r} is not supported (only voucher)")
            out.append((r.id, r.gift.credits if r.gift else None))
        if len({code for code, _ in out}) != len(out):
            raise invalid("the same voucher appears twice in redeemables")
        return out

    def inapplicable(model: PromotionEngineModel, code: str, error: PromotionError) -> dict:
        voucher = model.vouchers.get(code)
        campaign = model.campaigns.get(voucher.campaign_id) if voucher else None
        return {
            "status": "INAPPLICABLE",
            "id": code,
            "object": "voucher",
            "result": {
                "error": {
                    "code": error.status,
                    "key": error.key,
                    "message": ApiError.of(error).message,
                    "details": error.message,
                }
            },
            "campaign_id": campaign.id if campaign and not campaign.standalone else None,
        }

    def applicable(model: PromotionEngineModel, quote: Quote, remaining: Any) -> dict:
        campaign = quote.campaign
        result: dict[str, Any] = (
            {"gift": {"credits": quote.amount_cents, "balance": quote.voucher.balance_cents}}
            if quote.gift
            else {"discount": campaign.discount.to_wire()}
        )
        return {
            "status": "APPLICABLE",
            "id": quote.voucher.code,
            "object": "voucher",
            "order": wire.order_json(remaining, quote.amount_cents),
            "result": result,
            "metadata": quote.voucher.metadata,
            "campaign_id": None if campaign.standalone else campaign.id,
        }

    @app.post("/v1/validations")
    async def validate() -> Response:
        req = await body(wire.WStacked)
        codes = redeemables(req)
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            customer = wire.customer_ref(req.customer, model)
            order = wire.cart(req.order)
            good, bad, remaining, total = [], [], order, 0
            for code, credits in codes:
                try:
                    quote = model.quote(
                        code,
                        customer,
                        remaining,
                        when,
                        credits_cents=credits,
                        metadata=req.metadata,
                    )
                except PromotionError as error:
                    bad.append(inapplicable(model, code, error))
                    continue
                good.append(applicable(model, quote, remaining))
                total += quote.amount_cents
                remaining = msgspec.structs.replace(
                    remaining, amount_cents=remaining.amount_cents - quote.amount_cents
                )
            valid = not bad
            reply: dict[str, Any] = {
                "id": model.new_id("valid"),
                "valid": valid,
                "redeemables": good if valid else [],
                "skipped_redeemables": [],
                "inapplicable_redeemables": bad,
                "tracking_id": customer,
                "stacking_rules": {
                    "redeemables_limit": 30,
                    "applicable_redeemables_limit": wire.MAX_REDEEMABLES,
                    "applicable_exclusive_redeemables_limit": 1,
                    "applicable_redeemables_per_category_limit": 1,
                    "exclusive_categories": [],
                    "joint_categories": [],
                    "redeemables_application_mode": "ALL",
                    "redeemables_sorting_rule": "REQUESTED_ORDER",
                },
            }
            if valid:
                reply["order"] = wire.order_json(order, total)
            return reply

        return _json(await call(run))

    async def redeem_codes(
        codes: list[tuple[str, int | None]],
        customer_body: wire.WCustomer | None,
        order_body: wire.WOrder | None,
        metadata: dict[str, Any] | None,
        fallback_amount: int | None = None,
    ) -> tuple[Any, list[Any]]:
        """Redeem under the lock; returns (order, redemption JSONs) or raises the refusal after
        reporting ``redemption.failed``."""
        when = now()

        def run(model: PromotionEngineModel) -> tuple[Any, Any, list[EngineEvent]]:
            customer = wire.customer_ref(customer_body, model)
            order = wire.cart(order_body, fallback_amount)
            try:
                done = model.redeem_many(codes, customer, order, when, metadata=metadata)
            except PromotionError as error:
                failed = model.failure_event(
                    error.subject or codes[0][0],
                    customer,
                    order.id,
                    order.amount_cents,
                    error,
                    when,
                )
                return error, None, [failed] if failed is not None else []
            if customer is not None and customer_body is not None:
                traits = wire.customer_traits(customer_body)
                if traits:
                    model.upsert_customer(customer, traits)
            events: list[EngineEvent] = [model.success_event(r) for r in done]
            total = sum(r.amount_cents for r in done)
            if customer is not None:
                events += model.on_customer_event(
                    customer, REDEMPTION_SUCCEEDED, when, order.amount_cents
                )
            return (
                wire.order_json(order, total),
                [wire.redemption_json(model, r) for r in done],
                events,
            )

        first, second, events = await call(run)
        await engine.report(events)
        if isinstance(first, PromotionError):
            raise ApiError.of(first)
        return first, second

    @app.post("/v1/redemptions")
    async def redeem() -> Response:
        req = await body(wire.WStacked)
        order, done = await redeem_codes(redeemables(req), req.customer, req.order, req.metadata)
        reply: dict[str, Any] = {
            "redemptions": done,
            "order": order,
            "inapplicable_redeemables": [],
            "skipped_redeemables": [],
        }
        return _json(reply)

    @app.post("/v1/vouchers/<code>/validate")
    async def legacy_validate(code: str) -> Response:
        req = await body(wire.WLegacy)
        when = now()

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            customer = wire.customer_ref(req.customer, model)
            order = wire.cart(req.order, req.amount)
            credits = req.gift.credits if req.gift else None
            try:
                quote = model.quote(
                    code, customer, order, when, credits_cents=credits, metadata=req.metadata
                )
            except PromotionError as error:
                return {
                    "valid": False,
                    "code": code,
                    "reason": error.message,
                    "error": {"code": error.status, "key": error.key, "message": error.message},
                    "tracking_id": customer,
                }
            reply: dict[str, Any] = {
                "valid": True,
                "code": code,
                "order": wire.order_json(order, quote.amount_cents),
                "tracking_id": customer,
                "campaign_id": None if quote.campaign.standalone else quote.campaign.id,
            }
            if quote.gift:
                reply["gift"] = {
                    "amount": quote.voucher.initial_cents,
                    "balance": quote.voucher.balance_cents,
                    "credits": quote.amount_cents,
                }
            else:
                reply["discount"] = quote.campaign.discount.to_wire()
            return reply

        return _json(await call(run))

    @app.post("/v1/vouchers/<code>/redemption")
    async def legacy_redeem(code: str) -> Response:
        req = await body(wire.WLegacy)
        credits = req.gift.credits if req.gift else None
        _, done = await redeem_codes(
            [(code, credits)], req.customer, req.order, req.metadata, req.amount
        )
        return _json(done[0])

    @app.get("/v1/vouchers/<code>/redemption")
    async def voucher_redemptions(code: str) -> Response:
        def run(model: PromotionEngineModel) -> dict[str, Any]:
            voucher = find_voucher(model, code)
            campaign = model.campaigns[voucher.campaign_id]
            entries = [
                wire.redemption_json(model, r) for r in model.list_redemptions(code=voucher.code)
            ]
            return {
                "quantity": campaign.quotas.per_code,
                "redeemed_quantity": voucher.redeemed_quantity,
                "object": "list",
                "url": f"/v1/vouchers/{voucher.code}/redemption",
                "data_ref": "redemption_entries",
                "total": len(entries),
                "redemption_entries": entries,
            }

        return _json(await call(run))

    @app.get("/v1/redemptions")
    async def list_redemptions() -> Response:
        limit, page_no = int_arg("limit"), int_arg("page")
        campaign_ref = request.args.get("campaign")
        customer_ref = request.args.get("customer")
        result = request.args.get("result")

        def run(model: PromotionEngineModel) -> dict[str, Any]:
            campaign_id = find_campaign(model, campaign_ref).id if campaign_ref else None
            customer = find_customer(model, customer_ref) if customer_ref else None
            listed = model.list_redemptions(campaign_id=campaign_id, customer_id=customer)
            if result not in (None, "", "SUCCESS"):
                listed = []  # refused redemptions are answered, not stored
            return wire.paged_list(
                "redemptions", listed, lambda r: wire.redemption_json(model, r), limit, page_no
            )

        return _json(await call(run))

    @app.get("/v1/redemptions/<redemption_id>")
    async def get_redemption(redemption_id: str) -> Response:
        def run(model: PromotionEngineModel) -> dict[str, Any]:
            if redemption_id in model.redemptions:
                return wire.redemption_json(model, model.redemptions[redemption_id])
            if redemption_id in model.rollbacks:
                return wire.rollback_json(model, model.rollbacks[redemption_id])
            raise ApiError(404, "not_found", f"Cannot find redemption with id {redemption_id}")

        return _json(await call(run))

    @app.post("/v1/redemptions/<redemption_id>/rollback")
    async def rollback(redemption_id: str) -> Response:
        raw = await request.get_data()
        reason = request.args.get("reason") or None
        if raw.strip():
            reason = wire.decode(raw, wire.WRollback).reason or reason
        when = now()

        def run(model: PromotionEngineModel) -> tuple[dict[str, Any], list[EngineEvent]]:
            done = model.rollback(redemption_id, when, reason)
            events: list[EngineEvent] = [model.rollback_event(done)] if done.customer_id else []
            return wire.rollback_json(model, done), events

        body, events = await call(run)
        await engine.report(events)
        return _json(body)

    return app


def face_stats(app: quart_trio.QuartTrio) -> FaceStats:
    """The counters an app built by :func:`create_voucherify_app` writes to."""
    return app.extensions["promoloop_voucherify_stats"]
