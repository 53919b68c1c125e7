"""The SendGrid face over real HTTP (httpx): Mail Send, its refusals, Email Activity and the
global unsubscribe list, in front of an email destination that applies the delivery policy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import trio
from sg_world import AUTH, CUSTOMERS, STRANGER, TEMPLATE_ID, SgWorld

from promoloop.actors.messaging.policy import Cap, DeliveryPolicy

PAM, JIM = CUSTOMERS["pam"], CUSTOMERS["jim"]


def mail(*to: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "personalizations": [{"to": [{"email": address}]} for address in to],
        "from": {"email": "shop@promoloop.example", "name": "Shop"},
        "subject": "Spring sale",
        "content": [{"type": "text/plain", "value": "20% off everything."}],
    }
    body.update(extra)
    return body


async def post(sg: SgWorld, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sg.url) as client:
        if isinstance(body, bytes):
            return await client.post(
                "/v3/mail/send",
                content=body,
                headers={**AUTH, "Content-Type": "application/json", **(headers or {})},
            )
        return await client.post(
            "/v3/mail/send", json=body, headers=AUTH if headers is None else headers
        )


async def get(sg: SgWorld, path: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=sg.url) as client:
        return await client.get(path, params=params, headers=AUTH)


async def test_a_send_is_accepted_with_a_message_id_and_lands_in_the_inbox(sg: SgWorld) -> None:
    response = await post(sg, mail(PAM, categories=["spring"]))
    assert response.status_code == 202 and response.content == b""
    x_message_id = response.headers["X-Message-Id"]
    assert len(x_message_id) == 22
    await sg.settle()
    (request,) = sg.sent
    assert (request.user_id, request.to, request.channel) == ("pam", PAM, "email")
    assert request.request_id.startswith(x_message_id)
    assert (request.subject, request.body, request.campaign) == (
        "Spring sale",
        "20% off everything.",
        "spring",
    )
    (received,) = sg.mailboxes.inbox["pam"]
    assert received.subject == "Spring sale"
    listed = (await get(sg, "/v3/messages", query=f'to_email="{PAM}"')).json()["messages"]
    assert [(m["to_email"], m["status"]) for m in listed] == [(PAM, "delivered")]
    assert listed[0]["msg_id"].startswith(x_message_id)
    details = (await get(sg, f"/v3/messages/{listed[0]['msg_id']}")).json()
    assert [e["event_name"] for e in details["events"]] == ["processed", "delivered"]
    assert details["categories"] == ["spring"]
    assert sg.stats.internal_errors == 0


async def test_every_recipient_is_its_own_email_and_an_unknown_address_bounces(
    sg: SgWorld,
) -> None:
    body = mail(PAM, STRANGER)
    body["personalizations"][0]["cc"] = [{"email": JIM}]
    assert (await post(sg, body)).status_code == 202
    await sg.settle()
    assert sorted(r.user_id for r in sg.sent) == ["jim", "pam"]
    assert set(sg.mailboxes.inbox) == {"jim", "pam"}
    (bounced,) = (await get(sg, "/v3/messages", to_email=STRANGER)).json()["messages"]
    assert bounced["status"] == "not_delivered" and bounced["reason"].startswith("550 5.1.1")
    limited = (await get(sg, "/v3/messages", limit=2)).json()["messages"]
    assert len(limited) == 2


async def test_dynamic_template_renders_per_personalization(sg: SgWorld) -> None:
    body = mail(PAM, JIM, template_id=TEMPLATE_ID, custom_args={"campaign": "welcome-series"})
    del body["subject"], body["content"]
    body["personalizations"][0]["dynamic_template_data"] = {"first_name": "Pam", "code": "P-1"}
    body["personalizations"][1]["dynamic_template_data"] = {"first_name": "Jim"}
    assert (await post(sg, body)).status_code == 202
    await sg.settle()
    got = {r.user_id: (r.subject, r.body, r.campaign) for r in sg.sent}
    assert got == {
        "pam": ("Welcome, Pam", "Hi Pam, use P-1.", "welcome-series"),
        "jim": ("Welcome, Jim", "Hi Jim, use .", "welcome-series"),
    }


async def test_substitutions_apply_to_subject_and_body(sg: SgWorld) -> None:
    body = mail(PAM, subject="Hello -name-")
    body["content"] = [{"type": "text/plain", "value": "Dear -name-, -name-!"}]
    body["personalizations"][0]["substitutions"] = {"-name-": "Pam"}
    assert (await post(sg, body)).status_code == 202
    await sg.settle()
    (request,) = sg.sent
    assert (request.subject, request.body) == ("Hello Pam", "Dear Pam, Pam!")


async def test_sandbox_mode_validates_without_sending(sg: SgWorld) -> None:
    sandbox = {"sandbox_mode": {"enable": True}}
    response = await post(sg, mail(PAM, mail_settings=sandbox, unknown_field={"x": 1}))
    assert response.status_code == 200 and "X-Message-Id" not in response.headers
    refused = mail(PAM, mail_settings=sandbox)
    del refused["from"]
    assert (await post(sg, refused)).status_code == 400
    await sg.settle()
    assert sg.sent == [] and sg.face.model.activities == {}


async def test_send_at_waits_for_its_time(sg: SgWorld) -> None:
    now = sg.world.time.now().timestamp()
    assert (await post(sg, mail(PAM, send_at=int(now) + 3600))).status_code == 202
    await sg.settle()
    assert sg.sent == []
    (scheduled,) = (await get(sg, "/v3/messages", to_email=PAM)).json()["messages"]
    assert scheduled["status"] == "processed"
    too_far = await post(sg, mail(PAM, send_at=int(now) + 73 * 3600))
    assert too_far.status_code == 400 and too_far.json()["errors"][0]["field"] == "send_at"


async def test_policy_refusals_are_dropped_with_their_reason(sg: SgWorld) -> None:
    sg.email.policy.unsubscribe("jim", "email")
    assert (await post(sg, mail(JIM))).status_code == 202
    await sg.settle()
    (dropped,) = (await get(sg, "/v3/messages", to_email=JIM)).json()["messages"]
    assert (dropped["status"], dropped["reason"]) == ("not_delivered", "Unsubscribed Address")
    assert "jim" not in sg.mailboxes.inbox


async def test_global_unsubscribes_drop_sends_and_reach_the_policy(sg: SgWorld) -> None:
    async with httpx.AsyncClient(base_url=sg.url, headers=AUTH) as client:
        added = await client.post(
            "/v3/asm/suppressions/global", json={"recipient_emails": [PAM, STRANGER]}
        )
        assert added.status_code == 201 and added.json() == {"recipient_emails": [PAM, STRANGER]}
        assert sg.email.policy.unsubscribed("pam", "email")
        one = await client.get(f"/v3/asm/suppressions/global/{PAM}")
        assert one.json() == {"recipient_email": PAM}
        listed = (await client.get("/v3/suppression/unsubscribes")).json()
        assert sorted(u["email"] for u in listed) == sorted([PAM, STRANGER])
        assert (await client.post("/v3/mail/send", json=mail(PAM))).status_code == 202
        await sg.settle()
        assert sg.sent == [] and sg.email.refused == []  # dropped before the destination
        deleted = await client.delete(f"/v3/asm/suppressions/global/{PAM}")
        assert deleted.status_code == 204
        assert not sg.email.policy.unsubscribed("pam", "email")
        assert (await client.get(f"/v3/asm/suppressions/global/{PAM}")).json() == {}
        assert (await client.post("/v3/mail/send", json=mail(PAM))).status_code == 202
        await sg.settle()
        statuses = [
            m["status"]
            for m in (await client.get(f"/v3/messages?to_email={PAM}")).json()["messages"]
        ]
        assert statuses == ["delivered", "not_delivered"]
        bad = await client.post("/v3/asm/suppressions/global", json={"recipient_emails": []})
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "recipient_emails"


# -- refusals ------------------------------------------------------------------------------------


def errors_of(response: httpx.Response) -> list[tuple[str | None, str]]:
    return [(e["field"], e["message"]) for e in response.json()["errors"]]


async def test_wrong_or_missing_key_gets_sendgrids_401(sg: SgWorld) -> None:
    wrong = await post(sg, mail(PAM), headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert wrong.json() == {
        "errors": [
            {
                "message": "The provided authorization grant is invalid, expired, or revoked",
                "field": None,
                "help": None,
            }
        ]
    }
    missing = await post(sg, mail(PAM), headers={})
    assert missing.status_code == 401
    assert missing.json() == {"errors": [{"field": None, "message": "authorization required"}]}
    basic = await post(sg, mail(PAM), headers={"Authorization": "Basic dGVzdA=="})
    assert basic.status_code == 401
    async with httpx.AsyncClient(base_url=sg.url) as client:
        assert (await client.get("/v3/messages")).status_code == 401
        assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    "raw",
    [b"{", b"", b"[]", b'"mail"', b'{"personalizations": "x"}', b"\xff\xfe", b"null"],
)
async def test_junk_bodies_get_bad_request(sg: SgWorld, raw: bytes) -> None:
    response = await post(sg, raw)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["message"] == "Bad Request"


async def test_a_wrong_type_names_its_field(sg: SgWorld) -> None:
    body = mail(PAM)
    body["personalizations"][0]["to"][0]["email"] = False
    response = await post(sg, body)
    assert response.status_code == 400
    assert errors_of(response) == [("personalizations.0.to.0.email", "Bad Request")]


async def test_missing_fields_are_all_reported_at_once(sg: SgWorld) -> None:
    response = await post(sg, {"personalizations": [{"cc": [{"email": "x@y.example"}]}]})
    assert response.status_code == 400
    fields = [field for field, _ in errors_of(response)]
    assert fields == ["from.email", "personalizations.0.to", "subject", "content"]
    for error in response.json()["errors"]:
        assert error["help"].startswith("http://sendgrid.com/docs/API_Reference/")


@pytest.mark.parametrize(
    ("change", "field", "fragment"),
    [
        ({"personalizations": []}, "personalizations", "at least one personalization"),
        ({"from": {"email": "not-an-address"}}, "from.email", "valid address"),
        ({"subject": ""}, "subject", "The subject is required"),
        ({"content": [{"type": "text/plain", "value": ""}]}, "content.0.value", "content value"),
        (
            {
                "content": [
                    {"type": "text/html", "value": "a"},
                    {"type": "text/plain", "value": "b"},
                ]
            },
            "content",
            "text/plain content must be first",
        ),
        ({"template_id": "welcome"}, "template_id", "valid GUID"),
        ({"template_id": "d-ffffffffffffffffffffffffffffffff"}, "template_id", "does not match"),
        ({"categories": [f"c{i}" for i in range(11)]}, "categories", "at most 10"),
        ({"categories": ["a", "a"]}, "categories", "unique"),
        ({"asm": {"groups_to_display": [1]}}, "asm.group_id", "group_id is required"),
        ({"custom_args": {"k": "v" * 10_001}}, "custom_args", "10000 bytes"),
        ({"attachments": [{"filename": "a.txt"}]}, "attachments.0.content", "content is required"),
        ({"reply_to": {"email": "nope"}}, "reply_to.email", "valid address"),
    ],
)
async def test_invalid_sends_get_sendgrids_errors(
    sg: SgWorld, change: dict[str, Any], field: str, fragment: str
) -> None:
    response = await post(sg, mail(PAM, **change))
    assert response.status_code == 400, response.text
    assert any(f == field and fragment in m for f, m in errors_of(response)), response.text
    await sg.settle()
    assert sg.sent == [] and sg.email.refused == [] and sg.face.model.activities == {}
    assert sg.stats.internal_errors == 0


async def test_recipient_rules(sg: SgWorld) -> None:
    body = mail(PAM)
    body["personalizations"][0]["to"] = [{"email": PAM}, {"name": "No address"}, {"email": "x"}]
    body["personalizations"][0]["bcc"] = [{"email": PAM.upper()}]
    response = await post(sg, body)
    assert response.status_code == 400
    got = errors_of(response)
    assert got[0][0] == "personalizations.0.to.1.email" and got[0][1].startswith("Each to object")
    assert got[1] == ("personalizations.0.to.2.email", "Does not contain a valid address.")
    assert got[2][0] == "personalizations.0" and "duplicate instance" in got[2][1]


async def test_1001_personalizations_are_refused(sg: SgWorld) -> None:
    response = await post(sg, mail(*(f"p{i}@x.example" for i in range(1001))))
    assert response.status_code == 400
    ((field, message),) = errors_of(response)
    assert field == "personalizations" and "You have provided 1001 personalizations" in message
    ok = await post(sg, mail(*(f"p{i}@x.example" for i in range(1000))))
    assert ok.status_code == 202
    await sg.settle()
    assert len(sg.face.model.activities) == 1000


async def test_routing_and_query_errors_keep_the_shape(sg: SgWorld) -> None:
    async with httpx.AsyncClient(base_url=sg.url, headers=AUTH) as client:
        missing = await client.get("/v3/nothing")
        assert missing.status_code == 404 and missing.json()["errors"][0]["field"] is None
        wrong_method = await client.get("/v3/mail/send")
        assert wrong_method.status_code == 405
        bad_limit = await client.get("/v3/messages", params={"limit": "0"})
        assert bad_limit.status_code == 400 and bad_limit.json()["errors"][0]["field"] == "limit"
        bad_query = await client.get("/v3/messages", params={"query": "to_email LIKE 'x'"})
        assert bad_query.status_code == 400 and bad_query.json()["errors"][0]["field"] == "query"
        unknown = await client.get("/v3/messages/nope")
        assert unknown.status_code == 404
    assert sg.stats.internal_errors == 0


async def test_concurrent_sends_never_exceed_the_cap(sg: SgWorld) -> None:
    """60 requests for the same customer at once, over real sockets: the cap decides in one
    synchronous step per send, so exactly the cap's worth are delivered and the rest dropped."""
    sg.email.policy = DeliveryPolicy(caps=[Cap(max_messages=3, window_days=7)])
    async with httpx.AsyncClient(base_url=sg.url, headers=AUTH) as client:
        statuses: list[int] = []

        async def send(n: int) -> None:
            response = await client.post("/v3/mail/send", json=mail(PAM, subject=f"Offer {n}"))
            statuses.append(response.status_code)

        async with trio.open_nursery() as nursery:
            for n in range(60):
                nursery.start_soon(send, n)
    assert statuses == [202] * 60
    await sg.settle()
    activity = (await get(sg, "/v3/messages", to_email=PAM, limit=100)).json()["messages"]
    assert len(activity) == 60
    delivered = [a for a in activity if a["status"] == "delivered"]
    assert len(delivered) == 3 == len(sg.mailboxes.inbox["pam"])
    assert {a["status"] for a in activity} == {"delivered", "not_delivered"}
    assert sg.email.log.max_per_week() == 3
