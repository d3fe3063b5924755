"""URL converters the services' routes share."""

from __future__ import annotations

from werkzeug.routing import BaseConverter

__all__ = ["MAX_ID", "IdConverter", "decimal_range_regex"]

# Ids are PostgreSQL bigints.
MAX_ID = 2**63 - 1


def decimal_range_regex(maximum: int) -> str:
    """A regex matching exactly the decimal numbers 1..`maximum`, without leading zeros."""
    digits = str(maximum)
    alternatives = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    # Numbers as long as `maximum`: equal to it up to some digit, then smaller there.
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            rest = len(digits) - position - 1
            alternatives.append(f"{digits[:position]}[{lowest}-{int(digit) - 1}][0-9]{{{rest}}}")
    alternatives.append(digits)
    return "(?:" + "|".join(alternatives) + ")"


class IdConverter(BaseConverter):
    """A positive 64-bit id (`<photo_id:...>` in the routes); anything else is not a route, hence 404."""

    # The range is in the regex rather than checked in `to_python`: a converter that rejects
    # a value makes Werkzeug answer 405 when another method's rule on the path came first.
    regex = decimal_range_regex(MAX_ID)

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(value)
