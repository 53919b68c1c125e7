"""Customers' mailboxes when no storefront plays them (``promoloop serve``): emails per user.

The storefront is the inbox of simulated customers (they open and click with their hidden
propensities). A served world has no population, only the customers an SDK identified, so
emails the destination sends there land here, where a test or an integrator can read them.
"""

from __future__ import annotations

from typing import Any

from promoloop.actors.events.messages import EmailMessage
from promoloop.actors.runtime.actor import Actor, Started


class Mailboxes(Actor):
    mailbox_capacity = 256

    def __init__(self, name: str = "mailboxes") -> None:
        super().__init__(name)
        self.inbox: dict[str, list[EmailMessage]] = {}

    async def receive(self, message: Any, sender: str) -> Any:
        if isinstance(message, Started):
            return None
        if not isinstance(message, EmailMessage):
            raise TypeError(f"mailboxes take EmailMessage, not {type(message).__name__}")
        self.inbox.setdefault(message.user_id, []).append(message)
        return None
