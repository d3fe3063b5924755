"""Reading what every JSON API request carries: a bearer token and a JSON object body."""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from flask import request

from snappy_plumbing.errors import (
    AuthenticationRequired,
    FieldError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "MAX_JSON_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "bearer_token",
    "checked_idempotency_key",
    "json_object",
    "parse_json_object",
]

JSON_MEDIA_TYPE = "application/json"
IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
# At most 255 printable ASCII characters; spaces inside only, as HTTP (RFC 9110) strips outer ones.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
# Every JSON body the API takes is a handful of short strings: a caption of 2000 characters,
# each written as a 12-byte surrogate-pair escape, is 24000 bytes.
MAX_JSON_BODY_BYTES = 64 * 1024
# The API's bodies are flat objects; the bound only has to be far below Python's recursion limit.
MAX_JSON_DEPTH = 32
# No field is a number; a literal this long is an attack on the parser, not a value.
MAX_JSON_NUMBER_LENGTH = 64
# A string, possibly unterminated (the parser reports that), or one bracket. Unrolled, so
# that it never backtracks.
_JSON_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def bearer_token() -> str:
    """The token of the `Authorization: Bearer` header; 401 when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("A bearer access token is required")
    return token.strip()


def json_object(allowed: set[str], required: set[str]) -> dict[str, Any]:
    """The request's JSON object body, with its fields checked against the allowed set."""
    body = parse_json_object(_json_body_bytes())
    errors = [FieldError(name, "is required") for name in sorted(required - body.keys())]
    errors += [FieldError(name, "is not a known field") for name in sorted(body.keys() - allowed)]
    if errors:
        raise ValidationFailed(errors)
    return body


def _json_body_bytes() -> bytes:
    """The body of a request that declares UTF-8 JSON, at most MAX_JSON_BODY_BYTES long."""
    if request.mimetype != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType("The request body must be application/json")
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("The request body must be application/json in UTF-8")
    too_large = PayloadTooLarge(f"A JSON body may have at most {MAX_JSON_BODY_BYTES} bytes")
    if request.content_length is not None and request.content_length > MAX_JSON_BODY_BYTES:
        raise too_large
    data = request.get_data(cache=True)
    if len(data) > MAX_JSON_BODY_BYTES:
        raise too_large
    return data


def parse_json_object(data: bytes) -> dict[str, Any]:
    """`data` as a JSON object under the strict rules; 400 malformed-request naming what is wrong.

    Strict means: UTF-8 without a byte order mark, no key twice in one object, nesting at
    most MAX_JSON_DEPTH deep, no NaN or Infinity, no number literal longer than
    MAX_JSON_NUMBER_LENGTH or beyond a float's range, and no string with a lone surrogate.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise MalformedRequest(f"The request body is not valid UTF-8 (byte {error.start})") from None
    if not text.strip():
        raise MalformedRequest("The request body is empty; a JSON object is required")
    if text.startswith("\ufeff"):
        raise MalformedRequest("The request body starts with a byte order mark, which JSON does not allow")
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise MalformedRequest(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        body = json.loads(
            text,
            object_pairs_hook=_object_without_repeated_keys,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
            parse_float=_bounded_float,
        )
    except json.JSONDecodeError as error:
        raise MalformedRequest(
            f"The request body is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except (ValueError, RecursionError):
        raise MalformedRequest("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedRequest(f"The request body must be a JSON object, not {_json_kind(body)}")
    _refuse_lone_surrogates(body)
    return body


def _nesting_exceeds(text: str, bound: int) -> bool:
    # Counted before parsing: the parser recurses once per level and would hit the interpreter's
    # recursion limit first. Brackets inside strings do not count.
    depth = 0
    for match in _JSON_STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > bound:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins; refusing leaves nothing to disagree on.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedRequest(f"The JSON body has the key {_quoted(key)} more than once in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> NoReturn:
    raise MalformedRequest(f"The JSON body has {name}, which JSON does not allow")


def _bounded_int(literal: str) -> int:
    if len(literal) > MAX_JSON_NUMBER_LENGTH:
        raise MalformedRequest(f"The JSON body has a number longer than {MAX_JSON_NUMBER_LENGTH} characters")
    return int(literal)


def _bounded_float(literal: str) -> float:
    if len(literal) > MAX_JSON_NUMBER_LENGTH:
        raise MalformedRequest(f"The JSON body has a number longer than {MAX_JSON_NUMBER_LENGTH} characters")
    value = float(literal)
    if not math.isfinite(value):
        raise MalformedRequest(f"The JSON body has a number out of range: {literal}")
    return value


def _refuse_lone_surrogates(body: dict[str, Any]) -> None:
    # JSON escapes can spell half of a surrogate pair, which is no character: it cannot be
    # stored, compared with stored text, or even written back in an error message.
    pending: list[tuple[str, Any]] = list(body.items())
    while pending:
        path, value = pending.pop()
        if _SURROGATE.search(path):
            raise MalformedRequest(
                f"The JSON body has an unpaired surrogate escape (\\ud800-\\udfff) in the key {_quoted(path)}"
            )
        if isinstance(value, str) and _SURROGATE.search(value):
            raise MalformedRequest(
                f"The JSON body has an unpaired surrogate escape (\\ud800-\\udfff) in {_quoted(path)}"
            )
        if isinstance(value, dict):
            pending.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend((f"{path}[{index}]", item) for index, item in enumerate(value))


def _json_kind(value: Any) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), "a value")


def _quoted(text: str) -> str:
    # ASCII-escaped and cut short: the key comes from the client and goes into the detail.
    shown = text if len(text) <= 64 else text[:64] + "..."
    return json.dumps(shown, ensure_ascii=True)


def checked_idempotency_key(value: str) -> str:
    """`value` when it is a valid Idempotency-Key (the contract's rule); MalformedRequest otherwise."""
    if not _IDEMPOTENCY_KEY.fullmatch(value):
        raise MalformedRequest(f"{IDEMPOTENCY_KEY_HEADER} must be 1 to 255 printable ASCII characters")
    return value
