"""The statistics pages through the ASGI app: charts as SVG images without script, a table of the same
numbers under each, CSV downloads, scopes, the yearly report, English and French, and who may see them."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from app.config import Settings
from app.runtime import Runtime
from tests.support.factories import bearer, mint_token, notice_document
from tests.support.portal import Browser, portal_app, portal_settings, signed_in


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return portal_settings(database_url, keys_dir)


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Any]:
    """The portal, FRA having posted three notices (paragraphs 13, 12+13, 13; two frozen, one seized)."""
    for application in portal_app(runtime):
        with TestClient(application, base_url="https://testserver") as client:
            token = mint_token(runtime, "fra_fp")
            for paragraphs, status in ((["13"], "frozen"), (["12", "13"], "seized"), (["13"], "frozen")):
                response = client.post("/api/v1/notices", headers=bearer(token), json=notice_document(
                    paris_paragraphs=paragraphs, assets=[{"type": "other", "status": status, "value": {
                        "amount": "10", "currency": "EUR"}}]))
                assert response.status_code == 201, response.text
        yield application


def cells(html: str, caption: str) -> list[list[str]]:
    """The rows of the table with this caption, as text."""
    table = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", html, re.S)
    assert table, caption
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)]


class TestStatsPage:
    def test_charts_tables_and_csv(self, fra: Browser) -> None:
        page = fra.get("/stats")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        html = page.text
        assert cells(html, "Notices per Paris Declaration paragraph") == [
            ["Paragraph", "Notices"], ["12", "1"], ["13", "3"]]
        assert cells(html, "Assets by status over time")[1][1:] == ["2", "1"]  # frozen, seized
        assert '<img src="/stats/charts/notices-by-paragraph.svg?scope=mine"' in html
        assert 'href="/stats/charts/notices-by-paragraph.csv?scope=mine"' in html
        assert "<script>" not in html and "style=" not in html

    def test_the_svg_is_an_image_without_script(self, fra: Browser) -> None:
        response = fra.get("/stats/charts/notices-by-paragraph.svg?scope=mine")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("image/svg+xml")
        assert "script-src" not in response.headers["content-security-policy"]
        svg = response.text
        assert svg.startswith("<svg") and "<script" not in svg and "on" + "load=" not in svg
        assert "Notices per Paris Declaration paragraph" in svg

    def test_csv_has_the_tables_numbers(self, fra: Browser) -> None:
        response = fra.get("/stats/charts/assets-by-status.csv?scope=mine")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.text)))
        assert rows[0] == ["Month", "Frozen", "Seized"] and rows[1][1:] == ["2", "1"]

    def test_platform_scope_withholds_small_cells(self, nld: Browser) -> None:
        html = nld.get("/stats?scope=platform").text
        # Three notices of FRA on paragraph 13: shown to NLD; paragraph 12 has one: withheld.
        assert cells(html, "Notices per Paris Declaration paragraph") == [
            ["Paragraph", "Notices"], ["13", "3"]]
        assert "1 small cells withheld" in html

    def test_french(self, fra: Browser) -> None:
        html = fra.get("/stats?lang=fr").text
        assert '<html lang="fr"' in html and "Statistiques" in html
        assert "Avis par paragraphe de la Déclaration de Paris" in html
        svg = fra.get("/stats/charts/assets-by-status.svg").text
        assert "Gelé" in svg

    def test_bad_parameters_and_unknown_chart(self, fra: Browser) -> None:
        assert fra.get("/stats?scope=everyone").status_code == 422
        assert fra.get("/stats?year=20x6").status_code == 422
        assert fra.get("/stats/charts/salaries.svg").status_code == 404

    def test_roles_without_content_are_refused(self, app: Any) -> None:
        for auditor in signed_in(app, "fra_aud"):
            assert auditor.get("/stats").status_code == 403
            assert "/stats" not in re.findall(r'href="([^"]+)"', auditor.get("/account").text)


class TestReportPage:
    def test_report_of_this_year(self, fra: Browser) -> None:
        year = datetime.now(UTC).year
        page = fra.get(f"/stats/report?year={year}")
        assert page.status_code == 200
        html = page.text
        assert f"Cooperation statistics for {year}" in html
        # FRA's own three notices are not enough on the platform scope, seen from FRA.
        assert "small cells withheld" in html
        download = fra.get(f"/stats/report.csv?year={year}")
        assert download.text.startswith("year,section,")
        assert fra.get("/stats/report").status_code == 422
