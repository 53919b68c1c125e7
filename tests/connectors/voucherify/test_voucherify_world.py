"""The face served in front of a running world's PromotionsActor (what ``serve`` wires): it
shares the actor's model and reports to the CDP on the engine's own source."""

from __future__ import annotations

from typing import Any

import httpx
import trio

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.promotions import GiftCardCampaign, PromotionsActor
from promoloop.actors.runtime import World
from promoloop.actors.runtime.actor import Actor, Started
from promoloop.connectors.config import Settings
from promoloop.connectors.voucherify import serve_voucherify_api


class FakeCdp(Actor):
    """Keeps every EventBatch it is handed."""

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
    settings = Settings(voucherify_app_id="world-id", voucherify_app_token="world-token")
    promotions.model.add_campaign(GiftCardCampaign(id="camp_gift", name="Gift", amount_cents=2500))
    keys = {"X-App-Id": "world-id", "X-App-Token": "world-token"}
    async with trio.open_nursery() as nursery:
        await nursery.start(world.run)
        async with (
            serve_voucherify_api(world, promotions, settings) as url,
            httpx.AsyncClient(base_url=url, headers=keys) as client,
        ):
            response = await client.post(
                "/v1/publications", json={"campaign": "Gift", "customer": {"source_id": "u-1"}}
            )
            assert response.status_code == 200, response.text
            code = response.json()["voucher"]["code"]
            await cdp.arrived.wait()
        nursery.cancel_scope.cancel()
    assert promotions.model.vouchers[code].holder == "u-1"
    (batch,) = cdp.batches
    (track,) = batch.events
    assert batch.source == "promotions"
    assert (track.event, track.user_id) == (names.PUBLICATION_SUCCEEDED, "u-1")
    assert track.properties["code"] == code
