"""Reading API requests: the bearer token, JSON bodies and paging parameters."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from functools import wraps
from typing import Any, Literal, NoReturn, ParamSpec, TypeVar

from flask import g, request

from snappy_monolith import accounts, ownership
from snappy_monolith.components import components
from snappy_monolith.database import request_session
from snappy_monolith.errors import (
    AuthenticationRequired,
    FieldError,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from snappy_monolith.pagination import PageRequest, parse_page_request
from snappy_monolith.tokens import TokenClaims

__all__ = [
    "MAX_JSON_BODY_BYTES",
    "MAX_JSON_DEPTH",
    "authenticated_caller",
    "json_object",
    "owned_here",
    "page_request",
    "parse_json_object",
    "string_field",
]

JSON_MEDIA_TYPE = "application/json"
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
P = ParamSpec("P")
R = TypeVar("R")


def owned_here(group: Literal["users", "photos"]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A view of the `group` API, answered here only while the monolith owns the group's data.

    Once a service owns it (snappy_monolith.ownership), the view answers 421 and writes
    nothing: the edge sends the group to its owner, and a request that still reaches the
    monolith must not write a table that is no longer authoritative.
    """
    require = ownership.require_users_here if group == "users" else ownership.require_photos_here

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            require(request_session())
            return view(*args, **kwargs)

        return guarded

    return decorate


def authenticated_caller() -> TokenClaims:
    """The caller named by a valid, unrevoked bearer token bound to an existing account; 401 otherwise."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationRequired("A bearer access token is required")
    # The signature is not enough: the token must bind an existing account and be unrevoked.
    caller = accounts.bound_caller(request_session(), token.strip())
    g.caller = caller
    return caller


def string_field(body: dict[str, Any], name: str) -> str:
    """A field that must be a string."""
    value = body[name]
    if not isinstance(value, str):
        raise ValidationFailed([FieldError(name, "must be a string")])
    return value


def page_request() -> PageRequest:
    """The `limit` and `cursor` query parameters."""
    limits = components().settings.limits
    return parse_page_request(
        request.args.get("limit"),
        request.args.get("cursor"),
        default_limit=limits.default_page_size,
        max_limit=limits.max_page_size,
    )


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
