"""The promotion engine: campaigns, codes, rules, distributions, validations, redemptions."""

from promoloop.actors.promotions.actor import PromotionsActor
from promoloop.actors.promotions.campaigns import (
    Campaign,
    DiscountCampaign,
    Distribution,
    GiftCardCampaign,
    Segment,
    Voucher,
)
from promoloop.actors.promotions.codes import CodeConfig, CodeSpaceExhausted, generate_codes
from promoloop.actors.promotions.discounts import Cart, Discount, Item
from promoloop.actors.promotions.errors import PromotionError
from promoloop.actors.promotions.ledger import CustomEvent, Publication, Redemption, Rollback
from promoloop.actors.promotions.limits import HourWindow, Quotas
from promoloop.actors.promotions.loyalty import (
    EarningRule,
    LoyaltyCard,
    LoyaltyLedger,
    LoyaltyProgram,
    PointsTransaction,
    Reward,
    Tier,
)
from promoloop.actors.promotions.model import PromotionEngineModel, Quote
from promoloop.actors.promotions.referrals import (
    Referral,
    ReferralCode,
    ReferralLedger,
    ReferralProgram,
)
from promoloop.actors.promotions.rules import RuleContext, ValidationRule, parse_rule

__all__ = [
    "Campaign",
    "Cart",
    "CodeConfig",
    "CodeSpaceExhausted",
    "CustomEvent",
    "Discount",
    "DiscountCampaign",
    "Distribution",
    "EarningRule",
    "GiftCardCampaign",
    "HourWindow",
    "Item",
    "LoyaltyCard",
    "LoyaltyLedger",
    "LoyaltyProgram",
    "PointsTransaction",
    "PromotionEngineModel",
    "PromotionError",
    "PromotionsActor",
    "Publication",
    "Quotas",
    "Quote",
    "Redemption",
    "Referral",
    "ReferralCode",
    "ReferralLedger",
    "ReferralProgram",
    "Reward",
    "Rollback",
    "RuleContext",
    "Segment",
    "Tier",
    "ValidationRule",
    "Voucher",
    "generate_codes",
    "parse_rule",
]
