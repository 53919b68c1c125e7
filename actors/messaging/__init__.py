"""Messaging destinations: email, push, SMS and ads, one contract (``SendMessage``), one policy,
one per-customer log; plus device inboxes and webhooks."""

from promoloop.actors.messaging.ads import AdsAudienceDestination, AudienceSyncBatch, hash_email
from promoloop.actors.messaging.channel import ChannelDestination
from promoloop.actors.messaging.devices import DeviceInbox
from promoloop.actors.messaging.email import EmailCampaign, EmailDestination
from promoloop.actors.messaging.log import Conversion, LoggedMessage, MessageLog
from promoloop.actors.messaging.policy import Cap, DeliveryPolicy, QuietHours
from promoloop.actors.messaging.push import PushDestination
from promoloop.actors.messaging.sms import SmsDestination, sms_segments
from promoloop.actors.messaging.templates import MessageTemplate, TemplateError

__all__ = [
    "AdsAudienceDestination",
    "AudienceSyncBatch",
    "Cap",
    "ChannelDestination",
    "Conversion",
    "DeliveryPolicy",
    "DeviceInbox",
    "EmailCampaign",
    "EmailDestination",
    "LoggedMessage",
    "MessageLog",
    "MessageTemplate",
    "PushDestination",
    "QuietHours",
    "SmsDestination",
    "TemplateError",
    "hash_email",
    "sms_segments",
]
