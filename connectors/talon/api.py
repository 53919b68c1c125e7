"""A Talon.One-compatible Integration API (v2) as a quart-trio app.

Close enough that the official ``talon-one-sdk`` (``talon_one.IntegrationApi``) works unmodified
with only its host and API key set: same paths, ``Authorization: ApiKey-v1 <key>``, response
bodies its pydantic models accept (every required field present, integer ids, amounts as
numbers), and Talon.One's error shape on every refusal. Bad input never produces a 500 and
never changes state: bodies are decoded strictly (:mod:`.wire`), and the model plans before it
writes.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import quart_trio
import trio
from quart import Response, request
from werkzeug.exceptions import HTTPException

from promoloop.actors.events.promotions import EngineEvent
from promoloop.actors.promotions import PromotionError
from promoloop.connectors.talon import wire
from promoloop.connectors.talon.model import Outcome, TalonModel, TalonRefusal
from promoloop.connectors.talon.wire import TalonError, invalid

logger = logging.getLogger(__name__)

T = TypeVar("T")
Report = Callable[[Sequence[EngineEvent]], Awaitable[None]]

_ENCODER = msgspec.json.Encoder()


def _json(payload: Any, status: int = 200) -> Response:
    return Response(_ENCODER.encode(payload), status=status, content_type="application/json")


class TalonEngine:
    """One Talon model, one caller at a time (a FIFO ``trio.Lock``), as the Voucherify face's
    engine: each request's whole plan-check-write runs inside :meth:`call`, and events are
    reported after the lock is released. Pass the Voucherify face's lock as ``lock`` to
    serialise both faces of one engine model on the same queue."""

    def __init__(
        self, model: TalonModel, *, report: Report | None = None, lock: trio.Lock | None = None
    ) -> None:
        self.model = model
        self._lock = lock or trio.Lock()
        self._report = report
        self.reported: list[EngineEvent] = []

    async def call(self, fn: Callable[[TalonModel], T]) -> T:
        async with self._lock:
            return fn(self.model)

    async def report(self, events: Sequence[EngineEvent]) -> None:
        if not events:
            return
        self.reported.extend(events)
        if self._report is not None:
            await self._report(events)


class TalonStats:
    """Counters of the face; ``internal_errors`` must stay 0 (tests assert it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.internal_errors = 0
        self.errors_by_status: dict[int, int] = {}


def create_talon_app(
    *, engine: TalonEngine, api_key: str, now: Callable[[], datetime]
) -> quart_trio.QuartTrio:
    """Build the app. ``now`` is the engine's clock (simulation time, UTC)."""
    app = quart_trio.QuartTrio(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=wire.MAX_BODY_BYTES, BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None
    )
    stats = TalonStats()
    app.extensions["promoloop_talon_stats"] = stats
    expected = f"ApiKey-v1 {api_key}".encode()

    @app.before_request
    async def authenticate() -> None:
        stats.requests += 1
        if request.path == "/health":
            return
        given = request.headers.get("Authorization", "").encode()
        if not given:
            raise TalonError(401, "missing Authorization header (ApiKey-v1 <key>)")
        if not hmac.compare_digest(given, expected):
            raise TalonError(401, "invalid API key")

    def render(error: TalonError) -> Response:
        stats.errors_by_status[error.status] = stats.errors_by_status.get(error.status, 0) + 1
        return _json(error.body(), error.status)

    @app.errorhandler(TalonError)
    async def talon_error(error: TalonError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: f"no endpoint {request.method} {request.path}",
            405: f"{request.method} is not allowed on {request.path}",
            413: f"body exceeds {wire.MAX_BODY_BYTES} bytes",
        }
        return render(TalonError(status, messages.get(status, error.description or "bad request")))

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        """Genuine bugs only (tests assert bad input never lands here)."""
        stats.internal_errors += 1
        logger.exception("talon API internal error", exc_info=error)
        return _json({"message": "internal server error", "errors": [], "StatusCode": 500}, 500)

    async def call(fn: Callable[[TalonModel], T]) -> T:
        try:
            return await engine.call(fn)
        except TalonRefusal as refusal:
            raise TalonError(refusal.status, refusal.message, refusal.pointer) from None
        except PromotionError as error:
            raise TalonError(error.status, error.message) from None

    def bool_arg(name: str) -> bool:
        value = request.args.get(name, "").lower()
        if value not in ("", "true", "false"):
            raise invalid(f"query parameter {name} must be true or false", name)
        return value == "true"

    def state_json(
        talon: TalonModel, outcome: Outcome, content: frozenset[str], profile_id: str | None
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "effects": outcome.effects,
            "createdCoupons": [wire.coupon_json(talon, c) for c in outcome.created_coupons],
            "createdReferrals": [],
        }
        if "customerProfile" in content and profile_id and profile_id in talon.profiles:
            reply["customerProfile"] = wire.profile_json(talon, talon.profiles[profile_id])
        if "loyalty" in content:
            reply["loyalty"] = wire.loyalty_json(talon, profile_id)
        if "ruleFailureReasons" in content:
            reply["ruleFailureReasons"] = outcome.failures
        return reply

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.put("/v2/customer_sessions/<session_id>")
    async def update_session(session_id: str) -> Response:
        req = wire.decode(await request.get_data(), wire.WIntegrationRequest)
        content = wire.response_content(req.responseContent, "/responseContent")
        update = wire.session_update(req.customerSession)
        dry = bool_arg("dry")
        when = now()

        def run(talon: TalonModel) -> tuple[dict[str, Any], Outcome]:
            session, outcome = talon.update_session(session_id, update, when, dry=dry)
            reply = state_json(talon, outcome, content, session.profile_id)
            if "customerSession" in content:
                reply["customerSession"] = wire.session_json(talon, session)
            if "coupons" in content:
                reply["coupons"] = [
                    wire.coupon_json(talon, c)
                    for c in dict.fromkeys(session.coupon_codes)
                    if c in talon.engine.vouchers
                ]
            if "referral" in content and session.referral_code in talon.engine.referrals.codes:
                reply["referral"] = wire.referral_json(talon, session.referral_code or "")
            return reply, outcome

        reply, outcome = await call(run)
        await engine.report(outcome.events)
        return _json(reply)

    @app.get("/v2/customer_sessions/<session_id>")
    async def get_session(session_id: str) -> Response:
        def run(talon: TalonModel) -> dict[str, Any]:
            session = talon.sessions.get(session_id)
            if session is None:
                raise TalonError(404, f"customer session {session_id} not found")
            return {
                "customerSession": wire.session_json(talon, session),
                "effects": session.effects,
            }

        return _json(await call(run))

    @app.put("/v2/customer_profiles/<profile_id>")
    async def update_profile(profile_id: str) -> Response:
        req = wire.decode(await request.get_data(), wire.WProfile)
        content = wire.response_content(req.responseContent, "/responseContent")
        when = now()
        changes = req.audiencesChanges

        def run(talon: TalonModel) -> dict[str, Any]:
            profile = talon.update_profile(
                profile_id,
                req.attributes,
                when,
                audiences_add=[str(a) for a in (changes.adds or ())] if changes else (),
                audiences_remove=[str(a) for a in (changes.deletes or ())] if changes else (),
            )
            reply = state_json(talon, Outcome(), content, profile.integration_id)
            if "customerProfile" in content:
                reply["customerProfile"] = wire.profile_json(talon, profile)
            return reply

        return _json(await call(run))

    @app.post("/v2/events")
    async def track_event() -> Response:
        req = wire.decode(await request.get_data(), wire.WEvent)
        content = wire.response_content(req.responseContent, "/responseContent")
        when = now()

        def run(talon: TalonModel) -> tuple[dict[str, Any], Outcome]:
            record, outcome = talon.track_event(
                req.profileId, req.type, dict(req.attributes or {}), when
            )
            if req.profileId:
                outcome.events.extend(talon.engine.on_customer_event(req.profileId, req.type, when))
            reply = state_json(talon, outcome, content, req.profileId or None)
            if "event" in content:
                reply["event"] = {**record, "created": wire.ts(record["created"])}
                if reply["event"]["profileId"] is None:
                    del reply["event"]["profileId"]
            return reply, outcome

        reply, outcome = await call(run)
        await engine.report(outcome.events)
        return _json(reply)

    return app


def talon_stats(app: quart_trio.QuartTrio) -> TalonStats:
    """The counters an app built by :func:`create_talon_app` writes to."""
    return app.extensions["promoloop_talon_stats"]
