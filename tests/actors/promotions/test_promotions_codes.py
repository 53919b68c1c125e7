"""Voucher codes: pattern/prefix/postfix shapes, uniqueness, config validation, exhaustion."""

from __future__ import annotations

import random
import re

import pytest

from promoloop.actors.promotions import CodeConfig, CodeSpaceExhausted, generate_codes
from promoloop.actors.promotions.codes import UNAMBIGUOUS_UPPERCASE


def test_pattern_places_random_characters_at_the_hashes() -> None:
    """GIFT-####-#### gives GIFT-XXXX-XXXX with X from the charset, literals kept."""
    config = CodeConfig(pattern="GIFT-####-####")
    codes = generate_codes(config, 200, random.Random(1), set())
    chars = re.escape(UNAMBIGUOUS_UPPERCASE)
    shape = re.compile(rf"^GIFT-[{chars}]{{4}}-[{chars}]{{4}}$")
    assert all(shape.match(code) for code in codes), codes[:5]
    assert config.random_length == 8
    assert config.capacity == 32**8


def test_prefix_postfix_and_length() -> None:
    """Without a pattern: prefix + ``length`` random characters + postfix."""
    config = CodeConfig(length=6, charset="0123456789", prefix="PRE-", postfix="-X")
    for code in generate_codes(config, 50, random.Random(2), set()):
        assert code.startswith("PRE-") and code.endswith("-X")
        body = code.removeprefix("PRE-").removesuffix("-X")
        assert len(body) == 6 and body.isdigit()


def test_prefix_and_postfix_wrap_a_pattern_too() -> None:
    """Prefix and postfix also apply around a pattern."""
    (code,) = generate_codes(
        CodeConfig(pattern="##-##", charset="AB", prefix="<", postfix=">"),
        1,
        random.Random(3),
        set(),
    )
    assert re.fullmatch(r"<[AB]{2}-[AB]{2}>", code)


def test_ten_thousand_codes_are_unique_even_in_a_crowded_space() -> None:
    """10k codes from a space of 2**15 (collisions certain along the way) are all distinct,
    and all recorded in ``taken``."""
    config = CodeConfig(length=15, charset="AB")
    taken: set[str] = {"A" * 15}
    codes = generate_codes(config, 10_000, random.Random(4), taken)
    assert len(codes) == 10_000
    assert len(set(codes)) == 10_000
    assert "A" * 15 not in codes  # an already taken code is never handed out again
    assert taken == set(codes) | {"A" * 15}


def test_generation_is_reproducible_from_the_rng() -> None:
    """Same seed, same codes; another seed, other codes."""
    config = CodeConfig()
    assert generate_codes(config, 20, random.Random(5), set()) == generate_codes(
        config, 20, random.Random(5), set()
    )
    assert generate_codes(config, 20, random.Random(5), set()) != generate_codes(
        config, 20, random.Random(6), set()
    )


@pytest.mark.parametrize("charset", ["A", "", "AAB", "ABCA"])
def test_charset_needs_two_distinct_characters(charset: str) -> None:
    """A charset of fewer than two characters, or with repeats, is refused."""
    with pytest.raises(ValueError, match=r"code_config\.charset"):
        CodeConfig(charset=charset)


def test_length_and_pattern_validation() -> None:
    """length < 1 without a pattern, and a pattern without any '#', are refused."""
    with pytest.raises(ValueError, match=r"code_config\.length"):
        CodeConfig(length=0)
    with pytest.raises(ValueError, match=r"code_config\.pattern"):
        CodeConfig(pattern="GIFT-CARD")
    assert CodeConfig(length=0, pattern="#").random_length == 1  # length unused with a pattern


def test_refuses_to_exhaust_the_code_space() -> None:
    """At most half of a config's space is handed out; asking for more raises at once."""
    config = CodeConfig(length=3, charset="AB")  # 8 codes, 4 usable
    taken: set[str] = set()
    rng = random.Random(7)
    assert len(generate_codes(config, 3, rng, taken)) == 3
    with pytest.raises(CodeSpaceExhausted, match="8 codes"):
        generate_codes(config, 2, rng, taken)
    assert len(taken) == 3  # a refused request takes nothing
    assert len(generate_codes(config, 1, rng, taken)) == 1
    with pytest.raises(CodeSpaceExhausted):
        generate_codes(config, 1, rng, taken)


def test_negative_count_is_refused() -> None:
    """Asking for a negative number of codes is a ValueError; zero is an empty list."""
    with pytest.raises(ValueError, match="-1"):
        generate_codes(CodeConfig(), -1, random.Random(0), set())
    assert generate_codes(CodeConfig(), 0, random.Random(0), set()) == []


def test_exhaustion_counts_this_configs_codes_not_other_campaigns() -> None:
    """Codes of other campaigns stay unique but do not eat this config's code space."""
    tiny = CodeConfig(length=2, charset="AB")  # 4 codes, at most 2 issued
    other_campaigns = {f"OTHER-{i}" for i in range(50)}
    codes = generate_codes(tiny, 2, random.Random(1), other_campaigns, used=0)
    assert len(set(codes)) == 2 and set(codes) <= other_campaigns
    with pytest.raises(CodeSpaceExhausted):
        generate_codes(tiny, 1, random.Random(1), other_campaigns, used=2)
