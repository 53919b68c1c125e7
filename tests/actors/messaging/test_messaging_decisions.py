"""The decision matrix: priority order, default, rendering with fallbacks, and every definition
error refused with its name."""

from __future__ import annotations

import pytest

from promoloop.actors.messaging.decisions import (
    ContentModule,
    Decision,
    DecisionMatrix,
    DecisionRule,
    load_decision_rules,
)
from promoloop.actors.messaging.templates import MessageTemplate

AUDIENCES = ["abandoned_cart", "loyal", "recent_purchaser", "reviewers"]


def _module(key: str, body: str, offer: str | None = None) -> ContentModule:
    template = MessageTemplate(
        key,
        subject=f"{key} for {{{{ first_name }}}}",
        body=body,
        fallbacks={"first_name": "there", "product_recommendation": "our bestsellers"},
    )
    return ContentModule(key, template, offer_campaign=offer)


def library() -> dict[str, ContentModule]:
    return {
        "recovery": _module("recovery", "Use {{ code }} for 15% off.", offer="camp_recovery"),
        "exclusive": _module("exclusive", "VIP: {{ code }}", offer="camp_vip"),
        "arrivals": _module("arrivals", "New: {{ product_recommendation }}"),
        "newsletter": _module("newsletter", "Hi {{ first_name }}"),
    }


ROWS = [
    {"audience": "abandoned_cart", "module": "recovery"},
    {"audience": "loyal", "module": "exclusive"},
    {"audience": "recent_purchaser", "module": "arrivals"},
]


def matrix(rows: list[dict[str, str]] = ROWS, default: str = "newsletter") -> DecisionMatrix:
    return DecisionMatrix(
        "test",
        load_decision_rules(rows),
        default=default,
        modules=library(),
        audiences=AUDIENCES,
    )


@pytest.mark.parametrize(
    ("audiences", "module", "audience"),
    [
        ({"abandoned_cart", "loyal", "recent_purchaser"}, "recovery", "abandoned_cart"),
        ({"loyal", "recent_purchaser"}, "exclusive", "loyal"),
        ({"recent_purchaser", "reviewers"}, "arrivals", "recent_purchaser"),
        ({"reviewers"}, "newsletter", None),
        (set(), "newsletter", None),
    ],
)
def test_the_first_matching_row_wins_else_the_default(
    audiences: set[str], module: str, audience: str | None
) -> None:
    assert matrix().decide(audiences) == Decision(module, audience)


def test_priority_is_the_order_of_the_rows() -> None:
    reordered = matrix([ROWS[2], ROWS[0], ROWS[1]])
    assert reordered.decide({"abandoned_cart", "recent_purchaser"}).module == "arrivals"


def test_rendering_uses_tokens_and_falls_back_when_missing() -> None:
    m = matrix()
    arrivals = m.decide({"recent_purchaser"})
    assert m.render(arrivals, {"first_name": "Pam", "product_recommendation": "new shoes"}) == (
        "arrivals for Pam",
        "New: new shoes",
    )
    assert m.render(arrivals, {}) == ("arrivals for there", "New: our bestsellers")
    recovery = m.decide({"abandoned_cart"})
    assert m.module(recovery).offer_campaign == "camp_recovery"
    assert m.render(recovery, {"code": "BACK-1234"})[1] == "Use BACK-1234 for 15% off."


@pytest.mark.parametrize(
    ("rows", "default", "message"),
    [
        ([], "newsletter", "decision matrix 'test': rules is empty"),
        (
            [{"audience": "vips", "module": "exclusive"}],
            "newsletter",
            r"rules\[0\]: unknown audience 'vips'",
        ),
        (
            [ROWS[0], {"audience": "loyal", "module": "coupon"}],
            "newsletter",
            r"rules\[1\]: unknown module 'coupon'",
        ),
        ([ROWS[0], ROWS[0]], "newsletter", r"rules\[1\]: audience 'abandoned_cart' already"),
        (ROWS, "digest", "unknown default module 'digest'"),
    ],
)
def test_bad_matrices_are_refused_naming_what_is_wrong(
    rows: list[dict[str, str]], default: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        matrix(rows, default)


def test_rows_load_from_json_and_name_the_bad_row() -> None:
    assert load_decision_rules(b'[{"audience": "loyal", "module": "exclusive"}]') == [
        DecisionRule(audience="loyal", module="exclusive")
    ]
    with pytest.raises(ValueError, match=r"decision_rules\[1\]: Object missing required field"):
        load_decision_rules([ROWS[0], {"audience": "loyal"}])
    with pytest.raises(ValueError, match="decision_rules must be a list"):
        load_decision_rules({"audience": "loyal"})  # type: ignore[arg-type]


def test_modules_are_checked_when_defined() -> None:
    plain = MessageTemplate("plain", subject="Hi", body="No code here")
    with pytest.raises(ValueError, match="module 'vip': carries an offer but"):
        ContentModule("vip", plain, offer_campaign="camp_vip")
    with pytest.raises(ValueError, match=r"content_module\.key"):
        ContentModule("", plain)
    with pytest.raises(ValueError, match="module 'x': template must be a MessageTemplate"):
        ContentModule("x", "Hello")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="registered as 'news' is 'newsletter'"):
        DecisionMatrix(
            "test",
            load_decision_rules(ROWS),
            default="news",
            modules=library() | {"news": library()["newsletter"]},
            audiences=AUDIENCES,
        )
