"""The actor runtime: actors, lanes, the conductor that orders deliveries, timers, the world."""

from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY, DEFAULT_EPOCH, HOUR, MINUTE, SimTime, virtual_clock
from promoloop.actors.runtime.errors import ActorCrashed, Deadlock, UnknownActor
from promoloop.actors.runtime.seeds import Seeds
from promoloop.actors.runtime.world import World

__all__ = [
    "DAY",
    "DEFAULT_EPOCH",
    "HOUR",
    "MINUTE",
    "Actor",
    "ActorCrashed",
    "Deadlock",
    "Seeds",
    "SimTime",
    "Started",
    "UnknownActor",
    "Wake",
    "World",
    "virtual_clock",
]
