"""Multipart uploads that are malformed or hostile get a precise 4xx and leave no trace.

Each case was found, or is kept, by the fuzzing in test_parser_fuzzing.py; here it is
pinned, against both versions (the `api` fixture).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.images import image_bytes
from tests.security.refusals import assert_refused_without_a_trace
from tests.support.api_client import ApiClient
from tests.support.versions import StackUnderTest

JPEG = image_bytes("JPEG")
FILE_PART = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n' + JPEG + b"\r\n"


@dataclass(frozen=True)
class HostileUpload:
    """A raw multipart body, its Content-Type, and the answer it must get."""

    body: bytes
    content_type: str
    status: int
    slug: str
    detail_contains: str


HOSTILE_UPLOADS: dict[str, HostileUpload] = {
    # Found by fuzzing: werkzeug names such a part None, and sorting None among the names was a 500.
    "a part without a name": HostileUpload(
        FILE_PART + b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        400,
        "malformed-request",
        "has no name",
    ),
    "a part whose disposition is not form-data": HostileUpload(
        FILE_PART + b"--b\r\nContent-Disposition: attachment; x\r\n\r\nx\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        400,
        "malformed-request",
        "has no name",
    ),
    "no boundary parameter": HostileUpload(
        FILE_PART + b"--b--\r\n", "multipart/form-data", 400, "malformed-request", "no 'file' part"
    ),
    "a boundary that is not the body's": HostileUpload(
        FILE_PART + b"--b--\r\n",
        "multipart/form-data; boundary=c",
        400,
        "malformed-request",
        "no 'file' part",
    ),
    "an unterminated body": HostileUpload(
        FILE_PART, "multipart/form-data; boundary=b", 400, "malformed-request", "no 'file' part"
    ),
    "random bytes": HostileUpload(
        bytes(range(256)) * 4, "multipart/form-data; boundary=b", 400, "malformed-request", "no 'file' part"
    ),
    "a file part without a filename, read as text": HostileUpload(
        b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nnot a file\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
        400,
        "malformed-request",
        "no 'file' part",
    ),
    "a caption sent as a file": HostileUpload(
        FILE_PART
        + b'--b\r\nContent-Disposition: form-data; name="caption"; filename="c.txt"\r\n\r\nhi\r\n--b--\r\n',
        "multipart/form-data; boundary=b",
        422,
        "validation-failed",
        "caption: must be a text field",
    ),
    "a caption in an unknown charset": HostileUpload(
        FILE_PART
        + b'--b\r\nContent-Disposition: form-data; name="caption"\r\n'
        + b"Content-Type: text/plain; charset=x-bogus\r\n\r\n\x00\xff\r\n--b--\r\n",
        "multipart/form-data; boundary=b",
        422,
        "validation-failed",
        "caption: must not contain control characters",
    ),
    "an upload that is not multipart": HostileUpload(
        JPEG, "image/jpeg", 415, "unsupported-media-type", "multipart/form-data"
    ),
}


@pytest.mark.parametrize("case", HOSTILE_UPLOADS.values(), ids=HOSTILE_UPLOADS.keys())
def test_a_hostile_multipart_body_gets_a_precise_problem_and_stores_nothing(
    api: ApiClient, stack: StackUnderTest, case: HostileUpload
) -> None:
    token = api.user_with_token("uploader")

    response = api.post("/api/v1/photos", token, data=case.body, content_type=case.content_type)

    problem = assert_refused_without_a_trace(response, stack, status=case.status, slug=case.slug)
    assert case.detail_contains in problem["detail"], problem["detail"]
