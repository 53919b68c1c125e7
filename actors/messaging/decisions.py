"""A decision matrix: which content module a customer's email carries, from their audiences.

The matrix is the marketer's table "segment → content" (design.md §1.3): rows in priority
order, each an audience and a content module, and a default module for everyone else. The
first row whose audience the customer is in wins, so an overlap (a loyal customer who just
abandoned a cart) has one stated answer instead of whichever campaign fired first.

Why validate at definition: a row naming an audience the CDP does not compute would simply
never match, and a module nobody wrote would fail on the first send; both are scenario bugs
that must surface, with their name, when the matrix is built. Modules render with
:class:`MessageTemplate` (Jinja2 sandbox, declared fallbacks for missing tokens); a module
may carry an offer: the promotion campaign whose code the message delivers.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

import msgspec

from promoloop.actors.definitions import load_definitions
from promoloop.actors.messaging.templates import MessageTemplate


class ContentModule:
    """One block of content: a template and, for an offer, the campaign its code comes from."""

    def __init__(
        self, key: str, template: MessageTemplate, *, offer_campaign: str | None = None
    ) -> None:
        if not key:
            raise ValueError("content_module.key must be a non-empty name")
        if not isinstance(template, MessageTemplate):
            raise ValueError(f"content module {key!r}: template must be a MessageTemplate")
        if offer_campaign is not None and not offer_campaign:
            raise ValueError(f"content module {key!r}: offer_campaign must be a campaign id")
        if offer_campaign is not None and "code" not in template.tokens:
            raise ValueError(
                f"content module {key!r}: carries an offer but its template never shows "
                "{{ code }}"
            )
        self.key = key
        self.template = template
        self.offer_campaign = offer_campaign


class DecisionRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A row: members of ``audience`` get ``module`` (unless an earlier row matched)."""

    audience: str
    module: str


class Decision(msgspec.Struct, frozen=True):
    module: str
    audience: str | None
    """The audience of the row that matched; None for the default module."""


class DecisionMatrix:
    """Rows in priority order and a default; :meth:`decide` picks, :meth:`render` writes."""

    def __init__(
        self,
        name: str,
        rules: Sequence[DecisionRule],
        *,
        default: str,
        modules: Mapping[str, ContentModule],
        audiences: Collection[str],
    ) -> None:
        """``audiences`` are the audience keys that exist (the CDP's): a row naming any other
        is refused, as is a row or a default naming a module not in ``modules``."""
        if not rules:
            raise ValueError(f"decision matrix {name!r}: rules is empty")
        known = set(audiences)
        seen: set[str] = set()
        for index, rule in enumerate(rules):
            where = f"decision matrix {name!r} rules[{index}]"
            if rule.audience not in known:
                raise ValueError(f"{where}: unknown audience {rule.audience!r}")
            if rule.module not in modules:
                raise ValueError(f"{where}: unknown module {rule.module!r}")
            if rule.audience in seen:
                raise ValueError(f"{where}: audience {rule.audience!r} already has a row")
            seen.add(rule.audience)
        if default not in modules:
            raise ValueError(f"decision matrix {name!r}: unknown default module {default!r}")
        for key, module in modules.items():
            if module.key != key:
                raise ValueError(
                    f"decision matrix {name!r}: module registered as {key!r} is {module.key!r}"
                )
        self.name = name
        self.rules = tuple(rules)
        self.default = default
        self.modules = dict(modules)

    def decide(self, audiences: Collection[str]) -> Decision:
        """The first row whose audience the customer is in, else the default."""
        for rule in self.rules:
            if rule.audience in audiences:
                return Decision(rule.module, rule.audience)
        return Decision(self.default, None)

    def module(self, decision: Decision) -> ContentModule:
        return self.modules[decision.module]

    def render(self, decision: Decision, context: Mapping[str, Any]) -> tuple[str, str]:
        """(subject, body) of the chosen module for one customer's tokens."""
        return self.modules[decision.module].template.render(context)


def load_decision_rules(data: bytes | str | Sequence[Any]) -> list[DecisionRule]:
    """Rows from JSON (bytes/str) or a parsed list of ``{"audience": ..., "module": ...}``;
    errors name the row: ``decision_rules[2]: Object missing required field `module```."""
    return load_definitions(data, "decision_rules", DecisionRule)
