"""A Segment-compatible HTTP Tracking API (``/v1/batch``, ``/v1/track``...) as a quart-trio app.

Close enough to the real one that the official ``segment-analytics-python`` SDK works unmodified
against it: same paths, Basic auth with the write key, gzip bodies, Segment's size limits and
error shape (``{"success": false, "code", "message"}``, which the SDK reads on non-2xx).
Accepted calls are handed, in order, to ``ingest(source_name, events)``; the response waits for
it, so a CDP that applies backpressure slows the sender down instead of losing events.

Bad input never produces a 500: every refusal is a JSON 400/401, and what a batch refused is
both reported in the response and counted in :class:`TrackingStats`.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import msgspec
import quart_trio
from quart import Response, request
from werkzeug.exceptions import HTTPException

from promoloop.actors.cdp.sources import Source, SourceRegistry
from promoloop.actors.events.segment import SegmentEvent
from promoloop.connectors.segment import wire

logger = logging.getLogger(__name__)

Ingest = Callable[[str, list[SegmentEvent]], Awaitable[None]]

CALL_PATHS = "identify,track,page,screen,group,alias,i,t,p,s,g,a"


class Rejection(msgspec.Struct, frozen=True, rename="camel", omit_defaults=True):
    source: str | None
    code: str
    message: str
    index: int | None = None
    """Position in the batch for a refused element; None when the whole request was refused."""


class TrackingStats:
    """Counters of the Tracking API, so nothing is refused silently.

    ``rejected_by_code`` counts refusals: one per refused batch element, one per refused request
    (bad auth, bad JSON, too large). ``recent`` keeps the last 200 with their reason.
    """

    def __init__(self, keep: int = 200) -> None:
        self.requests = 0
        self.accepted = 0
        self.internal_errors = 0
        self.rejected_by_code: Counter[str] = Counter()
        self.recent: deque[Rejection] = deque(maxlen=keep)

    def reject(self, source: str | None, code: str, message: str, index: int | None = None) -> None:
        self.rejected_by_code[code] += 1
        self.recent.append(Rejection(source, code, message, index))

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "accepted": self.accepted,
            "internalErrors": self.internal_errors,
            "rejectedByCode": dict(self.rejected_by_code),
            "recentRejections": list(self.recent),
        }


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def _failure(code: str, message: str, status: int) -> Response:
    return _json({"success": False, "code": code, "message": message}, status)


def create_tracking_app(
    *,
    sources: SourceRegistry,
    ingest: Ingest,
    now: Callable[[], datetime],
    stats: TrackingStats | None = None,
) -> quart_trio.QuartTrio:
    """Build the app. ``now`` is the receiving clock (simulation time), used for receivedAt."""
    stats = stats if stats is not None else TrackingStats()
    app = quart_trio.QuartTrio(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=wire.MAX_BATCH_BYTES,
        # Quart's timeouts run on the trio clock; under a MockClock they would fire in virtual
        # time while a request waits on a busy CDP. Segment has none we need to emulate.
        BODY_TIMEOUT=None,
        RESPONSE_TIMEOUT=None,
    )
    app.extensions["promoloop_tracking_stats"] = stats

    def authenticate(body_key: str | None, header_key: str | None) -> Source:
        key = header_key or body_key
        if not key:
            raise wire.RequestRefused(
                "unauthorized", "missing write key (Basic auth user or body writeKey)", 401
            )
        source = sources.by_write_key(key)
        if source is None:
            raise wire.RequestRefused("unauthorized", "invalid write key", 401)
        return source

    async def read_body(limit: int) -> bytes:
        raw = await request.get_data()
        return wire.decode_content(raw, request.headers.get("Content-Encoding"), limit)

    def header_source() -> Source | None:
        """Check a Basic auth key before reading the body, so a wrong key is refused cheaply."""
        key = wire.parse_basic_auth(request.headers.get("Authorization"))
        return authenticate(None, key) if key else None

    @app.errorhandler(wire.RequestRefused)
    async def refused(error: wire.RequestRefused) -> Response:
        stats.reject(None, error.code, error.message)
        return _failure(error.code, error.message, error.status)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:  # Segment answers an oversize body with a 400
            stats.reject(None, "payload_too_large", "request body too large")
            return _failure(
                "payload_too_large",
                f"request body exceeds the limit of {wire.MAX_BATCH_BYTES} bytes",
                400,
            )
        code = (error.name or "error").lower().replace(" ", "_")
        return _failure(code, error.description or error.name or "error", status)

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        """Genuine bugs only (tests assert bad input never lands here); no traceback leaks."""
        stats.internal_errors += 1
        logger.exception("tracking API internal error", exc_info=error)
        return _failure("internal_error", "internal server error", 500)

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.get("/v1/stats")
    async def stats_view() -> Response:
        """promoloop extension, not in Segment's API: counters and recent refusals as JSON."""
        authenticate(None, wire.parse_basic_auth(request.headers.get("Authorization")))
        return _json(stats.snapshot())

    @app.post("/v1/batch")
    @app.post("/v1/import")
    async def batch() -> Response:
        stats.requests += 1
        source = header_source()
        envelope = wire.decode_envelope(await read_body(wire.MAX_BATCH_BYTES))
        if source is None:
            source = authenticate(envelope.write_key, None)
        received_at = now()
        accepted: list[SegmentEvent] = []
        rejected: list[dict[str, Any]] = []
        for index, raw in enumerate(envelope.batch):
            try:
                if len(raw) > wire.MAX_EVENT_BYTES:
                    raise wire.EventRejected(
                        "message_too_large",
                        f"call is {len(raw)} bytes, the limit is {wire.MAX_EVENT_BYTES} bytes",
                    )
                event = wire.decode_event(raw)
                wire.validate(event)
            except wire.EventRejected as error:
                stats.reject(source.name, error.code, error.message, index)
                rejected.append({"index": index, "code": error.code, "message": error.message})
                continue
            accepted.append(
                wire.enrich(
                    event,
                    received_at=received_at,
                    sent_at=envelope.sent_at,
                    context=envelope.context,
                    integrations=envelope.integrations,
                )
            )
        if accepted:
            await ingest(source.name, accepted)
        stats.accepted += len(accepted)
        reply: dict[str, Any] = {"success": True, "accepted": len(accepted)}
        if rejected:
            reply["rejected"] = rejected
        return _json(reply)

    @app.post(f"/v1/<any({CALL_PATHS}):call>")
    async def single(call: str) -> Response:
        stats.requests += 1
        call_type = wire.SHORT_PATHS.get(call, call)
        source = header_source()
        envelope, event = wire.decode_single(await read_body(wire.MAX_EVENT_BYTES), call_type)
        if source is None:
            source = authenticate(envelope.write_key, None)
        await ingest(source.name, [wire.enrich(event, received_at=now())])
        stats.accepted += 1
        return _json({"success": True})

    return app


def tracking_stats(app: quart_trio.QuartTrio) -> TrackingStats:
    """The stats object an app built by :func:`create_tracking_app` writes to."""
    return app.extensions["promoloop_tracking_stats"]
