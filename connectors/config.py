"""Credentials and endpoints from the environment (design.md §6), with documented dev defaults.

Nothing here names a real service: a real endpoint or key is only ever what the user exports.
"""

from __future__ import annotations

import os

import msgspec

DEV_SEGMENT_WRITE_KEY = "promoloop-dev-write-key"
DEV_ENGINE_WRITE_KEY = "promoloop-dev-engine-write-key"
DEV_PROFILE_TOKEN = "promoloop-dev-profile-token"
DEV_VOUCHERIFY_APP_ID = "promoloop-dev-app-id"
DEV_VOUCHERIFY_APP_TOKEN = "promoloop-dev-app-token"
DEV_TALON_API_KEY = "promoloop-dev-talon-key"
DEV_WEBHOOK_SECRET = "promoloop-dev-webhook-secret"
DEV_SENDGRID_API_KEY = "promoloop-dev-sendgrid-key"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    segment_write_key: str = DEV_SEGMENT_WRITE_KEY
    """Tracking API write key of the storefront source (``PROMOLOOP_SEGMENT_WRITE_KEY``)."""
    engine_write_key: str = DEV_ENGINE_WRITE_KEY
    """Write key the promotion engine's source uses (``PROMOLOOP_ENGINE_WRITE_KEY``)."""
    profile_token: str = DEV_PROFILE_TOKEN
    voucherify_app_id: str = DEV_VOUCHERIFY_APP_ID
    voucherify_app_token: str = DEV_VOUCHERIFY_APP_TOKEN
    talon_api_key: str = DEV_TALON_API_KEY
    webhook_secret: str = DEV_WEBHOOK_SECRET
    """Shared secret signing outgoing webhooks (``PROMOLOOP_WEBHOOK_SECRET``)."""
    sendgrid_api_key: str = DEV_SENDGRID_API_KEY
    """The SendGrid face's API key (``Authorization: Bearer``; ``PROMOLOOP_SENDGRID_API_KEY``)."""
    sendgrid_webhook_key: str = ""
    """PEM EC P-256 private key signing SendGrid Event Webhook posts
    (``PROMOLOOP_SENDGRID_WEBHOOK_KEY``); empty: each run makes its own and prints the
    verification key."""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            value = env.get(name, "").strip()
            return value or default

        return cls(
            segment_write_key=get("PROMOLOOP_SEGMENT_WRITE_KEY", DEV_SEGMENT_WRITE_KEY),
            engine_write_key=get("PROMOLOOP_ENGINE_WRITE_KEY", DEV_ENGINE_WRITE_KEY),
            profile_token=get("PROMOLOOP_PROFILE_TOKEN", DEV_PROFILE_TOKEN),
            voucherify_app_id=get("PROMOLOOP_VOUCHERIFY_APP_ID", DEV_VOUCHERIFY_APP_ID),
            voucherify_app_token=get("PROMOLOOP_VOUCHERIFY_APP_TOKEN", DEV_VOUCHERIFY_APP_TOKEN),
            talon_api_key=get("PROMOLOOP_TALON_API_KEY", DEV_TALON_API_KEY),
            webhook_secret=get("PROMOLOOP_WEBHOOK_SECRET", DEV_WEBHOOK_SECRET),
            sendgrid_api_key=get("PROMOLOOP_SENDGRID_API_KEY", DEV_SENDGRID_API_KEY),
            sendgrid_webhook_key=get("PROMOLOOP_SENDGRID_WEBHOOK_KEY", ""),
        )
