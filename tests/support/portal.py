"""Helpers for portal tests: a browser-like client that signs in through /login and posts forms with
the CSRF token of the page it last read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from starlette.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.runtime import Runtime
from tests.support.factories import PASSWORD, make_party, make_user

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


# -- a portal over the ASGI app, with the parties and users the portal tests sign in as -----------------
PORTAL_USERS = (("fra_fp", "FRA", "focal_point"), ("nld_fp", "NLD", "focal_point"),
                ("icc_inv", "ICC", "court_investigator"), ("fra_aud", "FRA", "auditor"))


def portal_settings(database_url: str, keys_dir: Path) -> Settings:
    """Fast sealing and key reloads; TOTP off, since these tests sign in many times."""
    return Settings(database_url=database_url, keys_dir=keys_dir, keyring_poll_seconds=0.2,
                    audit_seal_interval_seconds=0.2, portal_require_totp=False)


def portal_app(runtime: Runtime, *, parties: tuple[str, ...] = ("FRA", "NLD"),
               users: tuple[tuple[str, str, str], ...] = PORTAL_USERS,
               prepare: Callable[[Runtime], None] | None = None) -> Iterator[Any]:
    """The app, with parties and the users of those parties (and the Court's) made, and prepare run,
    before it starts, running its lifespan."""
    for code in parties:
        make_party(runtime, code=code)
    for username, party, role in users:
        if party in parties or party == "ICC":
            make_user(runtime, username=username, party=party, role=role)
    if prepare:
        prepare(runtime)
    application = create_app(runtime=runtime)
    with TestClient(application, base_url="https://testserver"):
        yield application


def signed_in(app: Any, username: str) -> Iterator[Browser]:
    """A browser of its own, signed in as username."""
    with TestClient(app, base_url="https://testserver") as client:
        browser = Browser(client)
        assert browser.sign_in(username).status_code == 303
        yield browser
