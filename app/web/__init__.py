"""The portal: server-rendered pages for people in a browser, a third entry point beside the API and
the CLI, calling the same services (see docs/portal.md for how a feature adds its pages)."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.db import utcnow
from app.web import pages
from app.web.render import NAV

STATIC = Path(__file__).parent / "static"


def install_portal(app: FastAPI) -> None:
    """Mount the static files and every page module of app/web/pages (each brings its own router and
    navigation entries, so adding a feature's pages touches no shared file)."""
    app.state.portal_clock = utcnow
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    NAV.clear()
    for module_info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{pages.__name__}.{module_info.name}")
        app.include_router(module.router)
        NAV.extend(getattr(module, "NAV", []))
