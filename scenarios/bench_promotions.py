"""Promotion engine figures for ``promoloop bench`` (issue #4).

- validations + redemptions per second on the model, in-process;
- the same over HTTP on loopback through the Voucherify face (one Hypercorn worker, the
  official request shapes), next to the **floor** measured in the same run: a bare Quart-Trio
  app on the same Hypercorn config that reads each body and answers a fixed JSON, driven by the
  same client with the same concurrency. The ratio to that floor is the figure that travels;
  the target is >= 0.6;
- bulk code generation: time for ``codes`` unique codes, and the peak memory of doing it
  (tracemalloc slows the run, so time and memory come from separate runs).

Sizes are parameters so a test can run it tiny; speed is never asserted anywhere.
"""

from __future__ import annotations

import gc
import random
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import msgspec
import trio

from promoloop.actors.promotions import (
    Cart,
    CodeConfig,
    DiscountCampaign,
    PromotionEngineModel,
    Quotas,
    generate_codes,
)
from promoloop.actors.promotions.discounts import Discount

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
APP_ID = "bench-app-id"
APP_TOKEN = "bench-app-token"
TARGET_RATIO = 0.6


def _engine(codes: int) -> tuple[PromotionEngineModel, list[str]]:
    """A coupon campaign with ``codes`` single-use codes."""
    model = PromotionEngineModel(random.Random(0))
    model.add_campaign(
        DiscountCampaign(
            id="bench",
            name="Bench 10%",
            discount=Discount.percent(10),
            quotas=Quotas(per_code=1),
            code_config=CodeConfig(length=10),
        ),
        vouchers_count=codes,
        now=NOW,
    )
    return model, [v.code for v in model.vouchers.values()]


def inprocess(codes: int) -> dict[str, Any]:
    """Quote then redeem each code once on the model: 2 × ``codes`` operations."""
    model, all_codes = _engine(codes)
    cart = Cart(amount_cents=5_000)
    gc.collect()
    start = time.perf_counter()
    for i, code in enumerate(all_codes):
        customer = f"u-{i % 1000}"
        model.quote(code, customer, cart, NOW)
        model.redeem_code(code, customer, cart, NOW)
    elapsed = time.perf_counter() - start
    if len(model.redemptions) != codes:
        raise RuntimeError(f"{len(model.redemptions)} of {codes} redemptions succeeded")
    return {"operations": 2 * codes, "ops_per_s": round(2 * codes / elapsed)}


def _bodies(all_codes: list[str]) -> list[tuple[str, bytes]]:
    """A validation then a redemption per code, as the official SDK sends them."""
    out = []
    for i, code in enumerate(all_codes):
        body = msgspec.json.encode(
            {
                "redeemables": [{"object": "voucher", "id": code}],
                "customer": {"source_id": f"u-{i % 1000}"},
                "order": {"amount": 5_000},
            }
        )
        out.append(("/v1/validations", body))
        out.append(("/v1/redemptions", body))
    return out


def _bare_app() -> Any:
    """The floor: Quart-Trio reading the body and answering a fixed JSON."""
    import quart_trio
    from quart import Response, request

    app = quart_trio.QuartTrio("bench-promotions-floor")

    @app.post("/v1/validations")
    @app.post("/v1/redemptions")
    async def answer() -> Response:
        await request.get_data()
        return Response(b'{"valid":true}', content_type="application/json")

    return app


async def _drive(url: str, requests: list[tuple[str, bytes]], concurrency: int) -> float:
    """Send each code's two requests in order (one worker per code at a time)."""
    import httpx

    headers = {
        "X-App-Id": APP_ID,
        "X-App-Token": APP_TOKEN,
        "Content-Type": "application/json",
    }
    pairs = iter(range(0, len(requests), 2))
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:

        async def worker() -> None:
            for i in pairs:
                for path, body in requests[i : i + 2]:
                    response = await client.post(path, content=body)
                    if response.status_code != 200:
                        raise RuntimeError(f"bench request refused: {response.status_code}")

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
        return time.perf_counter() - start


def over_http(codes: int, concurrency: int = 8) -> dict[str, Any]:
    """The Voucherify face and its floor, each on its own Hypercorn on 127.0.0.1."""
    from promoloop.connectors.transport.http import running_app
    from promoloop.connectors.voucherify import VoucherifyEngine, create_voucherify_app

    model, all_codes = _engine(codes)
    requests = _bodies(all_codes)

    async def floor() -> float:
        async with running_app(_bare_app()) as url:
            return await _drive(url, requests, concurrency)

    async def face() -> float:
        app = create_voucherify_app(
            engine=VoucherifyEngine(model), app_id=APP_ID, app_token=APP_TOKEN, now=lambda: NOW
        )
        async with running_app(app) as url:
            return await _drive(url, requests, concurrency)

    floor_seconds = trio.run(floor)
    face_seconds = trio.run(face)
    if len(model.redemptions) != codes:
        raise RuntimeError(f"{len(model.redemptions)} of {codes} redemptions over HTTP")
    ops = len(requests)
    return {
        "operations": ops,
        "concurrency": concurrency,
        "ops_per_s": round(ops / face_seconds),
        "floor_bare_quart_hypercorn_ops_per_s": round(ops / floor_seconds),
        "ratio_to_floor": round(floor_seconds / face_seconds, 3),
        "target_ratio": TARGET_RATIO,
        "note": "client and server share one process and one core, for both figures",
    }


def code_generation(codes: int) -> dict[str, Any]:
    """``codes`` unique codes from a default-like config: time, then peak memory."""
    config = CodeConfig(length=10)
    gc.collect()
    start = time.perf_counter()
    taken: set[str] = set()
    out = generate_codes(config, codes, random.Random(1), taken)
    elapsed = time.perf_counter() - start
    if len(set(out)) != codes:
        raise RuntimeError("generated codes are not unique")
    del out, taken
    gc.collect()
    tracemalloc.start()
    kept = generate_codes(config, codes, random.Random(1), set())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return {
        "codes": codes,
        "seconds": round(elapsed, 3),
        "codes_per_s": round(codes / elapsed),
        "peak_traced_bytes": peak,
        "peak_bytes_per_code": round(peak / codes),
        "note": "peak includes the set of taken codes kept for uniqueness",
    }


def run_promotions_bench(
    *, codes: int = 20_000, http_codes: int = 5_000, generated: int = 1_000_000, repeat: int = 3
) -> dict[str, Any]:
    """Best of ``repeat`` for the throughput figures; one run for code generation."""
    best_inproc = max((inprocess(codes) for _ in range(repeat)), key=lambda r: r["ops_per_s"])
    best_http = max(
        (over_http(http_codes) for _ in range(repeat)), key=lambda r: r["ratio_to_floor"]
    )
    return {
        "promotions_inprocess": best_inproc,
        "promotions_http_voucherify": best_http,
        "code_generation": code_generation(generated),
    }


if __name__ == "__main__":
    print(msgspec.json.format(msgspec.json.encode(run_promotions_bench()), indent=2).decode())
