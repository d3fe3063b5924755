"""A client of the public API that checks every response against the OpenAPI document."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient

from tests.http_client import HttpTestClient, HttpTestResponse
from tests.support.openapi import assert_conforms, assert_httpx_conforms

__all__ = ["ApiClient"]


class ApiClient:
    """A client of the public API, checking every response against the OpenAPI document.

    It drives the in-process monolith through Flask's test client, or a stack over real
    HTTP through `HttpTestClient`; tests read both kinds of response the same way.
    """

    def __init__(self, client: FlaskClient | HttpTestClient) -> None:
        self.client = client

    def request(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """Send a request and validate the response against the OpenAPI document."""
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        if isinstance(response, HttpTestResponse):
            assert_httpx_conforms(response.raw)
        else:
            assert_conforms(response)
        return response

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("GET", path, token, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("POST", path, token, **kwargs)

    def patch(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("PATCH", path, token, **kwargs)

    def delete(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        return self.request("DELETE", path, token, **kwargs)

    def sign_up(
        self, username: str, password: str = "correct-horse", display_name: str | None = None
    ) -> dict[str, Any]:
        """Create a user; returns the user document."""
        response = self.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": password,
                "display_name": display_name or username.title(),
            },
        )
        assert response.status_code == 201, response.get_data(as_text=True)
        body: dict[str, Any] = response.get_json()
        return body

    def log_in(self, username: str, password: str = "correct-horse") -> str:
        """An access token for this user."""
        response = self.post("/api/v1/tokens", json={"username": username, "password": password})
        assert response.status_code == 201, response.get_data(as_text=True)
        token: str = response.get_json()["access_token"]
        return token

    def user_with_token(self, username: str) -> str:
        """Sign up and log in; returns the token."""
        self.sign_up(username)
        return self.log_in(username)

    def upload(
        self,
        token: str,
        data: bytes,
        caption: str = "",
        visibility: str | None = None,
        filename: str = "photo.jpg",
    ) -> Any:
        """Upload `data` as a photo."""
        form: dict[str, Any] = {"file": (io.BytesIO(data), filename)}
        if caption:
            form["caption"] = caption
        if visibility is not None:
            form["visibility"] = visibility
        return self.post("/api/v1/photos", token, data=form, content_type="multipart/form-data")
