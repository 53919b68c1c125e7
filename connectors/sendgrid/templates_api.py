"""Dynamic templates over HTTP: ``POST /v3/templates``, ``GET /v3/templates/{id}``,
``POST /v3/templates/{id}/versions``, as SendGrid's Templates API shapes them.

Why the face has them: a user of ``promoloop serve`` has only HTTP, and a ``template_id`` send
needs a template. A version's ``subject`` and ``plain_content`` (else ``html_content``) become a
:class:`MessageTemplate` (Jinja2 sandbox; Handlebars-style ``{{first_name}}`` tokens read the
same), checked when the version is created; the active version is what sends render.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from quart import Quart, Response, request

from promoloop.actors.messaging.templates import MessageTemplate, TemplateError
from promoloop.connectors.sendgrid import wire
from promoloop.connectors.sendgrid.model import SendGridModel, TemplateRecord
from promoloop.connectors.sendgrid.wire import SendGridError, bad_request


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _template_json(record: TemplateRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "generation": "dynamic",
        "updated_at": _stamp(record.updated_at),
        "versions": record.versions,
    }


def register_templates_api(app: Quart, model: SendGridModel, now: Callable[[], datetime]) -> None:
    """Add the routes to the face's app (auth and error handling are the app's)."""

    def find(template_id: str) -> TemplateRecord:
        record = model.template_records.get(template_id)
        if record is None:
            raise SendGridError(404, [{"field": None, "message": "resource not found"}])
        return record

    @app.post("/v3/templates")
    async def create_template() -> Response:
        body = wire.decode(await request.get_data(), wire.WTemplate)
        if not body.name or len(body.name) > 100:
            raise bad_request("name must be 1 to 100 characters", "name")
        if body.generation not in (None, "dynamic"):
            raise bad_request("only dynamic templates are supported here", "generation")
        record = TemplateRecord(model.new_template_id(), body.name, now())
        model.template_records[record.id] = record
        return _json(_template_json(record), 201)

    @app.get("/v3/templates/<template_id>")
    async def get_template(template_id: str) -> Response:
        return _json(_template_json(find(template_id)))

    @app.post("/v3/templates/<template_id>/versions")
    async def create_version(template_id: str) -> Response:
        record = find(template_id)
        body = wire.decode(await request.get_data(), wire.WVersion)
        if not body.name:
            raise bad_request("name is required", "name")
        if not body.subject:
            raise bad_request("subject is required", "subject")
        content = body.plain_content or body.html_content
        if not content:
            raise bad_request("html_content or plain_content is required", "html_content")
        try:
            template = MessageTemplate(
                f"{record.name}/{body.name}", subject=body.subject, body=content
            )
        except TemplateError as error:
            field = "plain_content" if body.plain_content else "html_content"
            if " subject," in str(error):
                field = "subject"
            raise bad_request(f"the template does not compile: {error}", field) from None
        when = now()
        active = 1 if body.active is None else body.active
        if active not in (0, 1):
            raise bad_request("active must be 0 or 1", "active")
        version = {
            "id": model.new_version_id(template_id, len(record.versions)),
            "template_id": template_id,
            "active": active,
            "name": body.name,
            "subject": body.subject,
            "html_content": body.html_content or "",
            "plain_content": body.plain_content or "",
            "generate_plain_content": bool(body.generate_plain_content),
            "editor": body.editor or "code",
            "updated_at": _stamp(when),
        }
        if active:
            for other in record.versions:
                other["active"] = 0
            model.add_template(template_id, template)
        record.versions.append(version)
        record.updated_at = when
        return _json(version, 201)
