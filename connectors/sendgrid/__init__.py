"""A SendGrid-shaped email API (v3 Mail Send) in front of the email destination: the HTTP face,
its wire rules, the gateway actor that sends through the delivery policy, and Email Activity."""

from promoloop.connectors.sendgrid.api import FaceStats, create_sendgrid_app, face_stats
from promoloop.connectors.sendgrid.gateway import Queued, SendGridGateway
from promoloop.connectors.sendgrid.inbox import Mailboxes
from promoloop.connectors.sendgrid.model import Activity, SendGridModel
from promoloop.connectors.sendgrid.serving import (
    SendGridFace,
    add_sendgrid,
    email_resolver,
    serve_sendgrid_api,
)
from promoloop.connectors.sendgrid.wire import SendGridError

__all__ = [
    "Activity",
    "FaceStats",
    "Mailboxes",
    "Queued",
    "SendGridError",
    "SendGridFace",
    "SendGridGateway",
    "SendGridModel",
    "add_sendgrid",
    "create_sendgrid_app",
    "email_resolver",
    "face_stats",
    "serve_sendgrid_api",
]
