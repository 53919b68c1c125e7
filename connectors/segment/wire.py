"""Segment Tracking API wire format: bytes in, validated and enriched Structs out.

Pure functions, no Quart and no trio, so every rule of the HTTP face can be unit-tested and
reused by other faces (a bench, a fuzzer). Errors come in two kinds, because Segment treats them
differently: a :class:`RequestRefused` fails the whole request (400/401), an :class:`EventRejected`
drops one element of a batch while the rest is accepted.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import msgspec

from promoloop.actors.events.segment import (
    EVENT_TYPES,
    Alias,
    Group,
    SegmentEvent,
    Track,
)

MAX_EVENT_BYTES = 32 * 1024
"""Segment's limit for one call, alone or inside a batch (32 KB)."""

MAX_BATCH_BYTES = 500 * 1024
"""Segment's limit for one ``/v1/batch`` request body (500 KB)."""

SHORT_PATHS = {
    "i": "identify",
    "t": "track",
    "p": "page",
    "s": "screen",
    "g": "group",
    "a": "alias",
}
"""``/v1/t`` etc.: the short single-call paths analytics.js uses; same meaning as the long ones."""


class RequestRefused(Exception):
    """The whole request is refused; rendered as ``{"success": false, "code", "message"}``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class EventRejected(Exception):
    """One call is refused; inside a batch the others still go through."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class BatchEnvelope(msgspec.Struct, kw_only=True, rename="camel"):
    """The ``/v1/batch`` body with each element left raw.

    Elements are decoded one by one (:func:`decode_event`) so a single bad element is rejected
    alone instead of failing the whole batch, and its raw length is its size as sent.
    """

    batch: list[msgspec.Raw]
    sent_at: datetime | None = None
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    integrations: dict[str, Any] = msgspec.field(default_factory=dict)
    write_key: str | None = None


class SingleEnvelope(msgspec.Struct, kw_only=True, rename="camel"):
    """What a single-call body carries besides the event itself."""

    type: str | None = None
    write_key: str | None = None


# -- transport --------------------------------------------------------------------------------


def parse_basic_auth(header: str | None) -> str | None:
    """The username (= write key) of an ``Authorization: Basic`` header, else None.

    Hand-parsed rather than trusting a framework helper, so any garbage header is simply "no
    key" (→ 401), never an exception.
    """
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    username = decoded.partition(":")[0]
    return username or None


def decode_content(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """The request body as JSON bytes, decompressed if needed, never longer than ``limit``.

    Decompression is capped at ``limit + 1`` bytes of output, so a gzip bomb costs at most that
    much memory before it is refused.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        data = body
    elif encoding in ("gzip", "x-gzip"):
        data = _gunzip_capped(body, limit)
    else:
        raise RequestRefused("invalid_request", f"unsupported Content-Encoding {encoding!r}")
    if len(data) > limit:
        raise RequestRefused(
            "payload_too_large", f"body is {len(data)} bytes, the limit is {limit} bytes"
        )
    return data


def _gunzip_capped(body: bytes, limit: int) -> bytes:
    out = bytearray()
    data = body
    try:
        while True:  # a gzip stream may hold several members, like `cat a.gz b.gz`
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            out += inflater.decompress(data, limit + 1 - len(out))
            if len(out) > limit:
                raise RequestRefused(
                    "payload_too_large", f"decompressed body exceeds the limit of {limit} bytes"
                )
            if not inflater.eof:
                raise RequestRefused("invalid_request", "gzip body is truncated")
            data = inflater.unused_data
            if not data.strip(b"\x00"):
                return bytes(out)
    except zlib.error as error:
        raise RequestRefused("invalid_request", f"invalid gzip body: {error}") from None


# -- decoding ---------------------------------------------------------------------------------


def decode_envelope(body: bytes) -> BatchEnvelope:
    try:
        return msgspec.json.decode(body, type=BatchEnvelope)
    except msgspec.DecodeError as error:  # ValidationError is a DecodeError
        raise RequestRefused("invalid_request", f"invalid batch: {error}") from None


def decode_single(body: bytes, call_type: str) -> tuple[SingleEnvelope, SegmentEvent]:
    """Decode a single-call body; the path decides the type, a disagreeing ``type`` is an error."""
    try:
        envelope = msgspec.json.decode(body, type=SingleEnvelope)
    except msgspec.DecodeError as error:
        raise RequestRefused("invalid_request", f"invalid call: {error}") from None
    if envelope.type is not None and envelope.type != call_type:
        raise RequestRefused(
            "invalid_request",
            f"body type {envelope.type!r} does not match the endpoint's type {call_type!r}",
        )
    try:
        event = decode_event(body, EVENT_TYPES[call_type])
        validate(event)
    except EventRejected as error:
        raise RequestRefused(error.code, error.message) from None
    return envelope, event


def decode_event(raw: bytes | msgspec.Raw, cls: Any = SegmentEvent) -> SegmentEvent:
    """One call. msgspec's messages name the JSON path (``... - at `$.properties```)."""
    try:
        return msgspec.json.decode(raw, type=cls)
    except msgspec.DecodeError as error:
        raise EventRejected("invalid_event", str(error)) from None


def validate(event: SegmentEvent) -> None:
    """The Spec's required fields that a type check alone cannot express (non-empty ids)."""
    if isinstance(event, Alias):
        if not event.previous_id:
            raise EventRejected("invalid_event", "alias needs a non-empty previousId")
        if not event.user_id:
            raise EventRejected("invalid_event", "alias needs a non-empty userId")
        return
    if not (event.user_id or event.anonymous_id):
        raise EventRejected("invalid_event", "userId or anonymousId is required")
    if isinstance(event, Track) and not event.event:
        raise EventRejected("invalid_event", "track needs a non-empty event name")
    if isinstance(event, Group) and not event.group_id:
        raise EventRejected("invalid_event", "group needs a non-empty groupId")


# -- enrichment -------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes on the wire are read as UTC, so arithmetic never mixes naive and aware."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def new_message_id() -> str:
    return "api-" + uuid.uuid4().hex


def enrich(
    event: SegmentEvent,
    *,
    received_at: datetime,
    sent_at: datetime | None = None,
    context: dict[str, Any] | None = None,
    integrations: dict[str, Any] | None = None,
) -> SegmentEvent:
    """What Segment adds on receipt: messageId, receivedAt, sentAt, skew-corrected timestamp.

    ``sent_at``/``context``/``integrations`` are the batch-level values; the event's own win.
    Skew correction: the sender's clock may be off, but ``sentAt - timestamp`` (both on the
    sender's clock) is trustworthy, so ``timestamp = receivedAt - (sentAt - timestamp)``.
    """
    received_at = as_utc(received_at)
    effective_sent = event.sent_at or sent_at
    effective_sent = as_utc(effective_sent) if effective_sent is not None else None
    timestamp = event.timestamp
    if timestamp is None:
        timestamp = received_at
    else:
        timestamp = as_utc(timestamp)
        if effective_sent is not None:
            # Absurd dates on the wire (year 1 vs 9999): keep the sender's timestamp, not fail.
            with contextlib.suppress(OverflowError):
                timestamp = received_at - (effective_sent - timestamp)
    changes: dict[str, Any] = {
        "message_id": event.message_id or new_message_id(),
        "received_at": received_at,
        "sent_at": effective_sent,
        "timestamp": timestamp,
    }
    if context:
        changes["context"] = {**context, **event.context}
    if integrations:
        changes["integrations"] = {**integrations, **event.integrations}
    return msgspec.structs.replace(event, **changes)
