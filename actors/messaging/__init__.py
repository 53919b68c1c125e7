"""Messaging destinations that deliver rewards to customers."""

from promoloop.actors.messaging.devices import DeviceInbox
from promoloop.actors.messaging.push import PushDestination

__all__ = ["DeviceInbox", "PushDestination"]
