"""Schemathesis hooks for fuzzing the public API against each version under gunicorn.

Loaded by the Schemathesis CLI through the SCHEMATHESIS_HOOKS environment variable. Each hook
narrows what the run sends or reports in one named way, for a reason the contract itself
cannot express:

- Uploads carry real images. The contract says that `file` is JPEG, PNG or WebP but cannot say
  that the bytes must decode, so without these strategies every positive upload would be
  random bytes answered with 415.
- Requests whose request line is longer than gunicorn accepts are not sent: gunicorn answers
  them itself with an HTML 414 before the application runs, so they would test the server in
  front of the application rather than the application.
- An upload that Schemathesis generated as invalid but that reaches the server as a valid
  form is not "invalid data accepted": multipart has no way to send an empty list, a null or
  a one-item list other than as an absent field or a single part.
- A 404 user-not-found from sharing a just-uploaded photo is not "created resource not found":
  it names the user in the request body, while the photo exists.
- A 422 that refuses only `display_name` on sign-up is not "valid data rejected" when the
  PRECIS Nickname profile (RFC 8266) refuses the name: the document states that rule, but a
  JSON Schema pattern cannot express it (unassigned code points, NFKC, blank after trimming).
- A 422 idempotency-key-reused on an upload is not "valid data rejected": the generator reuses
  an `Idempotency-Key` value for a different upload, which the document says is refused. Which
  key was used before is state no schema can express.
"""

from __future__ import annotations

import functools
import io
import random
from collections.abc import Mapping
from typing import Any

import requests
import schemathesis
import yaml
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from PIL import Image
from precis_i18n import get_profile
from schemathesis import Case, HookContext, Response
from schemathesis.core.failures import AcceptedNegativeData, Failure
from schemathesis.openapi.checks import EnsureResourceAvailability, RejectedPositiveData
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from snappy_monolith import gunicorn_conf
from tests.support.openapi import PUBLIC_CONTRACT_PATH

__all__ = [
    "IMAGE_MEDIA_TYPES",
    "fits_in_gunicorn_request_line",
    "image_bytes",
    "is_problem_of_type",
    "is_refused_display_name",
    "is_valid_upload_as_sent",
]

# Media type -> Pillow format, and the pixel modes worth covering for each: the thumbnailer
# treats palette, greyscale and alpha images differently from plain RGB.
IMAGE_MEDIA_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "image/jpeg": ("JPEG", ("RGB", "L", "CMYK")),
    "image/png": ("PNG", ("RGB", "RGBA", "L", "LA", "P", "1")),
    "image/webp": ("WEBP", ("RGB", "RGBA")),
}
MAX_SIDE = 96
# gunicorn's default `limit_request_line`: the bytes it takes in `METHOD SP request-target SP
# HTTP-version`. The deployed configuration keeps it unless it sets its own.
GUNICORN_DEFAULT_LIMIT_REQUEST_LINE = 4094
MAX_REQUEST_LINE = int(getattr(gunicorn_conf, "limit_request_line", GUNICORN_DEFAULT_LIMIT_REQUEST_LINE))
UPLOAD_OPERATION = "uploadPhoto"
SHARE_OPERATION = "createShare"
CREATE_USER_OPERATION = "createUser"
VALIDATION_FAILED = "https://snappy.example/problems/validation-failed"
DISPLAY_NAME_MAX_LENGTH = 64
USER_NOT_FOUND = "https://snappy.example/problems/user-not-found"
IDEMPOTENCY_KEY_REUSED = "https://snappy.example/problems/idempotency-key-reused"


@st.composite
def image_bytes(draw: st.DrawFn, media_type: str) -> bytes:
    """A small, valid image of `media_type` with random size, pixel mode and noise."""
    pillow_format, modes = IMAGE_MEDIA_TYPES[media_type]
    mode = draw(st.sampled_from(modes))
    size = (draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE)))
    # Pixels come from a seeded generator: drawing them from Hypothesis would overflow its buffer.
    noise = random.Random(draw(st.integers(0, 2**32 - 1)))
    image = Image.new(mode, size)
    image.frombytes(noise.randbytes(len(image.tobytes())))
    buffer = io.BytesIO()
    image.save(buffer, format=pillow_format)
    return buffer.getvalue()


for _media_type in IMAGE_MEDIA_TYPES:
    schemathesis.openapi.media_type(_media_type, image_bytes(_media_type))


@schemathesis.hook
def filter_case(context: HookContext, case: Case[Any]) -> bool:
    """Send only requests that gunicorn hands to the application."""
    return fits_in_gunicorn_request_line(case)


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case[Any], response: Response) -> bool:
    """Keep every failure but the misreadings described in the module docstring."""
    operation_id = case.operation.definition.raw.get("operationId")
    if isinstance(failure, AcceptedNegativeData) and operation_id == UPLOAD_OPERATION:
        return not is_valid_upload_as_sent(response.request)
    if isinstance(failure, EnsureResourceAvailability) and operation_id == SHARE_OPERATION:
        return not is_problem_of_type(response, USER_NOT_FOUND)
    if isinstance(failure, RejectedPositiveData) and operation_id == UPLOAD_OPERATION:
        return not is_problem_of_type(response, IDEMPOTENCY_KEY_REUSED)
    if isinstance(failure, RejectedPositiveData) and operation_id == CREATE_USER_OPERATION:
        return not is_refused_display_name(case, response)
    return True


def fits_in_gunicorn_request_line(case: Case[Any]) -> bool:
    """True when the request line of `case` is within gunicorn's `limit_request_line`."""
    kwargs = case.as_transport_kwargs(base_url="http://server.invalid")
    prepared = requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params")).prepare()
    request_line = f"{prepared.method} {prepared.path_url} HTTP/1.1"
    return len(request_line.encode()) <= MAX_REQUEST_LINE


def is_valid_upload_as_sent(request: requests.PreparedRequest) -> bool:
    """True when the multipart body sent is a valid PhotoUpload, read as the server reads it.

    Exactly one `file` part; `caption` and `visibility` at most once each, as text, and valid
    by the document's own schemas; no other parts.
    """
    body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
    content_type = request.headers.get("Content-Type", "")
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    form = Request(EnvironBuilder(method="POST", data=body, content_type=content_type).get_environ())
    fields, files = form.form, form.files
    text_schemas = _upload_text_field_schemas()
    if not set(fields) | set(files) <= {"file", *text_schemas}:
        return False
    if len(files.getlist("file")) != 1 or "file" in fields:
        return False
    for name, schema in text_schemas.items():
        values = fields.getlist(name)
        if name in files or len(values) > 1:
            return False
        if values and not Draft202012Validator(schema).is_valid(values[0]):
            return False
    return True


def is_problem_of_type(response: Response, problem_type: str) -> bool:
    """True for a problem document of type `problem_type`."""
    try:
        document = response.json()
    except ValueError:
        return False
    return isinstance(document, Mapping) and document.get("type") == problem_type


def is_refused_display_name(case: Case[Any], response: Response) -> bool:
    """True for a 422 naming `display_name` alone, for a name PRECIS Nickname refuses."""
    body = case.body if isinstance(case.body, Mapping) else {}
    display_name = body.get("display_name")
    if response.status_code != 422 or not isinstance(display_name, str):
        return False
    try:
        document = response.json()
    except ValueError:
        return False
    if not isinstance(document, Mapping) or document.get("type") != VALIDATION_FAILED:
        return False
    if [error.get("field") for error in document.get("errors", [])] != ["display_name"]:
        return False
    try:
        enforced = get_profile("NicknameCasePreserved").enforce(display_name)
    except UnicodeEncodeError:
        return True
    return len(enforced) > DISPLAY_NAME_MAX_LENGTH


@functools.cache
def _upload_text_field_schemas() -> dict[str, Any]:
    document = yaml.safe_load(PUBLIC_CONTRACT_PATH.read_text())
    schemas = document["components"]["schemas"]
    return {"caption": schemas["Caption"], "visibility": schemas["Visibility"]}
