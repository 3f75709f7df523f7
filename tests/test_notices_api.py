"""Notices through the HTTP API: post, read, list, revise, history; validation; visibility."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from app.notices.models import Notice, NoticeRevision
from tests.support.factories import World, assert_problem, make_party, notice_document

API = "/api/v1/notices"


def count_rows(world: World) -> tuple[int, int]:
    with world.runtime.db.unit_of_work() as session:
        return (session.scalar(select(func.count()).select_from(Notice)) or 0,
                session.scalar(select(func.count()).select_from(NoticeRevision)) or 0)


class TestCreate:
    def test_stored_notice_is_the_document_plus_server_fields(self, world: World) -> None:
        doc = notice_document(recipients=["ICC", "NLD"])
        response = world.client.post(API, json=doc, headers=world.headers("fra_fp"))
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["author_party"] == "FRA" and body["revision"] == 1
        assert body["created_at"] == body["updated_at"]
        for key in ("kind", "title", "tlp", "paris_paragraphs", "reference", "narrative"):
            assert body[key] == doc[key]
        assert sorted(body["recipients"]) == ["ICC", "NLD"]
        assert body["subjects"][0]["identifiers"] == [{"scheme": "passport", "value": "OB0123456"}]
        assert body["assets"][0]["value"] == {"amount": "1250000.00", "currency": "EUR"}

    def test_author_party_comes_from_the_token(self, world: World) -> None:
        response = world.client.post(API, json={**notice_document(), "author_party": "NLD"},
                                     headers=world.headers("fra_fp"))
        assert_problem(response, 422)
        created = world.post_notice("nld_fp")
        assert created["author_party"] == "NLD"

    @pytest.mark.parametrize("field", ["id", "revision", "author_party", "created_at", "secret"])
    def test_unknown_fields_are_refused_not_dropped(self, world: World, field: str) -> None:
        response = world.client.post(API, json={**notice_document(), field: "x"},
                                     headers=world.headers("fra_fp"))
        body = assert_problem(response, 422)
        assert field in body["detail"]
        assert count_rows(world) == (0, 0)

    @pytest.mark.parametrize("who", ["fra_auditor", "icc_admin"])
    def test_roles_without_content_cannot_post(self, world: World, who: str) -> None:
        assert_problem(world.client.post(API, json=notice_document(), headers=world.headers(who)), 403)
        assert count_rows(world) == (0, 0)

    def test_the_court_can_post_as_icc(self, world: World) -> None:
        assert world.post_notice("icc_inv", recipients=["FRA"])["author_party"] == "ICC"


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("nationality", {"subjects": [{"name": "A B", "nationality": "XXX"}]}, "subjects[0].nationality"),
    ("nationality alpha-2", {"subjects": [{"name": "A B", "nationality": "FR"}]}, "subjects[0].nationality"),
    ("jurisdiction", {"assets": [{"type": "cash", "status": "seized", "jurisdiction": "ZZZ"}]},
     "assets[0].jurisdiction"),
    ("currency", {"assets": [{"type": "cash", "status": "seized",
                              "value": {"amount": "10", "currency": "EUX"}}]}, "assets[0].value.currency"),
    ("negative amount", {"assets": [{"type": "cash", "status": "seized",
                                     "value": {"amount": "-1", "currency": "EUR"}}]},
     "assets[0].value.amount"),
    ("NaN amount", {"assets": [{"type": "cash", "status": "seized",
                                "value": {"amount": "NaN", "currency": "EUR"}}]}, "assets[0].value.amount"),
    ("bad IBAN checksum", {"assets": [{"type": "bank_account", "status": "frozen",
                                       "identifier": "CH9300762011623852958"}]}, "assets[0]"),
    ("bad BIC", {"subjects": [{"name": "A B", "identifiers": [{"scheme": "bic", "value": "NOTABIC!"}]}]},
     "subjects[0].identifiers[0]"),
    ("bad LEI", {"subjects": [{"name": "A Corp", "identifiers": [{"scheme": "lei",
                                                                  "value": "5493001KJTIIGC8Y1R13"}]}]},
     "subjects[0].identifiers[0]"),
    ("impossible date", {"subjects": [{"name": "A B", "birth_date": "1962-02-30"}]},
     "subjects[0].birth_date"),
    ("future birth", {"subjects": [{"name": "A B", "birth_date": "2999-01-01"}]}, "subjects[0].birth_date"),
    ("asset status", {"assets": [{"type": "cash", "status": "stolen"}]}, "assets[0].status"),
    ("kind", {"kind": "rumour"}, "kind"),
    ("tlp", {"tlp": "PURPLE"}, "tlp"),
    ("red broadcast", {"tlp": "RED", "recipients": ["*"]}, "recipients"),
    ("amber+strict broadcast", {"tlp": "AMBER+STRICT", "recipients": ["*"]}, "recipients"),
    ("broadcast plus party", {"recipients": ["*", "NLD"]}, "recipients"),
    ("no recipients", {"recipients": []}, "recipients"),
    ("unregistered recipient", {"recipients": ["BRA"]}, "recipients"),
    ("no paragraphs", {"paris_paragraphs": []}, "paris_paragraphs"),
    ("unknown paragraph", {"paris_paragraphs": ["99"]}, "paris_paragraphs"),
    ("blank title", {"title": "   "}, "title"),
    ("control characters", {"title": "Hello\u0000world"}, "title"),
    ("bidi override", {"narrative": "abc\u202edcba"}, "narrative"),
    ("title not a string", {"title": ["x"]}, "title"),
]


class TestValidation:
    @pytest.mark.parametrize(("case", "overrides", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
    def test_bad_input_names_the_field_and_writes_nothing(self, world: World, case: str,
                                                          overrides: dict[str, Any], field: str) -> None:
        response = world.client.post(API, json=notice_document(**overrides), headers=world.headers("fra_fp"))
        body = assert_problem(response, 422)
        assert field in body["detail"], body
        assert count_rows(world) == (0, 0)

    def test_malformed_json_is_a_problem(self, world: World) -> None:
        response = world.client.post(API, content=b'{"kind": ', headers={
            **world.headers("fra_fp"), "Content-Type": "application/json"})
        assert_problem(response, 422)
        assert count_rows(world) == (0, 0)

    def test_oversized_body_is_413(self, world: World) -> None:
        big = notice_document(narrative="x" * (3 * 1024 * 1024))
        assert_problem(world.client.post(API, json=big, headers=world.headers("fra_fp")), 413)
        assert count_rows(world) == (0, 0)

    def test_valid_identifiers_are_normalised(self, world: World) -> None:
        created = world.post_notice("fra_fp", subjects=[{"name": "A Corp", "identifiers": [
            {"scheme": "iban", "value": "ch93 0076 2011 6238 5295 7"},
            {"scheme": "bic", "value": "deutdeff"}]}])
        values = [i["value"] for i in created["subjects"][0]["identifiers"]]
        assert values == ["CH9300762011623852957", "DEUTDEFF"]

    def test_organisation_and_broadcast_recipients(self, world: World) -> None:
        make_party(world.runtime, code="EUROJUST", kind="organization")
        assert world.post_notice("fra_fp", recipients=["EUROJUST"])["recipients"] == ["EUROJUST"]
        assert world.post_notice("fra_fp", recipients=["*"], tlp="GREEN")["recipients"] == ["*"]


class TestRead:
    def test_recipients_and_author_read_others_get_404(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        url = f"{API}/{notice['id']}"
        for who in ("fra_fp", "nld_fp"):
            assert world.client.get(url, headers=world.headers(who)).status_code == 200
        absent = world.client.get(f"{API}/00000000-0000-4000-8000-000000000000",
                                  headers=world.headers("deu_fp"))
        for who in ("deu_fp", "icc_inv", "fra_auditor", "icc_admin"):
            hidden = world.client.get(url, headers=world.headers(who))
            body = assert_problem(hidden, 404)
            # Invisible and absent are indistinguishable but for the path echoed in `instance`.
            assert {k: v for k, v in body.items() if k != "instance"} == \
                {k: v for k, v in absent.json().items() if k != "instance"}

    def test_broadcast_is_visible_to_every_party(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["*"], tlp="GREEN")
        for who in ("nld_fp", "deu_fp", "icc_inv"):
            assert world.client.get(f"{API}/{notice['id']}", headers=world.headers(who)).status_code == 200

    @pytest.mark.parametrize("bad_id", ["not-a-uuid", "1 OR 1=1", "%27--", "0" * 64])
    def test_malformed_ids_look_absent(self, world: World, bad_id: str) -> None:
        assert_problem(world.client.get(f"{API}/{bad_id}", headers=world.headers("fra_fp")), 404)


class TestList:
    def test_only_visible_notices_newest_first_with_cursor(self, world: World) -> None:
        mine = [world.post_notice("fra_fp", recipients=["ICC"], title=f"t{i}")["id"] for i in range(5)]
        world.post_notice("deu_fp", recipients=["NLD"])  # invisible to FRA
        shared = world.post_notice("nld_fp", recipients=["FRA"])["id"]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = world.client.get(API, params=params, headers=world.headers("fra_fp"))
            assert page.status_code == 200, page.text
            seen += [item["id"] for item in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if not cursor:
                break
        assert seen == [shared, *reversed(mine)]

    def test_filters(self, world: World) -> None:
        a = world.post_notice("fra_fp", kind="financial_investigation", paris_paragraphs=["11"])
        b = world.post_notice("nld_fp", recipients=["FRA"], paris_paragraphs=["13", "12"])

        def ids(**params: Any) -> list[str]:
            response = world.client.get(API, params=params, headers=world.headers("fra_fp"))
            assert response.status_code == 200, response.text
            return [i["id"] for i in response.json()["items"]]

        assert ids(kind="financial_investigation") == [a["id"]]
        assert ids(paris_paragraph="12") == [b["id"]]
        assert ids(author_party="NLD") == [b["id"]]
        assert ids(since="2999-01-01T00:00:00Z") == []
        assert set(ids(since="2000-01-01T00:00:00Z")) == {a["id"], b["id"]}

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"cursor": "!!!"},
                                        {"kind": "rumour"}, {"since": "yesterday"},
                                        {"since": "2026-01-01T00:00:00"}])
    def test_bad_parameters_are_problems(self, world: World, params: dict[str, Any]) -> None:
        assert_problem(world.client.get(API, params=params, headers=world.headers("fra_fp")), 422)

    def test_roles_without_content_cannot_list(self, world: World) -> None:
        world.post_notice("fra_fp", recipients=["*"], tlp="CLEAR")
        for who in ("fra_auditor", "icc_admin"):
            assert_problem(world.client.get(API, headers=world.headers(who)), 403)


class TestRevise:
    def test_put_appends_and_history_keeps_every_revision(self, world: World) -> None:
        first = world.post_notice("fra_fp", title="first", recipients=["ICC"])
        url = f"{API}/{first['id']}"
        second = world.client.put(url, json=notice_document(title="second", recipients=["ICC", "NLD"]),
                                  headers=world.headers("fra_fp"))
        assert second.status_code == 200, second.text
        assert second.json()["revision"] == 2 and second.json()["created_at"] == first["created_at"]
        current = world.client.get(url, headers=world.headers("nld_fp")).json()
        assert current["title"] == "second" and current["revision"] == 2
        history = world.client.get(f"{url}/revisions", headers=world.headers("fra_fp")).json()["items"]
        assert [(r["revision"], r["title"], r["recipients"]) for r in history] == \
            [(1, "first", ["ICC"]), (2, "second", ["ICC", "NLD"])]
        assert count_rows(world) == (1, 2)

    def test_only_the_author_party_revises(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        url = f"{API}/{notice['id']}"
        assert_problem(world.client.put(url, json=notice_document(recipients=["NLD"]),
                                        headers=world.headers("nld_fp")), 403)
        assert_problem(world.client.put(url, json=notice_document(), headers=world.headers("deu_fp")), 404)
        assert count_rows(world) == (1, 1)

    def test_invalid_revision_leaves_the_notice_as_it_was(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        url = f"{API}/{notice['id']}"
        for bad in (notice_document(kind="financial_investigation"), notice_document(recipients=["BRA"]),
                    notice_document(tlp="RED", recipients=["*"])):
            assert_problem(world.client.put(url, json=bad, headers=world.headers("fra_fp")), 422)
        assert world.client.get(url, headers=world.headers("fra_fp")).json()["revision"] == 1
        assert count_rows(world) == (1, 1)

    def test_if_match_detects_lost_updates(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        url = f"{API}/{notice['id']}"
        ok = world.client.put(url, json=notice_document(title="v2"),
                              headers={**world.headers("fra_fp"), "If-Match": '"1"'})
        assert ok.status_code == 200
        stale = world.client.put(url, json=notice_document(title="v2 again"),
                                 headers={**world.headers("fra_fp"), "If-Match": '"1"'})
        assert_problem(stale, 409)

    def test_concurrent_revisions_are_serialised_none_lost(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        url = f"{API}/{notice['id']}"

        def revise(i: int) -> int:
            return world.client.put(url, json=notice_document(title=f"edit {i}"),
                                    headers=world.headers("fra_fp")).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(revise, range(16)))
        assert statuses == [200] * 16
        history = world.client.get(f"{url}/revisions", headers=world.headers("fra_fp")).json()["items"]
        assert [r["revision"] for r in history] == list(range(1, 18))
        assert sorted(r["title"] for r in history[1:]) == sorted(f"edit {i}" for i in range(16))

    def test_revisions_of_an_invisible_notice_are_404(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        assert_problem(world.client.get(f"{API}/{notice['id']}/revisions",
                                        headers=world.headers("deu_fp")), 404)


class TestReferenceData:
    def test_paragraphs_and_parties(self, world: World) -> None:
        paragraphs = world.client.get("/api/v1/paris-paragraphs", headers=world.headers("deu_fp")).json()
        assert [p["number"] for p in paragraphs["items"]] == ["11", "12", "13"]
        assert "freezing and seizure" in paragraphs["items"][2]["gist"]
        parties = world.client.get("/api/v1/parties", headers=world.headers("deu_fp")).json()["items"]
        assert {p["code"] for p in parties} == {"DEU", "FRA", "ICC", "NLD"}
