"""Spellings of a path to `/internal/` that the edge might not see as one.

Dot segments, percent-encoded dots, slashes and backslashes, an encoded letter, doubled
slashes, a NUL byte, a broken escape (docs/security.md, "The edge"). The edge's own tests
and the attacks on the live microservices send every one of them.
"""

from __future__ import annotations

__all__ = ["AMBIGUOUS_SPELLINGS_OF_INTERNAL"]

# Raw request targets, sent byte for byte; the edge refuses each as ambiguous (400).
AMBIGUOUS_SPELLINGS_OF_INTERNAL = [
    "/api/v1/users/../../../internal/v1/users/lookup",
    "/api/v1/users/%2e%2e/%2e%2e/%2e%2e/internal/v1/users/lookup",
    "/api/v1/users/.%2E/.%2e/.%2e/internal/v1/users/lookup",
    "/api/v1/users/.%2E/.%2e/.%2E/internal/v1/users/lookup",
    "/api/v1/users/..%2f..%2f..%2finternal/v1/users/lookup",
    "/api/v1/users/..%2F..%2F..%2Finternal%2Fv1%2Fusers%2Flookup",
    "/api/v1/users/..%5c..%5c..%5cinternal/v1/users/lookup",
    "/api/v1/users/..\\..\\..\\internal/v1/users/lookup",
    "/%69nternal/v1/users/lookup",
    "/%2finternal/v1/users/lookup",
    "//internal/v1/users/lookup",
    "/./internal/v1/users/lookup",
    "/static/../internal/v1/users/lookup",
    "/static/%2e%2e/internal/v1/users/lookup",
    "/internal%00/v1/users/lookup",
    "/api/v1/users/%zz/../internal",
]
