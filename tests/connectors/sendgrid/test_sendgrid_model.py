"""The face's state and configuration, without HTTP: ids, templates, search, settings."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from promoloop.actors.messaging.templates import MessageTemplate
from promoloop.connectors.config import DEV_SENDGRID_API_KEY, Settings
from promoloop.connectors.sendgrid import Activity, SendGridModel

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def activity(msg_id: str, to: str) -> Activity:
    return Activity(
        msg_id=msg_id,
        x_message_id=msg_id.split(".")[0],
        from_email="shop@x.example",
        to_email=to,
        subject="s",
        body="b",
        campaign="c",
        due=NOW,
        user_id=None,
    )


def test_message_ids_are_reproducible_per_seed() -> None:
    first = [SendGridModel(seed=3).new_x_message_id() for _ in range(2)]
    model = SendGridModel(seed=3)
    again = [model.new_x_message_id(), model.new_x_message_id()]
    assert first[0] == first[1] == again[0] != again[1]
    assert SendGridModel(seed=4).new_x_message_id() != again[0]
    assert all(len(i) == 22 for i in again)


def test_templates_need_sendgrid_style_ids() -> None:
    model = SendGridModel()
    template = MessageTemplate("t", subject="Hi {{first_name}}", body="b")
    with pytest.raises(ValueError, match="32 hex"):
        model.add_template("welcome", template)
    model.add_template("d-" + "a" * 32, template)
    assert model.templates["d-" + "a" * 32] is template


def test_search_is_newest_first_and_filters_addresses_case_insensitively() -> None:
    model = SendGridModel()
    for n, to in enumerate(["a@x.example", "B@x.example", "a@x.example"]):
        model.add(activity(f"m{n}.recv-0", to))
    found = model.search({"to_email": "A@X.EXAMPLE"}, 10)
    assert [a.msg_id for a in found] == ["m2.recv-0", "m0.recv-0"]
    assert [a.msg_id for a in model.search({}, 1)] == ["m2.recv-0"]
    model.note(found[0], "bounce", NOW, "550")
    assert [a.msg_id for a in model.search({"status": "not_delivered"}, 10)] == ["m2.recv-0"]


def test_unsubscribes_are_kept_by_address() -> None:
    model = SendGridModel()
    assert model.unsubscribe("Pam@x.example", NOW)
    assert not model.unsubscribe("pam@X.example", NOW)
    assert model.is_unsubscribed("PAM@x.example")
    assert model.resubscribe("pam@x.example") and not model.is_unsubscribed("pam@x.example")


def test_the_api_key_comes_from_the_environment_with_a_dev_default() -> None:
    assert Settings.from_env({}).sendgrid_api_key == DEV_SENDGRID_API_KEY
    assert Settings.from_env({}).sendgrid_webhook_key == ""
    env = {"PROMOLOOP_SENDGRID_API_KEY": " SG.mine ", "PROMOLOOP_SENDGRID_WEBHOOK_KEY": "pem"}
    settings = Settings.from_env(env)
    assert (settings.sendgrid_api_key, settings.sendgrid_webhook_key) == ("SG.mine", "pem")
