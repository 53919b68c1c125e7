"""The sections of ``promoloop bench``, in report order: a module of its own so the CLI can
list them in ``--help`` without importing every benchmark (and River with them)."""

from __future__ import annotations

SECTIONS: tuple[str, ...] = (
    "pipeline_storefront_to_cdp",
    "http_v1_batch",
    "cdp_ingest",
    "predictive_model_updates",
    "promotions",
    "messaging",
    "journeys",
    "population_storefront_to_cdp",
)
