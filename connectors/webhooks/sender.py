"""POST signed JSON to a configured URL (the real endpoint or a mock), one attempt per call.

Retries are the caller's business (the webhook destination actor retries with backoff in
virtual time and keeps what it could not deliver): a sender that slept here would hide time
from the simulation.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from promoloop.actors.runtime.netgate import NetGate
from promoloop.connectors.webhooks.signing import Signature


class WebhookError(Exception):
    """A delivery that failed: a transport error or a non-2xx answer."""

    def __init__(self, url: str, status: int | None, detail: str) -> None:
        super().__init__(f"webhook to {url} failed: {status or 'no answer'} {detail}".strip())
        self.url = url
        self.status = status
        self.retryable = status is None or status == 429 or status >= 500


class JsonPoster:
    """One JSON POST per call to ``url``; a subclass says how a body is signed (:meth:`headers`)."""

    def __init__(
        self,
        url: str,
        *,
        client: httpx.AsyncClient | None = None,
        gate: NetGate | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook url must be http(s), got {url!r}")
        self.url = url
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._gate = gate
        self._encoder = msgspec.json.Encoder()

    def headers(self, body: bytes) -> dict[str, str]:
        """The signature headers for this body."""
        raise NotImplementedError

    async def post(self, payload: Any) -> None:
        body = self._encoder.encode(payload)
        headers = {"Content-Type": "application/json", **self.headers(body)}
        try:
            if self._gate is not None:
                async with self._gate.request():
                    response = await self._client.post(self.url, content=body, headers=headers)
            else:
                response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise WebhookError(self.url, None, type(error).__name__) from error
        if not 200 <= response.status_code < 300:
            raise WebhookError(self.url, response.status_code, response.text[:200])

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


class WebhookSender(JsonPoster):
    """Signed with a shared secret (HMAC), in Voucherify's or Segment's style."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        signature: Signature,
        client: httpx.AsyncClient | None = None,
        gate: NetGate | None = None,
        timeout: float = 10.0,
    ) -> None:
        if not secret:  # before the base class opens a client
            raise ValueError("webhook secret must not be empty")
        super().__init__(url, client=client, gate=gate, timeout=timeout)
        self._secret = secret
        self._signature = signature

    def headers(self, body: bytes) -> dict[str, str]:
        return {self._signature.header: self._signature.sign(self._secret, body)}
