"""Bad input never makes a 500 and accepted input is never lost: seeded random mutations of a
valid Mail Send body (wrong types, missing and empty fields, deep nesting, huge values) get 202
or 400, the face's internal error counter stays at zero, and every accepted recipient reaches a
final state."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import httpx
from sg_world import AUTH, CUSTOMERS, TEMPLATE_ID, SgWorld

VALID: dict[str, Any] = {
    "personalizations": [
        {
            "to": [{"email": CUSTOMERS["pam"], "name": "Pam"}],
            "cc": [{"email": CUSTOMERS["jim"]}],
            "subject": "Hi",
            "substitutions": {"-x-": "y"},
            "custom_args": {"k": "v"},
            "send_at": 0,
        }
    ],
    "from": {"email": "shop@promoloop.example"},
    "subject": "Hello",
    "content": [{"type": "text/plain", "value": "Body -x-"}],
    "categories": ["a"],
    "custom_args": {"campaign": "c"},
    "asm": {"group_id": 1, "groups_to_display": [1]},
    "mail_settings": {"sandbox_mode": {"enable": False}},
}
ODD_VALUES: list[Any] = [
    None,
    0,
    -1,
    2**70,
    1.5,
    True,
    "",
    "x" * 5000,
    "\u0000\ud7ff",
    [],
    [None],
    {},
    {"email": None},
    [[[[[]]]]],
    TEMPLATE_ID,
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += paths(child, (*prefix, i))
    return out


def mutate(rng: random.Random) -> Any:
    body = copy.deepcopy(VALID)
    for _ in range(rng.randint(1, 3)):
        where = rng.choice(paths(body))
        parent = body
        for step in where[:-1]:
            parent = parent[step]
        if rng.random() < 0.25 and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = rng.choice(ODD_VALUES)
        if rng.random() < 0.2:
            body["template_id"] = rng.choice([TEMPLATE_ID, "d-x", 7])
        if not paths(body):
            break
    return body


async def test_mutated_bodies_get_202_or_400_never_500(sg: SgWorld) -> None:
    rng = random.Random(20261125)
    statuses: dict[int, int] = {}
    async with httpx.AsyncClient(base_url=sg.url, headers=AUTH) as client:
        for _ in range(300):
            body = mutate(rng)
            response = await client.post(
                "/v3/mail/send",
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code in (200, 202, 400), (response.status_code, body)
            if response.status_code == 400:
                assert response.json()["errors"], body
        await sg.settle()
    assert statuses.get(400, 0) > 100 and statuses.get(202, 0) > 10, statuses
    assert sg.stats.internal_errors == 0
    activities = list(sg.face.model.activities.values())
    assert len(activities) == sg.stats.accepted
    # no accepted send was lost: each went through the gateway to a final state
    assert {a.status for a in activities} <= {"delivered", "not_delivered"}
