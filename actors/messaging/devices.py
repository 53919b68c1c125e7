"""Customers' devices when no storefront plays them (``promoloop serve``): an inbox per user."""

from __future__ import annotations

from typing import Any

from promoloop.actors.events.messages import PushNotification
from promoloop.actors.runtime.actor import Actor, Started


class DeviceInbox(Actor):
    def __init__(self, name: str = "devices") -> None:
        super().__init__(name)
        self.inbox: dict[str, list[PushNotification]] = {}

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, PushNotification):
            raise TypeError(f"devices take PushNotification, not {type(message).__name__}")
        self.inbox.setdefault(message.user_id, []).append(message)
        return None
