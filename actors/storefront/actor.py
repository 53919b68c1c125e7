"""The storefront: every customer's visits, carts, orders, reviews, checkouts and churn.

One actor plays the whole population (a trio task per customer would not scale to 100k).
Customers' due actions sit in one heap; the actor wakes once per tick (default one minute of
sim time), runs every action due by then, each event stamped with its own precise time, and
ships the events to the CDP in batches, the way a Segment SDK does. It also plays the
customers' app, inboxes and phones, and the people ads are served to: a message with a code
lands in the wallet and counts as an offer; taps, opens, clicks, STOP replies and bounces go back
to the destination that sent the message, driven by the hidden engagement propensities and
channel preferences (docs/population.md), each decided with the customer's own random stream.

Behaviour (docs/population.md): visits arrive as a Poisson process whose rate makes the
customer's hidden purchase rate come true; a visit views products, may fill a cart, and the
cart is checked out or abandoned (price-sensitive customers abandon more). An offer changes the
visit rate (and a sleeping dog's churn hazard) for ``offer_window_days``. Churn is permanent.
"""

from __future__ import annotations

import heapq
import math
from enum import IntEnum
from typing import Any

from promoloop.actors.events import names
from promoloop.actors.events.messages import (
    AdImpression,
    EmailInteraction,
    EmailMessage,
    MessageInteraction,
    PushNotification,
    SmsMessage,
)
from promoloop.actors.events.promotions import Order, RedeemCode, ValidateCode, Verdict
from promoloop.actors.events.segment import Identify, Page, SegmentEvent, Track
from promoloop.actors.runtime.actor import Actor, Started, Wake
from promoloop.actors.runtime.clock import DAY, HOUR, MINUTE
from promoloop.actors.runtime.ports import TrackingPort
from promoloop.actors.storefront.population import (
    Customer,
    PopulationParams,
    Product,
    catalog,
    draw_population,
)

LIBRARY = {"library": {"name": "promoloop-storefront", "version": "0.1.0"}}
FLUSH_AT = 100
"""Events per batch, as the Segment SDKs' default ``upload_size``."""


class Action(IntEnum):
    ARRIVE = 1
    VISIT = 2
    REVIEW = 3
    EMAIL = 4
    CLICK_THROUGH = 5
    """A visit brought by a click: it does not start another chain of visits."""
    PUSH_TAP = 6
    SMS = 7
    AD = 8


UNSUBSCRIBE_RATE = 0.01
"""P(a customer unsubscribes on reading a marketing email)."""


class StorefrontActor(Actor):
    mailbox_capacity = 128

    def __init__(
        self,
        name: str = "storefront",
        *,
        params: PopulationParams | None = None,
        promotions: str = "promotions",
        tick: float = MINUTE,
        arrival_days: float = 1.0,
    ) -> None:
        super().__init__(name)
        if tick <= 0:
            raise ValueError(f"tick must be > 0 seconds, got {tick}")
        if arrival_days <= 0:
            raise ValueError(f"arrival_days must be > 0, got {arrival_days}")
        self.params = params or PopulationParams()
        self.promotions = promotions
        self.tick = tick
        self.arrival_days = arrival_days
        self.tracking: TrackingPort | None = None
        self.customers: list[Customer] = []
        self.products: list[Product] = []
        self.received_pushes: list[PushNotification] = []
        self.undeliverable: list[PushNotification] = []
        self.undeliverable_emails: list[EmailMessage] = []
        self.received_texts: list[SmsMessage] = []
        self.undeliverable_texts: list[SmsMessage] = []
        self.ads_seen: list[AdImpression] = []
        self.unmatched_ads: list[AdImpression] = []
        self.orders = 0
        self.abandoned_carts = 0
        self._by_user_id: dict[str, Customer] = {}
        self._due: list[tuple[float, int, int, Action, Any]] = []
        self._seq = 0
        self._message_seq = 0
        self._outbox: list[SegmentEvent] = []
        self._next_wake: float | None = None

    # -- scheduling ---------------------------------------------------------------------------
    def _plan(self, at: float, customer: Customer, action: Action, payload: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, customer.index, self._seq, action, payload))

    def _plan_visit(self, c: Customer, after: float) -> None:
        """The next visit of an active customer, at the rate in force at ``after``."""
        purchase_rate, _ = c.rates(after)
        if purchase_rate <= 0.0:
            return
        rate = c.visit_rate_per_day * purchase_rate / c.hidden.purchase_rate_per_day
        at = after + c.rng.expovariate(rate) * DAY
        if at < c.churn_at:
            self._plan(at, c, Action.VISIT)

    def _arm(self) -> None:
        if not self._due:
            return
        wake = math.ceil(self._due[0][0] / self.tick) * self.tick
        if self._next_wake is None or wake < self._next_wake or self._next_wake <= self.now:
            self._next_wake = wake
            self.schedule(wake, Wake("tick"))

    # -- events -------------------------------------------------------------------------------
    def _emit(
        self, kind: type, c: Customer, at: float, anonymous: bool = False, **fields: Any
    ) -> None:
        self._message_seq += 1
        ids = {"anonymous_id": c.anonymous_id}
        if not anonymous:
            ids["user_id"] = c.user_id
        self._outbox.append(
            kind(
                message_id=f"{self.name}-{self._message_seq:09d}",
                timestamp=self.world.time.datetime_at(at),
                context=LIBRARY,
                **ids,
                **fields,
            )
        )

    async def _flush(self) -> None:
        if not self._outbox:
            return
        if self.tracking is None:
            raise RuntimeError(f"{self.name}: no tracking port wired to the CDP")
        batch, self._outbox = self._outbox, []
        for start in range(0, len(batch), FLUSH_AT):
            await self.tracking.send(batch[start : start + FLUSH_AT])

    # -- behaviour ----------------------------------------------------------------------------
    async def receive(self, message: Any, sender: str) -> Any:
        match message:
            case Started():
                self._start()
            case Wake():
                await self._run_due()
            case PushNotification():
                await self._on_push(message, sender)
            case EmailMessage():
                await self._on_email(message, sender)
            case SmsMessage():
                await self._on_sms(message, sender)
            case AdImpression():
                self._on_ad(message, sender)
            case _:
                raise TypeError(f"the storefront cannot handle {type(message).__name__}")
        await self._flush()
        self._arm()
        return None

    def _start(self) -> None:
        self.products = catalog(self.world.seeds.rng(f"actor/{self.name}/catalog"))
        self.customers = draw_population(self.params, self.world.seeds)
        self._by_user_id = {c.user_id: c for c in self.customers}
        for c in self.customers:
            self._plan(c.rng.uniform(0, self.arrival_days * DAY), c, Action.ARRIVE)

    async def _run_due(self) -> None:
        now = self.now
        while self._due and self._due[0][0] <= now:
            at, index, _, action, payload = heapq.heappop(self._due)
            c = self.customers[index]
            if action is Action.ARRIVE:
                self._arrive(c, at)
            elif action is Action.VISIT or action is Action.CLICK_THROUGH:
                if at < c.churn_at:
                    await self._visit(c, at, chain=action is Action.VISIT)
            elif action is Action.REVIEW:
                self._review(c, at, payload)
            elif action is Action.EMAIL:
                await self._read_email(c, at, *payload)
            elif action is Action.PUSH_TAP:
                await self._tap(c, at, *payload)
            elif action is Action.SMS:
                await self._react_to_text(c, at, *payload)
            elif action is Action.AD:
                await self._click_ad(c, at, *payload)
            if len(self._outbox) >= FLUSH_AT:
                await self._flush()

    def _arrive(self, c: Customer, at: float) -> None:
        """First visit: anonymous browsing, then sign-up (which merges it), then shopping."""
        c.arrived_at = at
        hazard = c.hidden.churn_hazard_per_day
        c.churn_at = at + (c.rng.expovariate(hazard) * DAY if hazard > 0 else math.inf)
        product = c.rng.choice(self.products)
        self._emit(Page, c, at, anonymous=True, name="Home", properties={"path": "/"})
        self._emit(
            Track, c, at, anonymous=True, event=names.PRODUCT_VIEWED, properties=_product(product)
        )
        c.signed_up = True
        traits = {
            "email": c.email,
            "phone": c.phone,
            "first_name": c.first_name,
            "last_name": c.last_name,
            "created_at": self.world.time.datetime_at(at).isoformat(),
        }
        self._emit(Identify, c, at, traits=traits)
        self._emit(Track, c, at, event=names.SIGNED_UP, properties={"method": "email"})
        self._plan(at + c.rng.uniform(5, 30) * MINUTE, c, Action.VISIT)

    async def _visit(self, c: Customer, at: float, chain: bool = True) -> None:
        """Browse; maybe fill a cart; check it out or abandon it; plan the next visit."""
        self._emit(Page, c, at, name="Catalog", properties={"path": "/catalog"})
        viewed = [c.rng.choice(self.products) for _ in range(1 + int(c.rng.expovariate(0.7)))]
        for product in viewed:
            self._emit(Track, c, at, event=names.PRODUCT_VIEWED, properties=_product(product))
        if c.rng.random() < self.params.cart_rate:
            product = viewed[-1]
            quantity = 1 + int(
                c.rng.expovariate(1.0) * c.hidden.basket_mean_cents / product.price_cents
            )
            line = _product(product) | {"quantity": quantity}
            self._emit(Track, c, at, event=names.PRODUCT_ADDED, properties=line)
            checkout = self.params.checkout_rate * (1.0 - 0.5 * c.hidden.price_sensitivity)
            if c.rng.random() < checkout:
                await self._order(c, at, product, line, product.price_cents * quantity)
            else:
                self.abandoned_carts += 1
        if chain:
            self._plan_visit(c, at)

    async def _order(
        self, c: Customer, at: float, product: Product, line: dict[str, Any], subtotal: int
    ) -> None:
        order_id = f"ord-{c.index:06d}-{c.orders + 1:04d}"
        self._emit(
            Track,
            c,
            at,
            event=names.CHECKOUT_STARTED,
            properties={
                "order_id": order_id,
                "value": subtotal / 100,
                "currency": "USD",
                "products": [line],
            },
        )
        paid_with: Verdict | None = None
        if c.wallet:
            paid_with = await self._apply_code(c, at, order_id, subtotal)
        discount = paid_with.amount_cents if paid_with else 0
        c.orders += 1
        self.orders += 1
        properties = {
            "order_id": order_id,
            "total": (subtotal - discount) / 100,
            "total_cents": subtotal - discount,
            "subtotal_cents": subtotal,
            "discount": discount / 100,
            "discount_cents": discount,
            "currency": "USD",
            "products": [line],
        }
        if paid_with:
            properties["coupon"] = paid_with.code
        self._emit(Track, c, at, event=names.ORDER_COMPLETED, properties=properties)
        if c.rng.random() < c.hidden.review_probability:
            delivery = c.rng.uniform(1, 3) * DAY + c.rng.uniform(0, 12) * HOUR
            self._plan(at + delivery, c, Action.REVIEW, (order_id, product.product_id))

    async def _apply_code(
        self, c: Customer, at: float, order_id: str, subtotal: int
    ) -> Verdict | None:
        code = c.wallet[0]
        order = Order(id=order_id, amount_cents=subtotal)
        self._emit(
            Track,
            c,
            at,
            event=names.COUPON_ENTERED,
            properties={"order_id": order_id, "coupon_id": code},
        )
        await self._flush()  # the CDP hears of the attempt before the engine answers
        verdict: Verdict = await self.ask(
            self.promotions, ValidateCode(code=code, customer_id=c.user_id, order=order)
        )
        if verdict.valid:
            verdict = await self.ask(
                self.promotions, RedeemCode(code=code, customer_id=c.user_id, order=order)
            )
        if not verdict.valid:
            self._emit(
                Track,
                c,
                at,
                event=names.COUPON_DENIED,
                properties={"order_id": order_id, "coupon_id": code, "reason": verdict.reason},
            )
            c.wallet.pop(0)
            return None
        if verdict.balance_cents in (None, 0):
            c.wallet.pop(0)  # a discount code, or a gift card with nothing left
        self._emit(
            Track,
            c,
            at,
            event=names.COUPON_APPLIED,
            properties={
                "order_id": order_id,
                "coupon_id": code,
                "discount_cents": verdict.amount_cents,
            },
        )
        return verdict

    def _review(self, c: Customer, at: float, payload: tuple[str, str]) -> None:
        if at >= c.churn_at:
            return
        order_id, product_id = payload
        rating = min(5, max(1, round(c.rng.gauss(4.2, 0.8))))
        self._emit(
            Track,
            c,
            at,
            event=names.REVIEW_LEFT,
            properties={"order_id": order_id, "product_id": product_id, "rating": rating},
        )

    async def _on_push(self, push: PushNotification, sender: str) -> None:
        c = self._by_user_id.get(push.user_id)
        if c is None:
            self.undeliverable.append(push)  # no such customer's device: kept, never dropped
            await self.tell(sender, self._interaction(push, "push", "undelivered", self.now))
            return
        self.received_pushes.append(push)
        now = self.now
        if not c.active(now):
            return  # a churned customer's app no longer opens pushes
        self._emit(
            Track,
            c,
            now,
            event=names.PUSH_NOTIFICATION_RECEIVED,
            properties={"campaign": {"name": push.title}, "message_id": push.message_id},
        )
        code = push.data.get("code")
        if isinstance(code, str):
            if code not in c.wallet:
                c.wallet.append(code)
            self._receive_offer(c, now)
        if c.rng.random() < c.hidden.tap_probability():
            delay = c.rng.expovariate(1.0 / 10.0) * MINUTE  # a tap comes soon or not at all
            self._plan(now + delay, c, Action.PUSH_TAP, (push, sender))

    async def _tap(self, c: Customer, at: float, push: PushNotification, sender: str) -> None:
        """The app opens on the tap (Mobile Spec event from the app) and the visit starts."""
        if at >= c.churn_at:
            return
        self._emit(
            Track,
            c,
            at,
            event=names.PUSH_NOTIFICATION_TAPPED,
            properties={"campaign": {"name": push.title}, "message_id": push.message_id},
        )
        await self.tell(sender, self._interaction(push, "push", "tapped", at))
        self._plan(at + c.rng.uniform(0.5, 3) * MINUTE, c, Action.CLICK_THROUGH)

    def _interaction(
        self, message: Any, channel: str, kind: str, at: float, text: str | None = None
    ) -> MessageInteraction:
        return MessageInteraction(
            message_id=message.message_id,
            user_id=message.user_id,
            channel=channel,
            kind=kind,
            at=self.world.time.datetime_at(at),
            text=text,
        )

    async def _on_sms(self, text: SmsMessage, sender: str) -> None:
        """A text reaches the phone if the number is the customer's; the customer may click
        its link, or reply STOP (more likely the less they like texts)."""
        c = self._by_user_id.get(text.user_id)
        if c is None or text.to != c.phone:
            self.undeliverable_texts.append(text)
            await self.tell(sender, self._interaction(text, "sms", "undelivered", self.now))
            return
        self.received_texts.append(text)
        now = self.now
        if not c.active(now):
            return
        if c.rng.random() < c.hidden.sms_click_probability():
            delay = c.rng.expovariate(1.0 / 20.0) * MINUTE  # texts are read within minutes
            self._plan(now + delay, c, Action.SMS, (text, sender, "clicked"))
        elif c.rng.random() < c.hidden.sms_stop_probability():
            self._plan(now + c.rng.uniform(1, 60) * MINUTE, c, Action.SMS, (text, sender, "STOP"))

    async def _react_to_text(
        self, c: Customer, at: float, text: SmsMessage, sender: str, how: str
    ) -> None:
        if at >= c.churn_at:
            return
        if how == "STOP":
            await self.tell(sender, self._interaction(text, "sms", "replied", at, text="STOP"))
            return
        await self.tell(sender, self._interaction(text, "sms", "clicked", at))
        self._click_through(c, at, text.code)

    def _on_ad(self, ad: AdImpression, sender: str) -> None:
        """An ad shown to someone the platform matched; a click brings a visit."""
        c = self._by_user_id.get(ad.user_id)
        if c is None:
            self.unmatched_ads.append(ad)
            return
        self.ads_seen.append(ad)
        now = self.now
        if c.active(now) and c.rng.random() < c.hidden.ad_click:
            self._plan(now + c.rng.uniform(0, 2) * MINUTE, c, Action.AD, (ad, sender))

    async def _click_ad(self, c: Customer, at: float, ad: AdImpression, sender: str) -> None:
        if at >= c.churn_at:
            return
        await self.tell(sender, self._interaction(ad, "ads", "clicked", at))
        self._click_through(c, at, ad.code)

    def _click_through(self, c: Customer, at: float, code: str | None) -> None:
        """A click lands on the shop: the code (if any) goes to the wallet, a visit follows."""
        if code and code not in c.wallet:
            c.wallet.append(code)
            self._receive_offer(c, at)
        self._plan(at + c.rng.uniform(1, 10) * MINUTE, c, Action.CLICK_THROUGH)

    async def _on_email(self, email: EmailMessage, provider: str) -> None:
        """Mail lands in the inbox, or bounces when there is no such mailbox (an unknown
        address, or one that hard-bounces); whether and when it is opened is the customer's
        nature."""
        c = self._by_user_id.get(email.user_id)
        if c is None or email.to.strip().lower() != c.email or c.hidden.email_bounces:
            self.undeliverable_emails.append(email)
            stamp = self.world.time.datetime_at(self.now)
            await self.tell(
                provider,
                EmailInteraction(
                    message_id=email.message_id, user_id=email.user_id, kind="bounced", at=stamp
                ),
            )
            return
        if not c.active(self.now):
            self.undeliverable_emails.append(email)
            return
        if c.rng.random() < c.hidden.email_open:
            delay = c.rng.expovariate(1.0 / 6.0) * HOUR  # most opens within hours
            self._plan(self.now + delay, c, Action.EMAIL, (email, provider))

    async def _read_email(self, c: Customer, at: float, email: EmailMessage, provider: str) -> None:
        """Open; maybe click through (a visit, and an offer when the email carries a code);
        rarely unsubscribe. Each reaction is reported to the provider that sent the email."""
        if at >= c.churn_at:
            return
        stamp = self.world.time.datetime_at(at)
        await self.tell(
            provider,
            EmailInteraction(
                message_id=email.message_id, user_id=c.user_id, kind="opened", at=stamp
            ),
        )
        if c.rng.random() < c.hidden.email_click:
            await self.tell(
                provider,
                EmailInteraction(
                    message_id=email.message_id, user_id=c.user_id, kind="clicked", at=stamp
                ),
            )
            self._click_through(c, at, email.code)
        elif c.rng.random() < UNSUBSCRIBE_RATE:
            await self.tell(
                provider,
                EmailInteraction(
                    message_id=email.message_id, user_id=c.user_id, kind="unsubscribed", at=stamp
                ),
            )

    def _receive_offer(self, c: Customer, now: float) -> None:
        """An offer changes the visit rate and, for sleeping dogs, the churn hazard, for a
        while; both are Poisson processes, so the next visit is simply drawn again."""
        c.offer_until = now + self.params.offer_window_days * DAY
        _, churn_gain = c.offer_effect()
        extra_hazard = c.hidden.churn_hazard_per_day * (churn_gain - 1.0)
        if extra_hazard > 0:
            extra = c.rng.expovariate(extra_hazard) * DAY
            if extra < self.params.offer_window_days * DAY:
                c.churn_at = min(c.churn_at, now + extra)
        self._due = [
            item for item in self._due if not (item[1] == c.index and item[3] is Action.VISIT)
        ]
        heapq.heapify(self._due)
        self._plan_visit(c, now)
        self._next_wake = None


def _product(p: Product) -> dict[str, Any]:
    return {
        "product_id": p.product_id,
        "name": p.name,
        "category": p.category,
        "price": p.price_cents / 100,
        "price_cents": p.price_cents,
    }
