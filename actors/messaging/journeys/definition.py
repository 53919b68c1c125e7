"""How a journey is written: an entry, steps by name, exit criteria and a re-entry rule.

A journey is a list of named steps, like a Braze Canvas or a HubSpot workflow written in code.
Each step goes on to ``next`` when given, else to the step that follows it in the list; falling
off the end, or an :class:`Exit` step, ends the journey for that customer. Branching steps
(:class:`Branch`, :class:`WaitUntil`, :class:`PublishCode`) name their targets.

Everything here is plain frozen data (msgspec Structs); conditions reuse the CDP's audience
vocabulary (:mod:`promoloop.actors.cdp.audiences`: ``trait``, ``performed_event``,
``performed_after``, ``and``/``or``/``not``), where an audience is the boolean trait of its key.
:func:`promoloop.actors.messaging.journeys.validation.validate` checks a journey as a whole.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec

from promoloop.actors.cdp.audiences import Condition

DAY = 86_400.0
HOUR = 3_600.0

STAGES: tuple[str, ...] = ("awareness", "interest", "intent", "purchase", "retention")
"""The lifecycle stages, in funnel order."""


# -- entry, exit, re-entry -----------------------------------------------------------------------
class AudienceEntry(msgspec.Struct, frozen=True, kw_only=True, tag="audience"):
    """Enter when the CDP reports ``Audience Entered`` for ``audience`` (its key)."""

    audience: str


class EventEntry(msgspec.Struct, frozen=True, kw_only=True, tag="event"):
    """Enter on a tracked event whose properties include every ``where`` item."""

    event: str
    where: dict[str, Any] = msgspec.field(default_factory=dict)


class StageEntry(msgspec.Struct, frozen=True, kw_only=True, tag="stage"):
    """Enter when the customer reaches lifecycle ``stage`` (see :mod:`.stages`)."""

    stage: str


Entry = Union[AudienceEntry, EventEntry, StageEntry]  # noqa: UP007


class ExitOnEvent(msgspec.Struct, frozen=True, kw_only=True, tag="event"):
    """Leave the journey, whatever the step, on this event (e.g. ``Order Completed``)."""

    event: str
    where: dict[str, Any] = msgspec.field(default_factory=dict)


class ExitOnAudienceExit(msgspec.Struct, frozen=True, kw_only=True, tag="audience_exit"):
    """Leave the journey when the customer leaves ``audience``."""

    audience: str


ExitCriterion = Union[ExitOnEvent, ExitOnAudienceExit]  # noqa: UP007

ReEntry = Literal["never", "after", "always"]


# -- steps ---------------------------------------------------------------------------------------
class _Step(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    name: str
    next: str | None = None
    """The step after this one; ``None``: the following step in the list (or the end)."""


class Wait(_Step, tag="wait"):
    """Do nothing for a while."""

    days: float = 0.0
    hours: float = 0.0

    @property
    def seconds(self) -> float:
        return self.days * DAY + self.hours * HOUR


class WaitUntil(_Step, tag="wait_until"):
    """Wait for ``event`` (with ``where`` properties) for at most ``timeout_days``; go on to
    ``on_event`` if it happens, to ``on_timeout`` if not (``None``: the following step)."""

    event: str
    where: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_days: float | None = None
    on_event: str | None = None
    on_timeout: str | None = None


class Case(msgspec.Struct, frozen=True, kw_only=True):
    when: Condition
    goto: str


class Branch(_Step, tag="branch"):
    """The first case whose condition holds picks the next step; none: ``otherwise``
    (``None``: the following step)."""

    cases: tuple[Case, ...]
    otherwise: str | None = None


class Send(_Step, tag="send"):
    """Send ``template`` on ``channel`` (a :class:`SendMessage` to that channel's destination).
    ``context`` adds template tokens; a code published earlier in the run is added as ``code``
    (and carried by the message)."""

    channel: str
    template: str
    context: dict[str, Any] = msgspec.field(default_factory=dict)
    campaign: str | None = None
    """Campaign name for suppression lists and reports; default: the journey's name."""


class PublishCode(_Step, tag="publish_code"):
    """Ask the promotion engine for a code of ``campaign``; a following :class:`Send` carries
    it. On a refusal go to ``on_failure`` (``None``: the following step, without a code)."""

    campaign: str
    on_failure: str | None = None


class SetTrait(_Step, tag="set_trait"):
    """Write traits on the profile: an ``identify`` to the CDP on the journeys' own source."""

    traits: dict[str, Any]


class SetStage(_Step, tag="set_stage"):
    """Move the customer to lifecycle ``stage`` (forward only; see :mod:`.stages`)."""

    stage: str


class Arm(msgspec.Struct, frozen=True, kw_only=True):
    """One action a next-best-action step may take; ``channel=None`` is "do nothing"."""

    name: str
    channel: str | None = None
    template: str = ""
    context: dict[str, Any] = msgspec.field(default_factory=dict)


NbaPolicy = Literal["thompson", "epsilon_greedy", "ucb", "random"]


class NextBestAction(_Step, tag="next_best_action"):
    """Pick one of ``arms`` with a bandit that learns which converts: the reward is 1 when the
    customer orders within ``window_days`` of the action, credited when the window closes.

    ``context="stage"`` keeps one bandit per lifecycle stage (a per-context bandit), ``"none"``
    one for everybody. With ``uplift_trait`` set, a customer whose predicted uplift is at most
    ``uplift_floor`` gets the do-nothing arm (a sleeping dog or a sure thing is not worth a
    message), if the step has one."""

    arms: tuple[Arm, ...]
    window_days: float = 7.0
    policy: NbaPolicy = "thompson"
    epsilon: float = 0.1
    context: Literal["stage", "none"] = "stage"
    uplift_trait: str | None = None
    uplift_floor: float = 0.0


class Exit(_Step, tag="exit"):
    """End the journey for this customer."""


Step = Union[Wait, WaitUntil, Branch, Send, PublishCode, SetTrait, SetStage, NextBestAction, Exit]  # noqa: UP007


class Journey(msgspec.Struct, frozen=True, kw_only=True):
    """A journey: who enters, what happens, what takes them out, and whether they may return.

    ``reentry``: ``never`` (once per customer), ``after`` (again once ``reentry_days`` have
    passed since they last entered) or ``always`` (again as soon as they have left). Nobody is
    in the same journey twice at once.
    """

    name: str
    entry: Entry
    steps: tuple[Step, ...]
    exit_on: tuple[ExitCriterion, ...] = ()
    reentry: ReEntry = "never"
    reentry_days: float = 0.0
    holdout_share: float = 0.0
    """A random control group (Braze's Canvas control): this share of entrants, assigned by
    hashing (seed, journey, customer), enter and are recorded but take no step, so the
    journey's effect can be read against them (:mod:`promoloop.actors.analytics.experiments`)."""
