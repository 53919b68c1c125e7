"""The CDP's predictions, as an actor: learns from the event stream, writes scores back.

It subscribes to the storefront's events like a destination and, once a day (one second after
midnight, when every event stamped up to midnight has been delivered: the conductor drains a
moment before the clock moves), matures labels, re-scores the profiles that are due and sends
their traits to the CDP as ``identify`` calls on its own source, the way Segment Predictions
writes computed traits onto profiles. Audiences such as "top 20 % likelihood to purchase"
are then ordinary trait conditions on ``likelihood_to_purchase_percentile``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from promoloop.actors.cdp.predictive.config import PredictiveConfig
from promoloop.actors.cdp.predictive.engine import PredictiveEngine
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Identify, Page, Track
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY
from promoloop.actors.runtime.ports import TrackingPort

BATCH = 100


class Treatment(msgspec.Struct, frozen=True, kw_only=True):
    """A campaign put this customer in its treated group (``treated``) or its holdout, for
    ``exposure_days`` (how long the offer can change behaviour)."""

    user_id: str
    campaign: str
    treated: bool
    exposure_days: float = 14.0


class PredictiveActor(Actor):
    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "predictions",
        *,
        config: PredictiveConfig | None = None,
        uplift_campaigns: frozenset[str] | None = None,
    ) -> None:
        """``uplift_campaigns``: the campaigns whose assignments train the uplift models (None:
        all). Randomised ones only, ideally: a campaign aimed at an audience confounds who
        was treated with why."""
        super().__init__(name)
        self.engine = PredictiveEngine(config or PredictiveConfig())
        self.uplift_campaigns = uplift_campaigns
        self._exposures: dict[str, float] = {}
        """user → sim second when its current exposure ends."""
        self.tracking: TrackingPort | None = None
        self.quality_history: list[tuple[float, dict[str, Any]]] = []
        """(sim day, engine.quality()) after each daily pass."""
        self.scored = 0
        self._seq = 0

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                self.schedule(1.0, Wake("daily"))
            case EventBatch():
                self._observe(message)
            case Treatment():
                if self.uplift_campaigns is None or message.campaign in self.uplift_campaigns:
                    self.engine.observe_treatment(message.user_id, self.now_dt(), message.treated)
                    self._exposures[message.user_id] = self.now + message.exposure_days * DAY
            case Wake():
                await self._daily()
                self.schedule(self.now + DAY, Wake("daily"))
            case _:
                raise TypeError(f"predictions cannot handle {type(message).__name__}")
        return None

    def _observe(self, batch: EventBatch) -> None:
        engine = self.engine
        for event in batch.events:
            key = event.user_id or event.anonymous_id
            if key is None or event.timestamp is None:
                continue
            if isinstance(event, Identify):
                anonymous = event.anonymous_id
                if event.user_id and anonymous and anonymous in engine.features:
                    engine.merge(into=event.user_id, absorbed=anonymous)
                continue
            if isinstance(event, Track):
                engine.observe(key, event.timestamp, event.event, event.properties)
            elif isinstance(event, Page):
                engine.observe(key, event.timestamp, "page", event.properties)

    async def _daily(self) -> None:
        now = self.now_dt()
        engine = self.engine
        ended = sorted(u for u, until in self._exposures.items() if until <= self.now)
        for user_id in ended:
            engine.observe_treatment(user_id, now, None)
            del self._exposures[user_id]
        engine.advance(now)
        calls: list[Identify] = []
        for key in engine.predict_due(now):
            traits = {k: round(v, 6) for k, v in engine.traits_for(key, now).items()}
            if not traits:
                continue
            self._seq += 1
            ids = {"anonymous_id": key} if key.startswith("anon-") else {"user_id": key}
            calls.append(
                Identify(
                    message_id=f"{self.name}-{self._seq:09d}", timestamp=now, traits=traits, **ids
                )
            )
        self.scored += len(calls)
        self.quality_history.append((self.now / DAY, engine.quality()))
        if calls:
            if self.tracking is None:
                raise RuntimeError(f"{self.name}: no tracking port wired to the CDP")
            for start in range(0, len(calls), BATCH):
                await self.tracking.send(calls[start : start + BATCH])
