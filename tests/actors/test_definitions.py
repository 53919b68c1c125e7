import msgspec
import pytest

from promoloop.actors.definitions import definition_items, load_definitions


class Row(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    weight: int = 1


def test_definitions_load_from_json_text_or_parsed_data() -> None:
    text = '[{"name": "a"}, {"name": "b", "weight": 3}]'
    assert load_definitions(text, "rows", Row) == [Row("a"), Row("b", 3)]
    assert load_definitions(text.encode(), "rows", Row) == load_definitions(
        [{"name": "a"}, {"name": "b", "weight": 3}], "rows", Row
    )


def test_a_bad_item_is_refused_with_its_index_and_field() -> None:
    with pytest.raises(ValueError, match=r"^rows\[1\]: Expected `int`, got `str` - at `\$.weight`"):
        load_definitions([{"name": "a"}, {"name": "b", "weight": "x"}], "rows", Row)


def test_anything_but_a_list_is_refused_naming_the_definitions() -> None:
    with pytest.raises(ValueError, match=r"^rows must be a list, got dict$"):
        definition_items('{"name": "a"}', "rows")
