"""ISO and party codes are canonical whatever case they are typed in (issue 11, item 8)."""

from __future__ import annotations

from typing import Any

import pytest

from app.parties.service import add_party
from app.search.schemas import SubjectQuery
from app.search.service import _Probe, score_subject
from tests.support.factories import ADMIN, World, assert_problem, notice_document

EXACT = {"name": "Jean-Pierre Exemple", "birth_date": "1962-11-04", "nationality": "cod"}
NAMESAKE = {"name": "Jean-Pierre Exemple", "birth_date": "1962-11-04"}
OTHER = {"name": "Jean Pierre Exemplé", "birth_date": "1962-11-04", "nationality": "BEL"}


def lower_case_notice() -> dict[str, Any]:
    return notice_document(
        recipients=["icc", "nld"], subjects=[EXACT],
        assets=[{"type": "bank_account", "jurisdiction": "che", "identifier": "CH9300762011623852957",
                 "value": {"amount": "10.00", "currency": "eur"}, "status": "frozen"}])


class TestNoticesStoreCanonicalCodes:
    def test_lower_case_codes_are_stored_upper_case(self, world: World) -> None:
        posted = world.post_notice("fra_fp", **lower_case_notice())
        read = world.client.get(f"/api/v1/notices/{posted['id']}", headers=world.headers("nld_fp"))
        for doc in (posted, read.json()):
            assert doc["recipients"] == ["ICC", "NLD"]
            assert doc["subjects"][0]["nationality"] == "COD"
            assert doc["assets"][0]["jurisdiction"] == "CHE"
            assert doc["assets"][0]["value"]["currency"] == "EUR"
        assert world.client.get(f"/api/v1/notices/{posted['id']}",
                                headers=world.headers("icc_inv")).status_code == 200

    @pytest.mark.parametrize(("field", "body"), [
        ("subjects[0].nationality", {"subjects": [{"name": "X Y", "nationality": "c\u0131v"}]}),
        ("subjects[0].nationality", {"subjects": [{"name": "X Y", "nationality": "\uff23\uff2f\uff24"}]}),
        ("recipients[0]", {"recipients": ["\u0131cc"]}),
    ])
    def test_look_alikes_are_refused_not_guessed(self, world: World, field: str,
                                                 body: dict[str, Any]) -> None:
        response = world.client.post("/api/v1/notices", json=notice_document(**body),
                                     headers=world.headers("fra_fp"))
        assert {e["field"] for e in assert_problem(response, 422)["errors"]} == {field}

    def test_list_filter_reads_party_codes_in_any_case(self, world: World) -> None:
        mine = world.post_notice("fra_fp", recipients=["NLD"])
        for code in ("FRA", "fra", "Fra"):
            response = world.client.get("/api/v1/notices", params={"author_party": code},
                                        headers=world.headers("nld_fp"))
            assert response.status_code == 200, response.text
            assert [n["id"] for n in response.json()["items"]] == [mine["id"]]

    def test_party_codes_are_registered_upper_case(self, world: World) -> None:
        with world.runtime.db.unit_of_work() as session:
            assert add_party(session, ADMIN, code="bel", name="Belgium", kind="state").code == "BEL"


class TestSearchNationality:
    @pytest.mark.parametrize("typed", ["cod", "COD", "Cod"])
    def test_exact_subject_ranks_first_whatever_the_case(self, world: World, typed: str) -> None:
        exact = world.post_notice("fra_fp", subjects=[EXACT])["id"]
        world.post_notice("fra_fp", subjects=[NAMESAKE, OTHER])
        response = world.client.post("/api/v1/search/subjects",
                                     json={"name": "Jean-Pierre Exemple", "birth_date": "1962-11-04",
                                           "nationality": typed}, headers=world.headers("icc_inv"))
        assert response.status_code == 200, response.text
        matches = response.json()["matches"]
        assert matches[0]["notice_id"] == exact and matches[0]["subject"]["nationality"] == "COD"
        assert "nationality" in matches[0]["matched_on"]
        assert matches[0]["score"] > max(m["score"] for m in matches[1:])

    def test_lower_case_nationality_sealed_earlier_still_agrees(self) -> None:
        probe = _Probe.of(SubjectQuery(name="Jean-Pierre Exemple", nationality="cod"))
        scored = score_subject(probe, {"name": "Jean-Pierre Exemple", "nationality": "cod"})
        assert scored is not None and "nationality" in scored.matched_on
