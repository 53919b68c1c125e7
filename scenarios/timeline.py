"""A readable timeline of a run, built from the world's event log (sim time, actor, event)."""

from __future__ import annotations

from promoloop.actors.cdp.model import ENGAGE_SOURCE
from promoloop.actors.events.messages import EventBatch, PushNotification
from promoloop.actors.events.promotions import RedeemCode, ValidateCode
from promoloop.actors.events.segment import Identify, Page, SegmentEvent, Track
from promoloop.actors.runtime.eventlog import LogEntry
from promoloop.actors.runtime.world import World


def describe(event: SegmentEvent) -> str:
    who = event.user_id or f"anon:{(event.anonymous_id or '?')[:13]}"
    if isinstance(event, Track):
        props = event.properties
        detail = props.get("code") or props.get("audience_key") or props.get("order_id") or ""
        return f"track {event.event!r} {who} {detail}".rstrip()
    if isinstance(event, Identify):
        return f"identify {who} traits={sorted(event.traits)}"
    if isinstance(event, Page):
        return f"page {event.name!r} {who}"
    return f"{event.__struct_config__.tag} {who}"


def timeline(
    world: World, *, cdp: str = "cdp", engage_to: str = "promotions", only_user: str | None = None
) -> list[str]:
    """One line per Segment call the CDP ingested, per audience change it sent (as seen by the
    ``engage_to`` destination), and per engine request or push."""
    lines: list[str] = []
    for entry in world.log.entries:
        lines.extend(_lines(world, entry, cdp, engage_to, only_user))
    return lines


def _lines(
    world: World, entry: LogEntry, cdp: str, engage_to: str, only_user: str | None
) -> list[str]:
    when = world.time.label(entry.at - world.time.to_trio(0.0))
    body = entry.body
    out = []
    engage = (
        isinstance(body, EventBatch) and body.source == ENGAGE_SOURCE and entry.target == engage_to
    )
    if isinstance(body, EventBatch) and (entry.target == cdp or engage):
        for event in body.events:
            if engage and not isinstance(event, Track):
                continue  # the boolean trait identify repeats the track
            if only_user is None or event.user_id == only_user:
                out.append(f"{when}  {body.source:<11} {describe(event)}")
    elif isinstance(body, ValidateCode | RedeemCode):
        if only_user is None or body.customer_id == only_user:
            verb = "validate" if isinstance(body, ValidateCode) else "redeem"
            out.append(
                f"{when}  {entry.source:<11} {verb} {body.code} for {body.customer_id} "
                f"order {body.order.id} ({body.order.amount_cents / 100:.2f} USD)"
            )
    elif isinstance(body, PushNotification) and (only_user is None or body.user_id == only_user):
        out.append(f"{when}  {entry.source:<11} push to {body.user_id}: {body.body}")
    return out
