"""Checks HTTP responses against the normative public API document.

The tests call `assert_conforms` (Flask test client) or `assert_httpx_conforms` (live server)
on every response they receive, so any drift between the implementation and
`shared_contracts/public-api.openapi.yaml` fails the suite where it happens.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    import httpx
    from werkzeug.test import TestResponse

__all__ = [
    "Contract",
    "ContractViolation",
    "Operation",
    "assert_conforms",
    "assert_httpx_conforms",
    "load_public_contract",
]

PUBLIC_CONTRACT_PATH = Path(__file__).resolve().parents[2] / "shared_contracts" / "public-api.openapi.yaml"

# The document is registered under this URI so that `$ref`s inside it resolve against it.
_DOCUMENT_URI = "urn:snappy:public-api"
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BODY_HEAD_BYTES = 300
_MAX_REPORTED_ERRORS = 5
_RFC3339_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class ContractViolation(AssertionError):
    """A response that the public API document does not allow."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented operation, with the JSON pointer of its definition."""

    path: str
    method: str
    definition: Mapping[str, Any]
    pointer: str

    @property
    def operation_id(self) -> str | None:
        """The operation's `operationId`, if it has one."""
        value = self.definition.get("operationId")
        return value if isinstance(value, str) else None


def _escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _pointer(*tokens: str) -> str:
    return "".join("/" + _escape_pointer_token(token) for token in tokens)


def _is_date_time(value: object) -> bool:
    # Written out rather than relying on jsonschema's optional format extras, which
    # silently accept everything when their package is missing.
    if not isinstance(value, str):
        return True
    if _RFC3339_DATE_TIME.fullmatch(value) is None:
        return False
    try:
        datetime.fromisoformat(value.upper())
    except ValueError:
        return False
    return True


def _is_int64(value: object) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    return _INT64_MIN <= value <= _INT64_MAX


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checks("date-time")(_is_date_time)
    checker.checks("int64")(_is_int64)
    return checker


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _media_type_matches(documented: str, actual: str) -> bool:
    documented = documented.lower()
    if documented in {actual, "*/*"}:
        return True
    main, _, sub = documented.partition("/")
    return sub == "*" and actual.startswith(main + "/")


def _template_segments(template: str) -> list[str | None]:
    # `None` marks a `{param}` segment; anything else is a literal to compare.
    return [
        None if segment.startswith("{") and segment.endswith("}") else segment
        for segment in template.split("/")
    ]


def _status_keys(status: int) -> tuple[str, str, str]:
    return str(status), f"{status // 100}XX", "default"


def _body_head(body: bytes) -> str:
    head = body[:_BODY_HEAD_BYTES].decode("utf-8", errors="replace")
    return head + ("..." if len(body) > _BODY_HEAD_BYTES else "")


def _describe_errors(errors: list[ValidationError]) -> str:
    ordered = sorted(errors, key=lambda error: list(map(str, error.absolute_path)))
    lines = []
    for error in ordered[:_MAX_REPORTED_ERRORS]:
        # A failed oneOf/anyOf says little by itself; its most relevant branch error says why.
        detail = best_match(error.context) if error.context else error
        location = "/" + "/".join(map(str, detail.absolute_path))
        lines.append(f"  at {location}: {detail.message}")
    if len(ordered) > _MAX_REPORTED_ERRORS:
        lines.append(f"  ... and {len(ordered) - _MAX_REPORTED_ERRORS} more")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Answer:
    """A response received, beside what the document says of its operation and status."""

    documented: Mapping[str, Any]
    documented_pointer: str
    status: int
    # lower-cased names
    headers: Mapping[str, str]
    body: bytes
    # The error to raise, its message prefixed with the exchange.
    violation: Callable[[str], ContractViolation]


class Contract:
    """An OpenAPI document that responses are checked against."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        """Index the document's operations and prepare its schemas for validation."""
        self._document = document
        resource: Resource[Any] = DRAFT202012.create_resource(dict(document))
        self._registry: Registry[Any] = Registry().with_resource(_DOCUMENT_URI, resource)
        self._format_checker = _format_checker()
        self._validators: dict[str, Draft202012Validator] = {}
        templates: list[tuple[list[str | None], str]] = [
            (_template_segments(template), template) for template in document.get("paths", {})
        ]
        # Literal segments win over parameters, compared from the left.
        self._templates = sorted(templates, key=lambda item: [segment is None for segment in item[0]])

    @property
    def document(self) -> Mapping[str, Any]:
        """The parsed OpenAPI document."""
        return self._document

    def operations(self) -> Iterator[Operation]:
        """Every documented operation, in document order."""
        for path, path_item in self._document.get("paths", {}).items():
            for method in _HTTP_METHODS:
                definition = path_item.get(method)
                if isinstance(definition, Mapping):
                    yield Operation(path, method, definition, _pointer("paths", path, method))

    def match_path(self, path: str) -> str | None:
        """The path template that a concrete request path falls under, if any."""
        concrete = [unquote(segment) for segment in urlsplit(path).path.split("/")]
        for segments, template in self._templates:
            if len(segments) == len(concrete) and all(
                expected is None or expected == actual
                for expected, actual in zip(segments, concrete, strict=True)
            ):
                return template
        return None

    def find_operation(self, method: str, path: str) -> Operation | None:
        """The operation documented for a method and a concrete request path, if any."""
        template = self.match_path(path)
        if template is None:
            return None
        definition = self._document["paths"][template].get(method.lower())
        if not isinstance(definition, Mapping):
            return None
        return Operation(template, method.lower(), definition, _pointer("paths", template, method.lower()))

    def resolve(self, node: Mapping[str, Any], pointer: str) -> tuple[Mapping[str, Any], str]:
        """Follow local OpenAPI `$ref`s from a node; returns the target and its pointer."""
        seen: set[str] = set()
        while isinstance(node.get("$ref"), str):
            reference: str = node["$ref"]
            if not reference.startswith("#/") or reference in seen:
                raise ContractViolation(f"the contract has an unusable reference {reference!r}")
            seen.add(reference)
            pointer = reference[1:]
            target: Any = self._document
            for token in pointer[1:].split("/"):
                target = target[token.replace("~1", "/").replace("~0", "~")]
            node = target
        return node, pointer

    def _validator(self, pointer: str) -> Draft202012Validator:
        validator = self._validators.get(pointer)
        if validator is None:
            reference = f"{_DOCUMENT_URI}#{quote(pointer, safe='/~')}"
            validator = Draft202012Validator(
                {"$ref": reference},
                registry=self._registry,
                format_checker=self._format_checker,
            )
            self._validators[pointer] = validator
        return validator

    def validate_response(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        """Raise ContractViolation unless the document allows this response."""
        label = f"{method.upper()} {path} -> {status}"

        def violation(problem: str) -> ContractViolation:
            return ContractViolation(f"{label}: {problem}\nbody: {_body_head(body)!r}")

        template = self.match_path(path)
        if template is None:
            raise violation("the path matches no path template in the contract")
        operation = self.find_operation(method, path)
        if operation is None:
            raise violation(f"{method.upper()} is not documented for {template}")
        responses = operation.definition.get("responses", {})
        status_key = next((key for key in _status_keys(status) if key in responses), None)
        if status_key is None:
            raise violation(
                f"status {status} is not documented for {method.upper()} {template} "
                f"(documented: {', '.join(sorted(responses))})"
            )
        documented, documented_pointer = self.resolve(
            responses[status_key], operation.pointer + _pointer("responses", status_key)
        )
        answer = _Answer(
            documented=documented,
            documented_pointer=documented_pointer,
            status=status,
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            violation=violation,
        )
        self._check_headers(answer)
        self._check_body(answer)

    def _check_headers(self, answer: _Answer) -> None:
        for name, raw_header in answer.documented.get("headers", {}).items():
            header, header_pointer = self.resolve(
                raw_header, answer.documented_pointer + _pointer("headers", name)
            )
            value = answer.headers.get(name.lower())
            if value is None:
                if header.get("required", False):
                    raise answer.violation(f"the required header {name} is missing")
                continue
            schema = header.get("schema")
            if isinstance(schema, Mapping) and self._header_schema_is_string(schema, header_pointer):
                errors = list(self._validator(header_pointer + "/schema").iter_errors(value))
                if errors:
                    raise answer.violation(
                        f"header {name}: {value!r} breaks its schema\n{_describe_errors(errors)}"
                    )

    def _header_schema_is_string(self, schema: Mapping[str, Any], header_pointer: str) -> bool:
        # Header values arrive as text, so only string-typed schemas can be checked verbatim.
        resolved, _ = self.resolve(schema, header_pointer + "/schema")
        return resolved.get("type") == "string"

    def _check_body(self, answer: _Answer) -> None:
        content = answer.documented.get("content")
        if answer.status == HTTPStatus.NO_CONTENT or not content:
            if answer.body:
                raise answer.violation(f"a {answer.status} response documented without content has a body")
            return
        content_type = answer.headers.get("content-type")
        if content_type is None:
            raise answer.violation("the Content-Type header is missing")
        actual = _media_type(content_type)
        documented = next((key for key in content if _media_type_matches(key, actual)), None)
        if documented is None:
            allowed = ", ".join(content)
            raise answer.violation(f"Content-Type {actual!r} is not documented (documented: {allowed})")
        if not _is_json_media_type(actual):
            return
        try:
            instance = json.loads(answer.body)
        except ValueError as error:
            raise answer.violation(f"the {actual} body is not JSON: {error}") from None
        media = content[documented]
        if not isinstance(media, Mapping) or "schema" not in media:
            return
        schema_pointer = answer.documented_pointer + _pointer("content", documented, "schema")
        errors = list(self._validator(schema_pointer).iter_errors(instance))
        if errors:
            raise answer.violation(f"the body breaks the {documented} schema\n{_describe_errors(errors)}")


@functools.cache
def load_public_contract() -> Contract:
    """The public API contract, read once from shared_contracts/."""
    with PUBLIC_CONTRACT_PATH.open(encoding="utf-8") as stream:
        document = yaml.safe_load(stream)
    if not isinstance(document, dict):
        raise ContractViolation(f"{PUBLIC_CONTRACT_PATH} does not hold an OpenAPI document")
    return Contract(document)


def assert_conforms(response: TestResponse) -> None:
    """Check a Flask/werkzeug test client response against the public contract."""
    request = response.request
    # The raw URI keeps percent-escapes, so a path segment is decoded exactly once.
    raw_uri = request.environ.get("RAW_URI") or quote(request.path)
    load_public_contract().validate_response(
        request.method,
        str(raw_uri),
        response.status_code,
        dict(response.headers.items()),
        response.get_data(),
    )


def assert_httpx_conforms(response: httpx.Response) -> None:
    """Check an httpx response from a live server against the public contract."""
    request = response.request
    load_public_contract().validate_response(
        request.method,
        request.url.raw_path.decode("ascii"),
        response.status_code,
        dict(response.headers.items()),
        response.read(),
    )
