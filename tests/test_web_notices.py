"""Notice pages through the ASGI app: the post form (several subjects and assets without JavaScript,
errors beside their fields with the input kept), the notice page, revisions and conflicts, the 404
page, suspect search, the reference pages, French formatting."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.notices.models import Notice
from app.runtime import Runtime
from tests.support.portal import Browser, portal_app, portal_settings, signed_in

ABSENT = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return portal_settings(database_url, keys_dir)


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Any]:
    yield from portal_app(runtime)





def notice_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "action": "save", "subject_rows": "2", "asset_rows": "1", "kind": "frozen_asset",
        "title": "Accounts frozen under order 2026/114", "tlp": "AMBER", "recipients": ["ICC"],
        "paris_paragraphs": ["13"], "reference": "PNF-2026-114",
        "subjects-0-name": "Viktor Yanukovych", "subjects-0-birth_date": "1950-07-09",
        "subjects-0-nationality": "UKR", "subjects-0-identifiers-0-scheme": "passport",
        "subjects-0-identifiers-0-value": "EK123456",
        "subjects-1-name": "Jean-Pierre Exemple", "subjects-1-aliases": "J.P. Exemple; JP",
        "assets-0-type": "bank_account", "assets-0-identifier": "CH9300762011623852957",
        "assets-0-amount": "1250000.00", "assets-0-currency": "EUR", "assets-0-status": "frozen",
        "assets-0-status_date": "2026-10-02", "assets-0-jurisdiction": "CHE",
    }
    form.update(overrides)
    return form


def post(b: Browser, **overrides: Any) -> str:
    b.get("/notices/new")
    response = b.post("/notices/new", notice_form(**overrides))
    assert response.status_code == 303, re.findall(r'field-error[^>]*>(.*?)</p>', response.text)
    return response.headers["location"].split("/")[2].split("?")[0]


def notices(runtime: Runtime) -> int:
    with runtime.db.unit_of_work() as session:
        return session.scalar(select(func.count()).select_from(Notice)) or 0


def main_of(html: str) -> str:
    return html.split('<main id="main" tabindex="-1">')[1].split("</main>")[0]


class TestPostForm:
    def test_add_row_buttons_work_without_javascript(self, fra: Browser, runtime: Runtime) -> None:
        page = fra.get("/notices/new")
        assert page.text.count('class="subject"') == 1
        again = fra.post("/notices/new", {"action": "add_subject", "subject_rows": "1",
                                          "asset_rows": "1", "title": "kept",
                                          "subjects-0-name": "First Person"})
        assert again.status_code == 200 and notices(runtime) == 0
        assert again.text.count('class="subject"') == 2
        assert 'value="kept"' in again.text and 'value="First Person"' in again.text
        more = fra.post("/notices/new", {"action": "add_asset", "subject_rows": "2",
                                         "asset_rows": "1"})
        assert more.text.count('class="asset"') == 2
        ids = fra.post("/notices/new", {"action": "add_identifier-0", "subject_rows": "1",
                                        "asset_rows": "1"})
        assert 'id="subjects-0-identifiers-2-value"' in ids.text

    def test_two_subjects_and_an_asset_are_posted_and_shown(self, fra: Browser) -> None:
        notice_id = post(fra)
        page = fra.get(f"/notices/{notice_id}?saved=1")
        assert page.status_code == 200
        body = main_of(page.text)
        assert "<bdi>Viktor Yanukovych</bdi>" in body and "<bdi>Jean-Pierre Exemple</bdi>" in body
        assert "<bdi>J.P. Exemple</bdi>" in body and "Passport: <bdi>EK123456</bdi>" in body
        assert "€1,250,000.00" in body and "Frozen" in body and "Oct 2, 2026" in body
        assert 'class="tlp tlp-amber"' in body and "TLP:AMBER" in body
        assert "Paragraph 13" in body
        assert "revision 1" in body  # the saved message

    def test_a_wrong_field_shows_its_error_beside_it_and_keeps_the_input(
            self, fra: Browser, runtime: Runtime) -> None:
        fra.get("/notices/new")
        response = fra.post("/notices/new", notice_form(**{"subjects-1-nationality": "XXX",
                                                           "assets-0-currency": "EURO",
                                                           "title": ""}))
        assert response.status_code == 422 and notices(runtime) == 0
        errors = dict(re.findall(r'<p class="field-error" id="([^"]+)-error">.*?</span> (.*?)</p>',
                                 response.text))
        assert errors == {"title": "Enter a value.",
                          "subjects-1-nationality":
                              "Enter an ISO 3166-1 alpha-3 country code, such as FRA.",
                          "assets-0-currency": "This is too long."}
        assert re.search(r'id="subjects-1-nationality" name="subjects-1-nationality" value="XXX"[^>]*'
                         r'aria-describedby="subjects-1-nationality-hint subjects-1-nationality-error"'
                         r' aria-invalid="true"', response.text)
        assert 'value="Viktor Yanukovych"' in response.text  # every other value kept
        assert 'role="alert"' in response.text and 'href="#subjects-1-nationality"' in response.text

    def test_a_service_refusal_lands_on_its_field(self, fra: Browser, runtime: Runtime) -> None:
        fra.get("/notices/new")
        response = fra.post("/notices/new", notice_form(recipients=["ZZZ"]))
        assert response.status_code == 422 and notices(runtime) == 0
        assert 'id="recipients-error"' in response.text
        assert "This is not a registered party." in response.text
        response = fra.post("/notices/new", notice_form(recipients=["*"], tlp="RED"))
        assert "cannot go to every party" in response.text

    def test_posting_without_the_csrf_token_is_403_and_stores_nothing(
            self, fra: Browser, runtime: Runtime) -> None:
        fra.get("/notices/new")
        assert fra.post("/notices/new", notice_form(), csrf=False).status_code == 403
        assert notices(runtime) == 0

    def test_roles_without_content_get_the_forbidden_page(self, app: Any) -> None:
        for auditor in signed_in(app, "fra_aud"):
            assert auditor.get("/notices/new").status_code == 403
            page = auditor.get("/notices")
            assert page.status_code == 403 and "Forbidden" in page.text
            assert 'href="/notices"' not in auditor.get("/parties").text  # no nav entry


class TestVisibility:
    def test_another_state_gets_exactly_the_page_of_an_absent_notice(self, fra: Browser,
                                                                     nld: Browser) -> None:
        notice_id = post(fra)
        hidden, absent = nld.get(f"/notices/{notice_id}"), nld.get(f"/notices/{ABSENT}")
        assert hidden.status_code == absent.status_code == 404
        assert hidden.text == absent.text
        assert nld.get("/notices/not-a-uuid").text == absent.text
        assert nld.get(f"/notices/{notice_id}/edit").text == absent.text
        assert "Viktor" not in hidden.text

    def test_lists_show_only_what_the_caller_sees_with_filters_and_pages(
            self, fra: Browser, nld: Browser, icc: Browser) -> None:
        first = post(fra, title="First notice")
        post(fra, title="Second notice", kind="financial_investigation")
        assert "First notice" not in nld.get("/notices").text
        listing = icc.get("/notices").text
        assert "First notice" in listing and "Second notice" in listing
        only = icc.get("/notices?kind=financial_investigation").text
        assert "Second notice" in only and "First notice" not in only
        assert "No notices match." in icc.get("/notices?author_party=NLD").text
        bad = icc.get("/notices?since=yesterday")
        assert bad.status_code == 422 and 'id="since-error"' in bad.text
        for n in range(21):
            post(fra, title=f"Bulk {n}")
        page1 = icc.get("/notices").text
        cursor = re.search(r'href="/notices\?cursor=([^"]+)" rel="next"', page1)
        assert cursor, "a second page is linked"
        page2 = icc.get(f"/notices?cursor={cursor.group(1)}").text
        assert f'href="/notices/{first}"' in page2 and f'href="/notices/{first}"' not in page1


class TestRevise:
    def test_revise_then_history_says_what_changed(self, fra: Browser) -> None:
        notice_id = post(fra)
        form = fra.get(f"/notices/{notice_id}/edit")
        assert 'value="Viktor Yanukovych"' in form.text and 'name="revision" value="1"' in form.text
        response = fra.post(f"/notices/{notice_id}/edit", notice_form(
            revision="1", title="Accounts seized", tlp="RED", **{"assets-0-status": "seized",
                                                                "subjects-1-name": "",
                                                                "subjects-1-aliases": ""}))
        assert response.status_code == 303
        history = main_of(fra.get(f"/notices/{notice_id}").text).split('id="history"')[1]
        assert "Title: <bdi>Accounts frozen under order 2026/114</bdi> → <bdi>Accounts seized</bdi>" \
            in history
        assert "TLP: <bdi>AMBER</bdi> → <bdi>RED</bdi>" in history
        assert "removed: <bdi>Jean-Pierre Exemple</bdi>" in history and "Assets" in history

    def test_history_never_shows_a_revision_the_viewer_was_not_sent(self, fra: Browser,
                                                                    nld: Browser) -> None:
        # Issue 11 item 2: first RED to the Court only, then widened to everyone without the name.
        notice_id = post(fra, tlp="RED", **{"subjects-1-name": "Oksana Secretiva",
                                            "subjects-1-aliases": ""})
        fra.get(f"/notices/{notice_id}/edit")
        response = fra.post(f"/notices/{notice_id}/edit", notice_form(
            revision="1", tlp="CLEAR", recipients=["*"], **{"subjects-1-name": "",
                                                            "subjects-1-aliases": ""}))
        assert response.status_code == 303
        assert "removed: <bdi>Oksana Secretiva</bdi>" in fra.get(f"/notices/{notice_id}").text
        page = nld.get(f"/notices/{notice_id}")
        assert page.status_code == 200 and "Viktor Yanukovych" in page.text
        assert "Secretiva" not in page.text and "<bdi>RED</bdi>" not in page.text

    def test_a_stale_form_is_a_conflict_explained_with_the_input_kept(self, fra: Browser) -> None:
        notice_id = post(fra)
        fra.get(f"/notices/{notice_id}/edit")
        fra.post(f"/notices/{notice_id}/edit", notice_form(revision="1", title="Someone else"))
        fra.get(f"/notices/{notice_id}/edit")
        stale = fra.post(f"/notices/{notice_id}/edit", notice_form(revision="1", title="Mine"))
        assert stale.status_code == 409
        assert "Someone revised this notice while you were editing it" in stale.text
        assert "now at revision 2" in stale.text
        assert 'value="Mine"' in stale.text and 'name="revision" value="2"' in stale.text
        again = fra.post(f"/notices/{notice_id}/edit", notice_form(revision="2", title="Mine"))
        assert again.status_code == 303

    def test_only_the_author_party_may_revise(self, fra: Browser, icc: Browser) -> None:
        notice_id = post(fra)
        assert "Revise this notice" not in icc.get(f"/notices/{notice_id}").text
        assert icc.get(f"/notices/{notice_id}/edit").status_code == 403
        icc.get(f"/notices/{notice_id}")
        refused = icc.post(f"/notices/{notice_id}/edit", notice_form(revision="1"))
        assert refused.status_code == 403


class TestSearchAndAccessLog:
    def test_the_court_finds_a_transliterated_name_and_the_author_sees_the_read(
            self, fra: Browser, icc: Browser) -> None:
        notice_id = post(fra)
        icc.get("/search")
        results = icc.post("/search", {"name": "Виктор Янукович", "birth_date": "1950-07-09"})
        assert results.status_code == 200
        row = results.text.split("<tbody>")[1].split("</tr>")[0]
        assert "<bdi>Viktor Yanukovych</bdi>" in row and f'href="/notices/{notice_id}"' in row
        assert "date of birth" in row and re.search(r"\d+%", row)
        assert "Access log" not in icc.get(f"/notices/{notice_id}").text  # not for recipients
        log = fra.get(f"/notices/{notice_id}").text.split('id="access-log"')[1]
        rows = [r for r in log.split("<tr>") if "ICC" in r]
        assert any("Court investigator" in r and "found it by a search" in r for r in rows)
        assert any("Court investigator" in r and ">read<" in r for r in rows)

    def test_the_search_terms_never_reach_a_url(self, icc: Browser) -> None:
        page = icc.get("/search")
        assert '<form method="post" action="/search"' in page.text
        empty = icc.post("/search", {"name": ""})
        assert empty.status_code == 422 and 'id="name-error"' in empty.text
        assert icc.post("/search", {"name": "Someone"}, csrf=False).status_code == 403

    def test_another_states_notice_is_never_found(self, fra: Browser, nld: Browser) -> None:
        post(fra)
        nld.get("/search")
        assert "0 matches." in nld.post("/search", {"name": "Viktor Yanukovych"}).text


class TestReferenceAndFrench:
    def test_parties_and_paragraphs(self, fra: Browser) -> None:
        parties = main_of(fra.get("/parties").text)
        assert "<td>NLD</td>" in parties and "Court" in parties
        assert "<td>13</td>" in main_of(fra.get("/paris-paragraphs").text)

    def test_french_pages_format_dates_and_amounts_the_french_way(self, fra: Browser) -> None:
        notice_id = post(fra)
        page = fra.get(f"/notices/{notice_id}?lang=fr")
        assert '<html lang="fr" dir="ltr">' in page.text
        body = main_of(page.text)
        assert "1\u202f250\u202f000,00\u00a0€" in body or "1\u00a0250\u00a0000,00\u00a0€" in body
        assert "2 oct. 2026" in body and "Gelé" in body and "Personnes visées" in body
        assert "Historique des révisions" in body and "Journal des accès" in body
