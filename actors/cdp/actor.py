"""The CDP actor: feeds its mailbox to :class:`CdpModel` and forwards to destinations."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from promoloop.actors.cdp.model import CdpModel, Routed
from promoloop.actors.events.messages import EventBatch
from promoloop.actors.runtime.actor import Actor, Started


class CdpActor(Actor):
    mailbox_capacity = 256

    def __init__(self, name: str = "cdp", model: CdpModel | None = None) -> None:
        super().__init__(name)
        self.model = model or CdpModel()

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, EventBatch):
            raise TypeError(f"the CDP takes EventBatch messages, not {type(message).__name__}")
        now = self.now_dt()
        routed: list[Routed] = []
        for event in message.events:
            routed.extend(self.model.ingest(message.source, event, now))
        for destination, items in self.model.route(routed).items():
            for source, run in groupby(items, key=lambda item: item[0]):
                await self.tell(destination, EventBatch(source, tuple(e for _, e in run)))
        return None
