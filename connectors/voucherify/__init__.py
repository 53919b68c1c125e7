"""Voucherify-compatible face: the v1 HTTP API (a quart-trio app), its wire rules, and the
engine wrapper that serialises access to the promotion model."""

from promoloop.connectors.voucherify.api import FaceStats, create_voucherify_app, face_stats
from promoloop.connectors.voucherify.engine import VoucherifyEngine
from promoloop.connectors.voucherify.serving import serve_voucherify_api, world_voucherify_app
from promoloop.connectors.voucherify.wire import ApiError

__all__ = [
    "ApiError",
    "FaceStats",
    "VoucherifyEngine",
    "create_voucherify_app",
    "face_stats",
    "serve_voucherify_api",
    "world_voucherify_app",
]
