"""The official ``sendgrid`` SDK (v6, over ``python_http_client``), unmodified, against the face:
only ``host`` and ``api_key`` set.

The SDK is synchronous (urllib), so each call runs in a worker thread while the trio test keeps
serving. It raises ``python_http_client`` exceptions on 4xx, carrying the body it received.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import trio
from python_http_client.exceptions import BadRequestsError, HTTPError, UnauthorizedError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Asm,
    Category,
    CustomArg,
    GroupId,
    Mail,
    MailSettings,
    SandBoxMode,
    To,
)
from sg_world import API_KEY, CUSTOMERS, STRANGER, TEMPLATE_ID, SgWorld

T = TypeVar("T")
PAM, JIM = CUSTOMERS["pam"], CUSTOMERS["jim"]
SENDER = "shop@promoloop.example"


async def call(fn: Callable[..., T], *args: Any) -> T:
    return await trio.to_thread.run_sync(fn, *args)


def client(sg: SgWorld, key: str = API_KEY) -> SendGridAPIClient:
    return SendGridAPIClient(api_key=key, host=sg.url)


async def refusal(sg: SgWorld, message: Any, key: str = API_KEY) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        await call(client(sg, key).send, message)
    return caught.value


async def test_sdk_send_reaches_the_inbox_and_email_activity(sg: SgWorld) -> None:
    message = Mail(
        from_email=SENDER,
        to_emails=[PAM, STRANGER],
        subject="Spring sale",
        html_content="<p>20% off</p>",
        plain_text_content="20% off",
        is_multiple=True,
    )
    message.category = [Category("spring")]
    message.custom_arg = CustomArg("campaign", "spring-2026")
    message.asm = Asm(GroupId(7))
    response = await call(client(sg).send, message)
    assert response.status_code == 202 and response.body == b""
    await sg.settle()
    (sent,) = sg.sent
    assert (sent.user_id, sent.subject, sent.body, sent.campaign) == (
        "pam",
        "Spring sale",
        "20% off",  # text/plain comes first, as SendGrid orders content
        "spring-2026",
    )
    (landed,) = sg.mailboxes.inbox["pam"]
    assert landed.message_id == sent.message_id

    sdk = client(sg)

    def activity(address: str) -> dict[str, Any]:
        found = sdk.client.messages.get(query_params={"query": f'to_email="{address}"'})
        (item,) = found.to_dict["messages"]
        return sdk.client.messages._(item["msg_id"]).get().to_dict

    delivered = await call(activity, PAM)
    assert delivered["status"] == "delivered" and delivered["asm_group_id"] == 7
    assert delivered["unique_args"] == '{"campaign":"spring-2026"}'
    bounced = await call(activity, STRANGER)
    assert bounced["status"] == "not_delivered"
    assert [e["event_name"] for e in bounced["events"]] == ["processed", "bounce"]


async def test_sdk_dynamic_template_send(sg: SgWorld) -> None:
    message = Mail(
        from_email=SENDER,
        to_emails=[
            To(PAM, dynamic_template_data={"first_name": "Pam", "code": "ART-5"}),
            To(JIM, dynamic_template_data={"first_name": "Jim", "code": "PRANK-1"}),
        ],
        is_multiple=True,  # one personalization each, so each keeps its own data
    )
    message.template_id = TEMPLATE_ID
    assert (await call(client(sg).send, message)).status_code == 202
    await sg.settle()
    assert sorted((m.user_id, m.subject, m.body) for m in sg.sent) == [
        ("jim", "Welcome, Jim", "Hi Jim, use PRANK-1."),
        ("pam", "Welcome, Pam", "Hi Pam, use ART-5."),
    ]


async def test_sdk_sandbox_mode_answers_200_and_sends_nothing(sg: SgWorld) -> None:
    message = Mail(from_email=SENDER, to_emails=PAM, subject="s", plain_text_content="b")
    message.mail_settings = MailSettings(sandbox_mode=SandBoxMode(True))
    assert (await call(client(sg).send, message)).status_code == 200
    await sg.settle()
    assert sg.sent == []


async def test_sdk_sees_sendgrid_errors(sg: SgWorld) -> None:
    ok = Mail(from_email=SENDER, to_emails=PAM, subject="s", plain_text_content="b")
    wrong_key = await refusal(sg, ok, key="SG.not-the-key")
    assert isinstance(wrong_key, UnauthorizedError)
    assert wrong_key.to_dict["errors"][0]["message"] == (
        "The provided authorization grant is invalid, expired, or revoked"
    )

    incomplete = await refusal(sg, Mail(from_email=SENDER, to_emails=PAM))
    assert isinstance(incomplete, BadRequestsError)
    assert [e["field"] for e in incomplete.to_dict["errors"]] == ["subject", "content"]

    crowd = Mail(
        from_email=SENDER,
        to_emails=[f"r{i}@x.example" for i in range(1001)],
        subject="s",
        plain_text_content="b",
        is_multiple=True,
    )
    too_many = await refusal(sg, crowd)
    assert too_many.status_code == 400
    assert "You have provided 1001 personalizations" in too_many.to_dict["errors"][0]["message"]

    unknown = Mail(from_email=SENDER, to_emails=PAM)
    unknown.template_id = "d-" + "e" * 32
    unknown_template = await refusal(sg, unknown)
    assert unknown_template.to_dict["errors"][0]["field"] == "template_id"

    junk = await refusal(sg, {"personalizations": "everyone"})
    assert junk.to_dict["errors"][0]["message"] == "Bad Request"
    await sg.settle()
    assert sg.sent == [] and sg.stats.internal_errors == 0


async def test_sdk_manages_global_unsubscribes(sg: SgWorld) -> None:
    sdk = client(sg)
    suppressions = sdk.client.asm.suppressions._("global")

    def unsubscribe() -> Any:
        return suppressions.post(request_body={"recipient_emails": [JIM]})

    added = await call(unsubscribe)
    assert added.status_code == 201 and added.to_dict == {"recipient_emails": [JIM]}
    looked_up = await call(suppressions._(JIM).get)
    assert looked_up.to_dict == {"recipient_email": JIM}
    message = Mail(from_email=SENDER, to_emails=JIM, subject="s", plain_text_content="b")
    assert (await call(sdk.send, message)).status_code == 202
    await sg.settle()
    assert "jim" not in sg.mailboxes.inbox
    assert (await call(suppressions._(JIM).delete)).status_code == 204
    listed = await call(sdk.client.suppression.unsubscribes.get)
    assert listed.to_dict == []
    assert (await call(sdk.send, message)).status_code == 202
    await sg.settle()
    assert [m.subject for m in sg.mailboxes.inbox["jim"]] == ["s"]


async def test_sdk_creates_a_dynamic_template_and_sends_with_it(sg: SgWorld) -> None:
    sdk = client(sg)

    def create() -> tuple[dict[str, Any], dict[str, Any]]:
        made = sdk.client.templates.post(request_body={"name": "Promo", "generation": "dynamic"})
        template = made.to_dict
        version = sdk.client.templates._(template["id"]).versions.post(
            request_body={
                "name": "v1",
                "subject": "{{first_name}}, {{percent}}% off",
                "html_content": "<p>Code {{code}}</p>",
                "plain_content": "Code {{code}}",
                "active": 1,
            }
        )
        return template, version.to_dict

    template, version = await call(create)
    assert template["id"].startswith("d-") and template["generation"] == "dynamic"
    assert version["template_id"] == template["id"] and version["active"] == 1
    fetched = await call(sdk.client.templates._(template["id"]).get)
    assert [v["name"] for v in fetched.to_dict["versions"]] == ["v1"]

    message = Mail(
        from_email=SENDER,
        to_emails=To(PAM, dynamic_template_data={"first_name": "Pam", "percent": 15, "code": "Q"}),
    )
    message.template_id = template["id"]
    assert (await call(sdk.send, message)).status_code == 202
    await sg.settle()
    (sent,) = sg.sent
    assert (sent.subject, sent.body) == ("Pam, 15% off", "Code Q")

    def broken() -> Any:
        return sdk.client.templates._(template["id"]).versions.post(
            request_body={"name": "v2", "subject": "Hi", "plain_content": "{% if %}"}
        )

    with pytest.raises(BadRequestsError) as refused:
        await call(broken)
    assert refused.value.to_dict["errors"][0]["field"] == "plain_content"
    with pytest.raises(HTTPError) as missing:
        await call(sdk.client.templates._("d-" + "0" * 32).get)
    assert missing.value.status_code == 404
