"""Where the promotion engine's HTTP faces send the events they cause: the same places the
engine actor sends its own (the CDP on the engine's source, then each registered webhook)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.promotions import EngineEvent
from promoloop.actors.promotions import PromotionsActor
from promoloop.actors.runtime.world import World

Report = Callable[[Sequence[EngineEvent]], Awaitable[None]]


def engine_reporter(world: World, promotions: PromotionsActor, cdp: str, lane: str) -> Report:
    """``lane`` is the face's own sender name: its sequence numbers never collide with the
    actor's, while the batches still carry the engine's source name."""

    async def report(events: Sequence[EngineEvent]) -> None:
        batch = EventBatch(promotions.name, tuple(event.to_track() for event in events))
        await world.post(lane, cdp, batch)
        for target in promotions.webhooks:
            for event in events:
                await world.post(lane, target, event)

    return report
