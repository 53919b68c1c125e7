"""SendGrid v3 wire format: the Mail Send body in, SendGrid's error shape out.

Pure, no Quart and no trio. The body is decoded with msgspec into the Structs below (every field
the official SDK may send accepts ``null``; unknown fields are ignored, as SendGrid ignores
them). A body that is not JSON or has a value of the wrong type is refused the way SendGrid
refuses it, ``{"errors": [{"message": "Bad Request", "field": null, "help": null}]}``, except
that ``field`` names the offending path when msgspec knows it (a promoloop courtesy).
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

MAX_BODY_BYTES = 30 * 1024 * 1024
"""SendGrid's limit on a Mail Send body (30 MB, attachments included)."""

HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html#message."
"""Where SendGrid's 400 bodies point (``help``); documentation, never called."""

INVALID_GRANT = "The provided authorization grant is invalid, expired, or revoked"
AUTHORIZATION_REQUIRED = "authorization required"

_ADDRESS = re.compile(r"^[^@\s\"<>,;]+@[^@\s\"<>,;]+\.[^@\s\"<>,;.]+$")


def valid_address(address: str) -> bool:
    return bool(_ADDRESS.match(address)) and len(address) <= 320


class SendGridError(Exception):
    """Rendered as ``{"errors": [...]}`` with HTTP ``status``; each error has ``message``,
    ``field`` and ``help`` (``help`` omitted for the auth and routing errors, as SendGrid)."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(e.get("message")) for e in errors))
        self.status = status
        self.errors = errors

    def body(self) -> dict[str, Any]:
        return {"errors": self.errors}


def field_error(message: str, field: str | None, anchor: str | None = None) -> dict[str, Any]:
    """One entry of a 400 body; ``anchor`` is the docs anchor SendGrid's ``help`` links to."""
    return {"message": message, "field": field, "help": HELP + anchor if anchor else None}


def bad_request(message: str = "Bad Request", field: str | None = None) -> SendGridError:
    return SendGridError(400, [{"message": message, "field": field, "help": None}])


def unauthorized(message: str = INVALID_GRANT) -> SendGridError:
    if message == AUTHORIZATION_REQUIRED:
        return SendGridError(401, [{"field": None, "message": message}])
    return SendGridError(401, [{"message": message, "field": None, "help": None}])


# -- the Mail Send body ----------------------------------------------------------------------


class WAddress(msgspec.Struct):
    email: str | None = None
    name: str | None = None


class WPersonalization(msgspec.Struct, rename={"from_": "from"}):
    to: list[WAddress] | None = None
    cc: list[WAddress] | None = None
    bcc: list[WAddress] | None = None
    from_: WAddress | None = None
    subject: str | None = None
    headers: dict[str, str] | None = None
    substitutions: dict[str, str] | None = None
    dynamic_template_data: dict[str, Any] | None = None
    custom_args: dict[str, str] | None = None
    send_at: int | None = None


class WContent(msgspec.Struct):
    type: str | None = None
    value: str | None = None


class WAttachment(msgspec.Struct):
    content: str | None = None
    filename: str | None = None
    type: str | None = None
    disposition: str | None = None
    content_id: str | None = None


class WAsm(msgspec.Struct):
    group_id: int | None = None
    groups_to_display: list[int] | None = None


class WToggle(msgspec.Struct):
    enable: bool | None = None


class WMailSettings(msgspec.Struct):
    sandbox_mode: WToggle | None = None
    bypass_list_management: WToggle | None = None
    bypass_unsubscribe_management: WToggle | None = None


class WMail(msgspec.Struct, rename={"from_": "from"}):
    personalizations: list[WPersonalization] | None = None
    from_: WAddress | None = None
    reply_to: WAddress | None = None
    reply_to_list: list[WAddress] | None = None
    subject: str | None = None
    content: list[WContent] | None = None
    attachments: list[WAttachment] | None = None
    template_id: str | None = None
    headers: dict[str, str] | None = None
    categories: list[str] | None = None
    custom_args: dict[str, str] | None = None
    send_at: int | None = None
    batch_id: str | None = None
    asm: WAsm | None = None
    ip_pool_name: str | None = None
    mail_settings: WMailSettings | None = None
    tracking_settings: dict[str, Any] | None = None


class WTemplate(msgspec.Struct):
    """``POST /v3/templates``."""

    name: str | None = None
    generation: str | None = None


class WVersion(msgspec.Struct):
    """``POST /v3/templates/{template_id}/versions``."""

    name: str | None = None
    subject: str | None = None
    html_content: str | None = None
    plain_content: str | None = None
    active: int | None = None
    generate_plain_content: bool | None = None
    editor: str | None = None


class WRecipients(msgspec.Struct):
    """``POST /v3/asm/suppressions/global``."""

    recipient_emails: list[str] | None = None


_PATH = re.compile(r" - at `\$(.*)`$")


def _field_of(error: msgspec.ValidationError) -> str | None:
    """msgspec's ``$.personalizations[0].to`` as SendGrid spells it: ``personalizations.0.to``."""
    match = _PATH.search(str(error))
    if match is None:
        return None
    path = re.sub(r"\[(\d+)\]", r".\1", match.group(1)).lstrip(".")
    return path or None


def decode(raw: bytes, kind: type[T]) -> T:
    """Decode a body strictly; anything malformed is SendGrid's generic 400."""
    if not raw.strip():
        raise bad_request()
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as error:
        raise bad_request(field=_field_of(error)) from None
    except msgspec.DecodeError:
        raise bad_request() from None
