"""Hit/no-hit enquiries and deconfliction (CONTRACT.md, "Hit/no-hit enquiries and deconfliction")."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.audit.models import AuditEntry
from app.db import MAX_TERM_LOCKS
from app.enquiries.schemas import EnquiryCreate
from app.enquiries.service import create_enquiry, share_hit
from app.notices.schemas import NoticeDocument
from app.notices.service import create_notice, revise_notice
from tests.support.concurrency import principal_of, second_while_first_open
from tests.support.factories import World, assert_problem, notice_document

CANARY_NAME = "Zebulon Quartermaine-Canary"
CANARY_TEXT = "canary-narrative-7f3a"
PASSPORT = "XK4417093"
IBAN = "DE89370400440532013000"


def subject(**overrides: Any) -> dict[str, Any]:
    s: dict[str, Any] = {"name": CANARY_NAME, "birth_date": "1971-06-02", "nationality": "FRA",
                         "identifiers": [{"scheme": "passport", "value": PASSPORT}]}
    s.update(overrides)
    return s


def post(world: World, who: str, *, recipients: list[str], tlp: str = "AMBER",
         subjects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return world.post_notice(who, recipients=recipients, tlp=tlp,
                             subjects=[subject()] if subjects is None else subjects,
                             narrative=CANARY_TEXT, title=f"{CANARY_TEXT} title", assets=[])


def enquire(world: World, who: str, *subjects: dict[str, Any], status: int = 201) -> Any:
    response = world.client.post("/api/v1/enquiries", headers=world.headers(who), json={
        "subjects": list(subjects), "purpose": "tracing proceeds of case 42",
        "legal_basis": "Rome Statute art. 93(1)(k)"})
    assert response.status_code == status, response.text
    return response


def hits(world: World, who: str, box: str) -> list[dict[str, Any]]:
    response = world.client.get("/api/v1/hits", params={"box": box}, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def parties(response: Any) -> list[str]:
    return [h["party"] for h in response.json()["hits"]]


def assert_reveals_nothing(body: str, *notice_ids: str) -> None:
    for secret in (CANARY_NAME, CANARY_TEXT, PASSPORT, *notice_ids):
        assert secret not in body


class TestEnquiry:
    def test_identifier_hit_names_only_the_party(self, world: World) -> None:
        notice = post(world, "fra_fp", recipients=["DEU"])
        response = enquire(world, "icc_inv", {"identifiers": [{"scheme": "passport",
                                                               "value": "xk 441-7093"}]})
        body = response.json()
        assert parties(response) == ["FRA"]
        assert set(body) == {"id", "created_at", "open_until", "hits"}
        assert set(body["hits"][0]) == {"hit_id", "party"}
        assert_reveals_nothing(response.text, notice["id"])
        sent = hits(world, "icc_inv", "sent")
        assert [(h["party"], h["status"]) for h in sent] == [("FRA", "pending")]
        assert_reveals_nothing(str(sent), notice["id"])
        assert "notice_id" not in sent[0]

    def test_name_and_birth_date_hit(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"], subjects=[subject(identifiers=[])])
        response = enquire(world, "icc_inv", {"name": "QUARTERMAINE CANARY, Zebulon",
                                              "birth_date": "1971-06-02"})
        assert parties(response) == ["FRA"]

    def test_name_only_never_hits(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"], subjects=[subject(identifiers=[])])
        assert parties(enquire(world, "icc_inv", {"name": CANARY_NAME})) == []
        other_day = {"name": CANARY_NAME, "birth_date": "1971-06-03"}
        assert parties(enquire(world, "icc_inv", other_day)) == []

    def test_similar_name_is_not_enough_with_another_person(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"], subjects=[subject(identifiers=[])])
        near = {"name": "Zebulon Harrington", "birth_date": "1971-06-02"}
        assert parties(enquire(world, "icc_inv", near)) == []

    def test_visible_notices_are_not_hits(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        assert parties(enquire(world, "deu_fp", subject())) == []  # a recipient: search shows it
        assert parties(enquire(world, "fra_fp", subject())) == []  # its own party's notice

    def test_hits_sorted_one_per_party(self, world: World) -> None:
        post(world, "nld_fp", recipients=["NLD"])
        post(world, "fra_fp", recipients=["FRA"])
        post(world, "fra_fp", recipients=["FRA"])
        response = enquire(world, "icc_inv", subject())
        assert parties(response) == ["FRA", "NLD"]
        received = [h for h in hits(world, "fra_fp", "received") if h["origin"] == "enquiry"]
        assert len(received) == 1 and len(received[0]["matches"]) == 2
        # FRA's two notices each match NLD's: NLD's one pending deconfliction hit lists both.
        deconflicted = [h for h in hits(world, "fra_fp", "received") if h["origin"] != "enquiry"]
        assert len(deconflicted) == 1 and len(deconflicted[0]["matches"]) == 2

    def test_owner_sees_who_why_and_what_matched(self, world: World) -> None:
        notice = post(world, "fra_fp", recipients=["DEU"])
        enquire(world, "icc_inv", subject())
        [hit] = hits(world, "fra_fp", "received")
        assert hit["enquirer"] == "ICC" and hit["origin"] == "enquiry"
        assert hit["purpose"] == "tracing proceeds of case 42"
        assert hit["legal_basis"] == "Rome Statute art. 93(1)(k)"
        assert hit["notice_id"] == notice["id"]
        assert hit["matched_on"] == ["identifier", "name", "birth_date"]
        assert hit["status"] == "pending"

    def test_invalid_check_digits_are_422(self, world: World) -> None:
        response = enquire(world, "icc_inv", {"identifiers": [
            {"scheme": "iban", "value": "DE89370400440532013001"}]}, status=422)
        body = assert_problem(response, 422)
        assert "subjects[0]" in str(body["errors"])
        assert "DE89370400440532013001" not in response.text

    def test_nothing_to_match_is_422(self, world: World) -> None:
        assert_problem(enquire(world, "icc_inv", {"birth_date": "1971-06-02"}, status=422), 422)

    @pytest.mark.parametrize("typed", ["de89 3704 0044 0532 0130 00", "DE89-3704-0044-0532-0130-00",
                                       " DE89370400440532013000 ", "de89370400440532013000"])
    def test_fuzzed_identifiers_normalise_to_the_same_match(self, world: World, typed: str) -> None:
        post(world, "nld_fp", recipients=["NLD"], subjects=[subject(identifiers=[
            {"scheme": "iban", "value": IBAN}])])
        response = enquire(world, "icc_inv", {"identifiers": [{"scheme": "iban", "value": typed}]})
        assert parties(response) == ["NLD"]

    def test_same_value_other_scheme_is_no_match(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        response = enquire(world, "icc_inv", {"identifiers": [{"scheme": "national_id",
                                                               "value": PASSPORT}]})
        assert parties(response) == []

    def test_only_content_roles_enquire(self, world: World) -> None:
        for who in ("fra_auditor", "icc_admin"):
            assert_problem(enquire(world, who, subject(), status=403), 403)

    def test_enquiry_is_sealed_in_the_database_and_the_audit_log(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        enquiry = enquire(world, "icc_inv", subject()).json()
        with world.runtime.db.unit_of_work() as session:
            for table in ("enquiry", "enquiry_term", "hit", "hit_match", "audit_entry"):
                for row in session.execute(text(f"SELECT * FROM {table}")):
                    dump = repr(tuple(row)).encode()
                    for secret in (CANARY_NAME, PASSPORT, "tracing proceeds", "Rome Statute"):
                        assert secret.encode() not in dump, table
            entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "enquiry.create"))
            assert entry is not None and entry.object_id == enquiry["id"]
            assert entry.detail_ciphertext
            created = session.scalars(select(AuditEntry.object_id).where(
                AuditEntry.action == "hit.create")).all()
            assert created == [enquiry["hits"][0]["hit_id"]]


class TestOwnerDecides:
    def test_share_then_readable(self, world: World) -> None:
        notice = post(world, "fra_fp", recipients=["DEU"])
        url = f"/api/v1/notices/{notice['id']}"
        assert world.client.get(url, headers=world.headers("icc_inv")).status_code == 404
        hit_id = enquire(world, "icc_inv", subject()).json()["hits"][0]["hit_id"]
        shared = world.client.post(f"/api/v1/hits/{hit_id}/share", headers=world.headers("fra_fp"))
        assert shared.status_code == 200, shared.text
        assert shared.json()["status"] == "shared"
        read = world.client.get(url, headers=world.headers("icc_inv"))
        assert read.status_code == 200 and read.json()["revision"] == 2
        assert read.json()["recipients"] == ["DEU", "ICC"]
        assert [h["status"] for h in hits(world, "icc_inv", "sent")] == ["shared"]
        again = world.client.post(f"/api/v1/hits/{hit_id}/share", headers=world.headers("fra_fp"))
        assert_problem(again, 409)
        with world.runtime.db.unit_of_work() as session:
            actions = set(session.scalars(select(AuditEntry.action).where(
                AuditEntry.username == "fra_fp")))
        assert {"hit.share", "notice.revise"} <= actions

    def test_decline_then_still_404_and_reason_seen(self, world: World) -> None:
        notice = post(world, "fra_fp", recipients=["DEU"])
        hit_id = enquire(world, "icc_inv", subject()).json()["hits"][0]["hit_id"]
        declined = world.client.post(f"/api/v1/hits/{hit_id}/decline", headers=world.headers("fra_fp"),
                                     json={"reason": "ongoing covert operation"})
        assert declined.status_code == 200, declined.text
        url = f"/api/v1/notices/{notice['id']}"
        assert_problem(world.client.get(url, headers=world.headers("icc_inv")), 404)
        [sent] = hits(world, "icc_inv", "sent")
        assert (sent["status"], sent["reason"]) == ("declined", "ongoing covert operation")

    def test_only_the_owner_decides(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        hit_id = enquire(world, "icc_inv", subject()).json()["hits"][0]["hit_id"]
        for who in ("icc_inv", "deu_fp", "nld_fp", "fra_auditor"):
            for verb in ("share", "decline"):
                response = world.client.post(f"/api/v1/hits/{hit_id}/{verb}",
                                             headers=world.headers(who))
                assert_problem(response, 404)
        assert hits(world, "nld_fp", "received") == [] and hits(world, "nld_fp", "sent") == []


class TestRedRule:
    @pytest.mark.parametrize("tlp", ["RED", "AMBER+STRICT"])
    def test_red_enquiry_is_one_way(self, world: World, tlp: str) -> None:
        notice = post(world, "fra_fp", recipients=["DEU"], tlp=tlp)
        response = enquire(world, "icc_inv", subject())
        assert parties(response) == []
        assert hits(world, "icc_inv", "sent") == []
        [hit] = hits(world, "fra_fp", "received")
        assert (hit["enquirer"], hit["notice_id"], hit["revealed"]) == ("ICC", notice["id"], False)

    def test_red_deconfliction_tells_only_the_red_owner(self, world: World) -> None:
        red = post(world, "nld_fp", recipients=["NLD"], tlp="RED")
        post(world, "fra_fp", recipients=["DEU"])
        assert hits(world, "fra_fp", "received") == [] and hits(world, "fra_fp", "sent") == []
        [hit] = hits(world, "nld_fp", "received")
        assert (hit["enquirer"], hit["notice_id"], hit["origin"]) == ("FRA", red["id"],
                                                                      "deconfliction")
        assert hits(world, "nld_fp", "sent") == []


class TestStandingAndDeconfliction:
    def test_standing_enquiry_hit_by_a_later_notice(self, world: World) -> None:
        assert parties(enquire(world, "icc_inv", subject())) == []
        notice = post(world, "fra_fp", recipients=["DEU"])
        [sent] = hits(world, "icc_inv", "sent")
        assert sent["party"] == "FRA" and sent["origin"] == "enquiry"
        assert_reveals_nothing(str(sent), notice["id"])
        [received] = hits(world, "fra_fp", "received")
        assert received["enquirer"] == "ICC" and received["purpose"] == "tracing proceeds of case 42"

    def test_standing_enquiry_ignores_notices_shared_with_the_enquirer(self, world: World) -> None:
        enquire(world, "icc_inv", subject())
        post(world, "fra_fp", recipients=["ICC"])
        assert hits(world, "icc_inv", "sent") == [] and hits(world, "fra_fp", "received") == []

    def test_expired_enquiry_stands_no_more(self, world: World) -> None:
        enquire(world, "icc_inv", subject())
        with world.runtime.db.unit_of_work() as session:
            session.execute(text("UPDATE enquiry SET open_until = created_at"))
        post(world, "fra_fp", recipients=["DEU"])
        assert hits(world, "icc_inv", "sent") == []

    def test_deconfliction_pair_on_post(self, world: World) -> None:
        mine = post(world, "fra_fp", recipients=["DEU"])
        theirs = post(world, "nld_fp", recipients=["NLD"],
                      subjects=[{"name": "Someone Else", "identifiers": [
                          {"scheme": "passport", "value": PASSPORT.lower()}]}])
        [fra] = hits(world, "fra_fp", "received")
        [nld] = hits(world, "nld_fp", "received")
        assert (fra["enquirer"], fra["notice_id"], fra["origin"]) == ("NLD", mine["id"],
                                                                      "deconfliction")
        assert (nld["enquirer"], nld["notice_id"]) == ("FRA", theirs["id"])
        assert fra["matched_on"] == ["identifier"]
        assert [h["party"] for h in hits(world, "fra_fp", "sent")] == ["NLD"]
        assert [h["party"] for h in hits(world, "nld_fp", "sent")] == ["FRA"]
        assert_reveals_nothing(str(hits(world, "fra_fp", "sent")), theirs["id"])

    def test_one_post_reaches_by_identifier_and_by_name_and_birth_date(self, world: World) -> None:
        """Both ways in are read in one statement (identifiers first): each finds its own notice, and
        each owner is told what matched."""
        by_id = post(world, "nld_fp", recipients=["NLD"], subjects=[
            {"name": "Someone Else", "identifiers": [{"scheme": "passport", "value": PASSPORT}]}])
        by_name = post(world, "deu_fp", recipients=["DEU"], subjects=[subject(identifiers=[])])
        post(world, "fra_fp", recipients=["ICC"])
        assert [h["party"] for h in hits(world, "fra_fp", "sent")] == ["DEU", "NLD"]
        [nld] = hits(world, "nld_fp", "received")
        [deu] = hits(world, "deu_fp", "received")
        assert (nld["notice_id"], nld["matched_on"]) == (by_id["id"], ["identifier"])
        assert deu["notice_id"] == by_name["id"]
        assert "identifier" not in deu["matched_on"] and "birth_date" in deu["matched_on"]

    def test_standing_enquiry_reached_both_ways_by_one_post(self, world: World) -> None:
        enquire(world, "icc_inv", {"identifiers": [{"scheme": "passport", "value": PASSPORT}]},
                {"name": CANARY_NAME, "birth_date": "1971-06-02"})
        notice = post(world, "fra_fp", recipients=["DEU"], subjects=[
            {"name": "Someone Else", "identifiers": [{"scheme": "passport", "value": PASSPORT}]},
            subject(identifiers=[])])
        [received] = hits(world, "fra_fp", "received")
        assert (received["enquirer"], received["notice_id"]) == ("ICC", notice["id"])
        assert {"identifier", "birth_date"} <= set(received["matched_on"])

    def test_deconfliction_pair_on_revise_once(self, world: World) -> None:
        mine = post(world, "fra_fp", recipients=["DEU"], subjects=[])
        post(world, "nld_fp", recipients=["NLD"])
        assert hits(world, "fra_fp", "received") == []
        document = notice_document(recipients=["DEU"], subjects=[subject()], assets=[])
        for _ in range(2):  # revising again does not repeat a known match
            response = world.client.put(f"/api/v1/notices/{mine['id']}", json=document,
                                        headers=world.headers("fra_fp"))
            assert response.status_code == 200, response.text
        assert len(hits(world, "fra_fp", "received")) == 1
        assert len(hits(world, "nld_fp", "received")) == 1

    def test_no_hit_for_a_notices_own_party(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        post(world, "fra_fp", recipients=["NLD"])
        assert hits(world, "fra_fp", "received") == [] and hits(world, "fra_fp", "sent") == []

    def test_visible_counterpart_is_not_told(self, world: World) -> None:
        post(world, "nld_fp", recipients=["FRA"])  # FRA already sees NLD's notice
        post(world, "fra_fp", recipients=["NLD"])  # and NLD sees FRA's
        assert hits(world, "fra_fp", "received") == [] and hits(world, "nld_fp", "received") == []

    def test_deconfliction_can_be_switched_off(self, world: World) -> None:
        world.runtime.settings.deconfliction_enabled = False
        post(world, "fra_fp", recipients=["DEU"])
        post(world, "nld_fp", recipients=["NLD"])
        assert hits(world, "fra_fp", "received") == [] and hits(world, "nld_fp", "received") == []


class TestStatementsPerParty:
    """Deconfliction builds its statements once per posting party (policy gives one filter object per
    party). Built on every post, they had filled search's statement cache (4,096 entries, about 40 kB
    each) with copies, and cost each post more than running them."""

    def test_posts_reuse_their_partys_statements(self, world: World) -> None:
        from app.search.service import _count_statement

        post(world, "fra_fp", recipients=["DEU"], subjects=[subject(name="Warm Up", birth_date="1950-01-01",
                                                                    identifiers=[])])
        before = _count_statement.cache_info()
        for n in range(3):
            post(world, "fra_fp", recipients=["DEU"],
                 subjects=[subject(name=f"Other Person{n}", birth_date="1950-01-01", identifiers=[
                     {"scheme": "passport", "value": f"ZZ{n:07d}"}])])
        after = _count_statement.cache_info()
        assert after.currsize == before.currsize
        assert after.hits >= before.hits + 3

    def test_a_partys_statements_never_match_for_another(self, world: World) -> None:
        """FRA's and NLD's posts alternate on cached statements: each still matches only the other
        party's notice, never its own."""
        fra = post(world, "fra_fp", recipients=["DEU"])
        nld = post(world, "nld_fp", recipients=["NLD"])
        again = post(world, "fra_fp", recipients=["DEU"])
        received = {(h["enquirer"], h["notice_id"]) for h in hits(world, "fra_fp", "received")}
        assert received and received <= {("NLD", fra["id"]), ("NLD", again["id"])}
        assert {(h["enquirer"], h["notice_id"]) for h in hits(world, "nld_fp", "received")} \
            == {("FRA", nld["id"])}


class TestPlaceholderBirthDates:
    """A birth date shared by more subjects than the row budget (1 January stands for an unknown day
    in much sanctions data): matching starts from the rarest name terms instead of reading every
    subject born that day, and still finds the strong match among them."""

    PLACEHOLDER = "1970-01-01"

    @pytest.fixture(autouse=True)
    def crowded_date(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("app.enquiries.matching.ROW_BUDGET", 4)
        for n in range(6):
            post(world, "deu_fp", recipients=["DEU"], subjects=[
                {"name": f"Ignatius Morrow-{chr(65 + n)}lder", "birth_date": self.PLACEHOLDER}])
        post(world, "fra_fp", recipients=["DEU"],
             subjects=[subject(identifiers=[], birth_date=self.PLACEHOLDER)])

    def test_enquiry_finds_the_one_among_many_born_that_day(self, world: World) -> None:
        assert hits(world, "fra_fp", "received") == []
        found = enquire(world, "icc_inv", {"name": "QUARTERMAINE CANARY, Zebulon",
                                           "birth_date": self.PLACEHOLDER})
        assert parties(found) == ["FRA"]
        near = {"name": "Zebulon Harrington", "birth_date": self.PLACEHOLDER}
        assert parties(enquire(world, "icc_inv", near)) == []

    def test_deconfliction_finds_it_too(self, world: World) -> None:
        post(world, "nld_fp", recipients=["NLD"], subjects=[
            {"name": "Zebulon Quartermaine Canary", "birth_date": self.PLACEHOLDER}])
        [fra] = hits(world, "fra_fp", "received")
        assert fra["enquirer"] == "NLD" and fra["matched_on"] == ["name", "birth_date"]


PLACEHOLDER_ID = {"scheme": "passport", "value": "X0000000"}


class TestPlaceholderIdentifiers:
    """An identifier shared by more subjects than the row budget is a placeholder (a dummy passport
    number), not evidence: matching starts from the rarer identifiers of the probe, so the crowd
    neither fills the candidate places nor becomes hits."""

    @pytest.fixture(autouse=True)
    def crowded_identifier(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("app.enquiries.matching.ROW_BUDGET", 4)
        for n in range(6):
            post(world, "deu_fp", recipients=["DEU"], subjects=[
                {"name": f"Ignatius Morrow-{chr(65 + n)}lder", "identifiers": [PLACEHOLDER_ID]}])
        post(world, "fra_fp", recipients=["DEU"])

    def test_enquiry_starts_from_the_rare_identifier(self, world: World) -> None:
        both = subject(identifiers=[{"scheme": "passport", "value": PASSPORT}, PLACEHOLDER_ID])
        assert parties(enquire(world, "icc_inv", both)) == ["FRA"]

    def test_the_placeholder_alone_still_reaches_the_crowd(self, world: World) -> None:
        alone = {"name": "Ignatius Morrow-Alder", "identifiers": [PLACEHOLDER_ID]}
        assert parties(enquire(world, "icc_inv", alone)) == ["DEU"]


def kinds(world: World, who: str) -> list[tuple[str, str]]:
    response = world.client.get("/api/v1/notifications", headers=world.headers(who))
    assert response.status_code == 200, response.text
    return [(n["kind"], n["object_type"]) for n in response.json()["items"]
            if n["kind"].startswith("hit.")]


class TestNotifications:
    def test_owner_told_of_a_hit_enquirer_of_the_answer(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        hit_id = enquire(world, "icc_inv", subject()).json()["hits"][0]["hit_id"]
        assert kinds(world, "fra_fp") == [("hit.received", "hit")]
        assert kinds(world, "icc_inv") == []  # it has its answer in the response
        world.client.post(f"/api/v1/hits/{hit_id}/decline", headers=world.headers("fra_fp"))
        assert kinds(world, "icc_inv") == [("hit.answered", "hit")]

    def test_red_owner_told_enquirer_never(self, world: World) -> None:
        post(world, "fra_fp", recipients=["DEU"], tlp="RED")
        enquire(world, "icc_inv", subject())
        assert kinds(world, "fra_fp") == [("hit.received", "hit")]
        [hit] = hits(world, "fra_fp", "received")
        world.client.post(f"/api/v1/hits/{hit['id']}/decline", headers=world.headers("fra_fp"))
        assert kinds(world, "icc_inv") == []

    def test_standing_enquiry_tells_the_enquirer_later(self, world: World) -> None:
        enquire(world, "icc_inv", subject())
        post(world, "fra_fp", recipients=["DEU"])
        assert kinds(world, "icc_inv") == [("hit.found", "hit")]
        assert kinds(world, "fra_fp") == [("hit.received", "hit")]


class TestKeyRotation:
    def test_rewrap_moves_sealed_enquiries_and_reasons_then_retire(self, world: World) -> None:
        from app.keys.dependents import data_dependents
        from app.keys.retire import retire_key
        from app.keys.rewrap import rewrap_data_keys
        from app.keys.rotate import rotate_key
        from tests.support.factories import ADMIN

        post(world, "fra_fp", recipients=["DEU"])
        hit_id = enquire(world, "icc_inv", subject()).json()["hits"][0]["hit_id"]
        world.client.post(f"/api/v1/hits/{hit_id}/decline", headers=world.headers("fra_fp"),
                          json={"reason": "not now"})
        runtime = world.runtime
        with runtime.db.unit_of_work() as session:
            old = runtime.keys.current().active_version("data")
            assert data_dependents(session)["enquiries"] == {old: 1}
            assert data_dependents(session)["hit_reasons"] == {old: 1}
            rotate_key(session, runtime, ADMIN, "data")
        runtime.keys.refresh()
        rewrap_data_keys(runtime, ADMIN, wait=False)
        with runtime.db.unit_of_work() as session:
            assert old not in data_dependents(session)["enquiries"]
            assert old not in data_dependents(session)["hit_reasons"]
        retire_key(runtime, ADMIN, "data", old, abandon_audit_details=True)
        [received] = hits(world, "fra_fp", "received")
        assert received["purpose"] == "tracing proceeds of case 42"
        assert received["reason"] == "not now"

    def test_an_unreadable_enquiry_key_is_counted_and_left_while_the_rest_is_rewrapped(
            self, world: World) -> None:
        from app.enquiries.models import Enquiry
        from app.keys.dependents import data_dependents
        from app.keys.rewrap import rewrap_data_keys
        from app.keys.rotate import rotate_key
        from tests.support.factories import ADMIN

        runtime = world.runtime
        damaged = enquire(world, "icc_inv", subject()).json()["id"]
        intact = enquire(world, "icc_inv", subject(name="Other Person")).json()["id"]
        with runtime.db.unit_of_work() as session:
            enquiry = session.get(Enquiry, damaged)
            assert enquiry is not None
            enquiry.wrapped_key = bytes(b ^ 1 for b in enquiry.wrapped_key)
            old = runtime.keys.current().active_version("data")
            new = rotate_key(session, runtime, ADMIN, "data")
        runtime.keys.refresh()
        report = rewrap_data_keys(runtime, ADMIN, batch_size=1, wait=False)
        assert report.unreadable == 1 and report.rewrapped >= 1
        with runtime.db.unit_of_work() as session:
            assert data_dependents(session)["enquiries"] == {old: 1, new: 1}
            versions = {i: v for i, v in session.execute(select(Enquiry.id, Enquiry.key_version))}
            assert versions == {damaged: old, intact: new}
            outcome = session.scalar(select(AuditEntry.outcome).where(AuditEntry.action == "keys.rewrap"))
        assert outcome == "failed"

    def test_an_enquiry_without_index_terms_is_not_counted_as_reindexed(self, world: World) -> None:
        """A name alone gives no term (names are indexed only with a birth date): reindex has nothing to
        write for it, so neither this run nor the next counts it."""
        from app.keys.reindex import reindex_subjects
        from app.keys.rotate import rotate_key
        from tests.support.factories import ADMIN

        runtime = world.runtime
        enquire(world, "icc_inv", subject())
        enquire(world, "icc_inv", {"name": "Only A Name"})
        with runtime.db.unit_of_work() as session:
            rotate_key(session, runtime, ADMIN, "index")
        runtime.keys.refresh()
        assert reindex_subjects(runtime, ADMIN, batch_size=1, wait=False).enquiries == 1
        assert reindex_subjects(runtime, ADMIN, batch_size=1, wait=False).enquiries == 0

    def test_standing_enquiry_survives_index_rotation_reindex_and_retire(self, world: World) -> None:
        """An enquiry made under index version 1 still stands after version 2 is built and version 1
        retired: reindex writes its terms under version 2, retire purges the old ones."""
        from app.enquiries.models import EnquiryTerm
        from app.keys.reindex import reindex_subjects
        from app.keys.retire import retire_key
        from app.keys.rotate import rotate_key
        from tests.support.factories import ADMIN

        runtime = world.runtime
        enquiry_id = enquire(world, "icc_inv", subject()).json()["id"]
        with runtime.db.unit_of_work() as session:
            old = runtime.keys.current().active_version("index")
            new = rotate_key(session, runtime, ADMIN, "index")
        runtime.keys.refresh()
        report = reindex_subjects(runtime, ADMIN, wait=False)
        assert report.enquiries == 1
        assert reindex_subjects(runtime, ADMIN, wait=False).enquiries == 0  # resumable, idempotent
        retire_key(runtime, ADMIN, "index", str(old), wait=False)
        with runtime.db.unit_of_work() as session:
            versions = set(session.scalars(select(EnquiryTerm.key_version)
                                           .where(EnquiryTerm.enquiry_id == enquiry_id)))
        assert versions == {new}
        notice = post(world, "fra_fp", recipients=["DEU"])
        [sent] = hits(world, "icc_inv", "sent")
        assert sent["party"] == "FRA" and sent["origin"] == "enquiry"
        assert_reveals_nothing(str(sent), notice["id"])


def notice_of(*subjects: dict[str, Any], recipients: list[str]) -> NoticeDocument:
    return NoticeDocument.model_validate(notice_document(recipients=recipients, subjects=list(subjects),
                                                         assets=[]))


class TestAtTheSameTime:
    """Two writes that would match each other, the second made while the first is still uncommitted
    (as two instances or workers serve them): the second must wait for the first and see it, or neither
    learns of the other. The first is held open in a unit of work here; the second runs in a thread
    and may finish only once the first commits (SQLite: its write lock; PostgreSQL: an advisory lock)."""

    def _second_while_first_open(self, world: World, first: Callable[[Session], object],
                                 second: Callable[[Session], object], hold: float = 1.5) -> bool:
        return second_while_first_open(world.runtime, first, second, hold=hold)

    @staticmethod
    def _post(world: World, who: str, recipients: list[str],
              *subjects: dict[str, Any]) -> Callable[[Session], object]:
        return lambda s: create_notice(s, world.runtime, principal_of(world.runtime, who),
                                       notice_of(*(subjects or [subject()]), recipients=recipients))

    @staticmethod
    def _enquire(world: World, *subjects: dict[str, Any]) -> Callable[[Session], object]:
        body = EnquiryCreate.model_validate({"subjects": list(subjects or [subject()]), "purpose": "tracing",
                                             "legal_basis": "Rome Statute art. 93(1)(k)"})
        return lambda s: create_enquiry(s, world.runtime, principal_of(world.runtime, "icc_inv"), body)

    def test_two_parties_posting_the_same_suspect_both_learn_of_it(self, world: World) -> None:
        self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"]),
                                      self._post(world, "nld_fp", ["NLD"]))
        assert [h["enquirer"] for h in hits(world, "fra_fp", "received")] == ["NLD"]
        assert [h["enquirer"] for h in hits(world, "nld_fp", "received")] == ["FRA"]

    def test_an_enquiry_made_while_a_matching_post_commits_finds_it(self, world: World) -> None:
        self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"]), self._enquire(world))
        assert [h["party"] for h in hits(world, "icc_inv", "sent")] == ["FRA"]

    def test_a_post_made_while_a_matching_enquiry_commits_answers_it(self, world: World) -> None:
        self._second_while_first_open(world, self._enquire(world), self._post(world, "fra_fp", ["DEU"]))
        [received] = hits(world, "fra_fp", "received")
        assert received["enquirer"] == "ICC"

    def test_a_revision_made_while_a_matching_post_commits_meets_it(self, world: World) -> None:
        mine = post(world, "fra_fp", recipients=["DEU"], subjects=[])
        self._second_while_first_open(
            world, self._post(world, "nld_fp", ["NLD"]),
            lambda s: revise_notice(s, world.runtime, principal_of(world.runtime, "fra_fp"), mine["id"],
                                    notice_of(subject(), recipients=["DEU"])))
        assert [h["notice_id"] for h in hits(world, "fra_fp", "received")] == [mine["id"]]
        assert [h["enquirer"] for h in hits(world, "nld_fp", "received")] == ["FRA"]

    def test_a_notice_of_more_subjects_than_term_locks_still_meets_a_matching_post(
            self, world: World) -> None:
        crowd = [subject(name=f"Crowd Member {n}", birth_date=f"{1900 + n}-01-0{1 + n % 9}",
                         identifiers=[{"scheme": "passport", "value": f"CROWD{n:05d}"}])
                 for n in range(MAX_TERM_LOCKS)]
        self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"], *crowd, subject()),
                                      self._post(world, "nld_fp", ["NLD"]))
        assert [h["enquirer"] for h in hits(world, "fra_fp", "received")] == ["NLD"]
        assert [h["enquirer"] for h in hits(world, "nld_fp", "received")] == ["FRA"]

    def test_writes_of_unrelated_suspects_do_not_wait_for_each_other(self, world: World) -> None:
        if world.runtime.db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises every write transaction")
        other = subject(name="Unrelated Person", birth_date="1980-11-30",
                        identifiers=[{"scheme": "passport", "value": "ZZ9988776"}])
        assert self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"]),
                                             self._post(world, "nld_fp", ["NLD"], other), hold=20)
        # Nor do two enquiries about one person (enquiries never match each other)...
        assert self._second_while_first_open(world, self._enquire(world), self._enquire(world),
                                             hold=20)
        # ... while a matching write waits (the same hold, a shared passport only).
        same_passport = subject(name="Somebody Else", birth_date="1990-01-01")
        assert not self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"]),
                                                 self._post(world, "nld_fp", ["NLD"], same_passport))

    def test_a_match_by_name_and_birth_date_alone_waits_too(self, world: World) -> None:
        other_passport = subject(identifiers=[{"scheme": "passport", "value": "QQ1234567"}])
        self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"]),
                                      self._post(world, "nld_fp", ["NLD"], other_passport))
        assert [h["enquirer"] for h in hits(world, "fra_fp", "received")] == ["NLD"]
        assert [h["enquirer"] for h in hits(world, "nld_fp", "received")] == ["FRA"]

    def test_two_posts_meeting_one_notice_through_different_terms_join_one_pending_hit(
            self, world: World) -> None:
        theirs = post(world, "nld_fp", recipients=["NLD"])
        by_passport = subject(name="Quite Different", birth_date="1950-01-01")
        by_name_and_birth = subject(identifiers=[{"scheme": "passport", "value": "QQ1234567"}])
        self._second_while_first_open(world, self._post(world, "fra_fp", ["DEU"], by_passport),
                                      self._post(world, "fra_fp", ["DEU"], by_name_and_birth))
        # France learns of their notice once: one pending hit matching both its posts...
        [received] = hits(world, "fra_fp", "received")
        assert received["enquirer"] == "NLD" and len(received["matches"]) == 2
        # ... while the Netherlands learns of each post (two origins, two hits) on its one notice.
        told = hits(world, "nld_fp", "received")
        assert len(told) == 2 and {h["notice_id"] for h in told} == {theirs["id"]}

    @pytest.mark.parametrize("decision_first", [False, True], ids=["post-first", "share-first"])
    def test_a_hit_shared_beside_a_matching_post_waits_or_is_waited_for(
            self, world: World, decision_first: bool) -> None:
        post(world, "fra_fp", recipients=["DEU"])
        post(world, "nld_fp", recipients=["NLD"])
        [received] = hits(world, "fra_fp", "received")
        fra = principal_of(world.runtime, "fra_fp")

        def share(session: Session) -> object:
            return share_hit(session, world.runtime, fra, received["id"])

        posting = self._post(world, "deu_fp", ["DEU"])
        first, second = (share, posting) if decision_first else (posting, share)
        # The decision holds the matching lock exclusively, the post shares it: whichever comes
        # second waits for the first to commit, and neither deadlocks nor fails.
        assert not self._second_while_first_open(world, first, second)
        fra_received = hits(world, "fra_fp", "received")
        assert [h["status"] for h in fra_received if h["id"] == received["id"]] == ["shared"]
        # The post made its hits (Germany already reads France's notice: no hit between those two).
        assert "DEU" in {h["enquirer"] for h in fra_received}
        assert [h["enquirer"] for h in hits(world, "deu_fp", "received")] == ["NLD"]
