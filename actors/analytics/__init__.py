"""Analytics: KPIs of a run."""

from promoloop.actors.analytics.counters import AnalyticsActor

__all__ = ["AnalyticsActor"]
