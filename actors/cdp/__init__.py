"""The customer data platform: identity, profiles, audiences, destinations."""

from promoloop.actors.cdp.actor import CdpActor
from promoloop.actors.cdp.audiences import Audience, PerformedEvent
from promoloop.actors.cdp.destinations import Subscription
from promoloop.actors.cdp.model import ENGAGE_SOURCE, CdpModel
from promoloop.actors.cdp.profiles import HistoryEntry, Profile
from promoloop.actors.cdp.sources import Source, SourceRegistry

__all__ = [
    "ENGAGE_SOURCE",
    "Audience",
    "CdpActor",
    "CdpModel",
    "HistoryEntry",
    "PerformedEvent",
    "Profile",
    "Source",
    "SourceRegistry",
    "Subscription",
]
