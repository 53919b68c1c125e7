"""A webhook receiver mock: verifies signatures and records what arrived, so integrations can
be tested against it (``POST /hooks/<name>``, ``GET /hooks/<name>`` lists deliveries).

``fail_next`` makes it answer 503 a given number of times, to exercise senders' retries.
"""

from __future__ import annotations

from typing import Any

import msgspec
import quart_trio
from quart import Response, request

from promoloop.connectors.webhooks.signing import Signature


class WebhookInbox:
    def __init__(self) -> None:
        self.deliveries: dict[str, list[Any]] = {}
        self.rejected = 0
        self.fail_next = 0


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def create_webhook_receiver(
    *, secret: str, signature: Signature, inbox: WebhookInbox | None = None
) -> quart_trio.QuartTrio:
    inbox = inbox if inbox is not None else WebhookInbox()
    app = quart_trio.QuartTrio(__name__)
    app.config.update(BODY_TIMEOUT=None, RESPONSE_TIMEOUT=None)
    app.extensions["promoloop_webhook_inbox"] = inbox

    @app.get("/health")
    async def health() -> Response:
        return _json({"status": "ok"})

    @app.post("/hooks/<name>")
    async def receive(name: str) -> Response:
        body = await request.get_data()
        if not signature.verify(secret, body, request.headers.get(signature.header)):
            inbox.rejected += 1
            return _json({"error": "invalid_signature", "message": "signature mismatch"}, 401)
        if inbox.fail_next > 0:
            inbox.fail_next -= 1
            return _json({"error": "unavailable", "message": "try again later"}, 503)
        try:
            payload = msgspec.json.decode(body)
        except msgspec.DecodeError as error:
            return _json({"error": "invalid_json", "message": str(error)}, 400)
        inbox.deliveries.setdefault(name, []).append(payload)
        return _json({"received": True})

    @app.get("/hooks/<name>")
    async def listing(name: str) -> Response:
        return _json({"deliveries": inbox.deliveries.get(name, [])})

    return app
