"""Requests for cooperation over HTTP: create, 422s with nothing written, visibility, lists, thread,
the whole status machine, concurrency, conversion, deadlines, the operator CLI."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from app.audit.models import AuditEntry
from app.db import utcnow
from app.errors import AppError, Conflict
from app.notifications.models import Notification
from app.requests import service
from app.requests.machine import FINAL, NEEDS_OBSTACLES, TRANSITIONS, Side
from app.requests.models import CooperationRequest, RequestMessage, RequestTransition
from app.requests.schemas import Status, TransitionCreate
from app.requests.tasks import run_deadlines
from app.runtime import Runtime
from tests.support.factories import World, assert_problem

API = "/api/v1/requests"


def request_document(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "addressee": "FRA", "type": "formal", "measures": ["tracing", "freezing"],
        "legal_basis": ["Rome Statute art. 93(1)(k)"], "priority": "standard",
        "title": "Freeze accounts of the suspect", "body": "Please trace and freeze.",
        "subjects": [{"name": "Jean-Pierre Exemple", "birth_date": "1962-11-04"},
                     {"name": "Marie Exemplaire"}],
        "tlp": "AMBER", "paris_paragraphs": ["13"],
    }
    doc.update(overrides)
    return doc


def create(world: World, who: str = "icc_inv", **overrides: Any) -> dict[str, Any]:
    response = world.client.post(API, json=request_document(**overrides), headers=world.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


def move(world: World, who: str, request_id: str, status: str, **extra: Any) -> Any:
    return world.client.post(f"{API}/{request_id}/transitions", json={"status": status, **extra},
                             headers=world.headers(who))


def count(runtime: Runtime, model: Any, *where: Any) -> int:
    with runtime.db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def kinds_for(world: World, who: str) -> list[str]:
    items = world.client.get("/api/v1/notifications", headers=world.headers(who)).json()["items"]
    return [i["kind"] for i in items]


class TestCreate:
    def test_court_to_state_with_default_deadline(self, world: World) -> None:
        before = utcnow()
        created = create(world)
        assert created["requester"] == "ICC" and created["addressee"] == "FRA"
        assert created["status"] == "sent" and created["overdue"] is False
        assert created["title"] == "Freeze accounts of the suspect"
        assert created["measures"] == ["freezing", "tracing"]
        due = datetime.fromisoformat(created["due_at"])
        days = world.runtime.settings.request_due_days_standard
        assert before + timedelta(days=days) <= due <= utcnow() + timedelta(days=days)
        assert created["allowed_transitions"] == ["withdrawn"]
        assert kinds_for(world, "fra_fp") == ["request.received"]
        assert kinds_for(world, "nld_fp") == [] and kinds_for(world, "icc_inv") == []

    def test_urgent_default_and_explicit_due_date(self, world: World) -> None:
        urgent = create(world, "fra_fp", addressee="NLD", priority="urgent")
        due = datetime.fromisoformat(urgent["due_at"])
        assert due - datetime.fromisoformat(urgent["created_at"]) == timedelta(
            days=world.runtime.settings.request_due_days_urgent)
        today = datetime.now(UTC).date()
        dated = create(world, "fra_fp", addressee="ICC", due_date=today.isoformat())
        assert dated["due_at"].startswith(today.isoformat())

    def test_state_to_state_links_a_visible_notice(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        created = create(world, "fra_fp", addressee="NLD", related_notices=[notice["id"]])
        assert created["related_notices"] == [notice["id"]]

    @pytest.mark.parametrize(("overrides", "field"), [
        ({"addressee": "ICC"}, "addressee"),          # own party
        ({"addressee": "ZZZ"}, "addressee"),          # not registered
        ({"addressee": "icc"}, "addressee"),
        ({"due_date": "2020-01-01"}, "due_date"),
        ({"due_date": "tomorrow"}, "due_date"),
        ({"measures": ["teleportation"]}, "measures[0]"),
        ({"measures": []}, "measures"),
        ({"type": "informal"}, "type"),
        ({"priority": "asap"}, "priority"),
        ({"paris_paragraphs": ["999"]}, "paris_paragraphs"),
        ({"title": ""}, "title"),
        ({"body": "a\u202eb"}, "body"),
        ({"tlp": "PURPLE"}, "tlp"),
        ({"legal_basis": []}, "legal_basis"),
        ({"subjects": [{"name": "X", "birth_date": "2999-01-01"}]}, "subjects[0].birth_date"),
        ({"related_notices": ["00000000-0000-4000-8000-000000000000"]}, "related_notices"),
        ({"surprise": 1}, "surprise"),
    ])
    def test_bad_input_names_the_field_and_writes_nothing(self, world: World, overrides: dict[str, Any],
                                                          field: str) -> None:
        response = world.client.post(API, json=request_document(**overrides),
                                     headers=world.headers("icc_inv"))
        body = assert_problem(response, 422)
        assert field in [e["field"] for e in body["errors"]], body
        assert count(world.runtime, CooperationRequest) == 0
        assert count(world.runtime, Notification) == 0
        assert count(world.runtime, AuditEntry, AuditEntry.action == "request.create") == 0

    def test_a_notice_the_caller_cannot_see_is_refused_like_an_absent_one(self, world: World) -> None:
        hidden = world.post_notice("nld_fp", recipients=["DEU"])
        body = assert_problem(world.client.post(API, json=request_document(
            related_notices=[hidden["id"]]), headers=world.headers("icc_inv")), 422)
        assert body["errors"] == [{"field": "related_notices", "message": "not visible"}]

    @pytest.mark.parametrize("who", ["fra_auditor", "icc_admin"])
    def test_only_content_roles_send(self, world: World, who: str) -> None:
        assert_problem(world.client.post(API, json=request_document(addressee="NLD"),
                                         headers=world.headers(who)), 403)


class TestVisibility:
    def test_only_requester_and_addressee_see_it(self, world: World) -> None:
        created = create(world)
        rid = created["id"]
        for who in ("icc_inv", "fra_fp"):
            assert world.client.get(f"{API}/{rid}", headers=world.headers(who)).status_code == 200
        for who in ("nld_fp", "deu_fp"):
            for method, path, body in (("GET", f"{API}/{rid}", None),
                                       ("GET", f"{API}/{rid}/messages", None),
                                       ("POST", f"{API}/{rid}/messages", {"body": "hello"}),
                                       ("POST", f"{API}/{rid}/transitions", {"status": "withdrawn"}),
                                       ("POST", f"{API}/{rid}/convert", None)):
                assert_problem(world.client.request(method, path, json=body,
                                                    headers=world.headers(who)), 404)
            for box in ("inbox", "outbox"):
                assert world.client.get(API, params={"box": box},
                                        headers=world.headers(who)).json()["items"] == []
        for who in ("fra_auditor", "icc_admin"):
            assert_problem(world.client.get(f"{API}/{rid}", headers=world.headers(who)), 404)
            assert_problem(world.client.get(API, headers=world.headers(who)), 403)
        assert count(world.runtime, RequestMessage) == 0
        denied = count(world.runtime, AuditEntry, AuditEntry.outcome == "denied",
                       AuditEntry.object_id == rid)
        assert denied >= 10


class TestLists:
    def test_inbox_outbox_filters_sort_and_pages(self, world: World) -> None:
        today = datetime.now(UTC).date()
        ids = [create(world, due_date=(today + timedelta(days=d)).isoformat())["id"] for d in (9, 3, 6)]
        other = create(world, "fra_fp", addressee="ICC")
        inbox = world.client.get(API, headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in inbox["items"]] == [ids[1], ids[2], ids[0]]  # soonest due first
        outbox = world.client.get(API, params={"box": "outbox"}, headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in outbox["items"]] == [other["id"]]
        newest = world.client.get(API, params={"sort": "created"}, headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in newest["items"]] == ids[::-1]
        page = world.client.get(API, params={"limit": 2}, headers=world.headers("fra_fp")).json()
        rest = world.client.get(API, params={"limit": 2, "cursor": page["next_cursor"]},
                                headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in page["items"] + rest["items"]] == [ids[1], ids[2], ids[0]]
        assert rest["next_cursor"] is None
        assert move(world, "fra_fp", ids[0], "acknowledged").status_code == 200
        acked = world.client.get(API, params={"status": "acknowledged"},
                                 headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in acked["items"]] == [ids[0]]
        with world.runtime.db.unit_of_work() as session:  # due dates cannot be set in the past: age one
            row = session.get(CooperationRequest, ids[2])
            assert row is not None
            row.due_at = utcnow() - timedelta(hours=1)
        late = world.client.get(API, params={"overdue": "true"}, headers=world.headers("fra_fp")).json()
        assert [(i["id"], i["overdue"]) for i in late["items"]] == [(ids[2], True)]
        on_time = world.client.get(API, params={"overdue": "false"},
                                   headers=world.headers("fra_fp")).json()
        assert {i["id"] for i in on_time["items"]} == {ids[0], ids[1]}
        assert_problem(world.client.get(API, params={"box": "spam"}, headers=world.headers("fra_fp")), 422)
        assert_problem(world.client.get(API, params={"cursor": "nonsense"},
                                        headers=world.headers("fra_fp")), 422)


class TestThread:
    def test_messages_both_ways_notify_the_other_side(self, world: World) -> None:
        rid = create(world)["id"]
        for who, text in (("fra_fp", "Which bank?"), ("icc_inv", "Banque Exemple, Geneva branch.")):
            response = world.client.post(f"{API}/{rid}/messages", json={"body": text},
                                         headers=world.headers(who))
            assert response.status_code == 201, response.text
        thread = world.client.get(f"{API}/{rid}/messages", headers=world.headers("icc_inv")).json()
        assert [(m["author_party"], m["body"]) for m in thread["items"]] == [
            ("FRA", "Which bank?"), ("ICC", "Banque Exemple, Geneva branch.")]
        assert kinds_for(world, "icc_inv") == ["request.message"]
        assert kinds_for(world, "fra_fp") == ["request.message", "request.received"]
        body = assert_problem(world.client.post(f"{API}/{rid}/messages", json={"body": ""},
                                                headers=world.headers("fra_fp")), 422)
        assert body["errors"][0]["field"] == "body"

    def test_consultation_becomes_formal_keeping_its_thread(self, world: World) -> None:
        rid = create(world, type="consultation", measures=["consultation"])["id"]
        world.client.post(f"{API}/{rid}/messages", json={"body": "Would this be executable?"},
                          headers=world.headers("icc_inv"))
        assert_problem(world.client.post(f"{API}/{rid}/convert", headers=world.headers("fra_fp")), 409)
        converted = world.client.post(f"{API}/{rid}/convert", headers=world.headers("icc_inv"))
        assert converted.status_code == 200, converted.text
        assert converted.json()["type"] == "formal" and converted.json()["id"] == rid
        assert converted.json()["converted_at"] is not None
        thread = world.client.get(f"{API}/{rid}/messages", headers=world.headers("fra_fp")).json()
        assert [m["body"] for m in thread["items"]] == ["Would this be executable?"]
        assert_problem(world.client.post(f"{API}/{rid}/convert", headers=world.headers("icc_inv")), 409)
        assert "request.status" in kinds_for(world, "fra_fp")


# -- the status machine -------------------------------------------------------------------------------
PATH_TO = {Status.SENT: [], Status.ACKNOWLEDGED: [Status.ACKNOWLEDGED],
           Status.IN_PROGRESS: [Status.ACKNOWLEDGED, Status.IN_PROGRESS]}
for final in (Status.EXECUTED, Status.PARTIALLY_EXECUTED, Status.REFUSED):
    PATH_TO[final] = [Status.ACKNOWLEDGED, Status.IN_PROGRESS, final]
PATH_TO[Status.WITHDRAWN] = [Status.WITHDRAWN]
SIDE_USER = {Side.REQUESTER: "icc_inv", Side.ADDRESSEE: "fra_fp"}


def extra_for(target: Status) -> dict[str, Any]:
    return {"obstacles": ["bank_secrecy"]} if target in NEEDS_OBSTACLES else {}


def reach(world: World, status: Status) -> str:
    rid = create(world)["id"]
    for step in PATH_TO[status]:
        who = SIDE_USER[TRANSITIONS[(Status(world_status(world, rid)), step)]]
        response = move(world, who, rid, step, **extra_for(step))
        assert response.status_code == 200, response.text
    return rid


def world_status(world: World, rid: str) -> str:
    return str(world.client.get(f"{API}/{rid}", headers=world.headers("icc_inv")).json()["status"])


def test_the_whole_status_machine(world: World) -> None:
    """Every (from, to, side): the table's moves succeed for the right side, every other is 409."""
    tried = 0
    for current, target, side in itertools.product(Status, Status, Side):
        rid = reach(world, current)
        response = move(world, SIDE_USER[side], rid, target, **extra_for(target))
        if TRANSITIONS.get((current, target)) == side:
            assert response.status_code == 200, (current, target, side, response.text)
            assert response.json()["status"] == target
            assert response.json()["overdue"] is False
        else:
            assert_problem(response, 409)
            assert world_status(world, rid) == current  # nothing moved
        tried += 1
    assert tried == len(Status) ** 2 * 2
    # Every move is audited, refused ones as denied.
    assert count(world.runtime, AuditEntry, AuditEntry.action == "request.transition",
                 AuditEntry.outcome == "denied") > 0
    assert count(world.runtime, RequestTransition) > 0


class TestObstacles:
    def test_vocabulary_is_served(self, world: World) -> None:
        items = world.client.get("/api/v1/obstacles", headers=world.headers("fra_auditor")).json()["items"]
        codes = {i["code"] for i in items}
        assert {"no_implementing_legislation", "no_legal_basis_for_measure",
                "insufficient_identification", "bank_secrecy", "assets_not_found"} <= codes

    @pytest.mark.parametrize("target", sorted(NEEDS_OBSTACLES))
    def test_required_known_and_recorded(self, world: World, target: Status) -> None:
        rid = reach(world, Status.IN_PROGRESS)
        body = assert_problem(move(world, "fra_fp", rid, target), 422)
        assert body["errors"] == [{"field": "obstacles", "message": "required"}]
        body = assert_problem(move(world, "fra_fp", rid, target, obstacles=["no_such_code"]), 422)
        assert body["errors"] == [{"field": "obstacles", "message": "unknown code"}]
        assert world_status(world, rid) == "in_progress"
        done = move(world, "fra_fp", rid, target, obstacles=["bank_secrecy", "assets_not_found"],
                    note="Secrecy lifted only for one account.")
        assert done.status_code == 200 and done.json()["obstacles"] == ["bank_secrecy", "assets_not_found"]
        thread = world.client.get(f"{API}/{rid}/messages", headers=world.headers("icc_inv")).json()
        assert thread["items"][-1]["body"] == "Secrecy lifted only for one account."
        assert "request.status" in kinds_for(world, "icc_inv")

    def test_obstacles_only_where_they_belong(self, world: World) -> None:
        rid = reach(world, Status.IN_PROGRESS)
        body = assert_problem(move(world, "fra_fp", rid, "executed", obstacles=["bank_secrecy"]), 422)
        assert body["errors"][0]["field"] == "obstacles"


def test_two_concurrent_transitions_exactly_one_wins(world: World) -> None:
    from app.auth.principal import Principal, Role

    runtime = world.runtime
    with runtime.db.unit_of_work() as session:
        from app.users.models import User

        users = {u.username: u.id for u in session.scalars(select(User))}
    requester = Principal(username="icc_inv", party="ICC", role=Role.COURT_INVESTIGATOR,
                          user_id=users["icc_inv"])
    addressee = Principal(username="fra_fp", party="FRA", role=Role.FOCAL_POINT, user_id=users["fra_fp"])
    for _ in range(6):
        # Executing and withdrawing both close it: whichever commits first, the other must fail.
        rid = reach(world, Status.IN_PROGRESS)
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def attempt(principal: Principal, status: Status, rid: str = rid,
                    barrier: threading.Barrier = barrier, outcomes: list[str] = outcomes) -> None:
            barrier.wait()
            try:
                with runtime.db.unit_of_work() as session:
                    service.transition_request(session, runtime, principal, rid,
                                               TransitionCreate(status=status))
                outcomes.append(f"won:{status}")
            except Conflict:
                outcomes.append("conflict")
            except AppError as exc:  # pragma: no cover - would be a bug
                outcomes.append(f"error:{exc.status}")

        threads = [threading.Thread(target=attempt, args=(addressee, Status.EXECUTED)),
                   threading.Thread(target=attempt, args=(requester, Status.WITHDRAWN))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes
        winner = next(o.split(":")[1] for o in outcomes if o.startswith("won"))
        assert world_status(world, rid) == winner
        assert count(runtime, RequestTransition, RequestTransition.request_id == rid) == 3


class TestDeadlines:
    def test_due_soon_then_overdue_once_each(self, world: World) -> None:
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        rid = create(world, due_date=tomorrow.isoformat())["id"]
        later = create(world, due_date=(tomorrow + timedelta(days=30)).isoformat())["id"]
        closed = reach(world, Status.WITHDRAWN)
        now = utcnow()
        first = run_deadlines(world.runtime, now=now)
        assert (first.due_soon, first.overdue) == (1, 0)
        again = run_deadlines(world.runtime, now=now + timedelta(minutes=5))
        assert (again.due_soon, again.overdue) == (0, 0)
        assert kinds_for(world, "fra_fp").count("request.due_soon") == 1
        assert "request.due_soon" not in kinds_for(world, "icc_inv")
        past = datetime.combine(tomorrow, datetime.min.time(), tzinfo=UTC) + timedelta(days=2)
        third = run_deadlines(world.runtime, now=past)
        assert (third.due_soon, third.overdue) == (0, 1)
        assert run_deadlines(world.runtime, now=past + timedelta(hours=1)).overdue == 0
        for who in ("fra_fp", "icc_inv"):
            assert kinds_for(world, who).count("request.overdue") == 1
        with world.runtime.db.unit_of_work() as session:
            ids = set(session.scalars(select(Notification.object_id).where(
                Notification.kind.in_(["request.due_soon", "request.overdue"]))))
        assert ids == {rid} and later not in ids and closed not in ids
        got = world.client.get(f"{API}/{rid}", headers=world.headers("fra_fp")).json()
        assert got["overdue"] is False  # against the real clock it is not due yet

    def test_final_requests_are_never_overdue(self, world: World) -> None:
        rid = reach(world, Status.EXECUTED)
        far = utcnow() + timedelta(days=400)
        assert run_deadlines(world.runtime, now=far).overdue == 0
        with world.runtime.db.unit_of_work() as session:
            row = session.get(CooperationRequest, rid)
            assert row is not None and not service.is_overdue(row, far)
            assert Status(row.status) in FINAL


def test_past_due_date_is_refused_by_the_service(world: World) -> None:
    from app.errors import InvalidInput

    with pytest.raises(InvalidInput):
        service.due_at_of(world.runtime, "standard", date.today() - timedelta(days=1), utcnow())


def test_request_subjects_are_searchable_by_both_parties_only(world: World) -> None:
    rid = create(world, subjects=[{"name": "Wojciech Przybylski-Canary", "birth_date": "1970-03-04"}])["id"]
    query = {"name": "Wojciech Przybylski Canary", "birth_date": "1970-03-04"}
    for who in ("icc_inv", "fra_fp"):
        found = world.client.post("/api/v1/search/subjects", json=query, headers=world.headers(who))
        assert found.status_code == 200, found.text
        hits = found.json()["request_matches"]
        assert [h["request_id"] for h in hits] == [rid]
        assert hits[0]["subject"]["name"] == "Wojciech Przybylski-Canary"
        assert "birth_date" in hits[0]["matched_on"] and hits[0]["score"] > 0.8
    for who in ("nld_fp", "deu_fp"):
        found = world.client.post("/api/v1/search/subjects", json=query, headers=world.headers(who))
        assert found.json()["request_matches"] == []
    assert count(world.runtime, AuditEntry, AuditEntry.action == "search.hit",
                 AuditEntry.object_id == rid) == 2
