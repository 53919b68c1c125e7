"""SendGrid Event Webhook payloads: one JSON object per event, posted in arrays.

Field names follow SendGrid's event reference: ``email``, ``timestamp`` (Unix seconds),
``event``, ``sg_event_id``, ``sg_message_id``, ``smtp-id``, ``category`` (a list), the send's
``custom_args`` flattened at the top level (SendGrid's "unique arguments"), ``asm_group_id``
when the send named one, and per event ``reason``/``status``/``type`` (dropped, bounce),
``response``/``attempt`` (delivered, deferred).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from promoloop.connectors.sendgrid.model import Activity

RESERVED = frozenset(
    {
        "email",
        "timestamp",
        "event",
        "sg_event_id",
        "sg_message_id",
        "smtp-id",
        "category",
        "asm_group_id",
        "reason",
        "status",
        "type",
        "response",
        "attempt",
    }
)
"""SendGrid's own keys: a custom arg of the same name does not overwrite them."""


def event_json(
    activity: Activity, event: str, at: datetime, reason: str | None, seq: int
) -> dict[str, Any]:
    digest = hashlib.blake2b(f"{activity.msg_id}:{event}:{seq}".encode(), digest_size=16)
    out: dict[str, Any] = {
        key: value for key, value in activity.custom_args.items() if key not in RESERVED
    }
    out.update(
        {
            "email": activity.to_email,
            "timestamp": int(at.timestamp()),
            "event": event,
            "sg_event_id": base64.urlsafe_b64encode(digest.digest()).decode().rstrip("="),
            "sg_message_id": activity.msg_id,
            "smtp-id": f"<{activity.x_message_id}@promoloop.sendgrid>",
            "category": list(activity.categories),
        }
    )
    if activity.asm_group_id is not None:
        out["asm_group_id"] = activity.asm_group_id
    if event == "dropped":
        out["reason"] = reason or ""
        out["status"] = "5.0.0"
    elif event == "bounce":
        out.update({"reason": reason or "", "status": "5.1.1", "type": "bounce"})
    elif event == "delivered":
        out["response"] = "250 OK"
    elif event == "deferred":
        out.update({"response": reason or "", "attempt": "1"})
    return out
