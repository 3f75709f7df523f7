"""Jinja2 rendering: one environment per language (gettext installed), the layout's context, and the
security headers of every portal page."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.web.i18n import Formatter, direction, translations

TEMPLATES = Path(__file__).parent / "templates"
# Strict CSP: our own CSS and JS only, nothing inline, no framing, forms post only to us.
PORTAL_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
              "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass(frozen=True)
class NavItem:
    """An entry of the navigation bar; a page module lists its own in `NAV`."""

    path: str
    label: str  # an English msgid, translated when rendered (mark it with N_)
    order: int = 100
    # Shown to whom: a predicate of app/policy.py (never a rule of its own); None: every signed-in user.
    when: Callable[[Any], bool] | None = None


NAV: list[NavItem] = []


def N_(message: str) -> str:
    """Mark a message for extraction without translating it now (pybabel: -k N_)."""
    return message


ROLE_LABELS = {"focal_point": N_("Focal point"), "court_investigator": N_("Court investigator"),
               "auditor": N_("Auditor"), "admin": N_("Administrator")}
# TLP 2.0 (FIRST): what each label allows.
TLP_TEXTS = {
    "CLEAR": N_("Recipients may share this freely, subject to copyright."),
    "GREEN": N_("Limited disclosure: recipients may share this within their community."),
    "AMBER": N_("Limited disclosure: recipients may share this within their organisation and its "
                "clients, on a need-to-know basis."),
    "AMBER+STRICT": N_("Limited disclosure: recipients may share this only within their "
                       "organisation."),
    "RED": N_("For the eyes and ears of individual recipients only, no further disclosure."),
}


@lru_cache
def environment(lang: str) -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, extensions=["jinja2.ext.i18n"],
                      trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    gettext = translations(lang).gettext
    env.globals.update(role_labels=ROLE_LABELS, tlp_texts=TLP_TEXTS,
                       labelled=lambda mapping: [(k, gettext(v)) for k, v in mapping.items()])
    fmt = Formatter(lang)
    env.filters.update(date=fmt.date, datetime=fmt.datetime, number=fmt.number,
                       percent=fmt.percent, money=fmt.money)
    return env


def gettext_for(request: Request) -> Any:
    return translations(language(request)).gettext


def language(request: Request) -> str:
    return getattr(request.state, "lang", "en")


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    """A page in the request's language, inside the layout."""
    lang = language(request)
    portal = getattr(request.state, "portal", None)
    principal = portal.principal if portal else None
    path = request.url.path
    matching = [i.path for i in NAV if path == i.path or path.startswith(i.path.rstrip("/") + "/")]
    base = {
        "request": request, "lang": lang, "dir": getattr(request.state, "dir", None) or direction(lang),
        "principal": principal, "csrf_token": portal.csrf_token if portal else "",
        "nav": [item for item in sorted(NAV, key=lambda i: (i.order, i.path))
                if principal is not None and (item.when is None or item.when(principal))],
        "path": path, "restricted": bool(portal and portal.restricted),
        "unread_notifications": portal.unread if portal else 0,
        # The one entry the page belongs to: the longest matching path (/notices/new, not /notices).
        "current_nav": max(matching, key=len) if matching else None,
    }
    html = environment(lang).get_template(template).render({**base, **(context or {})})
    response = HTMLResponse(html, status_code=status, headers=headers)
    response.headers["content-security-policy"] = PORTAL_CSP
    response.headers["content-language"] = lang
    response.headers["vary"] = "Cookie, Accept-Language"
    return response
