"""Templates: personalised, conditional on audiences, refused when broken, safe."""

from __future__ import annotations

import pytest

from promoloop.actors.messaging.templates import MessageTemplate, TemplateError

BODY = """Hi {{ first_name }},
{% if "cart_abandoners" in audiences %}Your cart misses you: use {{ code }} for 10% off.
{% elif "loyal" in audiences %}An exclusive offer for you: {{ product_recommendation }}.
{% else %}New arrivals are in.{% endif %}
Your balance: {{ balance_cents | cents }}"""


def template() -> MessageTemplate:
    return MessageTemplate(
        "weekly",
        subject="{{ first_name }}, this week at promoloop",
        body=BODY,
        fallbacks={"first_name": "there", "product_recommendation": "our bestsellers"},
    )


def test_tokens_and_conditional_blocks() -> None:
    subject, body = template().render(
        {
            "first_name": "Pam",
            "audiences": {"cart_abandoners"},
            "code": "CART-10",
            "balance_cents": 2500,
        }
    )
    assert subject == "Pam, this week at promoloop"
    assert "use CART-10 for 10% off" in body
    assert "New arrivals" not in body
    assert body.endswith("$25.00")
    assert template().tokens == {
        "first_name",
        "audiences",
        "code",
        "product_recommendation",
        "balance_cents",
    }


def test_missing_tokens_use_the_declared_fallback() -> None:
    subject, body = template().render({"audiences": {"loyal"}, "balance_cents": 0})
    assert subject == "there, this week at promoloop"
    assert "An exclusive offer for you: our bestsellers." in body


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("Hi {{ first_name ", "line 1"),
        ("ok\n{% if x %}no end", "line 2"),
        ("{{ price | no_such_filter }}", "no_such_filter"),
    ],
)
def test_broken_templates_are_refused_with_their_line(body: str, fragment: str) -> None:
    with pytest.raises(TemplateError, match="template 'broken' body") as info:
        MessageTemplate("broken", subject="s", body=body)
    assert fragment in str(info.value)


def test_the_sandbox_keeps_templates_away_from_python_internals() -> None:
    sneaky = MessageTemplate(
        "sneaky", subject="s", body="{{ ''.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(TemplateError, match="sneaky"):
        sneaky.render({})
