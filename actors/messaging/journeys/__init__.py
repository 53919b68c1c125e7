"""Journeys: multi-step customer flows (entry, waits, branches, actions, stages, next best
action), defined in code and run for whole populations by one actor (see docs/journeys.md)."""

from promoloop.actors.messaging.journeys.actor import JourneyActor, SendRecord
from promoloop.actors.messaging.journeys.compiled import JourneyError, compile_journey
from promoloop.actors.messaging.journeys.definition import (
    STAGES,
    Arm,
    AudienceEntry,
    Branch,
    Case,
    EventEntry,
    Exit,
    ExitOnAudienceExit,
    ExitOnEvent,
    Journey,
    NextBestAction,
    PublishCode,
    Send,
    SetStage,
    SetTrait,
    StageEntry,
    Wait,
    WaitUntil,
)
from promoloop.actors.messaging.journeys.engine import JourneyEngine, TraitUpdate
from promoloop.actors.messaging.journeys.nba import NbaLearner
from promoloop.actors.messaging.journeys.stages import Funnel, StageRules

__all__ = [
    "STAGES",
    "Arm",
    "AudienceEntry",
    "Branch",
    "Case",
    "EventEntry",
    "Exit",
    "ExitOnAudienceExit",
    "ExitOnEvent",
    "Funnel",
    "Journey",
    "JourneyActor",
    "JourneyEngine",
    "JourneyError",
    "NbaLearner",
    "NextBestAction",
    "PublishCode",
    "Send",
    "SendRecord",
    "SetStage",
    "SetTrait",
    "StageEntry",
    "StageRules",
    "TraitUpdate",
    "Wait",
    "WaitUntil",
    "compile_journey",
]
