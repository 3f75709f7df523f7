"""Statistics over HTTP: exact figures on a known corpus for every breakdown and scope, suppression,
the side-channel test (invisible notices), revisions replacing their contribution, the rebuild, the
yearly report, and 422s for bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.audit.models import AuditEntry
from app.auth.principal import Principal, Role
from app.db import utcnow
from app.notices.models import Notice
from app.requests.models import CooperationRequest
from app.stats.models import StatCell
from app.stats.report import report_csv, report_json
from app.stats.service import yearly_report
from app.stats.tasks import rebuild_statistics
from tests.support.factories import World, assert_problem

API = "/api/v1/stats"
OPERATOR = Principal(username="cli:test", party="-", role=Role.ADMIN)


def asset(status: str, jurisdiction: str | None = None, amount: str | None = None,
          currency: str = "EUR") -> dict[str, Any]:
    doc: dict[str, Any] = {"type": "other", "status": status}
    if jurisdiction:
        doc["jurisdiction"] = jurisdiction
    if amount is not None:
        doc["value"] = {"amount": amount, "currency": currency}
    return doc


def post(world: World, who: str, kind: str = "frozen_asset", paragraphs: tuple[str, ...] = ("13",),
         assets: list[dict[str, Any]] | None = None, recipients: tuple[str, ...] = ("ICC",)) -> str:
    return str(world.post_notice(who, kind=kind, paris_paragraphs=list(paragraphs),
                                 assets=assets or [], recipients=list(recipients))["id"])


def corpus(world: World) -> dict[str, str]:
    """FRA: three notices; NLD: three; DEU: one (all this month)."""
    return {
        "F1": post(world, "fra_fp", assets=[asset("frozen", "CHE", "100.50"),
                                            asset("seized", "FRA", "200")]),
        "F2": post(world, "fra_fp", paragraphs=("12", "13"),
                   assets=[asset("frozen", "CHE", "1000.25"), asset("identified")]),
        "F3": post(world, "fra_fp", kind="financial_investigation", paragraphs=("12",)),
        "N1": post(world, "nld_fp", assets=[asset("frozen", "NLD", "50", "USD")]),
        "N2": post(world, "nld_fp", assets=[asset("frozen", "CHE", "10")]),
        "N3": post(world, "nld_fp", assets=[asset("frozen", "CHE", "5")]),
        "D1": post(world, "deu_fp", paragraphs=("11",), assets=[asset("frozen", "CHE", "1")]),
    }


def stats(world: World, who: str, what: str, by: str, scope: str = "mine", **extra: Any) -> Any:
    response = world.client.get(f"{API}/{what}", params={"by": by, "scope": scope, **extra},
                                headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


MONTH = utcnow().strftime("%Y-%m")


class TestMine:
    def test_notices_every_breakdown(self, world: World) -> None:
        corpus(world)
        assert stats(world, "fra_fp", "notices", "paris_paragraph") == {
            "rows": [{"paris_paragraph": "12", "notices": 2}, {"paris_paragraph": "13", "notices": 2}],
            "suppressed": 0}
        assert stats(world, "fra_fp", "notices", "kind")["rows"] == [
            {"kind": "financial_investigation", "notices": 1}, {"kind": "frozen_asset", "notices": 2}]
        assert stats(world, "fra_fp", "notices", "month")["rows"] == [{"month": MONTH, "notices": 3}]
        assert stats(world, "nld_fp", "notices", "paris_paragraph")["rows"] == [
            {"paris_paragraph": "13", "notices": 3}]

    def test_assets_every_breakdown(self, world: World) -> None:
        corpus(world)
        assert stats(world, "fra_fp", "assets", "status") == {"rows": [
            {"status": "identified", "currency": None, "assets": 1, "notices": 1, "total": None},
            {"status": "frozen", "currency": "EUR", "assets": 2, "notices": 2, "total": "1100.75"},
            {"status": "seized", "currency": "EUR", "assets": 1, "notices": 1, "total": "200.00"},
        ], "suppressed": 0}
        assert stats(world, "fra_fp", "assets", "jurisdiction")["rows"] == [
            {"jurisdiction": None, "currency": None, "assets": 1, "notices": 1, "total": None},
            {"jurisdiction": "CHE", "currency": "EUR", "assets": 2, "notices": 2, "total": "1100.75"},
            {"jurisdiction": "FRA", "currency": "EUR", "assets": 1, "notices": 1, "total": "200.00"}]
        assert stats(world, "fra_fp", "assets", "paris_paragraph")["rows"] == [
            {"paris_paragraph": "12", "currency": None, "assets": 1, "notices": 1, "total": None},
            {"paris_paragraph": "12", "currency": "EUR", "assets": 1, "notices": 1, "total": "1000.25"},
            {"paris_paragraph": "13", "currency": None, "assets": 1, "notices": 1, "total": None},
            {"paris_paragraph": "13", "currency": "EUR", "assets": 3, "notices": 2, "total": "1300.75"}]
        assert stats(world, "fra_fp", "assets", "month")["rows"] == [
            {"month": MONTH, "status": "identified", "currency": None, "assets": 1, "notices": 1,
             "total": None},
            {"month": MONTH, "status": "frozen", "currency": "EUR", "assets": 2, "notices": 2,
             "total": "1100.75"},
            {"month": MONTH, "status": "seized", "currency": "EUR", "assets": 1, "notices": 1,
             "total": "200.00"}]
        assert stats(world, "nld_fp", "assets", "status")["rows"] == [
            {"status": "frozen", "currency": "EUR", "assets": 2, "notices": 2, "total": "15.00"},
            {"status": "frozen", "currency": "USD", "assets": 1, "notices": 1, "total": "50.00"}]

    def test_icc_sees_none_of_the_states_figures_as_its_own(self, world: World) -> None:
        corpus(world)
        assert stats(world, "icc_inv", "notices", "kind") == {"rows": [], "suppressed": 0}


class TestPlatform:
    def test_aggregated_and_small_cells_suppressed(self, world: World) -> None:
        corpus(world)
        # For FRA, the notices of others (NLD, DEU) decide: 13 has NLD's three; 11 has one; 12 none.
        assert stats(world, "fra_fp", "notices", "paris_paragraph", "platform") == {
            "rows": [{"paris_paragraph": "13", "notices": 5}], "suppressed": 2}
        assert stats(world, "fra_fp", "notices", "kind", "platform") == {
            "rows": [{"kind": "frozen_asset", "notices": 6}], "suppressed": 1}
        assert stats(world, "fra_fp", "notices", "month", "platform")["rows"] == [
            {"month": MONTH, "notices": 7}]
        assert stats(world, "fra_fp", "assets", "status", "platform") == {"rows": [
            {"status": "frozen", "currency": "EUR", "assets": 5, "notices": 5, "total": "1116.75"}],
            "suppressed": 3}
        # For NLD, FRA's two and DEU's one make the frozen EUR cell; its own USD cell stays withheld.
        assert stats(world, "nld_fp", "assets", "status", "platform") == {"rows": [
            {"status": "frozen", "currency": "EUR", "assets": 5, "notices": 5, "total": "1116.75"}],
            "suppressed": 3}
        # Paragraph 13 in EUR holds four notices, but only two of other parties than NLD: withheld.
        assert stats(world, "nld_fp", "assets", "paris_paragraph", "platform") == {
            "rows": [], "suppressed": 6}

    @pytest.mark.parametrize(("what", "by"), [("assets", "jurisdiction"), ("requests", "addressee"),
                                              ("requests", "requester")])
    def test_never_broken_down_by_party(self, world: World, what: str, by: str) -> None:
        response = world.client.get(f"{API}/{what}", params={"by": by, "scope": "platform"},
                                    headers=world.headers("fra_fp"))
        assert "scope=mine" in assert_problem(response, 422)["detail"]

    def test_platform_minus_mine_never_isolates_fewer_than_three_of_others(self, world: World) -> None:
        # Two of FRA's own plus one of NLD's: five in all would pass a plain count of three.
        post(world, "fra_fp", paragraphs=("11",))
        post(world, "fra_fp", paragraphs=("11",))
        post(world, "nld_fp", paragraphs=("11",))
        table = stats(world, "fra_fp", "notices", "paris_paragraph", "platform")
        assert table == {"rows": [], "suppressed": 1}


def snapshot(world: World, who: str) -> dict[tuple[str, str, str], Any]:
    return {(what, by, scope): stats(world, who, what, by, scope)
            for what, bys in (("notices", ("paris_paragraph", "kind", "month")),
                              ("assets", ("status", "paris_paragraph", "month")))
            for by in bys for scope in ("mine", "platform")}


class TestSideChannel:
    def test_invisible_notices_move_only_unsuppressed_aggregates(self, world: World) -> None:
        corpus(world)
        before = snapshot(world, "nld_fp")
        # FRA shares this with DEU only: NLD may not see it, nor learn of it from statistics.
        secret = post(world, "fra_fp", paragraphs=("11",), assets=[asset("seized", "CHE", "7")],
                      recipients=("DEU",))
        assert world.client.get(f"/api/v1/notices/{secret}",
                                headers=world.headers("nld_fp")).status_code == 404
        after = snapshot(world, "nld_fp")
        for key in before:
            if key[2] == "mine":
                assert after[key] == before[key], key
                continue
            # The suppressed count and the set of cells shown stay; shown cells may grow, and each
            # of them is built from at least three notices of other parties.
            assert after[key]["suppressed"] == before[key]["suppressed"], key
            shown = [{k: v for k, v in r.items() if k not in ("notices", "assets", "total")}
                     for r in after[key]["rows"]]
            assert shown == [{k: v for k, v in r.items() if k not in ("notices", "assets", "total")}
                             for r in before[key]["rows"]], key
        moved = {k for k in before if after[k] != before[k]}
        assert moved == {("notices", "kind", "platform"), ("notices", "month", "platform")}
        assert after[("notices", "kind", "platform")]["rows"] == [
            {"kind": "frozen_asset", "notices": 7}]

    def test_a_third_notice_of_others_makes_a_cell_appear(self, world: World) -> None:
        corpus(world)
        post(world, "fra_fp", paragraphs=("11",), recipients=("DEU",))
        assert {"paris_paragraph": "11", "notices": 2} not in stats(
            world, "nld_fp", "notices", "paris_paragraph", "platform")["rows"]
        post(world, "fra_fp", paragraphs=("11",), recipients=("DEU",))
        rows = stats(world, "nld_fp", "notices", "paris_paragraph", "platform")["rows"]
        assert {"paris_paragraph": "11", "notices": 3} in rows


class TestRevisions:
    def test_a_revision_replaces_its_previous_contribution(self, world: World) -> None:
        ids = corpus(world)
        doc = world.client.get(f"/api/v1/notices/{ids['F1']}", headers=world.headers("fra_fp")).json()
        revised = {k: doc[k] for k in ("kind", "title", "tlp", "recipients", "reference", "subjects",
                                       "narrative")}
        revised.update(paris_paragraphs=["11"], assets=[asset("seized", "CHE", "300"),
                                                        asset("seized", "FRA", "200")])
        response = world.client.put(f"/api/v1/notices/{ids['F1']}", json=revised,
                                    headers=world.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert stats(world, "fra_fp", "assets", "status")["rows"] == [
            {"status": "identified", "currency": None, "assets": 1, "notices": 1, "total": None},
            {"status": "frozen", "currency": "EUR", "assets": 1, "notices": 1, "total": "1000.25"},
            {"status": "seized", "currency": "EUR", "assets": 2, "notices": 1, "total": "500.00"}]
        assert stats(world, "fra_fp", "notices", "paris_paragraph")["rows"] == [
            {"paris_paragraph": "11", "notices": 1}, {"paris_paragraph": "12", "notices": 2},
            {"paris_paragraph": "13", "notices": 1}]
        # Revising again to the same content changes nothing.
        again = world.client.put(f"/api/v1/notices/{ids['F1']}", json=revised,
                                 headers=world.headers("fra_fp"))
        assert again.status_code == 200
        assert stats(world, "fra_fp", "notices", "kind")["rows"] == [
            {"kind": "financial_investigation", "notices": 1}, {"kind": "frozen_asset", "notices": 2}]

    def test_rebuild_recounts_the_same_figures(self, world: World) -> None:
        corpus(world)
        with world.runtime.db.unit_of_work() as session:
            before = _cells(session)
            session.execute(update(StatCell).values(items=99))  # damaged aggregates
        assert rebuild_statistics(world.runtime, OPERATOR, batch=3) == 7
        with world.runtime.db.unit_of_work() as session:
            assert _cells(session) == before


def _cells(session: Any) -> list[tuple[Any, ...]]:
    return sorted((c.subject, c.dimension, c.party, c.month, c.value, c.currency, c.items, c.notices,
                   c.amount_units, c.amount_fraction)
                  for c in session.scalars(select(StatCell)) if c.notices)


def make_requests(world: World, d0: datetime | None = None) -> dict[str, str]:
    """Seven requests with known timestamps: R1..R7 (see the figures in TestRequests)."""
    def create(who: str, addressee: str, priority: str) -> str:
        response = world.client.post("/api/v1/requests", json={
            "addressee": addressee, "type": "formal", "measures": ["tracing"],
            "legal_basis": ["Rome Statute art. 93(1)(k)"], "priority": priority, "title": "Stats",
            "body": "Stats", "tlp": "AMBER", "paris_paragraphs": ["13"]}, headers=world.headers(who))
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def move(who: str, rid: str, *statuses: str, obstacles: list[str] | None = None) -> None:
        for status in statuses:
            body: dict[str, Any] = {"status": status}
            if status in ("refused", "partially_executed"):
                body["obstacles"] = obstacles or []
            response = world.client.post(f"/api/v1/requests/{rid}/transitions", json=body,
                                         headers=world.headers(who))
            assert response.status_code == 200, response.text

    ids = {"R1": create("icc_inv", "FRA", "urgent"), "R2": create("icc_inv", "FRA", "standard"),
           "R3": create("fra_fp", "NLD", "standard"), "R4": create("nld_fp", "DEU", "urgent"),
           "R5": create("deu_fp", "NLD", "standard"), "R6": create("icc_inv", "DEU", "standard"),
           "R7": create("nld_fp", "DEU", "standard")}
    move("fra_fp", ids["R1"], "acknowledged", "in_progress", "executed")
    move("fra_fp", ids["R2"], "acknowledged", "in_progress", "refused", obstacles=["bank_secrecy"])
    move("deu_fp", ids["R4"], "acknowledged", "in_progress", "executed")
    move("deu_fp", ids["R5"], "withdrawn")
    move("deu_fp", ids["R6"], "acknowledged", "in_progress", "partially_executed",
         obstacles=["bank_secrecy", "assets_not_found"])
    d0 = d0 or utcnow() - timedelta(days=100)
    day = timedelta(days=1)
    # (acknowledged after, closed after, due after) in days from d0; None: not reached.
    plan = {"R1": (2, 10, 14), "R2": (4, 40, 30), "R3": (None, None, 30), "R4": (1, 5, 7),
            "R5": (None, 3, 30), "R6": (3, 20, 30), "R7": (None, None, 130)}
    with world.runtime.db.unit_of_work() as session:
        for name, (ack, closed, due) in plan.items():
            session.execute(update(CooperationRequest).where(CooperationRequest.id == ids[name]).values(
                created_at=d0, acknowledged_at=None if ack is None else d0 + ack * day,
                closed_at=None if closed is None else d0 + closed * day, due_at=d0 + due * day))
    return ids


class TestRequests:
    def test_mine_every_breakdown(self, world: World) -> None:
        make_requests(world)
        assert stats(world, "fra_fp", "requests", "addressee") == {"rows": [
            {"addressee": "FRA", "requests": 2, "median_days_to_acknowledge": 3.0,
             "median_days_to_close": 25.0, "closed_on_time_share": 0.5},
            {"addressee": "NLD", "requests": 1, "median_days_to_acknowledge": None,
             "median_days_to_close": None, "closed_on_time_share": 0.0}], "suppressed": 0}
        assert [(r["requester"], r["requests"]) for r in
                stats(world, "fra_fp", "requests", "requester")["rows"]] == [("FRA", 1), ("ICC", 2)]
        assert [(r["status"], r["requests"]) for r in
                stats(world, "fra_fp", "requests", "status")["rows"]] == [
            ("executed", 1), ("refused", 1), ("sent", 1)]
        assert stats(world, "fra_fp", "requests", "obstacle")["rows"] == [
            {"obstacle": "bank_secrecy", "requests": 1, "median_days_to_acknowledge": 4.0,
             "median_days_to_close": 40.0, "closed_on_time_share": 0.0}]
        assert stats(world, "fra_fp", "requests", "priority")["rows"] == [
            {"priority": "standard", "requests": 2, "median_days_to_acknowledge": 4.0,
             "median_days_to_close": 40.0, "closed_on_time_share": 0.0},
            {"priority": "urgent", "requests": 1, "median_days_to_acknowledge": 2.0,
             "median_days_to_close": 10.0, "closed_on_time_share": 1.0}]

    def test_platform_suppresses_cells_of_fewer_than_three_requests_of_others(self,
                                                                              world: World) -> None:
        make_requests(world)
        # Not involving FRA: R4 (urgent), R5, R6, R7 (standard).
        assert stats(world, "fra_fp", "requests", "priority", "platform") == {"rows": [
            {"priority": "standard", "requests": 5, "median_days_to_acknowledge": 3.5,
             "median_days_to_close": 30.0, "closed_on_time_share": 0.333}], "suppressed": 1}
        # Not involving DEU: R1, R2 (ICC-FRA), R3 (FRA-NLD); one obstacle cell of them (R2's).
        assert stats(world, "deu_fp", "requests", "obstacle", "platform") == {
            "rows": [], "suppressed": 2}
        assert stats(world, "deu_fp", "requests", "priority", "platform") == {"rows": [],
                                                                              "suppressed": 2}
        # Not involving ICC: R3, R5, R7 (standard) and R4 (urgent).
        assert stats(world, "icc_inv", "requests", "priority", "platform") == {"rows": [
            {"priority": "standard", "requests": 5, "median_days_to_acknowledge": 3.5,
             "median_days_to_close": 30.0, "closed_on_time_share": 0.333}], "suppressed": 1}


class TestReport:
    def test_a_known_year(self, world: World) -> None:
        corpus(world)
        year = 2025
        moment = datetime(year, 3, 15, tzinfo=UTC)
        make_requests(world, d0=moment)
        with world.runtime.db.unit_of_work() as session:  # as if posted in March 2025
            session.execute(update(Notice).values(created_at=moment))
        rebuild_statistics(world.runtime, OPERATOR)
        now = datetime(year, 6, 1, tzinfo=UTC)  # R3 is past due then, R7 not yet
        with world.runtime.db.unit_of_work() as session:
            report = yearly_report(session, OPERATOR, year, now=now)
            empty = yearly_report(session, OPERATOR, year + 1, now=now)
        s = report.sections
        # The operator has no party: every notice is another party's.
        assert s["notices_by_paragraph"].rows == [{"paris_paragraph": "13", "notices": 5}]
        assert s["notices_by_paragraph"].suppressed == 2  # 11 (one notice) and 12 (two)
        assert s["notices_by_month"].rows == [{"month": "2025-03", "notices": 7}]
        assert s["assets_by_status"].rows == [
            {"status": "frozen", "currency": "EUR", "assets": 5, "notices": 5, "total": "1116.75"}]
        assert s["assets_by_status"].suppressed == 3
        assert s["requests_by_priority"].rows == [
            {"priority": "standard", "requests": 5, "median_days_to_acknowledge": 3.5,
             "median_days_to_close": 30.0, "closed_on_time_share": 0.333}]
        assert s["requests_by_priority"].suppressed == 1  # urgent: two requests
        assert s["requests_by_outcome"].suppressed == 5  # each outcome has one or two requests
        assert s["obstacles_ranked"].rows == [] and s["obstacles_ranked"].suppressed == 2
        assert all(not t.rows for t in empty.sections.values())
        document = report_json(report)
        assert document["year"] == 2025 and document["scope"] == "platform"
        assert document["sections"]["notices_by_month"]["rows"] == [{"month": "2025-03", "notices": 7}]
        lines = report_csv(report).splitlines()
        assert lines[0].startswith("year,section,") and lines[0].endswith(",suppressed")
        assert [line for line in lines if line.startswith("2025,notices_by_month,")
                and ",7," in line], lines


class TestBadParameters:
    @pytest.mark.parametrize(("path", "params"), [
        ("notices", {"by": "party"}), ("notices", {}), ("notices", {"by": "kind", "scope": "all"}),
        ("assets", {"by": "amount"}), ("requests", {"by": "status", "year": "1066"}),
        ("requests", {"by": "status", "colour": "red"}), ("assets", {"by": "status", "year": "x"}),
    ])
    def test_422_problem_documents(self, world: World, path: str, params: dict[str, str]) -> None:
        assert_problem(world.client.get(f"{API}/{path}", params=params,
                                        headers=world.headers("fra_fp")), 422)

    @pytest.mark.parametrize(("path", "by"), [("notices", "kind"), ("assets", "status"),
                                              ("requests", "status")])
    def test_the_last_allowed_year_is_an_empty_answer(self, world: World, path: str, by: str) -> None:
        """Year 9999 has no next New Year (a 500 found by schemathesis)."""
        response = world.client.get(f"{API}/{path}", params={"by": by, "year": "9999"},
                                    headers=world.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert response.json() == {"rows": [], "suppressed": 0}

    @pytest.mark.parametrize("who", ["fra_auditor", "icc_admin"])
    def test_roles_without_content_are_refused_and_audited(self, world: World, who: str) -> None:
        response = world.client.get(f"{API}/notices", params={"by": "kind", "scope": "platform"},
                                    headers=world.headers(who))
        assert_problem(response, 403)
        with world.runtime.db.unit_of_work() as session:
            assert session.scalar(select(AuditEntry.outcome).where(
                AuditEntry.action == "stats.read").order_by(AuditEntry.id.desc())) == "denied"

    def test_a_read_is_audited(self, world: World) -> None:
        stats(world, "fra_fp", "assets", "status", "platform")
        with world.runtime.db.unit_of_work() as session:
            assert session.scalar(select(AuditEntry.object_id).where(
                AuditEntry.action == "stats.read")) == "assets:status:platform"
