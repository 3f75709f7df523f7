"""Portal page modules: each defines `router = portal_router()` and optionally `NAV` (docs/portal.md)."""
