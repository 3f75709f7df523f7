"""The audit log over a real database: sequencing, signed checkpoints, proofs over HTTP, completeness,
concurrency, the background sequencer, and the author party's access log."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from app.audit.canonical import CANONICAL_COLUMNS, CANONICAL_COLUMNS_V2
from app.audit.checkpoint import Checkpoint, NoteError, audit_keys, open_checkpoint
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.audit.record import Action, record, record_each
from app.audit.sequencer import TreeStateError, seal_pending
from app.audit.verify import verify_log
from app.auth.principal import Principal, Role
from app.parties.models import Party
from app.runtime import Runtime
from tests.support.audit import drop_triggers
from tests.support.factories import World
from tests.support.merkle_reference import independent_consistency_ok, independent_inclusion_ok

ACTOR = Principal(username="cli:tester", party="-", role=Role.ADMIN, request_id="audit-test")


def add_entries(runtime: Runtime, count: int, *, actor: Principal = ACTOR) -> None:
    with runtime.db.unit_of_work() as session:
        for i in range(count):
            record(session, actor, Action.NOTICE_READ, object_id=f"object-{i}")


def leaf_rows(runtime: Runtime) -> list[tuple[int, int]]:
    with runtime.db.unit_of_work() as session:
        return [tuple(r) for r in session.execute(
            select(AuditLeaf.tree_index, AuditLeaf.entry_id).order_by(AuditLeaf.tree_index))]


def entry_count(runtime: Runtime, **where: str) -> int:
    with runtime.db.unit_of_work() as session:
        query = select(func.count()).select_from(AuditEntry)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return session.scalar(query) or 0


def b64d(text: str) -> bytes:
    return base64.b64decode(text)


def independent_note_check(note: str, public_key: bytes, origin: str) -> tuple[int, bytes]:
    """C2SP signed-note + tlog-checkpoint parsing and Ed25519 verification, written from the specs."""
    body, _, signatures = note.rpartition("\n\n")
    body += "\n"
    line = signatures.rstrip("\n")
    assert line.startswith("\u2014 "), "signature line starts with an em dash and a space"
    name, encoded = line[2:].split(" ")
    assert name == origin
    raw = base64.b64decode(encoded)
    assert raw[:4] == hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]
    Ed25519PublicKey.from_public_bytes(public_key).verify(raw[4:], body.encode())
    origin_line, size, root = body.split("\n")[:3]
    assert origin_line == origin
    return int(size), base64.b64decode(root)


class TestSequencer:
    def test_seals_committed_entries_contiguously_in_id_order(self, runtime: Runtime) -> None:
        setup = seal_pending(runtime)  # the fixture's own entries (court party, vocabulary)
        add_entries(runtime, 5)
        assert seal_pending(runtime) == 5
        add_entries(runtime, 3)
        assert seal_pending(runtime) == 3
        assert seal_pending(runtime) == 0
        rows = leaf_rows(runtime)
        assert [i for i, _ in rows] == list(range(setup + 8))
        assert [e for _, e in rows] == sorted(e for _, e in rows)
        with runtime.db.unit_of_work() as session:
            sizes = list(session.scalars(select(AuditCheckpoint.tree_size)
                                         .order_by(AuditCheckpoint.tree_size)))
        assert sizes == [setup, setup + 5, setup + 8], "one checkpoint per round that sealed something"
        assert verify_log(runtime).ok

    def test_checkpoint_is_a_c2sp_note_verifiable_from_the_specs(self, runtime: Runtime) -> None:
        add_entries(runtime, 4)
        sealed = seal_pending(runtime)
        ring = runtime.keys.current()
        with runtime.db.unit_of_work() as session:
            cp = session.scalar(select(AuditCheckpoint))
        assert cp is not None
        public = ring.version("audit", 1).public
        assert public is not None
        size, root = independent_note_check(cp.note, public,
                                            runtime.settings.audit_origin)
        assert (size, root) == (cp.tree_size, cp.root_hash) and size == sealed
        forged = cp.note.replace(f"\n{size}\n", f"\n{size + 1}\n")
        with pytest.raises(NoteError):
            open_checkpoint(forged, audit_keys(ring, runtime.settings.audit_origin))

    def test_new_checkpoints_use_the_active_audit_version_and_old_ones_still_verify(
            self, runtime: Runtime) -> None:
        add_entries(runtime, 2)
        seal_pending(runtime)
        runtime.keys.update(lambda ring: ring.rotated("audit"))
        add_entries(runtime, 2)
        seal_pending(runtime)
        runtime.keys.update(lambda ring: ring.retired("audit", 1))
        with runtime.db.unit_of_work() as session:
            versions = list(session.scalars(select(AuditCheckpoint.key_version)
                                            .order_by(AuditCheckpoint.tree_size)))
        assert versions == [1, 2]
        report = verify_log(runtime)
        assert report.ok, report.problems
        assert report.checkpoints == 2

    def test_a_tampered_tree_is_never_extended(self, runtime: Runtime) -> None:
        add_entries(runtime, 3)
        seal_pending(runtime)
        sealed = leaf_rows(runtime)
        add_entries(runtime, 1)
        with runtime.db.engine.begin() as conn:
            drop_triggers(conn)
            conn.execute(text("UPDATE audit_leaf SET leaf_hash = :h WHERE tree_index = 0"),
                         {"h": bytes(32)})
        other = Runtime.build(runtime.settings)  # another process: no remembered tree edge
        try:
            with pytest.raises(TreeStateError):
                seal_pending(other)
        finally:
            other.close()
        assert len(leaf_rows(runtime)) == len(sealed), "nothing was sealed on top of the tampered tree"

    def test_an_entry_committing_after_a_later_one_is_still_sealed(self, runtime: Runtime) -> None:
        if runtime.db.is_sqlite:
            pytest.skip("SQLite allocates ids under its write lock: they commit in order")
        seal_pending(runtime)
        slow = runtime.db.sessions()
        try:
            late = record(slow, ACTOR, Action.NOTICE_READ, object_id="late")
            slow.flush()  # id taken, not committed
            add_entries(runtime, 2)  # higher ids, committed first
            seal_pending(runtime)
            rolled_back = runtime.db.sessions()
            record(rolled_back, ACTOR, Action.NOTICE_READ, object_id="never")
            rolled_back.flush()
            rolled_back.rollback()  # a permanent gap in the ids
            rolled_back.close()
            add_entries(runtime, 1)
            assert seal_pending(runtime) == 1
            slow.commit()
        finally:
            slow.close()
        assert seal_pending(runtime) == 1, "the late commit below the sealed ids is found"
        rows = leaf_rows(runtime)
        assert rows[-1][1] == late.id and [i for i, _ in rows] == list(range(len(rows)))
        assert len(rows) == entry_count(runtime)
        assert verify_log(runtime).ok

    def test_two_processes_seal_concurrently_without_gaps_or_duplicates(self, runtime: Runtime) -> None:
        other = Runtime.build(runtime.settings)
        stop = threading.Event()
        errors: list[BaseException] = []

        def sealer(rt: Runtime) -> None:
            try:
                while not stop.is_set():
                    seal_pending(rt)
            except Exception as exc:
                errors.append(exc)

        def writer(n: int) -> None:
            actor = Principal(username=f"writer{n}", party="FRA", role=Role.FOCAL_POINT,
                              request_id=f"w{n}")
            try:
                for _ in range(15):
                    add_entries(runtime, 2, actor=actor)
            except Exception as exc:
                errors.append(exc)

        sealers = [threading.Thread(target=sealer, args=(rt,)) for rt in (runtime, other)]
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        try:
            for t in sealers + writers:
                t.start()
            for t in writers:
                t.join()
            stop.set()
            for t in sealers:
                t.join()
            assert not errors, errors
            seal_pending(runtime)
        finally:
            other.close()
        rows = leaf_rows(runtime)
        assert [i for i, _ in rows] == list(range(len(rows)))
        assert len({e for _, e in rows}) == len(rows) == entry_count(runtime)
        assert len(rows) >= 120
        assert verify_log(runtime).ok


class TestCompleteness:
    def test_canonical_bytes_cover_every_stored_column(self) -> None:
        # Format 1 covers every column but the format-2 ones; format 2 all but the wrapped key (kept in
        # audit_detail_key, rewrappable); the format itself is the tag at the start of the text.
        assert set(CANONICAL_COLUMNS) | set(CANONICAL_COLUMNS_V2) | {"entry_format"} == {
            c.name for c in AuditEntry.__table__.columns}
        assert set(CANONICAL_COLUMNS) - set(CANONICAL_COLUMNS_V2) == {"detail_key_version",
                                                                     "detail_wrapped_key"}

    def test_each_action_yields_exactly_one_entry(self, world: World) -> None:
        c = world.client

        def entries_of(rid: str) -> list[tuple[str, str]]:
            with world.runtime.db.unit_of_work() as session:
                return [(e.action, e.outcome) for e in session.scalars(
                    select(AuditEntry).where(AuditEntry.request_id == rid).order_by(AuditEntry.id))]

        def call(method: str, url: str, who: str | None = None, **kw: Any) -> tuple[int, str]:
            response = c.request(method, url, headers=world.headers(who) if who else {}, **kw)
            return response.status_code, response.headers["x-request-id"]

        status, rid = call("POST", "/api/v1/notices", "fra_fp", json=_doc())
        assert status == 201 and entries_of(rid) == [("notice.create", "ok")]
        notice_id = c.get("/api/v1/notices", headers=world.headers("fra_fp")).json()["items"][0]["id"]
        for method, url, who, want in [
            ("GET", f"/api/v1/notices/{notice_id}", "icc_inv", [("notice.read", "ok")]),
            ("GET", f"/api/v1/notices/{notice_id}", "nld_fp", [("notice.read", "denied")]),
            ("GET", f"/api/v1/notices/{notice_id}/revisions", "fra_fp", [("notice.revisions", "ok")]),
            ("GET", f"/api/v1/notices/{notice_id}/access-log", "fra_fp", [("notice.access_log", "ok")]),
            ("GET", f"/api/v1/notices/{notice_id}/access-log", "icc_inv",
             [("notice.access_log", "denied")]),
            ("GET", "/api/v1/audit/entries", "fra_auditor", [("audit.read", "ok")]),
            ("GET", "/api/v1/audit/entries", "fra_fp", [("audit.read", "denied")]),
        ]:
            status, rid = call(method, url, who)
            assert entries_of(rid) == want, (url, who, status)
        status, rid = call("PUT", f"/api/v1/notices/{notice_id}", "fra_fp", json=_doc(title="Revised"))
        assert status == 200 and entries_of(rid) == [("notice.revise", "ok")]
        status, rid = call("POST", "/api/v1/auth/token", data={"username": "fra_fp",
                                                               "password": "correct horse battery staple"})
        assert status == 200 and entries_of(rid) == [("auth.login", "ok"), ("auth.token_issue", "ok")]
        status, rid = call("POST", "/api/v1/auth/token", data={"username": "fra_fp", "password": "wrong"})
        assert status == 400 and [a for a, _ in entries_of(rid)] == ["auth.login"]

    def test_a_refused_action_leaves_no_entry(self, world: World) -> None:
        created = world.post_notice("fra_fp")
        response = world.client.put(f"/api/v1/notices/{created['id']}", json=_doc(),
                                    headers={**world.headers("fra_fp"), "If-Match": '"7"'})
        assert response.status_code == 409
        rid = response.headers["x-request-id"]
        assert entry_count(world.runtime, request_id=rid) == 0

    def test_one_entry_per_listed_object_in_the_order_given_sealed_and_verifiable(
            self, runtime: Runtime) -> None:
        ids = [str(uuid.uuid4()) for _ in range(100)]  # a full page of a listing
        started = datetime.now(UTC)
        with runtime.db.unit_of_work() as session:
            record(session, ACTOR, Action.NOTICE_LIST)  # pending: record_each must insert it first
            record_each(session, ACTOR, Action.NOTICE_LIST, ids)
            record_each(session, ACTOR, Action.NOTICE_LIST, [])
        with runtime.db.unit_of_work() as session:
            rows = session.scalars(select(AuditEntry).where(AuditEntry.request_id == ACTOR.request_id,
                                                            AuditEntry.action == "notice.list")
                                   .order_by(AuditEntry.id)).all()
        assert [r.object_id for r in rows] == [None, *ids], "the listing's entry, then each id in order"
        assert {(r.username, r.party, r.role, r.outcome, r.entry_format, r.created_at)
                for r in rows[1:]} == {(ACTOR.username, "-", "admin", "ok", rows[0].entry_format,
                                        rows[1].created_at)}
        assert started <= rows[1].created_at <= datetime.now(UTC)
        seal_pending(runtime)
        assert verify_log(runtime).ok

    def test_a_failing_commit_takes_its_entry_with_it(self, runtime: Runtime) -> None:
        before = entry_count(runtime)
        # The whole unit of work is under test: its failed flush must take the entry with it.
        with pytest.raises(IntegrityError), runtime.db.unit_of_work() as session:  # noqa: PT012
            record(session, ACTOR, Action.PARTY_ADD, object_id="ICC")
            session.add(Party(code="ICC", name="again", kind="court"))  # duplicate key at flush/commit
            session.flush()
        assert entry_count(runtime) == before


def _doc(**overrides: object) -> dict[str, object]:
    from tests.support.factories import notice_document

    return notice_document(**overrides)


class TestHttpApi:
    def test_background_sequencer_seals_within_two_seconds(self, world: World) -> None:
        created = world.post_notice("fra_fp")
        posted = time.monotonic()
        sealed = None
        while time.monotonic() - posted < 2.0:
            with world.runtime.db.unit_of_work() as session:
                sealed = session.scalar(select(AuditLeaf.tree_index).join(
                    AuditEntry, AuditEntry.id == AuditLeaf.entry_id).where(
                    AuditEntry.object_id == created["id"], AuditEntry.action == "notice.create"))
            if sealed is not None:
                break
            time.sleep(0.05)
        assert sealed is not None, "the running service sealed the entry within 2 s"
        cp = world.client.get("/api/v1/audit/checkpoint", headers=world.headers("nld_fp")).json()
        assert cp["tree_size"] > sealed

    def test_entries_checkpoint_keys_and_proofs_verify_independently(self, world: World) -> None:
        for _ in range(3):
            world.post_notice("fra_fp")
        first_cp = _sealed_checkpoint(world)
        world.post_notice("fra_fp")
        cp = _sealed_checkpoint(world)
        keys = world.client.get("/api/v1/audit/keys").json()["keys"]
        assert [k["algorithm"] for k in keys] == ["Ed25519"]
        size, root = independent_note_check(cp["note"], b64d(keys[0]["public_key"]),
                                            world.runtime.settings.audit_origin)
        assert size == cp["tree_size"] and root == b64d(cp["root_hash"])
        assert keys[0]["key_id"] == hashlib.sha256(keys[0]["name"].encode() + b"\n\x01"
                                                   + b64d(keys[0]["public_key"])).digest()[:4].hex()

        entries, after = [], None
        while True:
            page = world.client.get("/api/v1/audit/entries", params={"limit": 7} | (
                {"after": after} if after is not None else {}), headers=world.headers("fra_auditor"))
            assert page.status_code == 200, page.text
            body = page.json()
            entries += body["items"]
            if body["next"] is None:
                break
            after = body["next"]
        assert [e["index"] for e in entries] == list(range(len(entries)))
        assert not any("subjects" in e or "title" in e for e in entries)
        for e in entries[: cp["tree_size"]]:
            proof = world.client.get("/api/v1/audit/proofs/inclusion",
                                     params={"index": e["index"], "tree_size": size},
                                     headers=world.headers("icc_inv")).json()
            assert proof["leaf_hash"] == e["leaf_hash"]
            assert independent_inclusion_ok(e["index"], size, b64d(e["leaf_hash"]),
                                            [b64d(p) for p in proof["proof"]], root)
        consistency = world.client.get("/api/v1/audit/proofs/consistency",
                                       params={"first": first_cp["tree_size"], "second": size},
                                       headers=world.headers("icc_inv")).json()
        assert independent_consistency_ok(first_cp["tree_size"], size,
                                          [b64d(p) for p in consistency["proof"]],
                                          b64d(first_cp["root_hash"]), root)

    def test_proof_requests_outside_the_signed_tree_are_problems(self, world: World) -> None:
        cp = _sealed_checkpoint(world)
        h = world.headers("icc_inv")
        for params in ({"index": cp["tree_size"], "tree_size": cp["tree_size"]},
                       {"index": 0, "tree_size": cp["tree_size"] + 1000},
                       {"index": -1, "tree_size": 1}, {"index": "x", "tree_size": 1}):
            r = world.client.get("/api/v1/audit/proofs/inclusion", params=params, headers=h)
            assert r.status_code == 422, (params, r.text)
        r = world.client.get("/api/v1/audit/proofs/consistency", params={"first": 3, "second": 2},
                             headers=h)
        assert r.status_code == 422
        assert world.client.get("/api/v1/audit/checkpoint").status_code == 401

    def test_concurrent_requests_produce_a_gap_free_verifiable_log(self, world: World) -> None:
        created = world.post_notice("fra_fp")
        errors: list[str] = []

        def reader(who: str) -> None:
            for _ in range(10):
                r = world.client.get(f"/api/v1/notices/{created['id']}", headers=world.headers(who))
                if r.status_code not in (200, 404):
                    errors.append(r.text)

        threads = [threading.Thread(target=reader, args=(w,)) for w in ("fra_fp", "icc_inv", "nld_fp",
                                                                       "deu_fp")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        seal_pending(world.runtime)
        rows = leaf_rows(world.runtime)
        assert [i for i, _ in rows] == list(range(len(rows)))
        assert len(rows) == entry_count(world.runtime)
        assert entry_count(world.runtime, object_id=created["id"], action="notice.read") == 40
        assert verify_log(world.runtime).ok


def _sealed_checkpoint(world: World) -> dict[str, Any]:
    seal_pending(world.runtime)
    r = world.client.get("/api/v1/audit/checkpoint", headers=world.headers("icc_inv"))
    assert r.status_code == 200, r.text
    return r.json()


class TestAccessLog:
    def test_author_party_sees_reads_searches_and_refusals_of_its_notice(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC", "NLD"])
        other = world.post_notice("fra_fp")
        c, nid = world.client, notice["id"]
        assert c.get(f"/api/v1/notices/{nid}", headers=world.headers("icc_inv")).status_code == 200
        assert c.get(f"/api/v1/notices/{nid}", headers=world.headers("deu_fp")).status_code == 404
        assert c.get("/api/v1/notices", headers=world.headers("nld_fp")).status_code == 200
        assert c.get(f"/api/v1/notices/{other['id']}", headers=world.headers("icc_inv")).status_code == 200
        found = c.post("/api/v1/search/subjects", json={"name": "Jean-Pierre Exemple"},
                       headers=world.headers("icc_inv"))
        assert found.status_code == 200 and nid in {m["notice_id"] for m in found.json()["matches"]}
        seal_pending(world.runtime)

        log = c.get(f"/api/v1/notices/{nid}/access-log", headers=world.headers("fra_fp"))
        assert log.status_code == 200, log.text
        seen = [(i["party"], i["role"], i["action"], i["outcome"]) for i in log.json()["items"]]
        assert seen == [("FRA", "focal_point", "notice.create", "ok"),
                        ("ICC", "court_investigator", "notice.read", "ok"),
                        ("DEU", "focal_point", "notice.read", "denied"),
                        ("NLD", "focal_point", "notice.list", "ok"),
                        ("ICC", "court_investigator", "search.hit", "ok")]
        items = log.json()["items"]
        assert all(i["index"] is not None and i["timestamp"] for i in items)
        assert "username" not in items[0]

    @pytest.mark.parametrize("who", ["nld_fp", "icc_inv", "deu_fp", "fra_auditor", "icc_admin"])
    def test_anyone_but_the_author_party_gets_404(self, world: World, who: str) -> None:
        notice = world.post_notice("fra_fp", recipients=["ICC", "NLD"])
        r = world.client.get(f"/api/v1/notices/{notice['id']}/access-log", headers=world.headers(who))
        assert r.status_code == 404
        missing = world.client.get(f"/api/v1/notices/{uuid.uuid4()}/access-log",
                                   headers=world.headers("fra_fp"))
        assert missing.status_code == 404
        assert r.json()["detail"] == missing.json()["detail"]


def test_checkpoint_body_round_trips() -> None:
    cp = Checkpoint("arx.example/audit-log", 12, bytes(range(32)))
    assert Checkpoint.parse(cp.body()) == cp
    for bad in ("a\n01\n" + base64.b64encode(bytes(32)).decode() + "\n", "a\n1\nxx\n", "a\n1\n"):
        with pytest.raises(NoteError):
            Checkpoint.parse(bad)
