"""What a refused upload must show: the problem document it was answered with, and no trace stored."""

from __future__ import annotations

from typing import Any

from tests.support.versions import StackUnderTest

__all__ = ["PROBLEMS", "assert_refused_without_a_trace"]

PROBLEMS = "https://snappy.example/problems/"


def assert_refused_without_a_trace(response: Any, stack: StackUnderTest, *, status: int, slug: str) -> Any:
    """`response` is a problem document of `status` and type `slug`, and the stack stored no photo
    row and no object; the problem document."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == PROBLEMS + slug
    assert stack.photo_count() == 0
    assert stack.object_keys() == []
    return problem
