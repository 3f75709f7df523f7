"""Suspect search through the HTTP API: ranking, visibility, revisions, audit, rate limit, rotation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, insert, select, text, true
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.audit.record import Action, open_detail
from app.auth.principal import Principal, Role
from app.errors import TooManyRequests
from app.keys.reindex import reindex_subjects
from app.ratelimit import SlidingWindowLimiter
from app.search.blind_index import Purpose, purpose_terms
from app.search.indexer import searchable_version
from app.search.models import IndexBuild, SubjectTerm
from app.search.schemas import SubjectQuery
from app.search.service import (
    ROW_BUDGET,
    _TermCounts,
    capped_counts,
    first_rows,
    fitting,
    search_subjects,
)
from tests.support.factories import ADMIN, World, assert_problem

API = "/api/v1/search/subjects"
SUSPECT = {"name": "Viktor Yanovenko", "birth_date": "1959-12-01", "nationality": "UKR",
           "aliases": ["Vitya Yanovenko"], "identifiers": [{"scheme": "passport", "value": "UA-7731 0042"}]}


def search(world: World, who: str, **body: Any) -> list[dict[str, Any]]:
    response = world.client.post(API, json=body, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()["matches"]


def post(world: World, who: str, recipients: list[str], *subjects: dict[str, Any]) -> str:
    return str(world.post_notice(who, recipients=recipients, subjects=list(subjects))["id"])


class TestRanking:
    def test_other_script_finds_subject_with_score_and_reasons(self, world: World) -> None:
        notice_id = post(world, "fra_fp", ["ICC"], SUSPECT)
        matches = search(world, "icc_inv", name="Віктор Яновенко", birth_date="1959-12-01",
                         nationality="UKR")
        assert [m["notice_id"] for m in matches] == [notice_id]
        match = matches[0]
        assert match["subject"] == {**SUSPECT, "identifiers": [{"scheme": "passport",
                                                                "value": "UA-7731 0042"}]}
        assert 0.9 <= match["score"] <= 1.0
        assert match["matched_on"] == ["name", "birth_date", "nationality"]

    def test_best_first_and_birth_date_decides_between_namesakes(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], {"name": "Zhang Wei", "birth_date": "1970-01-05"},
             {"name": "Zhang Wei", "birth_date": "1985-06-20"}, {"name": "Zhang Wen"})
        matches = search(world, "icc_inv", name="张伟", birth_date="1985-06-20")
        assert matches[0]["subject"]["birth_date"] == "1985-06-20"
        assert "birth_date" in matches[0]["matched_on"]
        scores = [m["score"] for m in matches]
        assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
        assert matches[0]["score"] > matches[1]["score"]

    def test_right_birth_date_finds_a_shortened_other_script_name_among_many_namesakes(
            self, world: World) -> None:
        # 40 namesakes agree with more of the query's name terms than the person sought does, who is
        # stored in Arabic script with a middle name; only the birth date tells them apart.
        namesakes = [{"name": "Bilal Haddad", "birth_date": f"19{60 + n % 30}-0{1 + n % 9}-1{n % 10}"}
                     for n in range(40)]
        post(world, "fra_fp", ["ICC"], *namesakes)
        sought = post(world, "nld_fp", ["ICC"], {"name": "بلال جمال الدين حداد", "birth_date": "1950-09-10"})
        matches = search(world, "icc_inv", name="Belal Haddad", birth_date="1950-09-10")
        assert matches[0]["notice_id"] == sought
        assert "birth_date" in matches[0]["matched_on"]

    def test_right_birth_date_is_found_among_many_born_that_day_by_terms_left_out_of_the_budget(
            self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        # Budget 190: the birth date and year (16 rows each) and the five name terms the 30 namesakes
        # share with the query (30 rows each) are kept; the skeleton the person sought shares with it
        # (31 rows) is not. The namesakes fill the candidates; the 16 born that day tie on the date, and
        # the one sought comes last of them by (notice, subject). Only its left-out term can put it in
        # the ten dated places.
        monkeypatch.setattr("app.search.service.ROW_BUDGET", 190)
        namesakes = [{"name": "Belal Haddad", "birth_date": f"19{60 + n % 30}-0{1 + n % 9}-1{n % 10}"}
                     for n in range(30)]
        post(world, "fra_fp", ["ICC"], *namesakes)
        born_that_day = [{"name": f"Ignatius Wrenfield{chr(65 + n)}", "birth_date": "1950-09-10"}
                         for n in range(15)]
        sought = post(world, "nld_fp", ["ICC"], *born_that_day,
                      {"name": "بلال جمال الدين حداد", "birth_date": "1950-09-10"})
        matches = search(world, "icc_inv", name="Belal Haddad", birth_date="1950-09-10")
        assert (matches[0]["notice_id"], matches[0]["subject"]["name"]) == (sought, "بلال جمال الدين حداد")

    def test_identifier_typed_as_name_finds_subject(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], SUSPECT)
        matches = search(world, "icc_inv", name="ua 7731-0042")
        assert len(matches) == 1 and "identifier" in matches[0]["matched_on"]

    def test_unrelated_name_matches_nothing(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], SUSPECT)
        assert search(world, "icc_inv", name="Margaret Thorncliffe") == []

    def test_limit_is_honoured(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], *({"name": "Zhang Wei", "birth_date": f"19{60 + n}-01-01"}
                                          for n in range(6)))
        assert len(search(world, "icc_inv", name="Zhang Wei", limit=2)) == 2


class TestVisibility:
    def test_another_state_never_sees_a_match_it_may_not_read(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], SUSPECT)
        assert search(world, "nld_fp", name="Viktor Yanovenko") == []
        assert search(world, "icc_inv", name="Viktor Yanovenko") != []
        assert search(world, "fra_fp", name="Viktor Yanovenko") != []

    def test_hidden_matches_change_neither_results_nor_scores(self, world: World) -> None:
        """Invisible notices must not crowd out, reorder or re-score what the caller may see."""
        mine = post(world, "nld_fp", ["NLD"], SUSPECT)
        before = search(world, "nld_fp", name="Viktor Yanovenko", limit=1)
        for _ in range(3):
            post(world, "fra_fp", ["ICC"], *([SUSPECT] * 20))
        after = search(world, "nld_fp", name="Viktor Yanovenko", limit=1)
        assert before == after and after[0]["notice_id"] == mine

    def test_broadcast_and_named_recipients_see_matches(self, world: World) -> None:
        broadcast = post(world, "fra_fp", ["*"], SUSPECT)
        shared = post(world, "deu_fp", ["NLD"], SUSPECT)
        found = {m["notice_id"] for m in search(world, "nld_fp", name="Viktor Yanovenko")}
        assert found == {broadcast, shared}

    def test_revised_subject_old_name_no_longer_matches(self, world: World) -> None:
        notice_id = post(world, "fra_fp", ["ICC"], SUSPECT)
        doc = world.client.get(f"/api/v1/notices/{notice_id}", headers=world.headers("fra_fp")).json()
        revised = {k: doc[k] for k in ("kind", "title", "tlp", "recipients", "paris_paragraphs",
                                       "assets")}
        revised["subjects"] = [{"name": "Margaret Thorncliffe"}]
        response = world.client.put(f"/api/v1/notices/{notice_id}", json=revised,
                                    headers=world.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert search(world, "icc_inv", name="Viktor Yanovenko") == []
        assert search(world, "icc_inv", name="UA77310042") == []
        assert [m["notice_id"] for m in search(world, "icc_inv", name="Thorncliffe, Margaret")] == [
            notice_id]

    def test_unsharing_a_notice_hides_its_matches(self, world: World) -> None:
        notice_id = post(world, "fra_fp", ["NLD"], SUSPECT)
        assert search(world, "nld_fp", name="Viktor Yanovenko") != []
        doc = world.client.get(f"/api/v1/notices/{notice_id}", headers=world.headers("fra_fp")).json()
        revised = {k: doc[k] for k in ("kind", "title", "tlp", "paris_paragraphs", "assets",
                                       "subjects")}
        response = world.client.put(f"/api/v1/notices/{notice_id}", json={**revised,
                                                                          "recipients": ["ICC"]},
                                    headers=world.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert search(world, "nld_fp", name="Viktor Yanovenko") == []

    @pytest.mark.parametrize("who", ["fra_auditor", "icc_admin"])
    def test_roles_without_content_may_not_search(self, world: World, who: str) -> None:
        post(world, "fra_fp", ["*"], SUSPECT)
        assert_problem(world.client.post(API, json={"name": "Viktor Yanovenko"},
                                         headers=world.headers(who)), 403)

    def test_unauthenticated_search_is_refused(self, world: World) -> None:
        assert_problem(world.client.post(API, json={"name": "Viktor Yanovenko"}), 401)


class TestInput:
    @pytest.mark.parametrize("body", [
        {"name": "Viktor", "extra": 1}, {"name": ""}, {"name": "- , ."}, {"name": "x" * 301},
        {"name": "Viktor", "limit": 0}, {"name": "Viktor", "limit": 101},
        {"name": "Viktor", "nationality": "XXX"}, {"name": "Viktor", "birth_date": "1959-02-30"},
        {"name": "Vik\u202etor"}, {},
    ])
    def test_bad_queries_are_problems_that_never_echo_the_name(self, world: World,
                                                              body: dict[str, Any]) -> None:
        response = world.client.post(API, json=body, headers=world.headers("icc_inv"))
        problem = assert_problem(response, 422)
        assert "Viktor" not in json.dumps(problem) and "Vik" not in problem["detail"]


def _entries(world: World, action: Action) -> list[AuditEntry]:
    with world.runtime.db.unit_of_work() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == str(action))
                                    .order_by(AuditEntry.id)))


class TestAudit:
    def test_query_is_audited_encrypted_and_hits_name_the_notices(self, world: World) -> None:
        notice_id = post(world, "fra_fp", ["ICC"], SUSPECT)
        search(world, "icc_inv", name="Viktor Yanovenko", birth_date="1959-12-01")
        [entry] = _entries(world, Action.SEARCH)
        assert entry.username == "icc_inv" and entry.detail_ciphertext is not None
        assert b"Yanovenko" not in entry.detail_ciphertext
        assert entry.entry_format == 2 and entry.detail_wrapped_key is None
        with world.runtime.db.unit_of_work() as session:
            detail = open_detail(session, world.runtime.envelope, entry)
        assert detail is not None
        assert detail["name"] == "Viktor Yanovenko" and detail["birth_date"] == "1959-12-01"
        assert [(e.username, e.object_id) for e in _entries(world, Action.SEARCH_HIT)] == [
            ("icc_inv", notice_id)]

    def test_searches_that_find_nothing_are_audited_too(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], SUSPECT)
        search(world, "nld_fp", name="Viktor Yanovenko")
        assert len(_entries(world, Action.SEARCH)) == 1 and _entries(world, Action.SEARCH_HIT) == []

    def test_refused_search_is_audited_as_denied(self, world: World) -> None:
        world.client.post(API, json={"name": "Viktor"}, headers=world.headers("fra_auditor"))
        [entry] = _entries(world, Action.SEARCH)
        assert entry.outcome == "denied" and entry.detail_ciphertext is None

    def test_index_holds_no_plaintext(self, world: World) -> None:
        post(world, "fra_fp", ["ICC"], SUSPECT)
        with world.runtime.db.unit_of_work() as session:
            terms = list(session.scalars(select(SubjectTerm.term)))
        assert terms and all(len(t) == 3 for t in terms)
        assert len(set(terms)) == len(terms)  # one row per distinct term of the subject


class TestRateLimit:
    def test_searches_beyond_the_rate_get_429_with_retry_after(self, world: World) -> None:
        world.runtime.settings.search_rate_per_minute = 3
        for _ in range(3):
            search(world, "icc_inv", name="Viktor Yanovenko")
        refused = world.client.post(API, json={"name": "Viktor Yanovenko"},
                                    headers=world.headers("icc_inv"))
        assert_problem(refused, 429)
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert len(_entries(world, Action.SEARCH)) == 3
        search(world, "nld_fp", name="Viktor Yanovenko")  # the limit is per user

    def test_window_slides(self) -> None:
        now = [0.0]
        limiter = SlidingWindowLimiter(2, window=60, clock=lambda: now[0])
        limiter.hit("a")
        now[0] = 30
        limiter.hit("a")
        with pytest.raises(TooManyRequests) as refused:
            limiter.hit("a")
        assert getattr(refused.value, "headers", {}) == {"Retry-After": "30"}
        now[0] = 60.5
        limiter.hit("a")  # the first hit left the window


class TestIndexRotation:
    def test_rotation_keeps_search_working_and_reindex_switches_version(self, world: World) -> None:
        runtime = world.runtime
        old = post(world, "fra_fp", ["ICC"], SUSPECT)
        runtime.keys.update(lambda ring: ring.rotated("index"))
        ring = runtime.keys.refresh()
        new = post(world, "deu_fp", ["ICC"], SUSPECT)
        with runtime.db.unit_of_work() as session:
            assert searchable_version(session, ring) == 1
            versions = dict(session.execute(
                select(SubjectTerm.notice_id, SubjectTerm.key_version)
                .where(SubjectTerm.key_version == 2)).tuples().all())
        assert set(versions) == {new}  # new writes go under both versions at once
        assert {m["notice_id"] for m in search(world, "icc_inv", name="Viktor Yanovenko")} == {old, new}

        with runtime.db.unit_of_work() as session:
            session.add(IndexBuild(key_version=2))
        with runtime.db.unit_of_work() as session:
            assert searchable_version(session, ring) == 1  # started, not complete
        assert reindex_subjects(runtime, ADMIN, wait=False).notices == 1  # only the older notice lacked v2
        with runtime.db.unit_of_work() as session:
            assert searchable_version(session, ring) == 2
            v1 = set(session.scalars(select(SubjectTerm.term).where(SubjectTerm.key_version == 1)))
            v2 = set(session.scalars(select(SubjectTerm.term).where(SubjectTerm.key_version == 2)))
        assert v1 and v2 and not v1 & v2  # a new key makes unrelated terms
        assert {m["notice_id"] for m in search(world, "icc_inv", name="Віктор Яновенко")} == {old, new}


class TestRowBudget:
    """Terms are kept rarest first while their rows fit the budget: a term counted past the budget
    is over it, never "exactly at it" (a capped count that read as fitting once made every search
    for a common first name read all of that name's rows)."""

    def test_a_term_over_the_budget_is_not_kept_beside_a_rarer_one(self, world: World) -> None:
        for n in range(4):
            post(world, "fra_fp", ["DEU"], {"name": f"Ignatius Wrenfield{n}"})
        keyring = world.runtime.keys.current()
        with world.runtime.db.unit_of_work() as session:
            version = searchable_version(session, keyring)
            [common] = purpose_terms(keyring, version, Purpose.TOKEN, {"ignatius"})
            [rare] = purpose_terms(keyring, version, Purpose.TOKEN, {"wrenfield0"})
            counts = capped_counts(session, version, [common, rare], true(), budget=3)
        assert counts == {common: 4, rare: 1}
        assert fitting(counts, budget=3) == [rare]
        assert fitting({common: counts[common]}, budget=3) == [common]  # the rarest, even if over

    def test_one_term_over_the_limit_gives_its_first_rows_by_notice_and_subject(
            self, world: World) -> None:
        posted = [post(world, "fra_fp", ["DEU"], {"name": f"Ignatius Wrenfield{n}"},
                       {"name": f"Ignatius Halloway{n}"}) for n in range(3)]
        keyring = world.runtime.keys.current()
        with world.runtime.db.unit_of_work() as session:
            version = searchable_version(session, keyring)
            [common] = purpose_terms(keyring, version, Purpose.TOKEN, {"ignatius"})
            first = first_rows(true(), 4)
            rows = session.execute(select(first.c.notice_id, first.c.subject_no),
                                   {"version": version, "terms": [common]}).tuples().all()
        assert rows == sorted((n, s) for n in posted for s in (0, 1))[:4]

    def test_a_count_within_the_budget_is_kept_seconds_one_past_it_minutes(self, world: World) -> None:
        """Kept minutes, a term counted within the budget could be posted a thousand times over before
        its count expired, and every search would then read all its rows and sort them (soak: search
        p50 55 -> 122 ms in five minutes). A term past the budget stays past it."""
        notice = post(world, "fra_fp", ["ICC"], {"name": "Ignatius Wrenfield"})
        keyring = world.runtime.keys.current()
        court = Principal(username="icc_inv", party="ICC", role=Role.COURT_INVESTIGATOR)
        now = [1000.0]
        counts = _TermCounts(clock=lambda: now[0])

        def more_rows(session: Session, term: bytes) -> None:
            session.execute(insert(SubjectTerm), [
                {"notice_id": notice, "revision": 1, "subject_no": 1 + n, "key_version": version,
                 "term": term} for n in range(ROW_BUDGET)])

        with world.runtime.db.unit_of_work() as session:
            version = searchable_version(session, keyring)
            [common] = purpose_terms(keyring, version, Purpose.TOKEN, {"ignatius"})
            [rare] = purpose_terms(keyring, version, Purpose.TOKEN, {"wrenfield"})
            more_rows(session, common)

            def counted() -> dict[bytes, int]:
                return counts.get(session, world.runtime.db.url, court, version, [rare, common])

            assert counted() == {rare: 1, common: ROW_BUDGET + 1}
            more_rows(session, rare)
            session.execute(delete(SubjectTerm).where(SubjectTerm.term == common))
            assert counted() == {rare: 1, common: ROW_BUDGET + 1}  # both kept
            now[0] += _TermCounts.WITHIN_BUDGET_TTL_SECONDS
            assert counted() == {rare: ROW_BUDGET + 1, common: ROW_BUDGET + 1}  # recounted, kept
            now[0] += _TermCounts.TTL_SECONDS
            assert counted() == {rare: ROW_BUDGET + 1, common: 0}


class TestStatementsPerScope:
    """Search builds its statements once per visibility filter (one per party and role): a statement
    built for one party must never answer another."""

    def test_each_party_keeps_its_own_answer_whatever_searched_before(self, world: World) -> None:
        secret = post(world, "fra_fp", ["DEU"], {"name": "Wilhelmina Quorntree"})
        for _ in range(2):
            assert [m["notice_id"] for m in search(world, "deu_fp", name="Wilhelmina Quorntree")] \
                == [secret]
            assert search(world, "nld_fp", name="Wilhelmina Quorntree") == []
            assert [m["notice_id"] for m in search(world, "fra_fp", name="Wilhelmina Quorntree")] \
                == [secret]

    def test_postgresql_plans_search_statements_with_their_own_terms(self, world: World) -> None:
        """psycopg prepares a statement after five runs, and PostgreSQL may then keep a generic plan
        made without the terms: at a million subjects that tripled the candidate read. A search's
        statements are never prepared (each is planned for its terms); the connection prepares again
        for the next unit of work."""
        if world.runtime.db.is_sqlite:
            pytest.skip("a PostgreSQL setting")
        probe = Principal(username="icc_inv", party="ICC", role=Role.COURT_INVESTIGATOR)
        prepared = text("SELECT count(*) FROM pg_prepared_statements")
        with world.runtime.db.unit_of_work() as session:
            before = session.execute(prepared).scalar_one()
            for _ in range(8):
                search_subjects(session, world.runtime, probe, SubjectQuery(name="Wilhelmina Quorntree"))
            assert session.execute(prepared).scalar_one() == before
        with world.runtime.db.unit_of_work() as session:
            before = session.execute(prepared).scalar_one()
            for n in range(8):  # a statement not seen before, run more than five times
                session.execute(text("SELECT CAST(:n AS integer) + 424242"), {"n": n})
            assert session.execute(prepared).scalar_one() == before + 1


class TestConnectionSettings:
    def test_postgresql_connections_run_no_parallel_query(self, world: World) -> None:
        """A parallel worker took 4-7 ms to start beside a 1 ms sort in the candidate read at a million
        subjects (app/db.py): every connection of the service plans without one."""
        if world.runtime.db.is_sqlite:
            pytest.skip("a PostgreSQL setting")
        with world.runtime.db.unit_of_work() as session:
            assert session.execute(text("SHOW max_parallel_workers_per_gather")).scalar_one() == "0"
