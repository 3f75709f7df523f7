"""The focal-point directory: contacts, access rules, encryption at rest (canary scan), staleness and
reminders with a controllable clock — on SQLite and PostgreSQL alike."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.crypto.envelope import DecryptionError
from app.directory.models import Contact, ContactReminder, ContactRevision
from app.directory.schemas import ContactDocument
from app.directory.service import contact_aad, create_contact, retire_contact
from app.directory.tasks import send_stale_reminders
from app.errors import InvalidInput
from app.notifications.models import Notification
from app.users.models import User
from tests.support.concurrency import principal_of, second_while_first_open
from tests.support.database import raw_database_bytes
from tests.support.factories import World, assert_problem

API = "/api/v1/directory"


def contact(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "Claire Exemple", "function": "Head of the asset recovery office",
        "unit": "PIAC", "areas": ["asset_recovery", "financial_investigations"],
        "languages": ["fr", "en"], "email": "claire.exemple@example.org",
        "phone": "+33 1 23 45 67 89", "time_zone": "Europe/Paris", "availability": "office_hours"}
    doc.update(overrides)
    return doc


def add(world: World, who: str = "fra_fp", **overrides: Any) -> dict[str, Any]:
    response = world.client.post(API, json=contact(**overrides), headers=world.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


def listed(world: World, who: str = "icc_inv", **params: Any) -> list[dict[str, Any]]:
    response = world.client.get(API, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()["items"]


class TestContacts:
    def test_a_focal_point_adds_a_contact_of_its_party_that_everyone_reads(self, world: World) -> None:
        created = add(world)
        assert created["party"] == "FRA" and created["stale"] is False and created["revision"] == 1
        for who in ("fra_fp", "nld_fp", "icc_inv", "fra_auditor", "icc_admin"):
            (item,) = listed(world, who, party="FRA")
            assert item["name"] == "Claire Exemple" and item["email"] == "claire.exemple@example.org"
            assert item["phone"] == "+33 1 23 45 67 89" and item["time_zone"] == "Europe/Paris"

    def test_every_read_is_audited_per_contact(self, world: World) -> None:
        first, second = add(world), add(world, name="Marc Adjoint")
        listed(world, "nld_fp", party="FRA")
        with world.runtime.db.unit_of_work() as session:
            read = set(session.scalars(select(AuditEntry.object_id).where(
                AuditEntry.username == "nld_fp", AuditEntry.action == "directory.read")))
        assert read == {first["id"], second["id"]}

    def test_filters_by_party_area_and_language(self, world: World) -> None:
        add(world)
        add(world, "nld_fp", name="Jan Voorbeeld", areas=["arrest"], languages=["nl", "en"],
            availability="24/7")
        assert {c["party"] for c in listed(world)} == {"FRA", "NLD"}
        assert [c["party"] for c in listed(world, area="arrest")] == ["NLD"]
        assert [c["party"] for c in listed(world, language="fr")] == ["FRA"]
        assert [c["party"] for c in listed(world, language="en", area="asset_recovery")] == ["FRA"]
        assert listed(world, party="DEU") == []

    def test_a_deputy_points_at_a_contact_of_the_same_party(self, world: World) -> None:
        head = add(world)
        deputy = add(world, name="Marc Adjoint", deputy_of=head["id"])
        assert deputy["deputy_of"] == head["id"]
        foreign = add(world, "nld_fp", name="Jan Voorbeeld")
        body = assert_problem(world.client.post(API, json=contact(deputy_of=foreign["id"]),
                                                headers=world.headers("fra_fp")), 422)
        assert body["errors"][0]["field"] == "deputy_of"

    def test_a_contact_retired_meanwhile_cannot_be_named_deputy(self, world: World) -> None:
        head = add(world)
        fra = principal_of(world.runtime, "fra_fp")
        outcome: list[str] = []

        def name_deputy(session: Session) -> None:
            try:
                create_contact(session, world.runtime, fra,
                               ContactDocument.model_validate(contact(deputy_of=head["id"])))
                outcome.append("created")
            except InvalidInput:
                outcome.append("refused")

        second_while_first_open(
            world.runtime, lambda s: retire_contact(s, world.runtime, fra, head["id"]), name_deputy)
        assert outcome == ["refused"]
        with world.runtime.db.reading() as session:
            assert session.scalars(select(Contact.id).where(Contact.deputy_of == head["id"])).all() == []

    def test_update_appends_a_revision_and_retire_removes_from_the_list(self, world: World) -> None:
        created = add(world)
        response = world.client.put(f"{API}/{created['id']}", json=contact(phone="+33 6 00 00 00 00"),
                                    headers=world.headers("fra_fp"))
        assert response.status_code == 200, response.text
        assert response.json()["revision"] == 2 and response.json()["phone"] == "+33 6 00 00 00 00"
        with world.runtime.db.unit_of_work() as session:
            assert session.scalar(select(func.count()).select_from(ContactRevision).where(
                ContactRevision.contact_id == created["id"])) == 2
        assert world.client.delete(f"{API}/{created['id']}",
                                   headers=world.headers("fra_fp")).status_code == 204
        assert listed(world, party="FRA") == []
        assert_problem(world.client.post(f"{API}/{created['id']}/confirm",
                                         headers=world.headers("fra_fp")), 404)


class TestAccess:
    @pytest.mark.parametrize("who", ["nld_fp", "icc_inv", "fra_auditor", "icc_admin"])
    def test_only_the_partys_own_focal_points_write(self, world: World, who: str) -> None:
        created = add(world)
        url = f"{API}/{created['id']}"
        headers = world.headers(who)
        assert_problem(world.client.put(url, json=contact(name="Intrus"), headers=headers), 403)
        assert_problem(world.client.delete(url, headers=headers), 403)
        assert_problem(world.client.post(f"{url}/confirm", headers=headers), 403)
        assert_problem(world.client.post(API, json=contact(party="FRA"), headers=headers), 403)
        (item,) = listed(world, party="FRA")
        assert item["name"] == "Claire Exemple" and item["revision"] == 1
        with world.runtime.db.unit_of_work() as session:
            outcomes = list(session.scalars(select(AuditEntry.outcome).where(
                AuditEntry.username == who, AuditEntry.action.like("directory.%"),
                AuditEntry.action != "directory.read")))
        assert outcomes == ["denied"] * 4

    def test_the_party_comes_from_the_token(self, world: World) -> None:
        assert add(world, "nld_fp")["party"] == "NLD"

    def test_anonymous_is_401(self, world: World) -> None:
        assert_problem(world.client.get(API), 401)

    @pytest.mark.parametrize("contact_id", [str(uuid.uuid4()), "not-an-id", "%00'"])
    def test_absent_or_malformed_ids_are_404(self, world: World, contact_id: str) -> None:
        assert_problem(world.client.post(f"{API}/{contact_id}/confirm",
                                         headers=world.headers("fra_fp")), 404)


class TestBadInput:
    @pytest.mark.parametrize(("overrides", "field"), [
        ({"areas": ["espionage"]}, "areas[0]"), ({"areas": []}, "areas"),
        ({"languages": ["xx"]}, "languages[0]"), ({"email": "not-an-email"}, "email"),
        ({"phone": "0123"}, "phone"), ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"availability": "weekends"}, "availability"), ({"name": "\u202eevil"}, "name"),
        ({"nickname": "x"}, "nickname")])
    def test_422_names_the_field_and_writes_nothing(self, world: World, overrides: dict[str, Any],
                                                    field: str) -> None:
        body = assert_problem(world.client.post(API, json=contact(**overrides),
                                                headers=world.headers("fra_fp")), 422)
        assert field in [e["field"] for e in body["errors"]]
        assert "Claire" not in str(body)
        assert listed(world) == []


class TestStaleness:
    def test_stale_after_the_setting_listed_for_the_party_and_reminded_once(self,
                                                                            world: World) -> None:
        runtime = world.runtime
        real = runtime.clock
        old = add(world)
        fresh = add(world, name="Marc Adjoint")
        foreign = add(world, "nld_fp", name="Jan Voorbeeld")
        days = runtime.settings.directory_stale_days
        runtime.clock = lambda: real() + timedelta(days=days - 10)
        world.client.post(f"{API}/{fresh['id']}/confirm", headers=world.headers("fra_fp"))
        runtime.clock = lambda: real() + timedelta(days=days + 1)
        stale = {c["id"]: c["stale"] for c in listed(world)}
        assert stale == {old["id"]: True, fresh["id"]: False, foreign["id"]: True}
        response = world.client.get(f"{API}/stale", headers=world.headers("fra_fp"))
        assert [c["id"] for c in response.json()["items"]] == [old["id"]]
        assert_problem(world.client.get(f"{API}/stale", headers=world.headers("icc_inv")), 403)

        assert send_stale_reminders(runtime) == 2  # FRA's old contact and NLD's
        assert send_stale_reminders(runtime) == 0  # idempotent
        with runtime.db.unit_of_work() as session:
            reminded = set(session.scalars(select(ContactReminder.contact_id)))
            notified = set(session.execute(
                select(User.username, Notification.object_id)
                .join(User, User.id == Notification.user_id)
                .where(Notification.kind == "directory.stale")).tuples())
        assert reminded == {old["id"], foreign["id"]}
        # The parties' users are told which contact (an id, never its content), once.
        assert notified == {("fra_fp", old["id"]), ("nld_fp", foreign["id"])}
        inbox = world.client.get("/api/v1/notifications", headers=world.headers("fra_fp")).json()
        assert [(n["kind"], n["object_id"]) for n in inbox["items"]] == [("directory.stale",
                                                                           old["id"])]

        # Confirming restarts the clock; going stale again earns a new reminder.
        world.client.post(f"{API}/{old['id']}/confirm", headers=world.headers("fra_fp"))
        assert send_stale_reminders(runtime) == 0
        runtime.clock = lambda: real() + timedelta(days=2 * days + 5)
        assert send_stale_reminders(runtime) == 2  # old (re-confirmed) and fresh; NLD's was reminded


class TestEncryptionAtRest:
    def test_a_stolen_database_reveals_no_names_emails_or_phones(self, world: World,
                                                                  database_url: str,
                                                                  tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture
                                                                  ) -> None:
        tag = uuid.uuid4().hex[:8]
        digits = f"{uuid.uuid4().int % 10**9:09d}"
        canaries = {"name": f"Ottilie Canarycontact{tag}", "email": f"canary.{tag}@example.org",
                    "phone": f"+41 {digits[:3]} {digits[3:6]} {digits[6:]}"}
        caplog.set_level(logging.DEBUG)
        created = add(world, **canaries)
        world.client.put(f"{API}/{created['id']}", json=contact(**canaries, unit="Unit2"),
                         headers=world.headers("fra_fp"))
        listed(world)
        world.client.post(API, json=contact(**{**canaries, "email": "bad"}),
                          headers=world.headers("fra_fp"))
        world.runtime.db.dispose()
        raw = raw_database_bytes(database_url, tmp_path)
        logs = caplog.text
        for value in canaries.values():
            for needle in {value, value.lower(), value.replace(" ", ""), f"Canarycontact{tag}",
                           digits}:
                assert needle.encode() not in raw, needle
                assert needle.encode("utf-16-le") not in raw, needle
                assert needle not in logs, needle

    def test_a_ciphertext_moved_to_another_contact_does_not_open(self, world: World) -> None:
        first, second = add(world), add(world, "nld_fp", name="Jan Voorbeeld")
        with world.runtime.db.unit_of_work() as session:
            moved = session.get(ContactRevision, (first["id"], 1))
            assert moved is not None
            session.execute(update(ContactRevision).where(ContactRevision.contact_id == second["id"])
                            .values(key_version=moved.key_version, wrapped_key=moved.wrapped_key,
                                    nonce=moved.nonce, ciphertext=moved.ciphertext))
        response = world.client.get(API, params={"party": "NLD"}, headers=world.headers("icc_inv"))
        assert response.status_code == 500 and "Claire" not in response.text
        with world.runtime.db.unit_of_work() as session:
            row = session.get(ContactRevision, (second["id"], 1))
            assert row is not None
            with pytest.raises(DecryptionError):
                world.runtime.envelope.open(row.sealed(), contact_aad(second["id"], 1, "NLD"))
            # Re-attributing the contact to another party breaks it too.
            session.execute(update(Contact).where(Contact.id == first["id"]).values(party="DEU"))
        response = world.client.get(API, params={"party": "DEU"}, headers=world.headers("icc_inv"))
        assert response.status_code == 500
