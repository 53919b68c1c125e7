"""The experiment gate: every campaign holds out a random control group.

Campaigns here are triggered by audiences. The gate sits between the CDP and the promotion
engine: when a customer enters a campaign's audience it assigns them once, deterministically
(:func:`in_holdout`), to the treated group or the holdout, records the assignment, tells the
predictions actor (its uplift model learns from treated vs control), and forwards treated
customers to the engine as an ``Audience Entered`` for ``treated:<campaign>``, the audience the
campaign's distribution listens to. A randomised *exploration* arm can also offer a coupon to a
random half of all known customers on a given day: unconfounded data for the uplift model.
"""

from __future__ import annotations

from typing import Any

import msgspec

from promoloop.actors.analytics.experiments import in_holdout
from promoloop.actors.cdp.predictive.actor import Treatment
from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.events.segment import Identify, Track
from promoloop.actors.runtime.actor import Actor, Started, Wake

TREATED_PREFIX = "treated:"


class CampaignArm(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    """The campaign's key: its distribution listens to ``treated:<key>``."""
    audience_key: str | None
    """The audience that triggers it; None for an exploration arm (see ``explore_at_day``)."""
    holdout_share: float = 0.2
    explore_at_day: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.holdout_share <= 1.0:
            raise ValueError(f"campaign {self.key!r}: holdout_share must be within 0..1")
        if (self.audience_key is None) == (self.explore_at_day is None):
            raise ValueError(
                f"campaign {self.key!r}: give exactly one of audience_key or explore_at_day"
            )


class Assignment(msgspec.Struct, frozen=True):
    user_id: str
    campaign: str
    treated: bool
    at: float
    """Sim seconds."""


class HoldoutGate(Actor):
    mailbox_capacity = 256

    def __init__(
        self,
        name: str = "experiments",
        *,
        arms: list[CampaignArm],
        promotions: str = "promotions",
        predictions: str | None = "predictions",
    ) -> None:
        super().__init__(name)
        keys = [arm.key for arm in arms]
        if len(set(keys)) != len(keys):
            raise ValueError(f"campaign keys must be unique, got {keys}")
        self.arms = arms
        self.promotions = promotions
        self.predictions = predictions
        self.assignments: list[Assignment] = []
        self.known: list[str] = []
        self._known_set: set[str] = set()
        self._assigned: set[tuple[str, str]] = set()
        self._seq = 0

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                for arm in self.arms:
                    if arm.explore_at_day is not None:
                        self.schedule(arm.explore_at_day * 86_400.0, Wake(arm.key))
            case EventBatch():
                await self._on_batch(message)
            case Wake():
                arm = next(a for a in self.arms if a.key == message.tag)
                for user_id in list(self.known):
                    await self._assign(arm, user_id)
            case _:
                raise TypeError(f"the experiment gate cannot handle {type(message).__name__}")
        return None

    async def _on_batch(self, batch: EventBatch) -> None:
        for event in batch.events:
            user_id = event.user_id
            if not user_id:
                continue
            if isinstance(event, Identify) and user_id not in self._known_set:
                self._known_set.add(user_id)
                self.known.append(user_id)
            elif isinstance(event, Track) and event.event == names.AUDIENCE_ENTERED:
                key = event.properties.get("audience_key")
                for arm in self.arms:
                    if arm.audience_key is not None and arm.audience_key == key:
                        await self._assign(arm, user_id)

    async def _assign(self, arm: CampaignArm, user_id: str) -> None:
        if (arm.key, user_id) in self._assigned:
            return  # one assignment per customer and campaign: its outcome stays measurable
        self._assigned.add((arm.key, user_id))
        treated = not in_holdout(self.world.seed, arm.key, user_id, arm.holdout_share)
        self.assignments.append(Assignment(user_id, arm.key, treated, self.now))
        if self.predictions is not None:
            await self.tell(
                self.predictions, Treatment(user_id=user_id, campaign=arm.key, treated=treated)
            )
        if treated:
            self._seq += 1
            entered = Track(
                message_id=f"{self.name}-{self._seq:09d}",
                timestamp=self.now_dt(),
                user_id=user_id,
                event=names.AUDIENCE_ENTERED,
                properties={"audience_key": f"{TREATED_PREFIX}{arm.key}", "campaign": arm.key},
            )
            await self.tell(self.promotions, EventBatch(self.name, (entered,)))
