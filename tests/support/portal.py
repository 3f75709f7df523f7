"""Helpers for portal tests: a browser-like client that signs in through /login and posts forms with
the CSRF token of the page it last read."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.testclient import TestClient

from tests.support.factories import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "page has no csrf_token field"
    return found.group(1)


class Browser:
    """One browser: its own cookie jar over the ASGI app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.last: httpx.Response | None = None

    def get(self, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("follow_redirects", False)
        self.last = self.client.get(path, **kw)
        return self.last

    def post(self, path: str, data: dict[str, Any] | list[tuple[str, str]], *,
             csrf: bool = True, **kw: Any) -> httpx.Response:
        """Post a form, adding the CSRF token of the last page read (unless csrf=False)."""
        items = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf:
            assert self.last is not None
            items.append(("csrf_token", csrf_of(self.last.text)))
        kw.setdefault("follow_redirects", False)
        fields: dict[str, list[str]] = {}
        for name, value in items:
            fields.setdefault(name, []).extend(value if isinstance(value, list) else [value])
        self.last = self.client.post(path, data=fields, **kw)
        return self.last

    def sign_in(self, username: str, password: str = PASSWORD, otp: str | None = None,
                next_path: str = "") -> httpx.Response:
        self.get("/login")
        form = {"username": username, "password": password, "otp": otp or "", "next": next_path}
        return self.post("/login", form)

    @property
    def session_cookie(self) -> str | None:
        return self.client.cookies.get("__Host-arx_session")
