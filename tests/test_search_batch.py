"""Batch matching (POST /api/v1/search/batch) from a client written for OpenSanctions yente's POST /match:
the same answers as single searches, per-query audit and rate, all-or-nothing validation, no leak."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.audit.record import Action
from tests.support.factories import World, assert_problem

BATCH = "/api/v1/search/batch"
SINGLE = "/api/v1/search/subjects"
SUBJECTS = [
    {"name": "عبد الرحمن نصر الدين الحداد", "birth_date": "1966-02-11", "nationality": "SYR"},
    {"name": "Hidayatullah Karimi", "birth_date": "1979-04-04", "nationality": "AFG"},
    {"name": "Svetlana Pavlovna Pokhodova", "birth_date": "1972-09-09", "nationality": "RUS"},
    {"name": "Parviz Rezaei", "nationality": "IRN"},
]


class YenteStyleClient:
    """Coded the way yente's documentation shows a matching client: a dict of example entities keyed
    by query id, POSTed as {"queries": ...}, results read from responses[id]["results"]."""

    def __init__(self, http: httpx.Client, url: str, headers: dict[str, str]) -> None:
        self.http, self.url, self.headers = http, url, headers

    def match(self, examples: dict[str, dict[str, Any]], **params: Any) -> httpx.Response:
        return self.http.post(self.url, json={"queries": examples}, params=params,
                              headers=self.headers)

    def best(self, examples: dict[str, dict[str, Any]]) -> dict[str, tuple[str, float, bool]]:
        response = self.match(examples)
        response.raise_for_status()
        out = {}
        for query_id, query_response in response.json()["responses"].items():
            for result in query_response["results"][:1]:
                out[query_id] = (result["caption"], result["score"], result["match"])
        return out


def person(name: str, **props: list[str]) -> dict[str, Any]:
    return {"schema": "Person", "properties": {"name": [name], **props}}


def _client(world: World, who: str) -> YenteStyleClient:
    return YenteStyleClient(world.client, BATCH, world.headers(who))


def _entries(world: World, action: Action) -> list[AuditEntry]:
    with world.runtime.db.unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == str(action))))


def test_a_yente_client_screens_a_list_and_gets_single_search_answers(world: World) -> None:
    notice = str(world.post_notice("fra_fp", recipients=["ICC"], subjects=SUBJECTS)["id"])
    queries = {
        "q1": person("Abdul Rahman Nasreddine Haddad", birthDate=["1966-02-11"]),
        "q2": person("هداية الله کریمی"),
        "q3": person("Sviatlana Paulauna Pakhadava", nationality=["ru"]),
        "q4": {"schema": "Person", "properties": {"firstName": ["Parwiz"], "lastName": ["Rezaie"],
                                                  "birthDate": ["1951"]}},
        "q5": person("Nobody Matches-Anything"),
    }
    client = _client(world, "icc_inv")
    response = client.match(queries, limit=3)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limit"] == 3 and list(body["responses"]) == list(queries)
    best = {q: r["results"][0] for q, r in body["responses"].items() if r["results"]}
    assert {q: b["caption"] for q, b in best.items()} == {
        "q1": SUBJECTS[0]["name"], "q2": SUBJECTS[1]["name"], "q3": SUBJECTS[2]["name"],
        "q4": SUBJECTS[3]["name"]}
    assert body["responses"]["q5"] == {"status": 200, "results": [], "total": {"value": 0,
                                       "relation": "eq"}, "query": queries["q5"], "detail": None}
    first = best["q1"]
    assert first["id"] == f"{notice}/0" and first["notice_id"] == notice
    assert first["schema"] == "Person" and first["match"] is True
    assert first["properties"]["birthDate"] == ["1966-02-11"]
    assert first["matched_on"] == ["name", "birth_date"]
    assert set(first["explanations"]) == {"name", "birth_date"}
    assert sum(f["contribution"] for f in first["explanation"]["features"]) == \
        __import__("pytest").approx(first["score"], abs=2e-4)
    # Each query is answered exactly as one single search with the same fields would be.
    single = world.client.post(SINGLE, json={"name": "Sviatlana Paulauna Pakhadava",
                                             "nationality": "RUS", "limit": 3},
                               headers=world.headers("icc_inv")).json()["matches"]
    q3 = body["responses"]["q3"]["results"]
    assert [(r["notice_id"], r["score"], r["explanation"]) for r in q3] == [
        (m["notice_id"], m["score"], m["explanation"]) for m in single]
    # One search audit entry per query (the single search above adds one), hits per query.
    assert len(_entries(world, Action.SEARCH)) == len(queries) + 1
    assert len(_entries(world, Action.SEARCH_HIT)) == 4 + 1
    assert client.best({"x": person("Svetlana Pokhodova")})["x"][0] == SUBJECTS[2]["name"]


def test_more_than_100_queries_bad_schema_and_bad_properties_are_refused_whole(world: World) -> None:
    world.post_notice("fra_fp", recipients=["ICC"], subjects=SUBJECTS)
    client = _client(world, "icc_inv")
    too_many = {f"q{i}": person("Parviz Rezaei") for i in range(101)}
    assert_problem(client.match(too_many), 422)
    bad = [{"q1": person("Parviz Rezaei"), "q2": {"schema": "Company",
                                                   "properties": {"name": ["Rezaei Trading"]}}},
           {"q1": {"schema": "Person", "properties": {"name": ["Parviz Rezaei"],
                                                      "weaponsOwned": ["many"]}}},
           {"q1": person("Parviz Rezaei", birthDate=["11/02/1966"])},
           {"q1": person("Parviz Rezaei", nationality=["Atlantis"])},
           # A dotless "ı" upper-cases to "I": a look-alike of FIN, refused like everywhere else.
           {"q1": person("Parviz Rezaei", nationality=["fın"])},
           {"q1": person("- , .")},
           {"q1": {"properties": {"name": ["Parviz Rezaei"]}}},
           {}]
    for queries in bad:
        problem = assert_problem(client.match(queries), 422)
        assert "Rezaei" not in problem["detail"]
    assert _entries(world, Action.SEARCH) == []  # nothing ran, nothing half-done
    refused = _client(world, "fra_auditor").match({"q1": person("Parviz Rezaei")})
    assert_problem(refused, 403)
    assert [e.outcome for e in _entries(world, Action.SEARCH)] == ["denied"]


def test_each_query_counts_against_the_search_rate(world: World) -> None:
    world.post_notice("fra_fp", recipients=["ICC"], subjects=SUBJECTS)
    world.runtime.settings.search_rate_per_minute = 3
    response = _client(world, "icc_inv").match({f"q{i}": person("Parviz Rezaei") for i in range(5)})
    assert response.status_code == 200
    statuses = [r["status"] for r in response.json()["responses"].values()]
    assert statuses == [200, 200, 200, 429, 429]
    assert response.json()["responses"]["q4"]["results"] == []
    assert len(_entries(world, Action.SEARCH)) == 3
    assert_problem(world.client.post(SINGLE, json={"name": "Parviz Rezaei"},
                                     headers=world.headers("icc_inv")), 429)


def test_invisible_notices_never_appear(world: World) -> None:
    hidden = str(world.post_notice("nld_fp", recipients=["DEU"], subjects=SUBJECTS)["id"])
    shared = str(world.post_notice("nld_fp", recipients=["FRA"], subjects=[SUBJECTS[3]])["id"])
    queries = {f"q{n}": person(s["name"]) for n, s in enumerate(SUBJECTS)}
    response = _client(world, "fra_fp").match(queries, limit=10)
    assert response.status_code == 200
    found = {r["notice_id"] for q in response.json()["responses"].values() for r in q["results"]}
    assert found == {shared} and hidden not in response.text
    deu = _client(world, "deu_fp").match(queries, limit=10).json()
    assert {r["notice_id"] for q in deu["responses"].values() for r in q["results"]} == {hidden}
