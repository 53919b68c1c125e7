"""A Segment-compatible Profile API (read-only) as a Quart blueprint over the CDP model.

``GET /v1/spaces/{space}/collections/{collection}/profiles/{id_type}:{id}/{resource}`` with
``collection`` ``users`` or ``accounts`` (account profiles, built from group calls and found by
``group_id``) and ``resource`` one of ``traits``, ``events``, ``external_ids``, ``metadata``,
``links`` (a user's accounts, an account's users); Basic auth with the access token as the
username (empty password), as Segment's Profile API does. Response bodies follow Segment's
documented shapes: ``{"traits": {...}, "cursor": {...}}``, ``{"data": [...], "cursor": {...}}``,
``{"metadata": {...}}``, links as ``{"data": [{"to_collection", "external_ids": [...]}]}``, and
errors ``{"error": {"code", "message"}}`` (404 ``not_found`` "Profile was not found.", 401
``authentication_error``, 400 ``validation_error``).

Pagination: ``limit`` (traits 1-200, default 10; events and external ids 1-100, default 10 and
25; links 1-100, default 20, the return limit Segment documents) and ``next``, the cursor the
previous page returned; ``cursor.has_more`` says whether there is one. A traits cursor is the
key the next page starts at (as Segment's), an events cursor an opaque token for (timestamp,
messageId) of the last event returned, so paging stays stable while new events arrive.

Any identifier of a profile finds it (every identifier of a merged profile resolves to the same
one). Any space id is accepted unless ``space_id`` is configured. Reads happen between awaits in
the same trio run as the CDP actor, so each response is one consistent snapshot of a profile.

The blueprint is meant to be registered on the Tracking API app (:func:`register_profile_api`),
so both are served on the Segment port.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Protocol

import msgspec
from quart import Blueprint, Quart, Response, request

from promoloop.actors.cdp.accounts import Link
from promoloop.actors.cdp.history import HistoryEntry
from promoloop.actors.cdp.profiles import ExternalId, Profile
from promoloop.actors.cdp.times import as_utc, to_micros
from promoloop.connectors.segment import wire

TRAIT_LIMIT = (10, 200)
EVENT_LIMIT = (10, 100)
EXTERNAL_ID_LIMIT = (25, 100)
LINK_LIMIT = (20, 100)
RESOURCES = ("traits", "events", "external_ids", "metadata", "links")
COLLECTIONS = ("users", "accounts")


class ProfileStore(Protocol):
    """What the Profile API reads (``CdpModel`` implements it)."""

    def find(self, id_type: str, value: str) -> Profile | None: ...

    def traits_of(self, profile: Profile) -> dict[str, Any]: ...

    def trait_class(self, key: str) -> str: ...

    def find_account(self, id_type: str, value: str) -> Profile | None: ...

    def accounts_of(self, profile: Profile) -> list[tuple[Profile, Link]]: ...

    def users_of(self, account: Profile) -> list[tuple[Profile, Link]]: ...


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _json(payload: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(payload), status=status, content_type="application/json")


def _error(error: ApiError) -> Response:
    return _json({"error": {"code": error.code, "message": error.message}}, error.status)


def _iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _limit(bounds: tuple[int, int]) -> int:
    default, maximum = bounds
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(400, "validation_error", f"limit must be an integer between 1 and {maximum}")
    return value


def _csv(name: str) -> list[str] | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    return [part.strip() for part in raw.split(",") if part.strip()]


def _encode_cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(token: str) -> str:
    try:
        padded = token + "=" * (-len(token) % 4)
        return base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(
            400, "invalid_request_error", "next is not a cursor this API returned"
        ) from None


def _cursor(has_more: bool, next_token: str, limit: int) -> dict[str, Any]:
    return {"url": request.path, "has_more": has_more, "next": next_token, "limit": limit}


def _page_by_offset(items: list[Any], limit: int) -> tuple[list[Any], dict[str, Any]]:
    start = 0
    token = request.args.get("next")
    if token:
        text = _decode_cursor(token)
        if not text.startswith("o:") or not text[2:].isdigit():
            raise ApiError(400, "invalid_request_error", "next is not a cursor this API returned")
        start = int(text[2:])
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, _cursor(more, _encode_cursor(f"o:{start + limit}") if more else "", limit)


def _traits(store: ProfileStore, profile: Profile, collection: str) -> dict[str, Any]:
    """A user's traits include computed traits and audience booleans; an account's are the
    traits its group calls set (all ``custom``: no computation runs over accounts here)."""
    limit = _limit(TRAIT_LIMIT)
    users = collection == "users"
    traits = store.traits_of(profile) if users else profile.traits
    keys = sorted(traits)
    include = _csv("include")
    if include is not None:
        keys = [k for k in keys if k in include]
    wanted = request.args.get("class")
    if wanted:
        if wanted not in ("audience", "computed_trait", "custom"):
            raise ApiError(
                400, "validation_error", "class must be audience, computed_trait or custom"
            )
        if users:
            keys = [k for k in keys if store.trait_class(k) == wanted]
        elif wanted != "custom":
            keys = []
    start = request.args.get("next") or ""
    if start:
        keys = [k for k in keys if k >= start]
    page, rest = keys[:limit], keys[limit:]
    return {
        "traits": {k: traits[k] for k in page},
        "cursor": _cursor(bool(rest), rest[0] if rest else "", limit),
    }


def _external_id(ext: ExternalId, collection: str) -> dict[str, Any]:
    """One external id as the ``external_ids`` and ``links`` resources show it."""
    return {
        "source_id": ext.source,
        "collection": collection,
        "id": ext.id,
        "type": ext.type,
        "created_at": _iso(ext.created_at),
        "encoding": "none",
    }


def _external_ids(profile: Profile, collection: str) -> dict[str, Any]:
    limit = _limit(EXTERNAL_ID_LIMIT)
    include = _csv("include")
    items = [
        {**_external_id(ext, collection), "first_message_id": ext.message_id}
        for ext in profile.identifiers
        if include is None or ext.type in include
    ]
    page, cursor = _page_by_offset(items, limit)
    return {"data": page, "cursor": cursor}


def _links(store: ProfileStore, profile: Profile, collection: str) -> dict[str, Any]:
    """The profiles linked to this one, oldest link first: a user's accounts
    (``to_collection: "accounts"``, each named by its ``group_id``) or an account's users
    (``to_collection: "users"``, each with its identifiers). ``include`` keeps the listed
    external id types in each item, as it does on ``external_ids``."""
    limit = _limit(LINK_LIMIT)
    include = _csv("include")
    if collection == "users":
        linked, other = [p for p, _ in store.accounts_of(profile)], "accounts"
    else:
        linked, other = [p for p, _ in store.users_of(profile)], "users"
    items = [
        {
            "to_collection": other,
            "external_ids": [
                _external_id(ext, other)
                for ext in target.identifiers
                if include is None or ext.type in include
            ],
        }
        for target in linked
    ]
    page, cursor = _page_by_offset(items, limit)
    return {"data": page, "cursor": cursor}


def _event_key(entry: HistoryEntry) -> tuple[int, str]:
    return (to_micros(entry.timestamp), entry.message_id)


def _parse_time(name: str) -> int | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return to_micros(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise ApiError(400, "validation_error", f"{name} must be an ISO 8601 time") from None


def _events(profile: Profile, collection: str) -> dict[str, Any]:
    limit = _limit(EVENT_LIMIT)
    sort = request.args.get("sort", "desc")
    if sort not in ("asc", "desc"):
        raise ApiError(400, "validation_error", "sort must be asc or desc")
    include, exclude = _csv("include"), _csv("exclude")
    start, end = _parse_time("start"), _parse_time("end")
    entries = sorted(profile.events, key=_event_key, reverse=sort == "desc")

    def wanted(entry: HistoryEntry) -> bool:
        name = entry.event or entry.type
        micros = to_micros(entry.timestamp)
        return (
            (include is None or name in include)
            and (exclude is None or name not in exclude)
            and (start is None or micros >= start)
            and (end is None or micros < end)
        )

    entries = [e for e in entries if wanted(e)]
    token = request.args.get("next")
    if token:
        micros_text, sep, message_id = _decode_cursor(token).partition(":")
        if not sep or not micros_text.lstrip("-").isdigit():
            raise ApiError(400, "invalid_request_error", "next is not a cursor this API returned")
        after = (int(micros_text), message_id)
        if sort == "desc":
            entries = [e for e in entries if _event_key(e) < after]
        else:
            entries = [e for e in entries if _event_key(e) > after]
    page, more = entries[:limit], len(entries) > limit
    next_token = ""
    if more:
        micros, message_id = _event_key(page[-1])
        next_token = _encode_cursor(f"{micros}:{message_id}")
    ids = [
        {"collection": collection, "type": ext.type, "id": ext.id, "encoding": "none"}
        for ext in profile.identifiers
    ]
    data = [
        {
            "external_ids": ids,
            "context": {},
            "type": entry.type,
            "message_id": entry.message_id,
            "source_id": entry.source,
            "timestamp": _iso(entry.timestamp),
            "properties": entry.properties,
            "event": entry.event,
            "related": {collection: profile.id},
        }
        for entry in page
    ]
    return {"data": data, "cursor": _cursor(more, next_token, limit)}


def _metadata(profile: Profile) -> dict[str, Any]:
    return {
        "metadata": {
            "created_at": _iso(profile.created_at),
            "updated_at": _iso(profile.updated_at),
            "expires_at": None,
            "first_message_id": profile.first_message_id,
            "first_source_id": profile.first_source,
            "last_message_id": profile.last_message_id,
            "last_source_id": profile.last_source,
        }
    }


def create_profile_blueprint(
    store: ProfileStore, *, token: str, space_id: str | None = None
) -> Blueprint:
    """The Profile API routes over ``store``; ``token`` is the access token (Basic auth user)."""
    if not token:
        raise ValueError("the Profile API needs a non-empty access token")
    blueprint = Blueprint("segment_profile_api", __name__)

    @blueprint.get("/v1/spaces/<space>/collections/<collection>/profiles/<path:rest>")
    async def profile_resource(space: str, collection: str, rest: str) -> Response:
        try:
            if wire.parse_basic_auth(request.headers.get("Authorization")) != token:
                raise ApiError(401, "authentication_error", "missing or invalid access token")
            if space_id is not None and space != space_id:
                raise ApiError(404, "not_found", "Space was not found.")
            if collection not in COLLECTIONS:
                raise ApiError(404, "not_found", f"Collection {collection!r} was not found.")
            identifier, _, resource = rest.rpartition("/")
            if resource not in RESOURCES or not identifier:
                raise ApiError(404, "not_found", "Resource was not found.")
            id_type, sep, value = identifier.partition(":")
            if not sep or not id_type or not value:
                raise ApiError(
                    400,
                    "validation_error",
                    "the profile identifier must be id_type:value, e.g. user_id:u123",
                )
            if collection == "users":
                profile = store.find(id_type, value)
            else:
                profile = store.find_account(id_type, value)
            if profile is None:
                raise ApiError(404, "not_found", "Profile was not found.")
            if resource == "traits":
                return _json(_traits(store, profile, collection))
            if resource == "events":
                return _json(_events(profile, collection))
            if resource == "external_ids":
                return _json(_external_ids(profile, collection))
            if resource == "links":
                return _json(_links(store, profile, collection))
            return _json(_metadata(profile))
        except ApiError as error:
            return _error(error)

    return blueprint


def register_profile_api(
    app: Quart, store: ProfileStore, *, token: str, space_id: str | None = None
) -> None:
    """Serve the Profile API from ``app`` (the Tracking API app: same port, as Segment's
    mock is one host here)."""
    app.register_blueprint(create_profile_blueprint(store, token=token, space_id=space_id))
