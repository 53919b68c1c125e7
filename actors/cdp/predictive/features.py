"""Per-profile feature state, updated event by event, read as a feature vector at any time.

Why this shape: the engine must hold 100k+ profiles in memory and update them on every event,
so each profile is two ``array('d')`` buffers, not a history. Everything a feature needs is a
running aggregate:

* totals and last-seen times (recency) per behaviour, O(1);
* an exponentially decayed count per engagement behaviour (half-life
  ``decay_half_life_days``): a smooth "recent frequency" that needs two floats instead of a
  window of timestamps or a ring of daily buckets;
* exact 30/90-day order windows from a compact ``(time, cents)`` list of the orders of the
  last 90 days only (orders are rare, so this stays a few entries; it is also capped).

Besides the features, the state keeps *label counters* (events, orders, cents observed through
``observe``) that :mod:`labels` differences between snapshot and maturity. They are separate
from the feature totals so that merging an anonymous profile's past into a known one does not
look like new activity inside an open label window.

Time is handled as float days since the Unix epoch (``to_days``): arithmetic on floats is much
cheaper than on ``datetime`` in the hot path.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from promoloop.actors.events import names

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def to_days(at: datetime) -> float:
    """Simulation time as float days since the epoch; naive datetimes are taken as UTC."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH).total_seconds() / 86400.0


ENGAGEMENT_EVENTS: Final[tuple[tuple[str, str], ...]] = (
    ("view", names.PRODUCT_VIEWED),
    ("add", names.PRODUCT_ADDED),
    ("open", names.EMAIL_OPENED),
    ("click", names.EMAIL_LINK_CLICKED),
    ("push", names.PUSH_NOTIFICATION_RECEIVED),
    ("review", names.REVIEW_LEFT),
)
"""(feature prefix, event name) of the behaviours that get recency, decayed rate and total."""

PASSIVE_EVENTS: Final = frozenset(
    {
        names.AUDIENCE_ENTERED,
        names.AUDIENCE_EXITED,
        names.EMAIL_DELIVERED,
        names.EMAIL_BOUNCED,
        names.PUSH_NOTIFICATION_RECEIVED,
        names.PUBLICATION_SUCCEEDED,
        names.PUBLICATION_FAILED,
        "identify",
    }
)
"""Events that happen *to* a customer, not *by* them: they do not count as activity for the
churn label or activity recency (a customer who only receives emails has churned)."""

# Layout of the per-profile value array. Times are float days; "never" is NaN.
FIRST_SEEN, LAST_ANY, LAST_ORDER = 0, 1, 2
ORDERS_TOTAL, CENTS_TOTAL, COUPON_ORDERS = 3, 4, 5
LBL_EVENTS, LBL_ORDERS, LBL_CENTS = 6, 7, 8
_ENG0 = 9
"""Engagement block: per behaviour (last, total, decayed count, decayed count's time)."""
_WIDTH = _ENG0 + 4 * len(ENGAGEMENT_EVENTS)
_NAN = float("nan")
_BLANK = array(
    "d", [_NAN, _NAN, _NAN] + [0.0] * 6 + [_NAN, 0.0, 0.0, _NAN] * len(ENGAGEMENT_EVENTS)
)
_ENGAGEMENT_SLOT: Final = {name: _ENG0 + 4 * i for i, (_, name) in enumerate(ENGAGEMENT_EVENTS)}

ORDER_WINDOW_DAYS: Final = 90.0

FEATURE_NAMES: Final[tuple[str, ...]] = (
    "tenure_log",
    "recency_any_log",
    "has_ordered",
    "recency_order_log",
    "orders_30d",
    "orders_90d",
    "orders_total_log",
    "monetary_90d_log",
    "monetary_total_log",
    "aov_log",
    "coupon_orders",
    "coupon_share",
    *(
        f"{prefix}_{kind}"
        for prefix, _ in ENGAGEMENT_EVENTS
        for kind in ("recency_log", "rate", "total_log")
    ),
)
"""Names of the feature vector, in the order of :meth:`FeatureStore.vector`."""


class ProfileState:
    """The compact state of one profile: a value array and the recent orders."""

    __slots__ = ("orders", "v")

    def __init__(self) -> None:
        self.v = array("d", _BLANK)
        self.orders = array("d")
        """Flattened ``(time, cents)`` pairs of orders in the last :data:`ORDER_WINDOW_DAYS`."""

    def nbytes(self) -> int:
        """Approximate heap bytes of this state (for the memory figures)."""
        import sys

        return sys.getsizeof(self) + sys.getsizeof(self.v) + sys.getsizeof(self.orders)


def _decay(value: float, since: float, now: float, half_life: float) -> float:
    if value == 0.0 or since != since or now <= since:  # NaN check: never updated
        return value
    return value * math.exp2(-(now - since) / half_life)


class FeatureStore:
    """Feature state of every profile, keyed by the CDP profile key."""

    def __init__(
        self,
        *,
        decay_half_life_days: float = 14.0,
        recency_cap_days: float = 365.0,
        max_orders_kept: int = 256,
        passive_events: frozenset[str] = PASSIVE_EVENTS,
    ) -> None:
        self.half_life = decay_half_life_days
        self.recency_cap = recency_cap_days
        self.max_orders_kept = max_orders_kept
        self.passive_events = passive_events
        self._states: dict[str, ProfileState] = {}

    # -- updates ------------------------------------------------------------------------------
    def state(self, key: str) -> ProfileState | None:
        return self._states.get(key)

    def ensure(self, key: str, t: float) -> ProfileState:
        """The profile's state, created (first seen at ``t``) if new."""
        st = self._states.get(key)
        if st is None:
            st = self._states[key] = ProfileState()
            st.v[FIRST_SEEN] = t
        return st

    def observe(self, key: str, t: float, event_name: str, properties: Mapping[str, Any]) -> None:
        """Fold one event at time ``t`` (float days) into the profile's state."""
        st = self.ensure(key, t)
        v = st.v
        if t < v[FIRST_SEEN]:
            v[FIRST_SEEN] = t
        if event_name not in self.passive_events:
            v[LBL_EVENTS] += 1.0
            if not t <= v[LAST_ANY]:  # also true when LAST_ANY is NaN
                v[LAST_ANY] = t
        if event_name == names.ORDER_COMPLETED:
            cents = _cents(properties.get("total_cents"))
            v[ORDERS_TOTAL] += 1.0
            v[CENTS_TOTAL] += cents
            v[LBL_ORDERS] += 1.0
            v[LBL_CENTS] += cents
            if properties.get("coupon"):
                v[COUPON_ORDERS] += 1.0
            if not t <= v[LAST_ORDER]:
                v[LAST_ORDER] = t
            self._add_order(st, t, cents)
            return
        slot = _ENGAGEMENT_SLOT.get(event_name)
        if slot is not None:
            if not t <= v[slot]:
                v[slot] = t
            v[slot + 1] += 1.0
            since = v[slot + 3]
            if since != since or t >= since:
                v[slot + 2] = _decay(v[slot + 2], since, t, self.half_life) + 1.0
                v[slot + 3] = t
            else:  # late event: add its already-decayed contribution
                v[slot + 2] += math.exp2(-(since - t) / self.half_life)

    def _add_order(self, st: ProfileState, t: float, cents: float) -> None:
        """Insert in time order (late events land in place), then drop orders older than the
        window relative to the newest one, and keep at most ``max_orders_kept``."""
        orders = st.orders
        i = len(orders)
        while i and orders[i - 2] > t:
            i -= 2
        orders.insert(i, cents)
        orders.insert(i, t)
        horizon = orders[-2] - ORDER_WINDOW_DAYS
        drop = 0
        while drop < len(orders) and orders[drop] <= horizon:
            drop += 2
        drop = max(drop, len(orders) - 2 * self.max_orders_kept)
        if drop:
            del orders[:drop]

    def merge(self, into: str, absorbed: str) -> None:
        """Fold ``absorbed``'s state into ``into`` (the CDP merged two profiles).

        Feature totals add up; label counters do not, because the absorbed history is in the
        past and must not count as activity inside ``into``'s open label windows.
        """
        src = self._states.pop(absorbed, None)
        if src is None:
            return
        dst = self._states.get(into)
        if dst is None:
            self._states[into] = src
            return
        a, b = dst.v, src.v
        a[FIRST_SEEN] = _nanmin(a[FIRST_SEEN], b[FIRST_SEEN])
        for i in (LAST_ANY, LAST_ORDER):
            a[i] = _nanmax(a[i], b[i])
        for i in (ORDERS_TOTAL, CENTS_TOTAL, COUPON_ORDERS):
            a[i] += b[i]
        for slot in _ENGAGEMENT_SLOT.values():
            a[slot] = _nanmax(a[slot], b[slot])
            a[slot + 1] += b[slot + 1]
            ta, tb = a[slot + 3], b[slot + 3]
            t = _nanmax(ta, tb)
            a[slot + 2] = _decay(a[slot + 2], ta, t, self.half_life) + _decay(
                b[slot + 2], tb, t, self.half_life
            )
            a[slot + 3] = t
        pairs = sorted(
            zip(
                [*dst.orders[0::2], *src.orders[0::2]],
                [*dst.orders[1::2], *src.orders[1::2]],
                strict=True,
            )
        )
        dst.orders = array("d", [x for pair in pairs[-self.max_orders_kept :] for x in pair])

    def forget(self, key: str) -> None:
        self._states.pop(key, None)

    # -- reads --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, key: str) -> bool:
        return key in self._states

    def keys(self) -> Iterator[str]:
        return iter(self._states)

    def vector(self, key: str, t: float) -> array:
        """The feature vector of ``key`` at time ``t`` as ``array('d')`` (order of
        :data:`FEATURE_NAMES`): compact enough to keep as a label snapshot."""
        st = self._states[key]
        v = st.v
        cap = self.recency_cap
        log_cap = math.log1p(cap)
        tenure = max(0.0, t - v[FIRST_SEEN])
        last_any = v[LAST_ANY]
        rec_any = math.log1p(min(cap, max(0.0, t - last_any))) if last_any == last_any else log_cap
        n_orders = v[ORDERS_TOTAL]
        last_order = v[LAST_ORDER]
        if last_order == last_order:
            rec_order = math.log1p(min(cap, max(0.0, t - last_order)))
        else:
            rec_order = log_cap
        o30 = o90 = 0.0
        m90 = 0.0
        orders = st.orders
        for i in range(0, len(orders), 2):
            age = t - orders[i]
            if 0.0 <= age < ORDER_WINDOW_DAYS:
                o90 += 1.0
                m90 += orders[i + 1]
                if age < 30.0:
                    o30 += 1.0
        cents = v[CENTS_TOTAL]
        out = array(
            "d",
            (
                math.log1p(tenure),
                rec_any,
                1.0 if n_orders > 0 else 0.0,
                rec_order,
                o30,
                o90,
                math.log1p(n_orders),
                math.log1p(m90 / 100.0),
                math.log1p(cents / 100.0),
                math.log1p(cents / 100.0 / n_orders) if n_orders else 0.0,
                v[COUPON_ORDERS],
                v[COUPON_ORDERS] / n_orders if n_orders else 0.0,
            ),
        )
        half = self.half_life
        for slot in _ENGAGEMENT_SLOT.values():
            last = v[slot]
            out.append(math.log1p(min(cap, max(0.0, t - last))) if last == last else log_cap)
            out.append(_decay(v[slot + 2], v[slot + 3], t, half))
            out.append(math.log1p(v[slot + 1]))
        return out

    def features(self, key: str, t: float) -> dict[str, float]:
        """The feature vector as a dict, as River models take it."""
        return dict(zip(FEATURE_NAMES, self.vector(key, t), strict=True))

    def label_counters(self, key: str) -> tuple[float, float, float]:
        """(activity events, orders, order cents) observed so far, for label differencing."""
        st = self._states.get(key)
        if st is None:
            return (0.0, 0.0, 0.0)
        v = st.v
        return (v[LBL_EVENTS], v[LBL_ORDERS], v[LBL_CENTS])


def _cents(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    value = float(value)
    return value if math.isfinite(value) and value > 0 else 0.0


def _nanmin(a: float, b: float) -> float:
    if a != a:
        return b
    return a if b != b or a <= b else b


def _nanmax(a: float, b: float) -> float:
    if a != a:
        return b
    return a if b != b or a >= b else b
