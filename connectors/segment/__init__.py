"""Segment-compatible faces: the HTTP Tracking API (a quart-trio app) and its wire rules."""

from promoloop.connectors.segment.tracking_api import TrackingStats, create_tracking_app

__all__ = ["TrackingStats", "create_tracking_app"]
