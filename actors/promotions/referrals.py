"""Referral programs: an advocate's code, redeemed by a friend, rewards the advocate.

Voucherify (``REFERRAL_PROGRAM``, a referral code published to the referrer, redeemed through
a custom event carrying ``referral.code``) and Talon.One (``referralCode`` on a session,
``redeemReferral`` when it closes) share these rules:

- an advocate gets one code per program (join once);
- a friend cannot use their own advocate's code, nor be referred twice in one program;
- a code may refer at most ``per_code_limit`` friends;
- the advocate's reward is ``advocate_points`` on their card in ``loyalty_program_id`` and/or
  a code published from ``advocate_campaign_id``.

The friend's own benefit is the business of the face (a Talon.One rule with a ``referralValid``
condition; a Voucherify discount code); this ledger only keeps who referred whom and what the
advocate received, so a rollback can take back exactly that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from promoloop.actors.promotions.codes import CodeConfig
from promoloop.actors.promotions.errors import PromotionError

SUCCEEDED = "SUCCEEDED"
ROLLED_BACK = "ROLLED_BACK"

SELF_REFERRAL = "referral_self"
"""The friend is the advocate (Talon.One ``ReferralRecipientIdSameAsAdvocate``)."""
ALREADY_REFERRED = "customer_already_referred"
"""The friend was referred before in this program (``ReferralCustomerAlreadyReferred``)."""


class ReferralProgram(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    code_config: CodeConfig = msgspec.field(
        default_factory=lambda: CodeConfig(pattern="REF-######")
    )
    per_code_limit: int | None = None
    advocate_points: int = 0
    loyalty_program_id: str | None = None
    advocate_campaign_id: str | None = None
    start_date: datetime | None = None
    expiration_date: datetime | None = None
    active: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError("referral_program.id must be a non-empty string")
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("referral_program.name must be a non-empty string")
        if self.per_code_limit is not None and (
            isinstance(self.per_code_limit, bool)
            or not isinstance(self.per_code_limit, int)
            or self.per_code_limit < 1
        ):
            raise ValueError("referral_program.per_code_limit must be a positive integer")
        if isinstance(self.advocate_points, bool) or not isinstance(self.advocate_points, int):
            raise ValueError("referral_program.advocate_points must be an integer")
        if self.advocate_points < 0:
            raise ValueError("referral_program.advocate_points must be >= 0")
        if self.advocate_points and self.loyalty_program_id is None:
            raise ValueError("referral_program.advocate_points needs a loyalty_program_id")
        for name in ("start_date", "expiration_date"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"referral_program.{name} must be timezone-aware (UTC)")


@dataclass(slots=True)
class ReferralCode:
    code: str
    program_id: str
    advocate: str
    created_at: datetime | None = None
    friends: list[str] = field(default_factory=list)
    """Friends referred by live (not rolled back) referrals, in order."""

    @property
    def usage_counter(self) -> int:
        return len(self.friends)


@dataclass(slots=True)
class Referral:
    """One friend referred by one code, and what the advocate got for it."""

    id: str
    date: datetime
    code: str
    program_id: str
    advocate: str
    friend: str
    points_transaction: str | None = None
    reward_code: str | None = None
    status: str = SUCCEEDED


class ReferralLedger:
    def __init__(self, new_code: Callable[[CodeConfig], str]) -> None:
        self._new_code = new_code
        self.programs: dict[str, ReferralProgram] = {}
        self.codes: dict[str, ReferralCode] = {}
        self.referrals: dict[str, Referral] = {}
        self._code_of: dict[tuple[str, str], str] = {}
        self._referred: dict[tuple[str, str], str] = {}
        """(program, friend) → live referral id: a friend is referred once per program."""

    def add_program(self, program: ReferralProgram) -> ReferralProgram:
        if program.id in self.programs:
            raise PromotionError(
                "duplicate_resource_key", f"referral program {program.id!r} exists", 409
            )
        self.programs[program.id] = program
        return program

    def program(self, program_id: str) -> ReferralProgram:
        try:
            return self.programs[program_id]
        except KeyError:
            raise PromotionError(
                "not_found", f"Cannot find referral program with id {program_id}", 404
            ) from None

    def code_for(self, program_id: str, advocate: str, now: datetime | None) -> ReferralCode:
        """The advocate's code in the program, created on first call."""
        program = self.program(program_id)
        code = self._code_of.get((program_id, advocate))
        if code is not None:
            return self.codes[code]
        if not program.active:
            raise PromotionError("campaign_disabled", f"referral program {program.name!r} is off")
        referral_code = ReferralCode(
            code=self._new_code(program.code_config),
            program_id=program_id,
            advocate=advocate,
            created_at=now,
        )
        self.codes[referral_code.code] = referral_code
        self._code_of[(program_id, advocate)] = referral_code.code
        return referral_code

    def check(self, code: str, friend: str | None, now: datetime) -> ReferralCode:
        """The code if ``friend`` may redeem it now, else the PromotionError saying why."""
        referral_code = self.codes.get(code)
        if referral_code is None:
            raise PromotionError("not_found", f"Cannot find referral code {code}", 404)
        program = self.programs[referral_code.program_id]
        if not program.active:
            raise PromotionError("voucher_disabled", f"referral program {program.name!r} is off")
        if program.start_date and now < program.start_date:
            raise PromotionError("voucher_not_active", f"{program.name!r} has not started")
        if program.expiration_date and now >= program.expiration_date:
            raise PromotionError("voucher_expired", f"{program.name!r} has expired")
        if friend is None or not friend:
            raise PromotionError("customer_rules_violated", "a referral needs the friend's id")
        if friend == referral_code.advocate:
            raise PromotionError(SELF_REFERRAL, "a customer cannot refer themselves")
        if (program.id, friend) in self._referred:
            raise PromotionError(ALREADY_REFERRED, f"customer {friend} was already referred")
        limit = program.per_code_limit
        if limit is not None and referral_code.usage_counter >= limit:
            raise PromotionError(
                "quantity_exceeded", f"referral code {code} reached its limit of {limit}"
            )
        return referral_code

    def record(self, referral: Referral) -> None:
        """Store a referral the model has checked and rewarded."""
        self.codes[referral.code].friends.append(referral.friend)
        self._referred[(referral.program_id, referral.friend)] = referral.id
        self.referrals[referral.id] = referral

    def undo(self, referral_id: str) -> Referral:
        """Mark a referral rolled back: the friend may be referred again, the slot is free."""
        referral = self.referrals.get(referral_id)
        if referral is None:
            raise PromotionError("not_found", f"Cannot find referral {referral_id}", 404)
        if referral.status == ROLLED_BACK:
            raise PromotionError("already_rolled_back", f"referral {referral_id} rolled back")
        self.codes[referral.code].friends.remove(referral.friend)
        del self._referred[(referral.program_id, referral.friend)]
        referral.status = ROLLED_BACK
        return referral
