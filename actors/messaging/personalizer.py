"""The personalizer: decides each email's content from the customer's audiences and asks the
email destination to send it.

It learns like a Segment destination, from the CDP's stream only: ``identify`` traits (address,
first name, synced computed traits, a points score) and Engage's ``Audience Entered/Exited``.
Three things make it write:

- a **newsletter** every 7 days (at ``newsletter_hour``) to every known customer;
- a **trigger**: entering one of ``triggers`` sends an email ``trigger_delay`` later, only if
  the customer is still a member (a cart checked out a minute later is not abandoned);
- a **blast**: a one-off campaign at a set time to the members of an audience, which may differ
  per experiment arm (how an A/B test of segment definitions targets); at a newsletter's time
  it replaces that newsletter for the customers it targets.

Newsletters and triggers take their module from the decision matrix; a blast names its module.
An offer module's code is published to that customer by the promotion engine (``PublishCode``)
just before the send; a code whose email the delivery policy refused is kept for that customer's
next offer from the same campaign rather than published again. Every send is a ``SendMessage``
to the email destination, which applies the policy and answers a ``SendResult``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from promoloop.actors.events import names
from promoloop.actors.events.messages import EventBatch, SendMessage, SendResult
from promoloop.actors.events.promotions import PublishCode, PublishOutcome
from promoloop.actors.events.segment import Identify, Track
from promoloop.actors.messaging.decisions import Decision, DecisionMatrix
from promoloop.actors.runtime import DAY, HOUR, Actor, Started, Wake


class Personalized(msgspec.Struct, frozen=True, kw_only=True):
    """One email decided: what, why, for whom, and what became of it."""

    user_id: str
    trigger: str
    """``newsletter``, the audience whose entry triggered it, or the blast's name."""
    arm: str | None
    """The blast's experiment arm; None for newsletters and triggers."""
    audiences: tuple[str, ...]
    """The customer's audiences when the content was decided."""
    module: str
    audience: str | None
    """The audience that chose the module (the matrix row's, or the blast's)."""
    at: float
    code: str | None
    subject: str
    body: str
    sent: bool
    reason: str | None
    message_id: str | None


@dataclass(frozen=True)
class Blast:
    """A one-off send at ``at`` (sim seconds) of ``module`` to every known customer who is in
    the audience of their arm (``audiences[arm_of(user_id)]``); an arm without an audience, or
    mapped to None, gets nothing (a control group)."""

    name: str
    at: float
    module: str
    audiences: Mapping[str, str | None]
    arm_of: Callable[[str], str]


class Personalizer(Actor):
    """Newsletters, triggered emails and blasts, their content from the audiences."""

    mailbox_capacity = 256

    def __init__(
        self,
        name: str,
        *,
        matrix: DecisionMatrix,
        days: int,
        email: str,
        promotions: str,
        discounts: Mapping[str, str],
        triggers: Collection[str] = (),
        blasts: Collection[Blast] = (),
        newsletter_hour: float = 10.0,
        trigger_delay: float = HOUR,
        on_send: Callable[[Personalized], None] | None = None,
        campaign: str | None = None,
    ) -> None:
        """``discounts`` maps each offer campaign to the discount its emails show ("15%");
        ``on_send`` is told of every decided email (a referee's hook, not the personalizer's);
        ``campaign`` prefixes each send's campaign (``campaign/module``; the actor's name by
        default), which the destination's reports and suppressions key on."""
        offers = {m.offer_campaign for m in matrix.modules.values()} - {None}
        if missing := sorted(c for c in offers if c not in discounts):
            raise ValueError(f"personalizer {name!r}: no discount label for {missing}")
        for blast in blasts:
            if blast.module not in matrix.modules:
                raise ValueError(f"blast {blast.name!r}: unknown module {blast.module!r}")
        if trigger_delay < 0:
            raise ValueError(f"trigger_delay must be >= 0, got {trigger_delay}")
        super().__init__(name)
        self.matrix = matrix
        self.days = days
        self.email = email
        self.promotions = promotions
        self.discounts = dict(discounts)
        self.triggers = frozenset(triggers)
        self.blasts = {blast.name: blast for blast in blasts}
        self.newsletter_hour = newsletter_hour
        self.trigger_delay = trigger_delay
        self.on_send = on_send
        self.campaign = campaign or name
        self.traits: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.decided: list[Personalized] = []
        self.publish_refusals: Counter[str] = Counter()
        self.codes_published: Counter[str] = Counter()
        self._spare: dict[tuple[str, str], str] = {}
        """(user, campaign) → a code published for a send the policy then refused."""
        self._pending: list[tuple[float, str, str]] = []
        self._request = 0

    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                newsletters = self.newsletter_times()
                for at in newsletters:
                    self.schedule(at, Wake("newsletter"))
                for blast in self.blasts.values():
                    if blast.at not in newsletters:
                        self.schedule(blast.at, Wake(f"blast:{blast.name}"))
            case EventBatch():
                self._learn(message)
            case Wake(tag="newsletter"):
                blasts = [b for b in self.blasts.values() if b.at == self.now]
                for user_id in sorted(self.traits):
                    if not await self._blast_one(blasts, user_id):
                        await self._send(user_id, "newsletter")
            case Wake(tag=str(tag)) if tag.startswith("blast:"):
                await self._blast(self.blasts[tag.removeprefix("blast:")])
            case Wake():
                await self._due()
            case _:
                raise TypeError(f"the personalizer cannot handle {type(message).__name__}")
        return None

    def _learn(self, batch: EventBatch) -> None:
        for event in batch.events:
            user_id = event.user_id
            if not user_id:
                continue
            if isinstance(event, Identify):
                self.traits.setdefault(user_id, {}).update(event.traits)
            elif isinstance(event, Track) and event.event in (
                names.AUDIENCE_ENTERED,
                names.AUDIENCE_EXITED,
            ):
                key = event.properties.get("audience_key")
                if not isinstance(key, str):
                    continue
                members = self.members.setdefault(user_id, set())
                if event.event == names.AUDIENCE_EXITED:
                    members.discard(key)
                    continue
                members.add(key)
                if key in self.triggers:
                    due = self.now + self.trigger_delay
                    if not self._pending or self._pending[-1][0] != due:
                        self.schedule(due, Wake("trigger"))
                    self._pending.append((due, user_id, key))

    async def _due(self) -> None:
        now = self.now
        due = [p for p in self._pending if p[0] <= now]
        self._pending = [p for p in self._pending if p[0] > now]
        done: set[str] = set()
        for _, user_id, audience in due:
            if user_id not in done and audience in self.members.get(user_id, ()):
                done.add(user_id)  # one email per wake: the matrix already picks the module
                await self._send(user_id, audience)

    def newsletter_times(self) -> list[float]:
        """Sim seconds of every weekly newsletter: day 7, 14, ... at ``newsletter_hour``."""
        return [
            week * 7 * DAY + self.newsletter_hour * HOUR
            for week in range(1, math.ceil(self.days / 7))
        ]

    async def _blast(self, blast: Blast) -> None:
        for user_id in sorted(self.traits):
            await self._blast_one([blast], user_id)

    async def _blast_one(self, blasts: list[Blast], user_id: str) -> bool:
        """Send the first of ``blasts`` that targets this customer; whether one did. A blast at
        a newsletter's time takes the newsletter's place for those it targets, so the week's
        mail is the campaign rather than one more email against the cap."""
        for blast in blasts:
            arm = blast.arm_of(user_id)
            audience = blast.audiences.get(arm)
            if audience is not None and audience in self.members.get(user_id, ()):
                decision = Decision(blast.module, audience)
                await self._send(user_id, blast.name, decision=decision, arm=arm)
                return True
        return False

    async def _send(
        self,
        user_id: str,
        trigger: str,
        *,
        decision: Decision | None = None,
        arm: str | None = None,
    ) -> None:
        traits = self.traits.get(user_id, {})
        audiences = tuple(sorted(self.members.get(user_id, ())))
        if decision is None:
            decision = self.matrix.decide(audiences)
        module = self.matrix.module(decision)
        code: str | None = None
        discount = ""
        if module.offer_campaign is not None:
            code = await self._code(user_id, module.offer_campaign)
            if code is None:
                return  # counted in publish_refusals: no offer to make, no email
            discount = self.discounts[module.offer_campaign]
        subject, body = self.matrix.render(decision, _context(traits, code, discount, audiences))
        self._request += 1
        address = traits.get("email")
        result = await self.ask(
            self.email,
            SendMessage(
                request_id=f"{self.name}-{self._request:08d}",
                user_id=user_id,
                channel="email",
                campaign=f"{self.campaign}/{module.key}",
                subject=subject,
                body=body,
                to=address if isinstance(address, str) else None,
                code=code,
                context={"module": module.key} | ({"arm": arm} if arm is not None else {}),
            ),
        )
        assert isinstance(result, SendResult)
        if code is not None and module.offer_campaign is not None and not result.sent:
            self._spare[(user_id, module.offer_campaign)] = code
        decided = Personalized(
            user_id=user_id,
            trigger=trigger,
            arm=arm,
            audiences=audiences,
            module=module.key,
            audience=decision.audience,
            at=self.now,
            code=code,
            subject=subject,
            body=body,
            sent=result.sent,
            reason=result.reason,
            message_id=result.message_id,
        )
        self.decided.append(decided)
        if self.on_send is not None:
            self.on_send(decided)

    async def _code(self, user_id: str, campaign: str) -> str | None:
        spare = self._spare.pop((user_id, campaign), None)
        if spare is not None:
            return spare
        outcome = await self.ask(
            self.promotions, PublishCode(campaign=campaign, customer_id=user_id, channel="email")
        )
        assert isinstance(outcome, PublishOutcome)
        if outcome.code is None:
            self.publish_refusals[outcome.reason or "?"] += 1
            return None
        self.codes_published[campaign] += 1
        return outcome.code


def _context(
    traits: Mapping[str, Any], code: str | None, discount: str, audiences: tuple[str, ...]
) -> dict[str, Any]:
    """Template tokens: the profile's traits (those that are names), the offer, and a product
    recommendation from the synced ``favourite_category`` (the template's fallback otherwise)."""
    context = {k: v for k, v in traits.items() if isinstance(k, str) and k.isidentifier()}
    context |= {"code": code, "discount": discount, "audiences": list(audiences)}
    category = traits.get("favourite_category")
    if isinstance(category, str):
        context["product_recommendation"] = f"the new {category.lower()} collection"
    return context
