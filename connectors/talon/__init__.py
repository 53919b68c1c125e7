"""Talon.One-compatible face: the Integration API v2 (a quart-trio app), its rule engine of
conditions and effects, customer sessions and profiles over the shared promotion engine."""

from promoloop.connectors.talon.api import TalonEngine, TalonStats, create_talon_app, talon_stats
from promoloop.connectors.talon.model import SessionUpdate, TalonModel, TalonRefusal
from promoloop.connectors.talon.rules import (
    AddLoyaltyPoints,
    Check,
    CouponValid,
    CreateCoupon,
    EventIs,
    ReferralValid,
    SetDiscount,
    TalonCampaign,
    TalonRule,
    decode_campaign,
)
from promoloop.connectors.talon.serving import serve_talon_api, world_talon_app
from promoloop.connectors.talon.wire import TalonError

__all__ = [
    "AddLoyaltyPoints",
    "Check",
    "CouponValid",
    "CreateCoupon",
    "EventIs",
    "ReferralValid",
    "SessionUpdate",
    "SetDiscount",
    "TalonCampaign",
    "TalonEngine",
    "TalonError",
    "TalonModel",
    "TalonRefusal",
    "TalonRule",
    "TalonStats",
    "create_talon_app",
    "decode_campaign",
    "serve_talon_api",
    "talon_stats",
    "world_talon_app",
]
