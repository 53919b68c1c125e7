"""The Event Webhook: SendGrid-shaped event arrays, signed with ECDSA as SendGrid signs them and
verified here by the official SDK's own verifier (``sendgrid.helpers.eventwebhook``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import quart_trio
from quart import Response, request
from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader
from sg_world import AUTH, CUSTOMERS, STRANGER, sendgrid_world

from promoloop.connectors.sendgrid.eventhook import EventSigner
from promoloop.connectors.transport.http import running_app

PAM, JIM = CUSTOMERS["pam"], CUSTOMERS["jim"]


class Receiver:
    """Accepts a post only when its signature verifies against ``verification_key``."""

    def __init__(self) -> None:
        self.verification_key = ""
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self.app = quart_trio.QuartTrio(__name__)
        self.app.add_url_rule("/events", view_func=self.receive, methods=["POST"])

    async def receive(self) -> Response:
        payload = (await request.get_data()).decode()
        verifier = EventWebhook(self.verification_key)
        valid = verifier.verify_signature(
            payload,
            request.headers.get(EventWebhookHeader.SIGNATURE, ""),
            request.headers.get(EventWebhookHeader.TIMESTAMP, ""),
        )
        if not valid:
            self.rejected += 1
            return Response("bad signature", status=403)
        self.events += await request.get_json()
        return Response("", status=200)


async def test_events_are_signed_arrays_in_sendgrids_shape() -> None:
    receiver = Receiver()
    async with (
        running_app(receiver.app) as hook_url,
        sendgrid_world(event_webhooks=[f"{hook_url}/events"]) as sg,
    ):
        assert sg.face.signer is not None
        receiver.verification_key = sg.face.signer.verification_key
        body = {
            "personalizations": [{"to": [{"email": a}]} for a in (PAM, STRANGER, JIM)],
            "from": {"email": "shop@promoloop.example"},
            "subject": "Hello",
            "content": [{"type": "text/plain", "value": "Hi"}],
            "categories": ["hello"],
            "custom_args": {"campaign": "hello-2026", "cohort": "b"},
            "asm": {"group_id": 3},
        }
        async with httpx.AsyncClient(base_url=sg.url, headers=AUTH) as client:
            await client.post("/v3/asm/suppressions/global", json={"recipient_emails": [JIM]})
            assert (await client.post("/v3/mail/send", json=body)).status_code == 202
        await sg.settle()
    assert receiver.rejected == 0
    by_address: dict[str, list[str]] = {}
    for event in receiver.events:
        by_address.setdefault(event["email"], []).append(event["event"])
    assert by_address == {
        PAM: ["processed", "delivered"],
        STRANGER: ["processed", "bounce"],
        JIM: ["processed", "dropped"],
    }
    delivered = next(e for e in receiver.events if e["event"] == "delivered")
    assert delivered["category"] == ["hello"] and delivered["cohort"] == "b"
    assert delivered["asm_group_id"] == 3 and delivered["sg_message_id"].startswith(
        delivered["smtp-id"][1:23]
    )
    dropped = next(e for e in receiver.events if e["event"] == "dropped")
    assert dropped["reason"] == "Unsubscribed Address"
    assert len({e["sg_event_id"] for e in receiver.events}) == len(receiver.events)


async def test_a_tampered_body_fails_the_sdk_verifier() -> None:
    signer = EventSigner()
    body = b'[{"event":"open"}]'
    signature = signer.sign("1700000000", body)
    verifier = EventWebhook(signer.verification_key)
    assert verifier.verify_signature(body.decode(), signature, "1700000000")
    assert not verifier.verify_signature('[{"event":"click"}]', signature, "1700000000")
    assert not verifier.verify_signature(body.decode(), signature, "1700000001")


def test_a_configured_key_must_be_an_ec_p256_pem() -> None:
    with pytest.raises(ValueError, match="PEM"):
        EventSigner("not a key")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    assert EventSigner(pem).verification_key == EventSigner(pem).verification_key
    other = ec.generate_private_key(ec.SECP384R1())
    wrong_curve = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ValueError, match="P-256"):
        EventSigner(wrong_curve)
