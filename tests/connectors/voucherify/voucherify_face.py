"""A Voucherify face on real Hypercorn (127.0.0.1, free port) over a fresh engine model."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest

from promoloop.actors.promotions import PromotionEngineModel
from promoloop.connectors.transport.http import running_app
from promoloop.connectors.voucherify import (
    FaceStats,
    VoucherifyEngine,
    create_voucherify_app,
    face_stats,
)

APP_ID = "test-app-id"
APP_TOKEN = "test-app-token"
KEYS = {"X-App-Id": APP_ID, "X-App-Token": APP_TOKEN}
NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


@dataclass
class Face:
    base_url: str
    client: httpx.AsyncClient
    engine: VoucherifyEngine
    stats: FaceStats
    clock: list[datetime]

    @property
    def model(self) -> PromotionEngineModel:
        return self.engine.model


async def no_server_error(response: httpx.Response) -> None:
    assert response.status_code != 500, await response.aread()


@pytest.fixture
async def face() -> AsyncIterator[Face]:
    engine = VoucherifyEngine(PromotionEngineModel(random.Random(7)))
    clock = [NOW]
    app = create_voucherify_app(
        engine=engine, app_id=APP_ID, app_token=APP_TOKEN, now=lambda: clock[0]
    )
    stats = face_stats(app)
    limits = httpx.Limits(max_connections=50)
    async with (
        running_app(app) as base_url,
        httpx.AsyncClient(
            base_url=base_url,
            headers=KEYS,
            limits=limits,
            event_hooks={"response": [no_server_error]},
        ) as client,
    ):
        yield Face(base_url, client, engine, stats, clock)
    assert stats.internal_errors == 0
