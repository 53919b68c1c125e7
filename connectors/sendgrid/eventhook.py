"""SendGrid's signed Event Webhook: POST arrays of events, signed with ECDSA P-256.

SendGrid signs ``timestamp + body`` with the account's private key (ECDSA over SHA-256, DER,
base64) and sends ``X-Twilio-Email-Event-Webhook-Signature`` and
``X-Twilio-Email-Event-Webhook-Timestamp``; receivers verify with the "verification key" the
dashboard shows (the base64 DER public key), e.g. with the official SDK's
``sendgrid.helpers.eventwebhook.EventWebhook``. Here the private key comes from configuration
(``PROMOLOOP_SENDGRID_WEBHOOK_KEY``, a PEM EC private key); without one, each run makes its own
and ``promoloop serve`` prints the matching verification key.

Retries and ordering are the :class:`~promoloop.actors.messaging.webhook.WebhookDestination`
actor's: this sender makes one attempt per call, like the HMAC-signed senders.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from promoloop.actors.runtime.netgate import NetGate
from promoloop.connectors.webhooks.sender import JsonPoster

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class EventSigner:
    """The account's signing key; ``verification_key`` is what a receiver configures."""

    def __init__(self, private_key_pem: str | None = None) -> None:
        if private_key_pem:
            try:
                key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
            except ValueError as error:
                raise ValueError(
                    f"the Event Webhook key is not a PEM private key: {error}"
                ) from None
            if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
                raise ValueError("the Event Webhook key must be an EC P-256 (secp256r1) key")
            self._key = key
        else:
            self._key = ec.generate_private_key(ec.SECP256R1())

    @property
    def verification_key(self) -> str:
        der = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def sign(self, timestamp: str, body: bytes) -> str:
        signature = self._key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode()


class EventWebhookSender(JsonPoster):
    """A :class:`~promoloop.actors.messaging.webhook.WebhookPort` posting signed event arrays."""

    def __init__(
        self,
        url: str,
        signer: EventSigner,
        *,
        now: Callable[[], datetime],
        client: httpx.AsyncClient | None = None,
        gate: NetGate | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(url, client=client, gate=gate, timeout=timeout)
        self._signer = signer
        self._now = now

    def headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(self._now().timestamp()))
        return {SIGNATURE_HEADER: self._signer.sign(timestamp, body), TIMESTAMP_HEADER: timestamp}
