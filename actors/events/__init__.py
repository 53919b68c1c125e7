"""Event schemas shared by every actor: the Segment Spec, the engine's events, actor messages."""

from promoloop.actors.events import names
from promoloop.actors.events.messages import (
    EmailInteraction,
    EmailMessage,
    EventBatch,
    PushNotification,
)
from promoloop.actors.events.promotions import (
    EngineEvent,
    LoyaltyPointsEarned,
    Order,
    PublicationSucceeded,
    RedeemCode,
    RedemptionFailed,
    RedemptionRollbackSucceeded,
    RedemptionSucceeded,
    ValidateCode,
    Verdict,
)
from promoloop.actors.events.segment import (
    EVENT_TYPES,
    Alias,
    Batch,
    Group,
    Identify,
    Page,
    Screen,
    SegmentEvent,
    Track,
)

__all__ = [
    "EVENT_TYPES",
    "Alias",
    "Batch",
    "EmailInteraction",
    "EmailMessage",
    "EngineEvent",
    "EventBatch",
    "Group",
    "Identify",
    "LoyaltyPointsEarned",
    "Order",
    "Page",
    "PublicationSucceeded",
    "PushNotification",
    "RedeemCode",
    "RedemptionFailed",
    "RedemptionRollbackSucceeded",
    "RedemptionSucceeded",
    "Screen",
    "SegmentEvent",
    "Track",
    "ValidateCode",
    "Verdict",
    "names",
]
