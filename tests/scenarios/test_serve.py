"""`promoloop serve`: the official Segment SDK, unmodified, lands in the CDP's profiles; the
official SendGrid SDK, unmodified, sends to a customer the CDP knows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
import trio
from python_http_client.exceptions import BadRequestsError, UnauthorizedError
from segment.analytics import Client
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Mail

from promoloop.actors.promotions import GiftCardCampaign
from promoloop.connectors.config import Settings
from promoloop.connectors.transport.http import running_app
from promoloop.connectors.webhooks import (
    SEGMENT_STYLE,
    VOUCHERIFY_STYLE,
    WebhookInbox,
    create_webhook_receiver,
)
from promoloop.scenarios.serve import ServeHandle, serve

SETTINGS = Settings(
    segment_write_key="sdk-test-key",
    engine_write_key="engine-test-key",
    sendgrid_api_key="sendgrid-test-key",
)


async def test_official_sdk_identify_and_track_reach_the_profile() -> None:
    async with trio.open_nursery() as nursery:
        handle: ServeHandle = await nursery.start(
            lambda task_status: serve(settings=SETTINGS, task_status=task_status)
        )
        url = handle.urls["segment"]
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/health")).status_code == 200

        def use_sdk() -> None:
            sdk = Client(write_key="sdk-test-key", host=url, sync_mode=True)
            sdk.identify(
                "michael",
                {"email": "michael@dundermifflin.example", "first_name": "Michael"},
                anonymous_id="anon-ms",
            )
            sdk.track("michael", "review_left", {"product_id": "paper-500", "rating": 5})
            sdk.flush()

        await trio.to_thread.run_sync(use_sdk)
        cdp = handle.loop.cdp.model
        # The SDK returned once the API accepted the calls; wait until the CDP has ingested them.
        await handle.loop.world.conductor.wait_quiet()
        profile = cdp.profile("user_id", "michael")
        assert profile is not None
        assert profile.traits["email"] == "michael@dundermifflin.example"
        assert profile.event_counts["review_left"] == 1
        assert cdp.profile("anonymous_id", "anon-ms") is profile
        assert profile.events[-1].source == "storefront"
        nursery.cancel_scope.cancel()


def test_serve_command_prints_urls_and_answers_health() -> None:
    """The real command, as a user starts it; stopped by its own process id."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "promoloop.scenarios", "serve", "--segment-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PROMOLOOP_SEGMENT_WRITE_KEY": "cli-key"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("segment"), first + (
            proc.stderr.read() if proc.poll() is not None else ""
        )
        url = first.split()[1]
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
        assert httpx.get(f"{url}/health", timeout=5).status_code == 200
        response = httpx.post(
            f"{url}/v1/track", json={"userId": "u1", "event": "x"}, auth=("wrong", ""), timeout=5
        )
        assert response.status_code == 401
        ok = httpx.post(
            f"{url}/v1/track", json={"userId": "u1", "event": "x"}, auth=("cli-key", ""), timeout=5
        )
        assert ok.status_code == 200 and ok.json()["success"] is True
        lines = {}
        for _ in range(5):  # profiles, voucherify, talon, sendgrid, health
            name, rest = proc.stdout.readline().split(maxsplit=1)
            lines[name] = rest.split()
        token = ("promoloop-dev-profile-token", "")
        path = lines["profiles"][0].replace("<space>", "any").replace("<id>", "u1")
        for _ in range(100):  # the CDP ingests just after the Tracking API has answered
            found = httpx.get(path, auth=token, timeout=5)
            if found.status_code != 404:
                break
            time.sleep(0.02)
        assert found.status_code == 200 and "traits" in found.json()
        voucherify, talon = lines["voucherify"][0], lines["talon"][0]
        sendgrid = lines["sendgrid"][0]
        assert len({url, voucherify, talon, sendgrid}) == 4  # each face on its own port
        for base in (voucherify, talon, sendgrid):
            assert base.startswith("http://127.0.0.1:")
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        refused = httpx.get(
            f"{voucherify}/v1/campaigns", headers={"X-App-Id": "x", "X-App-Token": "y"}, timeout=5
        )
        assert refused.status_code == 401 and refused.json()["key"] == "unauthorized"
        wrong = httpx.put(
            f"{talon}/v2/customer_profiles/u1",
            json={"attributes": {}},
            headers={"Authorization": "ApiKey-v1 nope"},
            timeout=5,
        )
        assert wrong.status_code == 401
        refused_mail = httpx.post(
            f"{sendgrid}/v3/mail/send", json={}, headers={"Authorization": "Bearer x"}, timeout=5
        )
        assert refused_mail.status_code == 401
        assert refused_mail.json()["errors"][0]["message"].startswith("The provided authorization")
        dev_key = {"Authorization": "Bearer promoloop-dev-sendgrid-key"}
        junk = httpx.post(f"{sendgrid}/v3/mail/send", content=b"{", headers=dev_key, timeout=5)
        assert junk.status_code == 400 and junk.json()["errors"][0]["message"] == "Bad Request"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0


async def test_registered_webhooks_receive_engine_and_cdp_events() -> None:
    """`serve --engine-webhook URL --cdp-webhook URL`: signed deliveries of engine events and of
    the calls the CDP accepts, checked by the receiver mock."""
    inbox = WebhookInbox()
    secret = "hook-secret"
    settings = Settings(
        segment_write_key="sdk-test-key", engine_write_key="engine-key", webhook_secret=secret
    )
    engine_app = create_webhook_receiver(secret=secret, signature=VOUCHERIFY_STYLE, inbox=inbox)
    cdp_inbox = WebhookInbox()
    cdp_app = create_webhook_receiver(secret=secret, signature=SEGMENT_STYLE, inbox=cdp_inbox)
    async with (
        running_app(engine_app) as engine_url,
        running_app(cdp_app) as cdp_url,
        trio.open_nursery() as nursery,
    ):
        handle: ServeHandle = await nursery.start(
            lambda task_status: serve(
                settings=settings,
                engine_webhooks=[f"{engine_url}/hooks/engine"],
                cdp_webhooks=[f"{cdp_url}/hooks/cdp"],
                task_status=task_status,
            )
        )
        handle.loop.promotions.model.add_campaign(
            GiftCardCampaign(id="camp_gift", name="Gift", amount_cents=2500)
        )
        keys = {
            "X-App-Id": settings.voucherify_app_id,
            "X-App-Token": settings.voucherify_app_token,
        }
        async with httpx.AsyncClient() as client:
            published = await client.post(
                f"{handle.urls['voucherify']}/v1/publications",
                json={"campaign": "Gift", "customer": {"source_id": "u-9"}},
                headers=keys,
            )
            assert published.status_code == 200, published.text
            tracked = await client.post(
                f"{handle.urls['segment']}/v1/track",
                json={"userId": "u-9", "event": "review_left"},
                auth=("sdk-test-key", ""),
            )
            assert tracked.status_code == 200
        with trio.fail_after(10):  # every delivery, webhook posts included, has settled
            await handle.loop.world.conductor.wait_quiet()
        nursery.cancel_scope.cancel()
    (event,) = inbox.deliveries["engine"]
    assert (
        event["type"] == "customer.publication.succeeded" and event["data"]["customer_id"] == "u-9"
    )
    cdp_events = [e.get("event") for e in cdp_inbox.deliveries["cdp"]]
    assert "review_left" in cdp_events and "customer.publication.succeeded" in cdp_events
    assert inbox.rejected == cdp_inbox.rejected == 0


async def test_official_sendgrid_sdk_mails_a_customer_of_the_served_world() -> None:
    """Segment SDK identifies a customer; the SendGrid SDK, unmodified (host and key only),
    sends to their address; the email passes the destination and lands in their mailbox."""
    async with trio.open_nursery() as nursery:
        handle: ServeHandle = await nursery.start(
            lambda task_status: serve(settings=SETTINGS, task_status=task_status)
        )
        segment, sendgrid = handle.urls["segment"], handle.urls["sendgrid"]
        assert handle.sendgrid is not None and handle.mailboxes is not None
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{sendgrid}/health")).status_code == 200

        def identify() -> None:
            sdk = Client(write_key="sdk-test-key", host=segment, sync_mode=True)
            sdk.identify("dwight", {"email": "dwight@dundermifflin.example"})
            sdk.flush()

        await trio.to_thread.run_sync(identify)
        await handle.loop.world.conductor.wait_quiet()

        client = SendGridAPIClient(api_key="sendgrid-test-key", host=sendgrid)
        message = Mail(
            from_email="shop@promoloop.example",
            to_emails="dwight@dundermifflin.example",
            subject="Beets, 20% off",
            plain_text_content="Only this week.",
        )
        response = await trio.to_thread.run_sync(client.send, message)
        assert response.status_code == 202 and response.headers["X-Message-Id"]
        with trio.fail_after(10):
            await handle.loop.world.conductor.wait_quiet()
        (received,) = handle.mailboxes.inbox["dwight"]
        assert (received.to, received.subject, received.body) == (
            "dwight@dundermifflin.example",
            "Beets, 20% off",
            "Only this week.",
        )

        def activity() -> list[dict[str, object]]:
            found = client.client.messages.get(
                query_params={"limit": 10, "query": 'to_email="dwight@dundermifflin.example"'}
            )
            return found.to_dict["messages"]

        (listed,) = await trio.to_thread.run_sync(activity)
        assert listed["status"] == "delivered"
        assert listed["msg_id"].startswith(response.headers["X-Message-Id"])

        wrong = SendGridAPIClient(api_key="not-the-key", host=sendgrid)
        with pytest.raises(UnauthorizedError) as refused:
            await trio.to_thread.run_sync(wrong.send, message)
        assert refused.value.to_dict["errors"][0]["field"] is None
        with pytest.raises(BadRequestsError) as bad:
            await trio.to_thread.run_sync(
                client.send, Mail(from_email="shop@promoloop.example", to_emails="x@y.example")
            )
        assert {e["field"] for e in bad.value.to_dict["errors"]} == {"subject", "content"}
        nursery.cancel_scope.cancel()


def test_serve_refuses_a_bad_sendgrid_webhook_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from promoloop.scenarios.cli import main

    assert main(["serve", "--sendgrid-webhook", "ftp://hooks.example"]) == 1
    monkeypatch.setenv("PROMOLOOP_SENDGRID_WEBHOOK_KEY", "not a pem key")
    assert main(["serve", "--sendgrid-webhook", "http://127.0.0.1:9/hooks"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("promoloop: cannot serve:") for line in lines)
    assert "http(s) URL" in lines[0] and "PEM" in lines[1]
