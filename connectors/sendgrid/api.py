"""A SendGrid-compatible HTTP API (v3) as a quart-trio app, in front of the email destination.

Close enough to the real one that the official ``sendgrid`` Python SDK (v6, over
``python_http_client``) works unmodified with only its host and key changed: ``Authorization:
Bearer <key>``, ``POST /v3/mail/send`` answering 202 with an empty body and ``X-Message-Id``
(200 in sandbox mode), SendGrid's ``{"errors": [{"message", "field", "help"}]}`` on every
refusal, the Email Activity listing (``GET /v3/messages``), the global unsubscribe endpoints and
dynamic templates (:mod:`.templates_api`).

Accepting a send only validates, renders and records it, then posts it to the gateway actor
(:mod:`.gateway`), which does the sending in the world: SendGrid, too, queues first and
delivers afterwards. Bad input never produces a 500 and never records anything.
"""

from __future__ import annotations

import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
import quart_trio
from quart import Response, request
from werkzeug.exceptions import HTTPException

from promoloop.connectors.sendgrid import wire
from promoloop.connectors.sendgrid.model import Activity, SendGridModel
from promoloop.connectors.sendgrid.templates_api import register_templates_api
from promoloop.connectors.sendgrid.validate import check
from promoloop.connectors.sendgrid.wire import SendGridError, bad_request, unauthorized

logger = logging.getLogger(__name__)

MAX_LIMIT = 1000
QUERY_FIELDS = frozenset({"to_email", "from_email", "msg_id", "status", "subject"})
_CLAUSE = re.compile(r'^\s*(\w+)\s*=\s*"([^"]*)"\s*$')

Submit = Callable[[tuple[str, ...]], Awaitable[None]]
"""Hand accepted message ids to the gateway actor."""
Resolve = Callable[[str], str | None]
"""An address → the user id of the customer the CDP knows by it, or None."""


class Consent(Protocol):
    """Where the global unsubscribe list meets the delivery policy (by address)."""

    def unsubscribe(self, email: str) -> None: ...

    def resubscribe(self, email: str) -> None: ...


class FaceStats:
    """Counters of the face; ``internal_errors`` must stay 0 (tests assert it)."""

    def __init__(self) -> None:
        self.requests = 0
        self.accepted = 0
        self.internal_errors = 0
        self.refused: dict[int, int] = {}


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _summary(activity: Activity) -> dict[str, Any]:
    return {
        "from_email": activity.from_email,
        "msg_id": activity.msg_id,
        "subject": activity.subject,
        "to_email": activity.to_email,
        "status": activity.status,
        "opens_count": activity.opens_count,
        "clicks_count": activity.clicks_count,
        "last_event_time": _iso(activity.last_event_time),
        "reason": activity.reason,
    }


def _details(activity: Activity) -> dict[str, Any]:
    events = []
    for e in activity.events:
        item: dict[str, Any] = {"event_name": e.event, "processed": _iso(e.at)}
        if e.reason is not None:
            item["reason"] = e.reason
        events.append(item)
    return _summary(activity) | {
        "template_id": activity.template_id,
        "asm_group_id": activity.asm_group_id,
        "categories": list(activity.categories),
        "unique_args": msgspec.json.encode(activity.custom_args).decode(),
        "teammate": "",
        "api_key_id": "",
        "events": events,
        "originating_ip": "127.0.0.1",
        "outbound_ip": "127.0.0.1",
        "outbound_ip_type": "shared",
    }


def create_sendgrid_app(
    *,
    model: SendGridModel,
    api_key: str,
    now: Callable[[], datetime],
    submit: Submit,
    resolve: Resolve,
    consent: Consent | None = None,
) -> quart_trio.QuartTrio:
    """Build the app. ``now`` is simulation time (UTC); ``api_key`` the one accepted key."""
    if not api_key:
        raise ValueError("the SendGrid face needs an API key")
    app = quart_trio.QuartTrio(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=wire.MAX_BODY_BYTES,
        # Quart's timeouts run on the trio clock and would fire in virtual time (see
        # connectors/transport/http.py).
        BODY_TIMEOUT=None,
        RESPONSE_TIMEOUT=None,
    )
    stats = FaceStats()
    app.extensions["promoloop_sendgrid_stats"] = stats

    # -- plumbing --------------------------------------------------------------------------------

    @app.before_request
    async def authenticate() -> None:
        stats.requests += 1
        if request.path == "/health":
            return
        header = request.headers.get("Authorization", "").strip()
        if not header:
            raise unauthorized(wire.AUTHORIZATION_REQUIRED)
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            key.strip().encode(), api_key.encode()
        ):
            raise unauthorized()

    def render(error: SendGridError) -> Response:
        stats.refused[error.status] = stats.refused.get(error.status, 0) + 1
        return _json(error.body(), error.status)

    @app.errorhandler(SendGridError)
    async def api_error(error: SendGridError) -> Response:
        return render(error)

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        messages = {
            404: "resource not found",
            405: "method not allowed",
            413: "The JSON payload you have included in your request is too large.",
        }
        message = messages.get(status, error.description or "Bad Request")
        return render(SendGridError(status, [{"field": None, "message": message}]))

    @app.errorhandler(Exception)
    async def internal_error(error: Exception) -> Response:
        """Genuine bugs only (tests assert bad input never lands here); no traceback leaks."""
        stats.internal_errors += 1
        logger.exception("SendGrid API internal error", exc_info=error)
        return _json({"errors": [{"field": None, "message": "internal error"}]}, 500)

    def int_arg(name: str, default: int, low: int, high: int) -> int:
        raw = request.args.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise SendGridError(
                400,
                [{"field": name, "message": f"{name} must be an integer from {low} to {high}"}],
            )
        return value

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    # -- Mail Send -------------------------------------------------------------------------------

    @app.post("/v3/mail/send")
    async def mail_send() -> Response:
        mail = wire.decode(await request.get_data(), wire.WMail)
        when = now()
        checked = check(mail, model.templates, when)
        if checked.sandbox:
            return Response(b"", status=200)
        x_message_id = model.new_x_message_id()
        ids = []
        for k, out in enumerate(checked.outgoing):
            due = when
            if out.send_at is not None and out.send_at > when.timestamp():
                due = datetime.fromtimestamp(out.send_at, UTC)
            activity = Activity(
                msg_id=f"{x_message_id}.recv-{k}",
                x_message_id=x_message_id,
                from_email=out.from_email,
                to_email=out.to,
                subject=out.subject,
                body=out.body,
                campaign=out.campaign,
                due=due,
                user_id=resolve(out.to),
                categories=out.categories,
                custom_args=out.custom_args,
                template_id=checked.template_id,
                asm_group_id=checked.asm_group_id,
            )
            model.note(activity, "processed", when)
            model.add(activity)
            ids.append(activity.msg_id)
        stats.accepted += len(ids)
        await submit(tuple(ids))
        return Response(b"", status=202, headers={"X-Message-Id": x_message_id})

    # -- Email Activity ----------------------------------------------------------------------------

    def filters() -> dict[str, str]:
        out: dict[str, str] = {}
        query = request.args.get("query", "")
        if query.strip():
            for clause in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
                match = _CLAUSE.match(clause)
                if match is None or match.group(1) not in QUERY_FIELDS:
                    raise SendGridError(
                        400,
                        [
                            {
                                "field": "query",
                                "message": f"unsupported query clause {clause.strip()!r}; use "
                                'field="value" joined by AND, field one of '
                                + ", ".join(sorted(QUERY_FIELDS)),
                            }
                        ],
                    )
                out[match.group(1)] = match.group(2)
        for name in QUERY_FIELDS:  # promoloop courtesy: ?to_email=... as a plain parameter
            value = request.args.get(name)
            if value:
                out[name] = value
        return out

    @app.get("/v3/messages")
    async def list_messages() -> Response:
        limit = int_arg("limit", 10, 1, MAX_LIMIT)
        found = model.search(filters(), limit)
        return _json({"messages": [_summary(a) for a in found]})

    @app.get("/v3/messages/<msg_id>")
    async def get_message(msg_id: str) -> Response:
        activity = model.activities.get(msg_id)
        if activity is None:
            raise SendGridError(404, [{"field": None, "message": "resource not found"}])
        return _json(_details(activity))

    # -- global unsubscribes -----------------------------------------------------------------------

    def unsubscribe_list() -> list[dict[str, Any]]:
        offset = int_arg("offset", 0, 0, 1 << 31)
        limit = int_arg("limit", 500, 1, 500)
        listed = sorted(model.unsubscribes.values(), key=lambda u: (u.created, u.email))
        return [
            {"created": int(u.created.timestamp()), "email": u.email}
            for u in listed[offset : offset + limit]
        ]

    @app.get("/v3/suppression/unsubscribes")
    @app.get("/v3/asm/suppressions/global")
    async def list_unsubscribes() -> Response:
        return _json(unsubscribe_list())

    @app.post("/v3/asm/suppressions/global")
    async def add_unsubscribes() -> Response:
        body = wire.decode(await request.get_data(), wire.WRecipients)
        emails = body.recipient_emails or []
        if not emails:
            raise bad_request("recipient_emails must list at least one address", "recipient_emails")
        for k, email in enumerate(emails):
            if not wire.valid_address(email):
                raise bad_request("Does not contain a valid address.", f"recipient_emails.{k}")
        when = now()
        for email in emails:
            model.unsubscribe(email, when)
            if consent is not None:
                consent.unsubscribe(email)
        return _json({"recipient_emails": emails}, 201)

    @app.get("/v3/asm/suppressions/global/<email>")
    async def get_unsubscribe(email: str) -> Response:
        entry = model.unsubscribes.get(email.lower())
        return _json({"recipient_email": entry.email} if entry is not None else {})

    @app.delete("/v3/asm/suppressions/global/<email>")
    async def delete_unsubscribe(email: str) -> Response:
        model.resubscribe(email)
        if consent is not None:
            consent.resubscribe(email)
        return Response(b"", status=204)

    register_templates_api(app, model, now)
    return app


def face_stats(app: quart_trio.QuartTrio) -> FaceStats:
    """The counters an app built by :func:`create_sendgrid_app` writes to."""
    return app.extensions["promoloop_sendgrid_stats"]
