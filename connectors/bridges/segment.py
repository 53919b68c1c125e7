"""SegmentBridge: a :class:`~promoloop.actors.runtime.ports.TrackingPort` over Segment's HTTP API.

Speaks ``POST /v1/batch`` to any Segment-compatible Tracking API (our mock or the real
``https://api.segment.io``; the base URL and write key come from configuration). Calls are split
into requests within Segment's limits, and a partial acceptance is an error: our own sender
should never produce an event the API refuses, so a refusal is surfaced, not swallowed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import httpx
import msgspec
import trio

from promoloop.actors.events.segment import SegmentEvent
from promoloop.actors.runtime.netgate import NetGate

MAX_EVENT_BYTES = 32 * 1024
MAX_REQUEST_BYTES = 500 * 1024
_HEAD = b'{"batch":['
_RETRYABLE = frozenset({408, 429})


class SegmentError(Exception):
    """The Tracking API refused calls (or would have: ``status`` is None for a local refusal)."""

    def __init__(
        self,
        status: int | None,
        code: str,
        message: str,
        rejected: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"[{status if status is not None else 'local'}] {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.rejected = rejected or []


class _Reply(msgspec.Struct):
    code: str = "unknown"
    message: str = ""
    rejected: list[dict[str, Any]] = msgspec.field(default_factory=list)


class SegmentBridge:
    def __init__(
        self,
        base_url: str,
        write_key: str,
        *,
        client: httpx.AsyncClient | None = None,
        gate: NetGate | None = None,
        max_batch_bytes: int = 475_000,
        max_batch_events: int = 500,
        timeout: float = 10.0,
        now: Callable[[], datetime] | None = None,
        max_attempts: int = 3,
        backoff: float = 0.5,
    ) -> None:
        """``max_batch_bytes`` is the whole request body; it stays under Segment's 500 KB."""
        if not write_key:
            raise ValueError("SegmentBridge needs a write key")
        if not MAX_EVENT_BYTES + 64 <= max_batch_bytes <= MAX_REQUEST_BYTES:
            raise ValueError(f"max_batch_bytes must be between 32 KB and {MAX_REQUEST_BYTES}")
        if max_batch_events < 1 or max_attempts < 1:
            raise ValueError("max_batch_events and max_attempts must be at least 1")
        self.url = base_url.rstrip("/") + "/v1/batch"
        self._auth = httpx.BasicAuth(write_key, "")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout)
        self._timeout = timeout
        self._gate = gate
        self._max_bytes = max_batch_bytes
        self._max_events = max_batch_events
        self._now = now or (lambda: datetime.now(UTC))
        self._max_attempts = max_attempts
        self._backoff = backoff
        self.requests_sent = 0

    async def send(self, events: Sequence[SegmentEvent]) -> None:
        """Deliver ``events`` in order; returns when the API accepted all of them."""
        encoded = [msgspec.json.encode(event) for event in events]
        for index, body in enumerate(encoded):
            if len(body) > MAX_EVENT_BYTES:
                raise SegmentError(
                    None,
                    "message_too_large",
                    f"event {index} ({type(events[index]).__name__} {events[index].message_id!r})"
                    f" is {len(body)} bytes; Segment accepts at most {MAX_EVENT_BYTES}",
                )
        for chunk in self._chunks(encoded):
            await self._post(chunk)

    def _chunks(self, encoded: list[bytes]) -> list[list[bytes]]:
        # Room for the head, the closing `]`, and `,"sentAt":"<RFC 3339 with offset>"}`.
        budget = self._max_bytes - len(_HEAD) - 64
        chunks: list[list[bytes]] = []
        current: list[bytes] = []
        size = 0
        for body in encoded:
            extra = len(body) + (1 if current else 0)
            if current and (size + extra > budget or len(current) >= self._max_events):
                chunks.append(current)
                current, size, extra = [], 0, len(body)
            current.append(body)
            size += extra
        if current:
            chunks.append(current)
        return chunks

    def _request_body(self, chunk: list[bytes]) -> bytes:
        sent_at = msgspec.json.encode(self._now())
        return b"".join([_HEAD, b",".join(chunk), b'],"sentAt":', sent_at, b"}"])

    async def _post(self, chunk: list[bytes]) -> None:
        for attempt in range(1, self._max_attempts + 1):
            last = attempt == self._max_attempts
            try:
                response = await self._attempt(self._request_body(chunk))
            except httpx.TransportError as error:
                if last:
                    raise SegmentError(None, "transport_error", repr(error)) from error
            else:
                if response.status_code < 300:
                    self._check_accepted(response)
                    return
                if last or not (response.status_code in _RETRYABLE or response.status_code >= 500):
                    reply = _parse_reply(response)
                    raise SegmentError(response.status_code, reply.code, reply.message)
            # Outside the gate: under a virtual clock this sleep is instant once nothing is
            # on the wire, in real time it is a real backoff.
            await trio.sleep(self._backoff * 2 ** (attempt - 1))

    async def _attempt(self, body: bytes) -> httpx.Response:
        gate: AbstractAsyncContextManager[None] = (
            self._gate.request() if self._gate is not None else nullcontext()
        )
        async with gate:
            self.requests_sent += 1
            return await self._client.post(
                self.url,
                content=body,
                auth=self._auth,
                headers={"Content-Type": "application/json"},
                timeout=self._timeout,
            )

    @staticmethod
    def _check_accepted(response: httpx.Response) -> None:
        reply = _parse_reply(response)
        if reply.rejected:
            first = reply.rejected[0]
            raise SegmentError(
                response.status_code,
                str(first.get("code", "rejected")),
                f"{len(reply.rejected)} call(s) refused; first at index "
                f"{first.get('index')}: {first.get('message', '')}",
                reply.rejected,
            )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _parse_reply(response: httpx.Response) -> _Reply:
    """The API's JSON ``code``/``message``; a non-JSON body (a proxy's HTML) becomes the text."""
    try:
        return msgspec.json.decode(response.content, type=_Reply)
    except msgspec.DecodeError:
        return _Reply(message=response.text[:500])
