"""The promotion engine: campaigns, codes, distributions, validations, redemptions."""

from promoloop.actors.promotions.actor import PromotionsActor
from promoloop.actors.promotions.campaigns import Distribution, GiftCardCampaign, Voucher
from promoloop.actors.promotions.codes import CodeConfig, CodeSpaceExhausted, generate_codes
from promoloop.actors.promotions.model import PromotionEngineModel, PromotionError

__all__ = [
    "CodeConfig",
    "CodeSpaceExhausted",
    "Distribution",
    "GiftCardCampaign",
    "PromotionEngineModel",
    "PromotionError",
    "PromotionsActor",
    "Voucher",
    "generate_codes",
]
