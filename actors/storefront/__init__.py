"""The storefront: a synthetic population of customers with hidden propensities."""

from promoloop.actors.storefront.actor import StorefrontActor
from promoloop.actors.storefront.population import (
    Customer,
    PopulationParams,
    Propensities,
    draw_population,
)

__all__ = ["Customer", "PopulationParams", "Propensities", "StorefrontActor", "draw_population"]
