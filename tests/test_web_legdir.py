"""Legislation and directory pages through the ASGI app: search with inflections, profile and history,
compare, freshness, the edit form (errors beside fields, a revision appended), the directory, the add
form and the confirmation page — in English and French, with the API's access rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.legislation.service import import_profiles, parse_import
from app.runtime import Runtime
from tests.support.factories import ADMIN, make_party
from tests.support.portal import Browser, portal_app, portal_settings

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "legislation-sample.json"


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return portal_settings(database_url, keys_dir)


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Any]:
    yield from portal_app(runtime, parties=('FRA', 'NLD', 'DEU', 'BEL'), prepare=load_sample_profiles)


def load_sample_profiles(runtime: Runtime) -> None:
    with runtime.db.unit_of_work() as session:
        import_profiles(session, runtime, ADMIN,
                        parse_import(json.loads(SAMPLE.read_text(encoding="utf-8"))))




class TestLegislationPages:
    def test_search_finds_inflected_forms_in_both_languages(self, icc: Browser) -> None:
        page = icc.get("/legislation?q=frozen")
        assert page.status_code == 200
        assert "/legislation/DEU" in page.text and "/legislation/NLD" in page.text
        assert "/legislation/FRA" not in page.text
        french = icc.get("/legislation?q=gel%C3%A9&lang=fr")
        assert '<html lang="fr"' in french.text and "Législations nationales" in french.text
        assert "/legislation/FRA" in french.text and "/legislation/NLD" not in french.text

    def test_filters_and_bad_filters(self, icc: Browser) -> None:
        page = icc.get("/legislation?measure=interim_measures_at_court_request&language=fr")
        assert "/legislation/FRA" in page.text and "/legislation/NLD" not in page.text
        assert icc.get("/legislation?measure=teleportation").status_code == 422

    def test_profile_with_history_and_compare(self, icc: Browser) -> None:
        page = icc.get("/legislation/NLD")
        assert page.status_code == 200 and "Sample Act, section 3" in page.text
        assert "/legislation/NLD/edit" not in page.text  # not its State
        compare = icc.get("/legislation/compare?party=NLD&party=FRA")
        assert compare.status_code == 200 and "Sample Act, section 3" in compare.text
        assert "Article d&#39;exemple 4" in compare.text
        assert icc.get("/legislation/compare?party=NLD").status_code == 422
        assert icc.get("/legislation/ZZZ").status_code == 404

    def test_freshness_lists_states_without_or_with_old_profiles(self, app: Any,
                                                                 icc: Browser) -> None:
        runtime: Runtime = app.state.runtime
        make_party(runtime, code="ITA")
        real = runtime.clock
        runtime.clock = lambda: real() + timedelta(days=400)
        page = icc.get("/legislation/freshness")
        runtime.clock = real
        assert "ITA" in page.text and "No profile" in page.text and "Out of date" in page.text

    def test_edit_appends_a_revision_and_errors_stand_beside_fields(self, fra: Browser,
                                                                     icc: Browser) -> None:
        form = fra.get("/legislation/FRA/edit")
        assert form.status_code == 200 and 'value="fr"' in form.text
        values = _inputs(form.text)
        values["time_limits"] = "Exemple : quinze jours."
        values["inst0_url"] = "javascript:alert(1)"
        bad = fra.post("/legislation/FRA/edit", values)
        assert bad.status_code == 422 and 'id="inst0_url-error"' in bad.text
        values["inst0_url"] = "https://example.org/exemple/loi-2002-1"
        saved = fra.post("/legislation/FRA/edit", values)
        assert saved.status_code == 303 and saved.headers["location"] == "/legislation/FRA"
        page = fra.get("/legislation/FRA")
        assert "Revision 2" in page.text and "quinze jours" in page.text
        assert icc.get("/legislation/FRA/edit").status_code == 403


class TestDirectoryPages:
    def test_add_list_and_confirm(self, app: Any, fra: Browser, icc: Browser) -> None:
        fra.get("/directory/new")
        created = fra.post("/directory/new", [
            ("name", "Claire Exemple"), ("function", "Head of office"), ("areas", "asset_recovery"),
            ("areas", "general"), ("languages", "fr, en"), ("email", "claire@example.org"),
            ("phone", "+33 1 23 45 67 89"), ("time_zone", "Europe/Paris"),
            ("availability", "24/7"), ("unit", ""), ("deputy_of", "")])
        assert created.status_code == 303, created.text
        listing = icc.get("/directory?party=FRA&lang=fr")
        assert "Claire Exemple" in listing.text and "Annuaire des points focaux" in listing.text
        assert "/edit" not in listing.text  # the Court maintains no party's contacts
        runtime: Runtime = app.state.runtime
        real = runtime.clock
        runtime.clock = lambda: real() + timedelta(days=200)
        try:
            stale = fra.get("/directory/stale")
            assert "Claire Exemple" in stale.text
            contact_id = stale.text.split('action="/directory/', 1)[1].split("/", 1)[0]
            assert fra.post(f"/directory/{contact_id}/confirm", {}).status_code == 303
            assert "Claire Exemple" not in fra.get("/directory/stale").text
        finally:
            runtime.clock = real

    def test_bad_input_stays_in_the_form(self, fra: Browser) -> None:
        fra.get("/directory/new")
        page = fra.post("/directory/new", {"name": "Claire Exemple", "function": "Head",
                                           "languages": "fr", "email": "not-an-email",
                                           "availability": "office_hours"})
        assert page.status_code == 422
        assert 'id="email-error"' in page.text and 'id="areas-error"' in page.text
        assert 'value="Claire Exemple"' in page.text

    def test_other_parties_and_the_court_may_not_write(self, icc: Browser) -> None:
        assert icc.get("/directory/new").status_code == 403


def _inputs(html: str) -> dict[str, str]:
    """The form's current values: inputs, selected options and textareas."""
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input type="[a-z]+" id="[^"]+" name="([^"]+)" value="([^"]*)"',
                                  html):
        values[name] = value.replace("&#39;", "'").replace("&amp;", "&")
    for name, body in re.findall(r'<select id="[^"]+" name="([^"]+)"[^>]*>(.*?)</select>', html, re.DOTALL):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        values[name] = chosen.group(1) if chosen else ""
    for name, text in re.findall(r'<textarea id="[^"]+" name="([^"]+)"[^>]*>(.*?)</textarea>', html,
                                 re.DOTALL):
        values[name] = text.replace("&#39;", "'").replace("&amp;", "&")
    values.pop("csrf_token", None)
    return values
