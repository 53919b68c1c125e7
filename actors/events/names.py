"""Event names from the Segment Spec and from the promotion engine, in one place.

Scenario code and rules refer to these constants instead of string literals so that a typo is
an import error rather than an audience that silently never fills.
"""

from typing import Final

# Segment E-commerce Spec v2 (browsing, ordering, coupons, reviews).
PRODUCTS_SEARCHED: Final = "Products Searched"
PRODUCT_LIST_VIEWED: Final = "Product List Viewed"
PRODUCT_VIEWED: Final = "Product Viewed"
PRODUCT_ADDED: Final = "Product Added"
PRODUCT_REMOVED: Final = "Product Removed"
CART_VIEWED: Final = "Cart Viewed"
CHECKOUT_STARTED: Final = "Checkout Started"
PAYMENT_INFO_ENTERED: Final = "Payment Info Entered"
ORDER_COMPLETED: Final = "Order Completed"
ORDER_REFUNDED: Final = "Order Refunded"
ORDER_CANCELLED: Final = "Order Cancelled"
COUPON_ENTERED: Final = "Coupon Entered"
COUPON_APPLIED: Final = "Coupon Applied"
COUPON_DENIED: Final = "Coupon Denied"
COUPON_REMOVED: Final = "Coupon Removed"
PRODUCT_REVIEWED: Final = "Product Reviewed"
SIGNED_UP: Final = "Signed Up"

# Custom event of the review-giftcard seed (the name its Voucherify segment listens to).
REVIEW_LEFT: Final = "review_left"

# Segment Email Spec.
EMAIL_DELIVERED: Final = "Email Delivered"
EMAIL_OPENED: Final = "Email Opened"
EMAIL_LINK_CLICKED: Final = "Email Link Clicked"
EMAIL_BOUNCED: Final = "Email Bounced"
EMAIL_MARKED_AS_SPAM: Final = "Email Marked as Spam"
UNSUBSCRIBED: Final = "Unsubscribed"

# Segment Mobile Spec (push).
PUSH_NOTIFICATION_RECEIVED: Final = "Push Notification Received"
PUSH_NOTIFICATION_TAPPED: Final = "Push Notification Tapped"

# Push provider events (Braze Currents names, as its Segment source forwards them). The app's own
# SDK reports receipt and taps with the Mobile Spec names above; the provider reports the send.
PUSH_NOTIFICATION_SENT: Final = "Push Notification Sent"
PUSH_NOTIFICATION_BOUNCED: Final = "Push Notification Bounced"

# SMS events, named as Twilio Engage reports its SMS messaging back to Segment (Engage's
# "SMS <status>" events); STOP replies become SMS Unsubscribed, START replies SMS Subscribed.
SMS_DELIVERED: Final = "SMS Delivered"
SMS_UNDELIVERED: Final = "SMS Undelivered"
SMS_LINK_CLICKED: Final = "SMS Link Clicked"
SMS_UNSUBSCRIBED: Final = "SMS Unsubscribed"
SMS_SUBSCRIBED: Final = "SMS Subscribed"

# Ad platform engagement, as an ads source forwards per-user delivery (promoloop's names, in the
# Segment "Object Action" style: a Facebook/Google Ads source syncs reports, not these calls).
AD_IMPRESSION: Final = "Ad Impression"
AD_CLICKED: Final = "Ad Clicked"

# Conversion attributed by a channel destination to its last message before an order
# (promoloop's name, in the style of Braze's campaign conversion events).
MESSAGE_CONVERTED: Final = "Message Converted"

# Segment Engage audience membership, as Engage sends it to track destinations.
AUDIENCE_ENTERED: Final = "Audience Entered"
AUDIENCE_EXITED: Final = "Audience Exited"

# Voucherify events, as its Segment source forwards them.
PUBLICATION_SUCCEEDED: Final = "customer.publication.succeeded"
PUBLICATION_FAILED: Final = "customer.publication.failed"
REDEMPTION_SUCCEEDED: Final = "redemption.succeeded"
REDEMPTION_FAILED: Final = "redemption.failed"
REDEMPTION_ROLLBACK_SUCCEEDED: Final = "redemption.rollback.succeeded"
LOYALTY_POINTS_EARNED: Final = "customer.rewarded.loyalty_points"
"""Voucherify's customer activity for points added to a loyalty card."""

ECOMMERCE_EVENTS: Final = frozenset(
    {
        PRODUCTS_SEARCHED,
        PRODUCT_LIST_VIEWED,
        PRODUCT_VIEWED,
        PRODUCT_ADDED,
        PRODUCT_REMOVED,
        CART_VIEWED,
        CHECKOUT_STARTED,
        PAYMENT_INFO_ENTERED,
        ORDER_COMPLETED,
        ORDER_REFUNDED,
        ORDER_CANCELLED,
        COUPON_ENTERED,
        COUPON_APPLIED,
        COUPON_DENIED,
        COUPON_REMOVED,
        PRODUCT_REVIEWED,
    }
)
EMAIL_EVENTS: Final = frozenset(
    {
        EMAIL_DELIVERED,
        EMAIL_OPENED,
        EMAIL_LINK_CLICKED,
        EMAIL_BOUNCED,
        EMAIL_MARKED_AS_SPAM,
        UNSUBSCRIBED,
    }
)
PUSH_EVENTS: Final = frozenset(
    {
        PUSH_NOTIFICATION_RECEIVED,
        PUSH_NOTIFICATION_TAPPED,
        PUSH_NOTIFICATION_SENT,
        PUSH_NOTIFICATION_BOUNCED,
    }
)
SMS_EVENTS: Final = frozenset(
    {SMS_DELIVERED, SMS_UNDELIVERED, SMS_LINK_CLICKED, SMS_UNSUBSCRIBED, SMS_SUBSCRIBED}
)
AD_EVENTS: Final = frozenset({AD_IMPRESSION, AD_CLICKED})
PROMOTION_EVENTS: Final = frozenset(
    {
        PUBLICATION_SUCCEEDED,
        PUBLICATION_FAILED,
        REDEMPTION_SUCCEEDED,
        REDEMPTION_FAILED,
        REDEMPTION_ROLLBACK_SUCCEEDED,
        LOYALTY_POINTS_EARNED,
    }
)
