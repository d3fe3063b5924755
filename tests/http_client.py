"""An HTTP client with the Flask test client's interface, so one test suite runs over both.

The API tests are written against `FlaskClient.open(...)` and Werkzeug's `TestResponse`.
`HttpTestClient` speaks the same dialect (the `json=`, `data=`, `content_type=` and
`headers=` keywords; `status_code`, `headers`, `mimetype`, `get_json()`, `get_data()`)
over real HTTP, so the same tests drive a stack running behind its edge.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx

__all__ = ["HttpTestClient", "HttpTestResponse"]


class HttpTestResponse:
    """An httpx response, read like a Werkzeug test response."""

    def __init__(self, raw: httpx.Response) -> None:
        self.raw = raw
        self.status_code = raw.status_code
        self.headers = raw.headers

    @property
    def mimetype(self) -> str:
        """The media type without parameters."""
        content_type: str = self.headers.get("Content-Type", "")
        return content_type.split(";", 1)[0].strip()

    def get_data(self, as_text: bool = False) -> Any:
        """The body, as bytes or text."""
        return self.raw.text if as_text else self.raw.content

    def get_json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.raw.content)


class HttpTestClient:
    """Sends requests to `base_url` with the Flask test client's keywords."""

    def __init__(self, base_url: str) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)

    def open(self, path: str, method: str = "GET", **kwargs: Any) -> HttpTestResponse:
        """Send one request."""
        headers = dict(kwargs.pop("headers", None) or {})
        content_type = kwargs.pop("content_type", None)
        content: bytes | None = None
        if "json" in kwargs:
            content = json.dumps(kwargs.pop("json")).encode()
            headers["Content-Type"] = "application/json"
        elif isinstance(kwargs.get("data"), dict):
            content, headers["Content-Type"] = _multipart(kwargs.pop("data"))
        elif "data" in kwargs:
            data = kwargs.pop("data")
            content = data.encode() if isinstance(data, str) else data
            if content_type is not None:
                headers["Content-Type"] = content_type
        if kwargs:
            raise TypeError(f"unsupported keywords: {sorted(kwargs)}")
        return HttpTestResponse(self._http.request(method, path, headers=headers, content=content))

    def get(self, path: str, **kwargs: Any) -> HttpTestResponse:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, **kwargs: Any) -> HttpTestResponse:
        return self.open(path, "POST", **kwargs)

    def put(self, path: str, **kwargs: Any) -> HttpTestResponse:
        return self.open(path, "PUT", **kwargs)

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()


def _multipart(form: dict[str, Any]) -> tuple[bytes, str]:
    """Encode a test-client form (`(BytesIO, filename)` tuples are files) as multipart."""
    boundary = "snappy-test-boundary-7d41"
    body = io.BytesIO()
    for name, value in form.items():
        body.write(f"--{boundary}\r\n".encode())
        if isinstance(value, tuple):
            stream, filename = value
            body.write(
                f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n".encode()
            )
            body.write(stream.getvalue())
        else:
            body.write(f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
            body.write(str(value).encode())
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"
