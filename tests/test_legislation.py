"""The legislation database: profiles, revisions, full-text search in English and French, filters,
comparison, freshness, access rules and import/export — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.errors import InvalidInput
from app.legislation.schemas import ProfileDocument
from app.legislation.service import import_profiles, parse_import, revise_profile
from app.runtime import Runtime
from tests.support.concurrency import principal_of, second_while_first_open
from tests.support.database import DatabaseFactory
from tests.support.factories import ADMIN, World, assert_problem, make_party

API = "/api/v1/legislation"
SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "legislation-sample.json"


def sample() -> dict[str, Any]:
    return json.loads(SAMPLE.read_text(encoding="utf-8"))


def sample_profile(party: str) -> dict[str, Any]:
    """A sample profile as a PUT body (without its party)."""
    doc = next(p for p in sample()["items"] if p["party"] == party)
    return {k: v for k, v in doc.items() if k != "party"}


def load_sample(runtime: Runtime) -> None:
    make_party(runtime, code="BEL")
    with runtime.db.unit_of_work() as session:
        import_profiles(session, runtime, ADMIN, parse_import(sample()))


@pytest.fixture
def loaded(world: World) -> World:
    load_sample(world.runtime)
    return world


def search(world: World, who: str = "icc_inv", **params: Any) -> list[str]:
    response = world.client.get(API, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return [item["party"] for item in response.json()["items"]]


class TestSample:
    def test_the_sample_is_marked_as_sample_data_in_every_profile(self) -> None:
        data = sample()
        assert "NOT legal information" in data["_notice"]
        for profile in data["items"]:
            assert profile["summary"].startswith(("SAMPLE DATA", "DONNÉES D'EXEMPLE"))

    def test_make_serve_does_not_load_it(self) -> None:
        makefile = (SAMPLE.parent.parent / "Makefile").read_text()
        assert "legislation import" not in makefile and "sample" not in makefile.lower()


class TestFullTextSearch:
    """The same expected parties on both databases: the test runs on each."""

    @pytest.mark.parametrize(("q", "expected"), [
        ("frozen", ["DEU", "NLD"]),          # NLD says "frozen", DEU "freezing" (tie: by code)
        ("freezing", ["DEU", "NLD"]),
        ("freeze", ["DEU", "NLD"]),
        ("gelé", ["FRA"]),                   # FRA says "gel" and "gelés"
        ("gel", ["FRA"]),
        ("geler", ["FRA"]),
        ("saisies", ["FRA"]),
        ("confiscation", ["BEL"]),
        ("order court", ["DEU"]),            # every word must match
        ("unknownword", []),
    ])
    def test_inflected_forms_match(self, loaded: World, q: str, expected: list[str]) -> None:
        assert search(loaded, q=q) == expected

    def test_results_carry_a_score_best_first(self, loaded: World) -> None:
        response = loaded.client.get(API, params={"q": "freezing"}, headers=loaded.headers("fra_fp"))
        items = response.json()["items"]
        assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
        assert items[0]["score"] > 0 and items[0]["out_of_date"] is False

    @pytest.mark.parametrize("q", ['" OR 1=1 --', "NEAR(a b)", "a* AND", "'; DROP TABLE party; --",
                                   "()", "&|!", "-"])
    def test_query_syntax_of_either_engine_is_inert(self, loaded: World, q: str) -> None:
        response = loaded.client.get(API, params={"q": q}, headers=loaded.headers("fra_fp"))
        assert response.status_code == 200, response.text

    def test_search_terms_are_audited_encrypted(self, loaded: World) -> None:
        search(loaded, q="Canaryterm freezing")
        with loaded.runtime.db.unit_of_work() as session:
            entry = session.scalars(select(AuditEntry).where(
                AuditEntry.action == "legislation.search").order_by(AuditEntry.id.desc())).first()
            assert entry is not None and entry.username == "icc_inv"
            assert entry.detail_ciphertext and b"Canaryterm" not in entry.detail_ciphertext


class TestFilters:
    def test_measure_available(self, loaded: World) -> None:
        assert search(loaded, measure="interim_measures_at_court_request") == ["FRA", "NLD"]
        assert search(loaded, measure="non_conviction_based_confiscation") == []
        assert search(loaded, measure="confiscation") == ["BEL", "DEU", "FRA"]

    def test_language_accepted_in_requests(self, loaded: World) -> None:
        assert search(loaded, language="fr") == ["BEL", "FRA"]
        assert search(loaded, language="nl") == ["BEL", "NLD"]

    def test_filters_and_text_combine(self, loaded: World) -> None:
        assert search(loaded, measure="freezing", language="de") == ["DEU"]
        assert search(loaded, q="frozen", language="nl") == ["NLD"]
        assert search(loaded, party="FRA") == ["FRA"]

    @pytest.mark.parametrize(("params", "field"), [
        ({"measure": "teleportation"}, "measure"), ({"language": "xx"}, "language"),
        ({"language": "fra"}, "language"), ({"party": "fr"}, "party")])
    def test_bad_filters_are_422_naming_the_parameter(self, loaded: World, params: dict[str, str],
                                                      field: str) -> None:
        body = assert_problem(loaded.client.get(API, params=params, headers=loaded.headers("fra_fp")),
                              422)
        assert field in body["detail"]


class TestReadAndRevise:
    def test_every_authenticated_role_reads_and_the_read_is_audited(self, loaded: World) -> None:
        for who in ("fra_fp", "nld_fp", "icc_inv", "fra_auditor", "icc_admin"):
            response = loaded.client.get(f"{API}/NLD", headers=loaded.headers(who))
            assert response.status_code == 200, (who, response.text)
            assert response.json()["measures"]["freezing"]["available"] is True
        with loaded.runtime.db.unit_of_work() as session:
            readers = set(session.scalars(select(AuditEntry.username).where(
                AuditEntry.action == "legislation.read", AuditEntry.object_id == "NLD")))
        assert readers == {"fra_fp", "nld_fp", "icc_inv", "fra_auditor", "icc_admin"}

    def test_anonymous_is_401(self, loaded: World) -> None:
        assert_problem(loaded.client.get(f"{API}/NLD"), 401)
        assert_problem(loaded.client.get(API), 401)

    def test_a_revision_is_appended_saying_who_changed_what(self, loaded: World) -> None:
        body = sample_profile("FRA")
        body["measures"]["non_conviction_based_confiscation"] = {
            "available": True, "legal_basis": "Nouvel article d'exemple"}
        body["time_limits"] = "Exemple : quinze jours."
        response = loaded.client.put(f"{API}/FRA", json=body, headers=loaded.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert response.json()["revision"] == 2
        revisions = loaded.client.get(f"{API}/FRA/revisions", headers=loaded.headers("nld_fp")).json()
        first, second = revisions["items"]
        assert first["revision"] == 1 and first["author"] == ADMIN.username
        assert first["measures"]["non_conviction_based_confiscation"]["available"] is False
        assert second["author"] == "fra_fp" and second["author_party"] == "FRA"
        assert second["changes"] == ["measures.non_conviction_based_confiscation", "time_limits"]
        assert second["measures"]["non_conviction_based_confiscation"]["available"] is True
        assert search(loaded, measure="non_conviction_based_confiscation") == ["FRA"]

    def test_an_unchanged_put_appends_nothing(self, loaded: World) -> None:
        response = loaded.client.put(f"{API}/NLD", json=sample_profile("NLD"),
                                     headers=loaded.headers("nld_fp"))
        assert response.status_code == 200 and response.json()["revision"] == 1

    def test_a_first_profile_is_revision_one(self, world: World) -> None:
        response = world.client.put(f"{API}/DEU", json=sample_profile("DEU"),
                                    headers=world.headers("deu_fp"))
        assert response.status_code == 200 and response.json()["revision"] == 1
        assert search(world, q="freezing") == ["DEU"]

    def test_two_first_writes_at_the_same_moment_are_revisions_one_and_two(self, world: World) -> None:
        fra = principal_of(world.runtime, "fra_fp")

        def write(summary: str) -> Callable[[Session], object]:
            body = {**sample_profile("FRA"), "summary": summary}
            return lambda s: revise_profile(s, world.runtime, fra, "FRA",
                                            ProfileDocument.model_validate(body))

        second_while_first_open(world.runtime, write("DONNÉES D'EXEMPLE — un"),
                                write("DONNÉES D'EXEMPLE — deux"))
        response = world.client.get(f"{API}/FRA/revisions", headers=world.headers("icc_inv"))
        assert response.status_code == 200, response.text
        assert [r["revision"] for r in response.json()["items"]] == [1, 2]
        assert response.json()["items"][-1]["summary"] == "DONNÉES D'EXEMPLE — deux"

    @pytest.mark.parametrize("who", ["nld_fp", "icc_inv", "fra_auditor", "icc_admin"])
    def test_only_the_states_own_focal_points_write(self, loaded: World, who: str) -> None:
        body = sample_profile("FRA")
        body["summary"] = "DONNÉES D'EXEMPLE — réécrit par un autre"
        assert_problem(loaded.client.put(f"{API}/FRA", json=body, headers=loaded.headers(who)), 403)
        assert loaded.client.get(f"{API}/FRA", headers=loaded.headers("fra_fp")).json()["revision"] == 1
        with loaded.runtime.db.unit_of_work() as session:
            outcomes = list(session.scalars(select(AuditEntry.outcome).where(
                AuditEntry.username == who, AuditEntry.action == "legislation.revise")))
        assert outcomes == ["denied"]

    def test_absent_profile_is_404(self, world: World) -> None:
        assert_problem(world.client.get(f"{API}/FRA", headers=world.headers("fra_fp")), 404)
        assert_problem(world.client.get(f"{API}/FRA/revisions", headers=world.headers("fra_fp")), 404)


class TestBadInput:
    @pytest.mark.parametrize(("mutate", "field"), [
        (lambda d: d["measures"].update(teleportation={"available": True, "legal_basis": "x"}),
         "measures.teleportation"),
        (lambda d: d["implementing_legislation"][0].update(url="javascript:alert(1)"),
         "implementing_legislation[0].url"),
        (lambda d: d["implementing_legislation"][0].update(url="not a url"),
         "implementing_legislation[0].url"),
        (lambda d: d["request_requirements"].update(languages=["fr", "zz"]),
         "request_requirements.languages[1]"),
        (lambda d: d.update(language="french"), "language"),
        (lambda d: d["measures"]["freezing"].pop("legal_basis"), "measures.freezing.legal_basis"),
        (lambda d: d.update(summary="bidi \u202e override"), "summary"),
        (lambda d: d.update(extra_field=1), "extra_field"),
    ])
    def test_422_names_the_field_and_writes_nothing(self, world: World, mutate: Any,
                                                    field: str) -> None:
        body = copy.deepcopy(sample_profile("FRA"))
        mutate(body)
        problem = assert_problem(world.client.put(f"{API}/FRA", json=body,
                                                  headers=world.headers("fra_fp")), 422)
        assert field in [e["field"] for e in problem["errors"]], problem
        assert_problem(world.client.get(f"{API}/FRA", headers=world.headers("fra_fp")), 404)

    def test_a_profile_for_a_party_that_is_not_a_state_is_refused(self, world: World) -> None:
        with world.runtime.db.unit_of_work() as session, pytest.raises(
                InvalidInput, match="not a registered State"):
            import_profiles(session, world.runtime, ADMIN,
                            parse_import([{**sample_profile("FRA"), "party": "ESP"}]))


class TestCompare:
    def test_two_to_five_states_side_by_side(self, loaded: World) -> None:
        response = loaded.client.get(f"{API}/compare", params=[("party", "NLD"), ("party", "FRA"),
                                                               ("party", "BEL")],
                                     headers=loaded.headers("icc_inv"))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["parties"] == ["NLD", "FRA", "BEL"]
        freezing = next(r for r in body["measures"] if r["measure"] == "freezing")
        assert freezing["by_party"]["NLD"]["available"] is True and freezing["by_party"]["BEL"] is None
        assert [p["party"] for p in body["profiles"]] == ["NLD", "FRA", "BEL"]

    @pytest.mark.parametrize("parties", [["FRA"], ["FRA", "FRA"], ["FRA", "NLD", "DEU", "BEL", "ITA",
                                                                  "ESP"]])
    def test_fewer_than_two_or_more_than_five_is_422(self, loaded: World, parties: list[str]) -> None:
        response = loaded.client.get(f"{API}/compare", params=[("party", p) for p in parties],
                                     headers=loaded.headers("icc_inv"))
        assert_problem(response, 422)

    def test_a_state_without_a_profile_is_404(self, loaded: World) -> None:
        response = loaded.client.get(f"{API}/compare", params=[("party", "FRA"), ("party", "ITA")],
                                     headers=loaded.headers("icc_inv"))
        assert_problem(response, 404)


class TestFreshness:
    def test_out_of_date_after_twelve_months_and_listed_with_missing_states(self,
                                                                            world: World) -> None:
        runtime = world.runtime
        real = runtime.clock
        make_party(runtime, code="ITA")
        runtime.clock = lambda: real() - timedelta(days=400)
        load_sample(runtime)  # FRA, NLD, DEU, BEL profiles, written 400 days ago
        runtime.clock = real
        world.client.put(f"{API}/NLD", json={**sample_profile("NLD"), "time_limits": "Sample: 10 days"},
                         headers=world.headers("nld_fp"))
        profile = world.client.get(f"{API}/FRA", headers=world.headers("icc_inv")).json()
        assert profile["out_of_date"] is True
        assert world.client.get(f"{API}/NLD", headers=world.headers("icc_inv")).json()[
            "out_of_date"] is False
        items = world.client.get(f"{API}/freshness", headers=world.headers("icc_inv")).json()["items"]
        assert {i["party"]: i["status"] for i in items} == {
            "BEL": "out_of_date", "DEU": "out_of_date", "FRA": "out_of_date", "ITA": "missing"}


@pytest.mark.slow  # runs `arx legislation` as a subprocess
class TestImportExport:
    def arx(self, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)

    def test_round_trip_is_lossless(self, databases: DatabaseFactory, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
        env.update(ARX_DATABASE_URL=databases.empty(), ARX_KEYS_DIR=str(tmp_path / "keys"))
        assert self.arx(env, "init").returncode == 0
        for code in ("FRA", "NLD", "DEU", "BEL"):
            assert self.arx(env, "party", "add", code, "--name", code, "--kind", "state").returncode == 0
        first = self.arx(env, "legislation", "import", str(SAMPLE), "--json")
        assert first.returncode == 0, first.stderr
        assert sorted(json.loads(first.stdout)["revised"]) == ["BEL", "DEU", "FRA", "NLD"]
        exported = self.arx(env, "legislation", "export")
        assert exported.returncode == 0, exported.stderr
        items = json.loads(exported.stdout)["items"]
        read_only = ("revision", "updated_at", "out_of_date")
        stripped = {i["party"]: {k: v for k, v in i.items() if k not in read_only} for i in items}
        assert stripped == {p["party"]: p for p in sample()["items"]}

        # The export imports back as is: nothing changes, no revision is appended.
        path = tmp_path / "export.json"
        path.write_text(exported.stdout, encoding="utf-8")
        again = self.arx(env, "legislation", "import", str(path), "--json")
        assert json.loads(again.stdout) == {"revised": [], "unchanged": ["BEL", "DEU", "FRA", "NLD"]}
        assert self.arx(env, "legislation", "export").stdout == exported.stdout
        one = json.loads(self.arx(env, "legislation", "export", "--party", "NLD").stdout)
        assert [i["party"] for i in one["items"]] == ["NLD"]

    def test_a_bad_file_is_refused_whole(self, databases: DatabaseFactory, tmp_path: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
        env.update(ARX_DATABASE_URL=databases.empty(), ARX_KEYS_DIR=str(tmp_path / "keys"))
        assert self.arx(env, "init").returncode == 0
        for code in ("FRA", "NLD", "DEU", "BEL"):
            self.arx(env, "party", "add", code, "--name", code, "--kind", "state")
        data = sample()
        data["items"][2]["measures"]["teleportation"] = {"available": True, "legal_basis": "x"}
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        result = self.arx(env, "legislation", "import", str(path))
        assert result.returncode != 0 and "items[2].measures.teleportation" in result.stderr
        assert json.loads(self.arx(env, "legislation", "export").stdout)["items"] == []
