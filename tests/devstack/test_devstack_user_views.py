"""How `compare_user_views` reports a difference: the request, the path in the body, both values."""

from __future__ import annotations

from snappy_devstack.user_views import first_difference


def test_equal_documents_have_no_difference() -> None:
    page = {"items": [{"id": 1, "caption": "a"}, {"id": 2, "caption": "b"}], "next_cursor": None}
    assert first_difference(page, {**page}) is None


def test_the_first_difference_names_its_path_and_both_values() -> None:
    items = [{"id": 1, "caption": "a"}, {"id": 2, "caption": "b"}]
    page = {"items": items, "next_cursor": None}
    changed = {"items": [items[0], {"id": 2, "caption": "B"}], "next_cursor": None}
    assert first_difference(page, changed) == "items[1].caption: 'b' != 'B'"
    assert first_difference(page, {"items": items[:1], "next_cursor": None}) == "items: 2 items != 1 items"


def test_keys_on_one_side_only_and_types_count() -> None:
    assert first_difference({"id": 1}, {"id": 1, "extra": True}) == "extra: only on the microservices"
    assert first_difference({"id": 1, "extra": True}, {"id": 1}) == "extra: only on the monolith"
    assert first_difference({"id": 1}, {"id": "1"}) == "id: 1 != '1'"
    assert first_difference({"id": 1}, {"id": True}) == "id: 1 != True"


def test_long_values_are_cut() -> None:
    shown = first_difference("a" * 300, "b")
    assert shown is not None
    assert shown.startswith("body: 'aaaa")
    assert shown.endswith("... != 'b'")
    assert len(shown) < 150
