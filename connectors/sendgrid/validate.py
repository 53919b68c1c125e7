"""Check a Mail Send body as SendGrid does, and turn it into one finished email per recipient.

Why every rule runs before any is reported: SendGrid answers a bad request with the whole list of
what is wrong (``{"errors": [...]}``, one entry per field), and a client fixing one field at a
time would otherwise need as many round trips as mistakes. Messages, fields and ``help`` anchors
follow SendGrid's published Mail Send error table; rules are in ``docs/sendgrid-api.md``.

Rendering happens here too (pure, no I/O): a dynamic template is rendered per personalization
from its ``dynamic_template_data``; otherwise the subject and the first content block (text/plain
comes first when present) are used with the personalization's ``substitutions`` applied. The
email destination receives the finished text (``SendMessage.subject``/``body``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from promoloop.actors.messaging.templates import MessageTemplate, TemplateError
from promoloop.connectors.sendgrid.model import TEMPLATE_ID
from promoloop.connectors.sendgrid.wire import (
    SendGridError,
    WAddress,
    WMail,
    WPersonalization,
    field_error,
    valid_address,
)

MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_GROUPS_TO_DISPLAY = 25
SCHEDULE_HORIZON = timedelta(hours=72)
RENDER_ERRORS = (TemplateError, TypeError, ValueError, ArithmeticError, LookupError)
"""What a template expression can raise on the data a send brings (``{{ a + 1 }}`` with a text
``a``): the sender's mistake, answered with a 400 naming the personalization."""
DEFAULT_CAMPAIGN = "sendgrid"
"""The campaign of a send that names none (no ``campaign`` custom arg, no category)."""

FROM_REQUIRED = (
    "The from object must be provided for every email send. It is an object that requires the "
    'email parameter, but may also contain a name parameter.  e.g. {"email" : '
    '"example@example.com"}  or {"email" : "example@example.com", "name" : "Example Recipient"}.'
)
SUBJECT_REQUIRED = (
    "The subject is required. You can get around this requirement if you use a template with a "
    "subject defined or if every personalization has a subject defined."
)
CONTENT_REQUIRED = (
    "Unless a valid template_id is provided, the content parameter is required. There must be "
    "at least one defined content block. We typically suggest both text/plain and text/html "
    "blocks are included, but only one block is required."
)
TO_REQUIRED = (
    "The to array is required for all personalization objects, and must have at least one "
    "email object with a valid email address."
)
ADDRESS_REQUIRED = (
    "Each {kind} object must at least have an email address and may also contain a name. e.g. "
    '{{"email": "example@example.com"}} or {{"email": "example@example.com", '
    '"name": "Example Recipient"}}'
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One finished email to one recipient."""

    to: str
    from_email: str
    subject: str
    body: str
    campaign: str
    categories: tuple[str, ...]
    custom_args: dict[str, str]
    send_at: int | None


@dataclass(slots=True)
class Checked:
    sandbox: bool
    template_id: str | None
    asm_group_id: int | None
    outgoing: list[Outgoing] = field(default_factory=list)


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, message: str, field_name: str | None, anchor: str | None = None) -> None:
        self.items.append(field_error(message, field_name, anchor))

    def raise_any(self) -> None:
        if self.items:
            raise SendGridError(400, self.items)


def check(mail: WMail, templates: Mapping[str, MessageTemplate], now: datetime) -> Checked:
    """Every rule, then rendering; raises :class:`SendGridError` (400) listing all problems."""
    errors = _Errors()
    template = _check_template(mail, templates, errors)
    _check_from(mail.from_, "from", errors)
    if mail.reply_to is not None:
        _check_optional_address(mail.reply_to, "reply_to", errors)
    personalizations = _check_personalizations(mail, template is not None, now, errors)
    if template is None and mail.template_id is None:
        _check_subject(mail, personalizations, errors)
        _check_content(mail, errors)
    _check_categories(mail.categories, errors)
    _check_custom_args(mail.custom_args, "custom_args", errors)
    _check_send_at(mail.send_at, "send_at", now, errors)
    _check_asm(mail, errors)
    _check_attachments(mail, errors)
    errors.raise_any()

    sandbox = bool(
        mail.mail_settings is not None
        and mail.mail_settings.sandbox_mode is not None
        and mail.mail_settings.sandbox_mode.enable
    )
    checked = Checked(
        sandbox=sandbox,
        template_id=mail.template_id,
        asm_group_id=mail.asm.group_id if mail.asm is not None else None,
    )
    for i, p in enumerate(personalizations):
        checked.outgoing += _render(mail, p, i, template, errors)
    errors.raise_any()
    return checked


# -- rules -------------------------------------------------------------------------------------


def _check_template(
    mail: WMail, templates: Mapping[str, MessageTemplate], errors: _Errors
) -> MessageTemplate | None:
    template_id = mail.template_id
    if template_id is None:
        return None
    if not TEMPLATE_ID.match(template_id):
        errors.add(
            f"The template_id must be a valid GUID, you provided '{template_id}'.",
            "template_id",
            "template_id",
        )
        return None
    template = templates.get(template_id)
    if template is None:
        errors.add(
            f"The template_id {template_id} does not match any dynamic template of this account.",
            "template_id",
            "template_id",
        )
    return template


def _check_from(address: WAddress | None, name: str, errors: _Errors) -> None:
    if address is None or not address.email:
        errors.add(FROM_REQUIRED, f"{name}.email", "from")
    elif not valid_address(address.email):
        errors.add(f"The {name} email does not contain a valid address.", f"{name}.email", "from")


def _check_optional_address(address: WAddress, name: str, errors: _Errors) -> None:
    if not address.email or not valid_address(address.email):
        errors.add(f"The {name} email does not contain a valid address.", f"{name}.email", name)


def _check_personalizations(
    mail: WMail, dynamic: bool, now: datetime, errors: _Errors
) -> list[WPersonalization]:
    personalizations = mail.personalizations or []
    if not personalizations:
        errors.add(
            "The personalizations field is required and must have at least one personalization.",
            "personalizations",
            "personalizations",
        )
        return []
    if len(personalizations) > MAX_PERSONALIZATIONS:
        errors.add(
            f"The personalization block is limited to {MAX_PERSONALIZATIONS} personalizations "
            f"per API request. You have provided {len(personalizations)} personalizations. "
            "Please consider splitting this into multiple requests and resending your request.",
            "personalizations",
            "personalizations",
        )
        return []
    total = 0
    for i, p in enumerate(personalizations):
        where = f"personalizations.{i}"
        if not p.to:
            errors.add(TO_REQUIRED, f"{where}.to", "personalizations.to")
        seen: set[str] = set()
        for kind in ("to", "cc", "bcc"):
            for j, address in enumerate(getattr(p, kind) or []):
                total += 1
                if not address.email:
                    errors.add(
                        ADDRESS_REQUIRED.format(kind=kind),
                        f"{where}.{kind}.{j}.email",
                        f"personalizations.{kind}",
                    )
                    continue
                if not valid_address(address.email):
                    errors.add(
                        "Does not contain a valid address.",
                        f"{where}.{kind}.{j}.email",
                        f"personalizations.{kind}",
                    )
                    continue
                key = address.email.lower()
                if key in seen:
                    errors.add(
                        "Each email address in the personalization block should be unique "
                        "between to, cc, and bcc. We found the first duplicate instance of "
                        f"[{address.email}] in the {where}.{kind} field.",
                        where,
                        "personalizations",
                    )
                seen.add(key)
        if p.from_ is not None:
            _check_from(p.from_, f"{where}.from", errors)
        if dynamic and p.substitutions:
            errors.add(
                "Substitutions may not be used with dynamic templating",
                f"{where}.substitutions",
                "personalizations.substitutions",
            )
        _check_custom_args(p.custom_args, f"{where}.custom_args", errors)
        _check_send_at(p.send_at, f"{where}.send_at", now, errors)
    if total > MAX_RECIPIENTS:
        errors.add(
            f"There is a limit of {MAX_RECIPIENTS} total recipients (to + cc + bcc) per request.",
            "personalizations",
            "personalizations",
        )
    return personalizations


def _check_subject(mail: WMail, personalizations: list[WPersonalization], errors: _Errors) -> None:
    if mail.subject:
        return
    if personalizations and all(p.subject for p in personalizations):
        return
    errors.add(SUBJECT_REQUIRED, "subject", "subject")


def _check_content(mail: WMail, errors: _Errors) -> None:
    content = mail.content or []
    if not content:
        errors.add(CONTENT_REQUIRED, "content", "content")
        return
    for k, block in enumerate(content):
        if not block.type:
            errors.add(
                "The content type must be a string at least one character in length.",
                f"content.{k}.type",
                "content.type",
            )
        if not block.value:
            errors.add(
                "The content value must be a string at least one character in length.",
                f"content.{k}.value",
                "content.value",
            )
    types = [block.type for block in content]
    if "text/plain" in types and types[0] != "text/plain":
        errors.add(
            "If present, text/plain content must be first, followed by text/html, followed by "
            "any other content.",
            "content",
            "content",
        )


def _check_categories(categories: list[str] | None, errors: _Errors) -> None:
    if not categories:
        return
    if len(categories) > MAX_CATEGORIES:
        errors.add(
            f"The categories parameter may contain at most {MAX_CATEGORIES} items.",
            "categories",
            "categories",
        )
    for k, category in enumerate(categories):
        if not category or len(category) > MAX_CATEGORY_LENGTH:
            errors.add(
                f"A category must be 1 to {MAX_CATEGORY_LENGTH} characters long.",
                f"categories.{k}",
                "categories",
            )
    if len(set(categories)) != len(categories):
        errors.add(
            "The categories parameter must contain unique items.", "categories", "categories"
        )


def _check_custom_args(args: dict[str, str] | None, where: str, errors: _Errors) -> None:
    if args and len(msgspec.json.encode(args)) > MAX_CUSTOM_ARGS_BYTES:
        errors.add(
            f"The custom_args parameter may not exceed {MAX_CUSTOM_ARGS_BYTES} bytes.",
            where,
            "custom_args",
        )


def _check_send_at(send_at: int | None, where: str, now: datetime, errors: _Errors) -> None:
    if send_at is None:
        return
    if send_at < 0:
        errors.add("The send_at parameter must be a unix timestamp.", where, "send_at")
    elif send_at > (now + SCHEDULE_HORIZON).timestamp():
        errors.add(
            "The send_at parameter may not be more than 72 hours in the future.", where, "send_at"
        )


def _check_asm(mail: WMail, errors: _Errors) -> None:
    if mail.asm is None:
        return
    if mail.asm.group_id is None:
        errors.add("The asm group_id is required when asm is used.", "asm.group_id", "asm")
    shown = mail.asm.groups_to_display or []
    if len(shown) > MAX_GROUPS_TO_DISPLAY:
        errors.add(
            f"The groups_to_display parameter may contain at most {MAX_GROUPS_TO_DISPLAY} items.",
            "asm.groups_to_display",
            "asm",
        )


def _check_attachments(mail: WMail, errors: _Errors) -> None:
    for k, attachment in enumerate(mail.attachments or []):
        if not attachment.content:
            errors.add(
                "The attachment content is required.",
                f"attachments.{k}.content",
                "attachments.content",
            )
        if not attachment.filename:
            errors.add(
                "The attachment filename parameter is required.",
                f"attachments.{k}.filename",
                "attachments.filename",
            )


# -- rendering ---------------------------------------------------------------------------------


def _substitute(text: str, substitutions: Mapping[str, str]) -> str:
    for key in sorted(substitutions, key=len, reverse=True):  # longest first: no prefix clashes
        text = text.replace(key, substitutions[key])
    return text


def _render(
    mail: WMail,
    p: WPersonalization,
    index: int,
    template: MessageTemplate | None,
    errors: _Errors,
) -> list[Outgoing]:
    if template is not None:
        try:
            subject, body = template.render(dict(p.dynamic_template_data or {}))
        except RENDER_ERRORS as error:  # the caller's data broke the caller's template: a 400
            errors.add(
                f"The dynamic template could not be rendered: {error}",
                f"personalizations.{index}.dynamic_template_data",
                "template_id",
            )
            return []
    else:
        content = mail.content or []
        body = content[0].value or "" if content else ""
        subs = p.substitutions or {}
        subject = _substitute(p.subject or mail.subject or "", subs)
        body = _substitute(body, subs)
    custom_args = {**(mail.custom_args or {}), **(p.custom_args or {})}
    categories = tuple(mail.categories or ())
    campaign = custom_args.get("campaign") or (categories[0] if categories else DEFAULT_CAMPAIGN)
    sender = p.from_ if p.from_ is not None else mail.from_
    assert sender is not None and sender.email is not None  # checked before rendering
    send_at = p.send_at if p.send_at is not None else mail.send_at
    return [
        Outgoing(
            to=address.email,
            from_email=sender.email,
            subject=subject,
            body=body,
            campaign=campaign,
            categories=categories,
            custom_args=custom_args,
            send_at=send_at,
        )
        for kind in ("to", "cc", "bcc")
        for address in getattr(p, kind) or []
        if address.email
    ]
