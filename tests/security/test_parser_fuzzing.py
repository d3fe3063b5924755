"""Hypothesis fuzzes the JSON and multipart parsers of both versions.

Random bytes, random boundaries, random part headers and random JSON-ish text go to every
operation that parses a body. Whatever arrives, the answer is never a 5xx, every 4xx is a
problem document of a known type, and a refused upload leaves no row and no object.

The budget is SNAPPY_FUZZ_EXAMPLES examples per test (100 by default) from a fixed seed, so
a run reproduces; SNAPPY_FUZZ_RANDOM=1 draws fresh inputs each run (Hypothesis prints the
seed of a failure, to replay with --hypothesis-seed). See "Hostile input" in docs/security.md.
"""

from __future__ import annotations

import io
import json
import os
import string
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from snappy_monolith.api.requests import parse_json_object as monolith_parse_json_object
from snappy_monolith.errors import MalformedRequest as MonolithMalformedRequest
from snappy_plumbing.errors import MalformedRequest as PlumbingMalformedRequest
from snappy_plumbing.request_parsing import parse_json_object as plumbing_parse_json_object
from tests.images import image_bytes
from tests.support.api_client import ApiClient
from tests.support.versions import StackUnderTest

PROBLEMS = "https://snappy.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
FUZZ_EXAMPLES = int(os.environ.get("SNAPPY_FUZZ_EXAMPLES", "100"))
FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=os.environ.get("SNAPPY_FUZZ_RANDOM") != "1",
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# The pure parsers are cheap: ten times the budget of the tests that go through a server.
PARSER_SETTINGS = settings(FUZZ_SETTINGS, max_examples=FUZZ_EXAMPLES * 10)
FIELD_NAMES = ("username", "password", "display_name", "caption", "visibility", "file")


def assert_handled(response: Any) -> None:
    """Not a server error; a client error is a problem document of a known type."""
    status = response.status_code
    assert status < 500, response.get_data(as_text=True)
    # Seen with --hypothesis-show-statistics: how often the fuzzing got past each check.
    event(f"{status} {response.get_json()['type'].removeprefix(PROBLEMS) if status >= 400 else ''}".strip())
    if status >= 400:
        assert response.mimetype == PROBLEM_MEDIA_TYPE
        problem = response.get_json()
        assert problem["status"] == status
        assert problem["type"].startswith(PROBLEMS)
        assert isinstance(problem["detail"], str)


# JSON-ish text: pieces of JSON syntax, escapes (surrogates included) and stray characters,
# glued together; real JSON with repeated keys; and plain random bytes.
JSON_PIECES = st.sampled_from([
    "{", "}", "[", "]", ",", ":", '"', "\\", " ", "\n", "0", "-1", "1e999", "1.5", "9" * 30,
    "true", "false", "null", "NaN", "Infinity", "-Infinity", '"username"', '"password"',
    '"display_name"', '"caption"', '"visibility"', '"public"', '"alice"', "\\u0000", "\\ud800",
    "\\udc00", "\\ud83d\\udcf7", "\\u", "\\x", "\xe9", "\u202e", "\ufeff", "\x00",
])  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(FIELD_NAMES), children),
    max_leaves=12,
)


@st.composite
def object_with_repeated_key(draw: st.DrawFn) -> bytes:
    """A JSON object whose members (drawn from the API's field names) may repeat a key."""
    members = draw(st.lists(st.tuples(st.sampled_from(FIELD_NAMES), JSON_VALUES), max_size=5))
    return ("{" + ",".join(f"{json.dumps(key)}:{json.dumps(value)}" for key, value in members) + "}").encode()


JSONISH_BODIES = st.one_of(
    st.lists(JSON_PIECES, max_size=40).map(lambda pieces: "".join(pieces).encode("utf-8", "surrogatepass")),
    st.builds(lambda value: json.dumps(value).encode(), JSON_VALUES),
    object_with_repeated_key(),
    st.binary(max_size=200),
)
JSON_CONTENT_TYPES = st.sampled_from([
    "application/json", "application/json", "application/json", "application/json; charset=utf-8",
    "application/json; charset=latin-1", "application/json; charset=", "text/json", "text/plain",
    "application/x-www-form-urlencoded", "multipart/form-data", "application/json;;;",
    "application/*", "",
])  # fmt: skip


def test_the_json_parsers_of_both_versions_agree_and_fail_only_as_malformed_requests() -> None:
    @PARSER_SETTINGS
    @given(body=JSONISH_BODIES)
    def parse_in_both(body: bytes) -> None:
        outcomes: list[tuple[str, object]] = []
        for parse, malformed in (
            (monolith_parse_json_object, MonolithMalformedRequest),
            (plumbing_parse_json_object, PlumbingMalformedRequest),
        ):
            try:
                outcomes.append(("parsed", parse(body)))
            except malformed as error:
                outcomes.append(("malformed", error.detail))
        # Same problem, same detail: the versions parse JSON identically.
        assert outcomes[0] == outcomes[1]

    parse_in_both()


@dataclass(frozen=True)
class JsonOperation:
    """An operation that parses a JSON body."""

    method: str
    path: str
    needs_token: bool


def test_no_json_body_fails_the_server(api: ApiClient) -> None:
    token = api.user_with_token("fuzzer")
    upload = api.upload(token, image_bytes("PNG"), filename="a.png")
    assert upload.status_code == 201
    photo_id = upload.get_json()["id"]
    operations = [
        JsonOperation("POST", "/api/v1/users", needs_token=False),
        JsonOperation("POST", "/api/v1/tokens", needs_token=False),
        JsonOperation("PATCH", f"/api/v1/photos/{photo_id}", needs_token=True),
        JsonOperation("POST", f"/api/v1/photos/{photo_id}/shares", needs_token=True),
    ]

    @FUZZ_SETTINGS
    @given(operation=st.sampled_from(operations), body=JSONISH_BODIES, content_type=JSON_CONTENT_TYPES)
    def send(operation: JsonOperation, body: bytes, content_type: str) -> None:
        response = api.request(
            operation.method,
            operation.path,
            token if operation.needs_token else None,
            data=body,
            content_type=content_type,
        )
        assert_handled(response)

    send()


def small_image(fmt: str, mode: str) -> bytes:
    """A 7x5 image, to keep uploads cheap."""
    buffer = io.BytesIO()
    Image.new(mode, (7, 5)).save(buffer, format=fmt)
    return buffer.getvalue()


IMAGES = [small_image("JPEG", "RGB"), small_image("PNG", "P"), small_image("WEBP", "RGBA")]
# What RFC 2046 allows in a boundary, plus characters it does not.
BOUNDARY_CHARACTERS = string.ascii_letters + string.digits + "'()+_,-./:=? " + '"\\;%'
HEADER_CHARACTERS = "".join(chr(code) for code in range(0x20, 0x7F))
PART_BODIES = st.one_of(
    st.sampled_from(IMAGES),
    st.sampled_from(IMAGES).map(lambda image: image[: len(image) // 2]),
    st.binary(max_size=300),
    st.text(max_size=60).map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"", b"public", b"private", b"--", b"\r\n--\r\n", "caf\xe9".encode("latin-1")]),
)
PART_NAMES = st.sampled_from(FIELD_NAMES) | st.text(HEADER_CHARACTERS, max_size=12)
HEADER_TEXT = st.text(HEADER_CHARACTERS, max_size=40)


@st.composite
def part_headers(draw: st.DrawFn) -> list[str]:
    """A part's header lines: a usual Content-Disposition, a mangled one, or random lines."""
    name = draw(PART_NAMES)
    disposition = draw(
        st.sampled_from([
            f'Content-Disposition: form-data; name="{name}"',
            f'Content-Disposition: form-data; name="{name}"; filename="{draw(HEADER_TEXT)}"',
            f"Content-Disposition: form-data; name={name}; filename*=UTF-8''%E2%82%AC{draw(HEADER_TEXT)}",
            f"Content-Disposition: attachment; {draw(HEADER_TEXT)}",
            f"Content-Disposition: {draw(HEADER_TEXT)}",
            "Content-Disposition: form-data",
            draw(HEADER_TEXT),
        ])
    )  # fmt: skip
    headers = [disposition]
    if draw(st.booleans()):
        headers.append(
            "Content-Type: "
            + draw(
                st.sampled_from(
                    ["image/jpeg", "image/png", "text/plain; charset=utf-16", "text/plain; charset=x"]
                )
                | HEADER_TEXT
            )
        )
    headers += draw(st.lists(HEADER_TEXT, max_size=2))
    return headers


@dataclass(frozen=True)
class MultipartRequest:
    """A raw body and the Content-Type it is sent with."""

    body: bytes
    content_type: str


@st.composite
def multipart_requests(draw: st.DrawFn) -> MultipartRequest:
    """A multipart body more or less well formed, with a boundary that may not match its header.

    Most bodies carry a well-formed file part among the random ones, so that the fuzzing gets
    past "no file part" to the field rules and the image decoder.
    """
    plain_boundary_characters = string.ascii_letters + string.digits + "-_"
    alphabet = draw(st.sampled_from([plain_boundary_characters] * 3 + [BOUNDARY_CHARACTERS]))
    boundary = draw(st.text(alphabet, min_size=1, max_size=72))
    declared = draw(st.sampled_from(["same"] * 5 + ["quoted", "other", "missing"]))
    header_boundary = {
        "same": boundary,
        "quoted": f'"{boundary}"',
        "other": draw(st.text(BOUNDARY_CHARACTERS, max_size=72)),
        "missing": None,
    }[declared]
    content_type = "multipart/form-data" + (
        f"; boundary={header_boundary}" if header_boundary is not None else ""
    )
    if draw(st.integers(0, 9)) == 0:
        return MultipartRequest(draw(st.binary(max_size=400)), content_type)
    parts = [(headers, draw(PART_BODIES)) for headers in draw(st.lists(part_headers(), max_size=3))]
    if draw(st.integers(0, 3)) > 0:
        file_part = (['Content-Disposition: form-data; name="file"; filename="photo.jpg"'], draw(PART_BODIES))
        parts.insert(draw(st.integers(0, len(parts))), file_part)
    newline = draw(st.sampled_from([b"\r\n"] * 4 + [b"\n"]))
    delimiter = b"--" + boundary.encode()
    body = draw(st.sampled_from([b"", b"preamble" + newline]))
    for headers, content in parts:
        body += delimiter + newline + newline.join(line.encode() for line in headers) + newline + newline
        body += content + newline
    closing = [delimiter + b"--" + newline] * 4 + [delimiter + b"--", delimiter, b""]
    body += draw(st.sampled_from(closing))
    return MultipartRequest(body, content_type)


def test_no_multipart_body_fails_the_server_or_leaves_a_trace(api: ApiClient, stack: StackUnderTest) -> None:
    token = api.user_with_token("fuzzer")
    stored = {"photos": 0}

    @FUZZ_SETTINGS
    @given(request=multipart_requests())
    def upload(request: MultipartRequest) -> None:
        response = api.post("/api/v1/photos", token, data=request.body, content_type=request.content_type)
        assert_handled(response)
        if response.status_code == 201:
            stored["photos"] += 1
        # A photo is one row and two objects (the image and its thumbnail); a refusal adds neither.
        assert stack.photo_count() == stored["photos"]
        assert len(stack.object_keys()) == 2 * stored["photos"]

    upload()
