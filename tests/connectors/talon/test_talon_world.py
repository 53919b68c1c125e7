"""The Talon face served in front of a running world's PromotionsActor (what ``serve`` wires):
it shares the actor's model and reports to the CDP on the engine's own source."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
import trio

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.promotions import LoyaltyProgram, PromotionEngineModel, PromotionsActor
from promoloop.actors.runtime import World
from promoloop.actors.runtime.actor import Actor, Started
from promoloop.connectors.config import Settings
from promoloop.connectors.talon import (
    AddLoyaltyPoints,
    Check,
    TalonCampaign,
    TalonModel,
    TalonRule,
    serve_talon_api,
    world_talon_app,
)


class FakeCdp(Actor):
    def __init__(self) -> None:
        super().__init__("cdp")
        self.batches: list[EventBatch] = []
        self.arrived = trio.Event()

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, EventBatch):
            self.batches.append(message)
            self.arrived.set()
        elif not isinstance(message, Started):
            raise TypeError(type(message).__name__)
        return None


async def test_serve_wiring_shares_the_model_and_reports_to_the_cdp() -> None:
    world = World(seed=0, record=False)
    promotions = world.add(PromotionsActor("promotions"))
    cdp = world.add(FakeCdp())
    settings = Settings(talon_api_key="world-key")
    promotions.model.add_loyalty_program(LoyaltyProgram(id="lp", name="Club"))
    talon = TalonModel(promotions.model)
    talon.add_campaign(
        TalonCampaign(
            id=1,
            name="Points",
            rules=(
                TalonRule(
                    title="10 points a visit",
                    conditions=(Check(field="session.cartItemTotal", op=">", value=0),),
                    effects=(AddLoyaltyPoints(name="visit", program_id="lp", points=10),),
                ),
            ),
        )
    )
    body = {
        "customerSession": {
            "profileId": "u-1",
            "state": "closed",
            "cartItems": [{"sku": "a", "quantity": 1, "price": 3.5}],
        }
    }
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        async with (
            serve_talon_api(world, promotions, settings, talon=talon) as url,
            httpx.AsyncClient(
                base_url=url, headers={"Authorization": "ApiKey-v1 world-key"}
            ) as client,
        ):
            assert (await client.get("/health")).status_code == 200
            response = await client.put("/v2/customer_sessions/s-1", json=body)
            assert response.status_code == 200, response.text
            await cdp.arrived.wait()
        nursery.cancel_scope.cancel()
    assert promotions.model.loyalty.card_of("lp", "u-1").balance == 10
    (batch,) = cdp.batches
    (track,) = batch.events
    assert batch.source == "promotions"
    assert (track.event, track.user_id) == (names.LOYALTY_POINTS_EARNED, "u-1")
    assert track.properties["points"] == 10


def test_the_talon_model_must_wrap_the_actor_engine() -> None:
    world = World(seed=0, record=False)
    promotions = world.add(PromotionsActor("promotions"))
    other = TalonModel(PromotionEngineModel(random.Random(0)))
    with pytest.raises(ValueError, match="engine model"):
        world_talon_app(world, promotions, Settings(), talon=other)
