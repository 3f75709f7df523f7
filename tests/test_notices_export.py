"""FollowTheMoney export of notices: GET /notices/{id}/export?format=ftm and `arx export`.

Every exported entity is validated with the `followthemoney` library (tests/support/ftm.py): known
schema and properties, values already clean, required properties present, references resolved.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.principal import Principal, Role
from app.config import Settings
from app.notices.schemas import NoticeDocument
from app.notices.service import create_notice
from app.runtime import Runtime
from app.users.models import User
from tests.support.database import DatabaseFactory
from tests.support.factories import PASSWORD, World, assert_problem, notice_document
from tests.support.ftm import validate_ftm_lines

SUBJECTS: list[dict[str, Any]] = [
    {"name": "Jean-Pierre Exemple", "aliases": ["J.P. Exemple", "Jean Pierre Exemple"],
     "birth_date": "1962-11-04", "nationality": "COD",
     "identifiers": [{"scheme": "passport", "value": "OB0123456"},
                     {"scheme": "national_id", "value": "CD-1962-0042"},
                     {"scheme": "tax_id", "value": "A1234567"}]},
    {"name": "Exemple Holdings SARL",
     "identifiers": [{"scheme": "lei", "value": "529900T8BM49AURSDO55"},
                     {"scheme": "other", "value": "Z" * 80}]},  # longer than FtM identifiers allow
]
ASSETS: list[dict[str, Any]] = [
    {"type": "bank_account", "description": "Current account", "jurisdiction": "CHE",
     "identifier": "CH9300762011623852957", "value": {"amount": "1250000.00", "currency": "EUR"},
     "status": "frozen", "status_date": "2026-10-02", "order_reference": "2026/114"},
    {"type": "bank_account", "identifier": "0012345678", "jurisdiction": "USA",
     "value": {"amount": "5000", "currency": "USD"}, "status": "identified"},
    {"type": "real_estate", "description": "Villa\nCap d'Antibes", "jurisdiction": "FRA",
     "status": "seized", "status_date": "2026-03-01", "order_reference": "TJ Nice 26/77"},
    {"type": "vessel", "description": "Yacht Exemplaire", "identifier": "9074729",
     "status": "confiscated"},
    {"type": "vehicle", "identifier": "AB-123-CD", "status": "traced"},
    {"type": "aircraft", "identifier": "N12345", "status": "released", "status_date": "2026-04-01"},
    {"type": "securities", "identifier": "US0378331005", "status": "frozen",
     "value": {"amount": "10.5", "currency": "USD"}},
    {"type": "company_shares", "identifier": "HRB 1234", "status": "returned"},
    {"type": "crypto_assets", "identifier": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
     "status": "frozen"},
    {"type": "cash", "value": {"amount": "20000", "currency": "EUR"}, "status": "seized"},
    {"type": "precious_goods", "description": "Jewellery", "status": "identified"},
    {"type": "artwork", "identifier": "INV-77", "status": "identified"},  # not in the vocabulary
]
SCHEMAS = ["BankAccount", "BankAccount", "RealEstate", "Vessel", "Vehicle", "Airplane", "Security",
           "Security", "CryptoWallet", "Asset", "Asset", "Asset"]


def export(world: World, who: str, notice_id: str, **params: str) -> Any:
    return world.client.get(f"/api/v1/notices/{notice_id}/export",
                            params={"format": "ftm", **params}, headers=world.headers(who))


def by_schema(entities: list[Any], schema: str) -> list[Any]:
    return [e for e in entities if e.schema.name == schema]


class TestMapping:
    def test_every_entity_validates_and_maps_the_notice(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC"], subjects=SUBJECTS, assets=ASSETS)
        response = export(world, "icc_inv", notice["id"])
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["content-disposition"] == (
            f'attachment; filename="notice-{notice["id"]}-r1.ftm.json"')
        entities = validate_ftm_lines(response.text)

        persons = by_schema(entities, "Person")
        assert [p.get("name") for p in persons] == [["Jean-Pierre Exemple"], ["Exemple Holdings SARL"]]
        jp = persons[0]
        assert jp.get("alias") == ["J.P. Exemple", "Jean Pierre Exemple"]
        assert jp.get("birthDate") == ["1962-11-04"] and jp.get("nationality") == ["cd"]
        assert jp.get("passportNumber") == ["OB0123456"] and jp.get("idNumber") == ["CD-1962-0042"]
        assert jp.get("taxNumber") == ["A1234567"]
        assert persons[1].get("leiCode") == ["529900T8BM49AURSDO55"]
        assert persons[1].get("notes") == ["other: " + "Z" * 80]  # kept whole, not cut

        assets = [e for e in entities if e.schema.is_a("Value") and e.schema.name != "Sanction"]
        assert [a.schema.name for a in assets] == SCHEMAS
        account = assets[0]
        assert account.get("iban") == ["CH9300762011623852957"] and account.get("country") == ["ch"]
        assert account.get("amount") == ["1250000.00"] and account.get("currency") == ["EUR"]
        assert account.get("summary") == ["ARX status: frozen on 2026-10-02; order reference 2026/114"]
        assert assets[1].get("accountNumber") == ["0012345678"] and not assets[1].get("iban")
        assert assets[3].get("imoNumber") == ["IMO9074729"] and assets[3].get("name")
        assert assets[6].get("isin") == ["US0378331005"]
        assert assets[8].get("publicKey") == ["bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"]
        assert assets[11].get("notes") == ["identifier: INV-77"]

        sanctions = by_schema(entities, "Sanction")
        measured = [a for a, doc in zip(assets, ASSETS, strict=True)
                    if doc["status"] not in ("identified", "traced")]
        assert [s.get("entity") for s in sanctions] == [[a.id] for a in measured]
        freeze = sanctions[0]
        assert freeze.get("status") == ["frozen"] and freeze.get("provisions") == ["Asset freeze"]
        assert freeze.get("authorityId") == ["2026/114"] and freeze.get("startDate") == ["2026-10-02"]
        released = next(s for s in sanctions if s.get("status") == ["released"])
        assert released.get("endDate") == ["2026-04-01"] and not released.get("startDate")

        links = by_schema(entities, "Ownership")
        assert {(o.first("owner"), o.first("asset")) for o in links} == {
            (p.id, a.id) for p in persons for a in assets}
        # Only what the notice says: no narrative, title or national reference in any entity.
        for secret in ("free text", "Accounts frozen under order", "national case reference"):
            assert secret not in response.text

    def test_a_notice_without_subjects_or_assets_exports_nothing(self, world: World) -> None:
        notice = world.post_notice("fra_fp", subjects=[], assets=[])
        response = export(world, "fra_fp", notice["id"])
        assert response.status_code == 200 and response.text == ""


class TestIds:
    def test_ids_are_stable_per_revision_and_new_for_a_new_revision(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC"], subjects=SUBJECTS, assets=ASSETS)
        first, again = export(world, "icc_inv", notice["id"]), export(world, "fra_fp", notice["id"])
        assert first.status_code == again.status_code == 200
        assert first.text == again.text  # same revision, same caller or not: byte for byte
        revised = world.client.put(f"/api/v1/notices/{notice['id']}", headers=world.headers("fra_fp"),
                                   json=notice_document(recipients=["ICC"], subjects=SUBJECTS,
                                                        assets=ASSETS))
        assert revised.status_code == 200, revised.text
        second = export(world, "icc_inv", notice["id"])
        assert second.headers["content-disposition"].endswith('-r2.ftm.json"')
        ids = {e.id for e in validate_ftm_lines(first.text)}
        new_ids = {e.id for e in validate_ftm_lines(second.text)}
        assert len(new_ids) == len(ids) and ids.isdisjoint(new_ids)

    def test_ids_differ_between_notices_with_the_same_content(self, world: World) -> None:
        a, b = world.post_notice("fra_fp"), world.post_notice("fra_fp")
        ids_a = {e.id for e in validate_ftm_lines(export(world, "fra_fp", a["id"]).text)}
        ids_b = {e.id for e in validate_ftm_lines(export(world, "fra_fp", b["id"]).text)}
        assert ids_a and ids_a.isdisjoint(ids_b)


class TestAccess:
    def shape(self, response: Any) -> tuple[Any, ...]:
        body = dict(response.json())
        body.pop("instance")
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("x-request-id", "date", "content-length")}
        return response.status_code, headers, body

    def test_an_invisible_notice_answers_exactly_like_an_absent_one(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC"])
        absent = export(world, "nld_fp", str(uuid.uuid4()))
        assert_problem(absent, 404)
        for who in ("nld_fp", "deu_fp", "fra_auditor", "icc_admin"):
            hidden = export(world, who, notice["id"])
            assert_problem(hidden, 404)
            assert self.shape(hidden) == self.shape(absent), who

    def test_recipients_and_the_author_party_export_other_states_do_not(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["DEU", "ICC"])
        for who in ("fra_fp", "deu_fp", "icc_inv"):
            assert export(world, who, notice["id"]).status_code == 200, who
        assert_problem(export(world, "nld_fp", notice["id"]), 404)

    def test_a_state_removed_from_the_recipients_no_longer_exports(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD", "ICC"])
        assert export(world, "nld_fp", notice["id"]).status_code == 200
        revised = world.client.put(f"/api/v1/notices/{notice['id']}", headers=world.headers("fra_fp"),
                                   json=notice_document(recipients=["ICC"]))
        assert revised.status_code == 200, revised.text
        assert_problem(export(world, "nld_fp", notice["id"]), 404)

    def test_a_broadcast_notice_exports_for_every_content_role_only(self, world: World) -> None:
        notice = world.post_notice("nld_fp", recipients=["*"], tlp="GREEN")
        for who in ("fra_fp", "deu_fp", "icc_inv"):
            assert export(world, who, notice["id"]).status_code == 200, who
        for who in ("fra_auditor", "icc_admin"):
            assert_problem(export(world, who, notice["id"]), 404)

    def test_no_token_no_export(self, world: World) -> None:
        notice = world.post_notice("fra_fp")
        response = world.client.get(f"/api/v1/notices/{notice['id']}/export", params={"format": "ftm"})
        assert_problem(response, 401)


class TestAudit:
    def test_an_export_is_audited_and_shown_in_the_access_log(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC"])
        ok = export(world, "icc_inv", notice["id"])
        assert ok.status_code == 200
        assert_problem(export(world, "nld_fp", notice["id"]), 404)
        with world.runtime.db.unit_of_work() as session:
            entries = session.execute(select(AuditEntry.username, AuditEntry.action, AuditEntry.outcome)
                                      .where(AuditEntry.object_id == notice["id"])
                                      .order_by(AuditEntry.id)).all()
            ok_entry = session.scalar(select(AuditEntry).where(
                AuditEntry.request_id == ok.headers["x-request-id"]))
        assert [tuple(e) for e in entries] == [("fra_fp", "notice.create", "ok"),
                                               ("icc_inv", "notice.export", "ok"),
                                               ("nld_fp", "notice.export", "denied")]
        assert ok_entry is not None and ok_entry.action == "notice.export"
        log = world.client.get(f"/api/v1/notices/{notice['id']}/access-log",
                               headers=world.headers("fra_fp"))
        assert log.status_code == 200, log.text
        assert [(i["party"], i["action"], i["outcome"]) for i in log.json()["items"]] == [
            ("FRA", "notice.create", "ok"), ("ICC", "notice.export", "ok"),
            ("NLD", "notice.export", "denied")]

    @pytest.mark.parametrize("params", [{"format": "csv"}, {"format": "FTM "}, {"format": ""}, {}],
                             ids=["csv", "padded", "empty", "missing"])
    def test_a_bad_format_is_422_and_reads_nothing(self, world: World, params: dict[str, str]) -> None:
        notice = world.post_notice("fra_fp")
        response = world.client.get(f"/api/v1/notices/{notice['id']}/export", params=params,
                                    headers=world.headers("fra_fp"))
        body = assert_problem(response, 422)
        assert "format" in json.dumps(body)
        with world.runtime.db.unit_of_work() as session:
            actions = list(session.scalars(select(AuditEntry.action)
                                           .where(AuditEntry.object_id == notice["id"])))
        assert actions == ["notice.create"]


# -- the command line ---------------------------------------------------------------------------------
def arx(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One initialised site for the CLI tests (each `arx` run is a process; users hash passwords)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    keys = tmp_path_factory.mktemp("export-cli") / "keys"
    env.update(ARX_DATABASE_URL=databases.empty(), ARX_KEYS_DIR=str(keys))
    assert arx(env, "init").returncode == 0
    for code in ("FRA", "NLD"):
        assert arx(env, "party", "add", code, "--name", code, "--kind", "state").returncode == 0
    for user, party, role in (("alice", "FRA", "focal_point"), ("bob", "NLD", "focal_point"),
                              ("root", "ICC", "admin")):
        added = arx(env, "user", "add", user, "--party", party, "--role", role, "--password-stdin",
                    stdin=PASSWORD + "\n")
        assert added.returncode == 0, added.stderr
    return env


def post(env: dict[str, str], party: str, username: str, **overrides: Any) -> str:
    """A notice posted through the service, straight into the CLI's database."""
    runtime = Runtime.build(Settings(database_url=env["ARX_DATABASE_URL"],
                                     keys_dir=Path(env["ARX_KEYS_DIR"])))
    try:
        with runtime.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == username))
            assert user is not None
            who = Principal(username=username, party=party, role=Role.FOCAL_POINT, user_id=user.id)
            doc = NoticeDocument.model_validate(notice_document(**overrides))
            return create_notice(session, runtime, who, doc).id
    finally:
        runtime.close()


@pytest.mark.slow
class TestCli:
    def test_round_trip_of_a_partys_own_notices(self, site: dict[str, str], tmp_path: Path) -> None:
        first = post(site, "FRA", "alice", recipients=["NLD"], subjects=SUBJECTS, assets=ASSETS)
        second = post(site, "FRA", "alice")
        foreign = post(site, "NLD", "bob", recipients=["FRA"])  # shared with FRA, not its own
        out = tmp_path / "fra.ftm.json"
        done = arx(site, "export", "--format", "ftm", "--as", "alice", "--password-stdin",
                   "--output", str(out), stdin=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        assert "from 2 notices of FRA" in done.stderr
        entities = validate_ftm_lines(out.read_text(encoding="utf-8"))
        publishers = {str(e.first("publisher")) for e in entities}
        assert {p.split()[2] for p in publishers} == {first, second}
        assert not any(foreign in p for p in publishers)
        assert len(by_schema(entities, "Person")) == len(SUBJECTS) + 1

        # stdout gives the same lines; ids are stable across the two exports of the same revisions.
        again = arx(site, "export", "--format", "ftm", "--as", "alice", "--party", "fra",
                    "--password-stdin", stdin=PASSWORD + "\n")
        assert again.returncode == 0, again.stderr
        assert again.stdout == out.read_text(encoding="utf-8")

        runtime = Runtime.build(Settings(database_url=site["ARX_DATABASE_URL"],
                                         keys_dir=Path(site["ARX_KEYS_DIR"])))
        try:
            with runtime.db.unit_of_work() as session:
                exports = session.execute(select(AuditEntry.username, AuditEntry.object_id)
                                          .where(AuditEntry.action == "notice.export",
                                                 AuditEntry.outcome == "ok")).all()
        finally:
            runtime.close()
        assert sorted(tuple(e) for e in exports) == sorted(
            [("alice", first), ("alice", second)] * 2)

    @pytest.mark.parametrize(("args", "password", "message"), [
        (("--as", "alice", "--party", "NLD"), PASSWORD, "only the content roles"),
        (("--as", "root"), PASSWORD, "only the content roles"),
        (("--as", "alice"), "wrong password", "Invalid username, password"),
        (("--as", "nobody"), PASSWORD, "Invalid username, password"),
    ], ids=["other-party", "admin", "wrong-password", "unknown-user"])
    def test_refusals_write_nothing(self, site: dict[str, str], tmp_path: Path, args: tuple[str, ...],
                                    password: str, message: str) -> None:
        post(site, "NLD", "bob", recipients=["FRA"])
        out = tmp_path / "out.ftm.json"
        refused = arx(site, "export", "--format", "ftm", *args, "--password-stdin", "--output",
                      str(out), stdin=password + "\n")
        assert refused.returncode != 0 and message in refused.stderr, refused.stderr
        assert refused.stdout == "" and not out.exists() and list(tmp_path.glob(".out*")) == []

    def test_a_bad_format_is_refused(self, site: dict[str, str]) -> None:
        bad = arx(site, "export", "--format", "csv", "--as", "alice", "--password-stdin",
                  stdin=PASSWORD + "\n")
        assert bad.returncode != 0 and "format" in bad.stderr.lower()
