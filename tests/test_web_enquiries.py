"""Enquiry pages through the ASGI app: the enquiry form and its answer (party codes only), field errors,
the owner's hits page with share and decline, French."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.runtime import Runtime
from tests.support.factories import bearer, login, notice_document
from tests.support.portal import Browser, portal_app, portal_settings

CANARY = "Ottoline Canary-Vasquez"
PASSPORT = "QX7712093"


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return portal_settings(database_url, keys_dir)


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Any]:
    yield from portal_app(runtime, parties=('FRA',))




@pytest.fixture
def notice_id(app: Any) -> str:
    with TestClient(app, base_url="https://testserver") as client:
        doc = notice_document(recipients=["FRA"], narrative=CANARY, subjects=[
            {"name": CANARY, "birth_date": "1968-03-02",
             "identifiers": [{"scheme": "passport", "value": PASSPORT}]}])
        response = client.post("/api/v1/notices", json=doc, headers=bearer(login(client, "fra_fp")))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])


def enquiry(**fields: str) -> dict[str, str]:
    return {"name": "", "birth_date": "", "nationality": "", "scheme": "passport",
            "identifier": "", "purpose": "tracing", "legal_basis": "art. 93", **fields}


class TestEnquiryPage:
    def test_answer_names_only_the_party(self, icc: Browser, notice_id: str) -> None:
        assert icc.get("/enquiries").status_code == 200
        page = icc.post("/enquiries", enquiry(identifier="qx 771 2093"))
        assert page.status_code == 200, page.text
        assert "1 party holds a strong match." in page.text
        assert "<li>FRA</li>" in page.text
        for secret in (notice_id, CANARY, PASSPORT):
            assert secret not in page.text

    def test_invalid_identifier_is_shown_beside_the_field(self, icc: Browser) -> None:
        icc.get("/enquiries")
        page = icc.post("/enquiries", enquiry(scheme="iban", identifier="DE89370400440532013001"))
        assert page.status_code == 422
        assert 'id="identifier-error"' in page.text or 'aria-invalid="true"' in page.text

    def test_nothing_to_match_is_an_error(self, icc: Browser) -> None:
        icc.get("/enquiries")
        page = icc.post("/enquiries", enquiry(birth_date="1968-03-02"))
        assert page.status_code == 422
        assert "Give a name (with a date of birth) or an identifier." in page.text

    def test_french(self, icc: Browser) -> None:
        page = icc.get("/enquiries?lang=fr")
        assert 'lang="fr"' in page.text and "Demande hit/no-hit" in page.text


class TestHitsPage:
    def test_owner_shares_from_the_page(self, icc: Browser, fra: Browser, notice_id: str,
                                        app: Any) -> None:
        icc.get("/enquiries")
        icc.post("/enquiries", enquiry(identifier=PASSPORT, purpose="case 7 proceeds"))
        page = fra.get("/hits")
        assert page.status_code == 200
        assert "case 7 proceeds" in page.text and f"/notices/{notice_id}" in page.text
        hit_id = page.text.split('action="/hits/')[1].split("/")[0]
        assert fra.post(f"/hits/{hit_id}/share", {}).status_code == 303
        with TestClient(app, base_url="https://testserver") as client:
            read = client.get(f"/api/v1/notices/{notice_id}",
                              headers=bearer(login(client, "icc_inv")))
            assert read.status_code == 200
        assert "shared" in icc.get("/enquiries").text

    def test_owner_declines_with_a_reason(self, icc: Browser, fra: Browser, notice_id: str) -> None:
        icc.get("/enquiries")
        icc.post("/enquiries", enquiry(identifier=PASSPORT))
        page = fra.get("/hits")
        hit_id = page.text.split('action="/hits/')[1].split("/")[0]
        assert fra.post(f"/hits/{hit_id}/decline", {"reason": "not at this stage"}).status_code == 303
        answers = icc.get("/enquiries").text
        assert "declined" in answers and "not at this stage" in answers

    def test_others_cannot_decide(self, icc: Browser, fra: Browser, notice_id: str) -> None:
        icc.get("/enquiries")
        icc.post("/enquiries", enquiry(identifier=PASSPORT))
        page = fra.get("/hits")
        hit_id = page.text.split('action="/hits/')[1].split("/")[0]
        icc.get("/enquiries")
        assert icc.post(f"/hits/{hit_id}/share", {}).status_code == 404
        assert "pending" in fra.get("/hits").text
