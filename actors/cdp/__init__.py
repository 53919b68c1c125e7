"""The customer data platform: identity, profiles, accounts and links, computed traits,
audiences, tracking plans, dedup and delivery to destinations. See docs/cdp.md."""

from promoloop.actors.cdp.accounts import Accounts, Link
from promoloop.actors.cdp.actor import CdpActor, ComputeAudience
from promoloop.actors.cdp.audiences import (
    And,
    Audience,
    Not,
    Or,
    PerformedAfter,
    PerformedEvent,
    TraitCondition,
    load_audiences,
)
from promoloop.actors.cdp.delivery import Deliveries, DeliveryFailed
from promoloop.actors.cdp.destinations import Subscription
from promoloop.actors.cdp.history import HistoryEntry
from promoloop.actors.cdp.identity import (
    IdentifierRule,
    IdentityConfig,
    IdentityGraph,
    load_identity_config,
)
from promoloop.actors.cdp.model import ENGAGE_SOURCE, CdpModel
from promoloop.actors.cdp.profiles import ExternalId, Profile
from promoloop.actors.cdp.sources import Source, SourceRegistry
from promoloop.actors.cdp.tracking_plan import (
    Enforcement,
    EventRule,
    PropertyRule,
    TrackingPlan,
    Violation,
    load_tracking_plan,
)
from promoloop.actors.cdp.traits import ComputedTrait, Rfm, load_computed_traits, rfm

__all__ = [
    "ENGAGE_SOURCE",
    "Accounts",
    "And",
    "Audience",
    "CdpActor",
    "CdpModel",
    "ComputeAudience",
    "ComputedTrait",
    "Deliveries",
    "DeliveryFailed",
    "Enforcement",
    "EventRule",
    "ExternalId",
    "HistoryEntry",
    "IdentifierRule",
    "IdentityConfig",
    "IdentityGraph",
    "Link",
    "Not",
    "Or",
    "PerformedAfter",
    "PerformedEvent",
    "Profile",
    "PropertyRule",
    "Rfm",
    "Source",
    "SourceRegistry",
    "Subscription",
    "TrackingPlan",
    "TraitCondition",
    "Violation",
    "load_audiences",
    "load_computed_traits",
    "load_identity_config",
    "load_tracking_plan",
    "rfm",
]
