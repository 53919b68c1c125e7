"""Signed JSON webhooks: the sender (httpx) and a receiver mock (Quart-Trio) for tests."""

from promoloop.connectors.webhooks.receiver import WebhookInbox, create_webhook_receiver
from promoloop.connectors.webhooks.sender import WebhookError, WebhookSender
from promoloop.connectors.webhooks.signing import SEGMENT_STYLE, VOUCHERIFY_STYLE, Signature

__all__ = [
    "SEGMENT_STYLE",
    "VOUCHERIFY_STYLE",
    "Signature",
    "WebhookError",
    "WebhookInbox",
    "WebhookSender",
    "create_webhook_receiver",
]
