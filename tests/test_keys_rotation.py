"""Key rotation use cases in-process: rotate, rewrap, retire and their refusal rules, on a real database."""

from __future__ import annotations

import threading
import time

import pyotp
import pytest
from sqlalchemy import select, text

from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.audit.record import Action, detail_aad, open_detail, record
from app.errors import Conflict
from app.keys.jobs import await_older_writers
from app.keys.reindex import purge_index_terms, reindex_subjects
from app.keys.retire import retire_key
from app.keys.rewrap import rewrap_data_keys
from app.keys.rotate import rotate_key
from app.keys.status import key_status
from app.notices.models import NoticeRevision, NoticeRevisionKey
from app.runtime import Runtime
from app.search.models import IndexBuild, SubjectTerm
from app.users.models import User
from tests.support.factories import ADMIN, World, assert_problem, bearer, login, make_user


def rotate(runtime: Runtime, kind: str) -> int:
    with runtime.db.unit_of_work() as session:
        version = rotate_key(session, runtime, ADMIN, kind)
    runtime.keys.refresh()
    return version


def revision_versions(runtime: Runtime) -> dict[str, int]:
    with runtime.db.unit_of_work() as session:
        return {n: v for n, v in session.execute(select(NoticeRevisionKey.notice_id,
                                                        NoticeRevisionKey.key_version))}


def key_actions(runtime: Runtime) -> list[tuple[str, str | None, str]]:
    with runtime.db.unit_of_work() as session:
        return [tuple(row) for row in session.execute(
            select(AuditEntry.action, AuditEntry.object_id, AuditEntry.outcome)
            .where(AuditEntry.action.like("keys.%")).order_by(AuditEntry.id))]


def dependents(runtime: Runtime, kind: str, version: int) -> int:
    with runtime.db.unit_of_work() as session:
        status = key_status(session, runtime)
    return next(v["dependents"] for v in status[kind]["versions"] if v["version"] == version)


class TestRotateData:
    def test_new_writes_use_new_version_and_old_notices_still_read(self, world: World) -> None:
        old = world.post_notice("fra_fp")
        assert rotate(world.runtime, "data") == 2
        new = world.post_notice("fra_fp", title="After rotation")
        versions = revision_versions(world.runtime)
        assert versions[old["id"]] == 1 and versions[new["id"]] == 2
        for notice in (old, new):
            got = world.client.get(f"/api/v1/notices/{notice['id']}", headers=world.headers("icc_inv"))
            assert got.status_code == 200 and got.json()["title"] == notice["title"]
        assert ("keys.rotate", "data-v2", "ok") in key_actions(world.runtime)

    def test_unknown_kind_is_refused(self, runtime: Runtime) -> None:
        with pytest.raises(Exception, match="key kind must be one of"), runtime.db.unit_of_work() as s:
            rotate_key(s, runtime, ADMIN, "master")


class TestRewrapAndRetireData:
    def test_retire_refused_before_rewrap_allowed_after(self, world: World) -> None:
        runtime = world.runtime
        secret = make_user(runtime, username="fra_totp", party="FRA", role="focal_point", totp=True)
        notices = [world.post_notice("fra_fp", title=f"Notice {i}") for i in range(5)]
        revised = world.client.put(f"/api/v1/notices/{notices[0]['id']}", headers=world.headers("fra_fp"),
                                   json={**{k: notices[0][k] for k in ("kind", "recipients", "tlp",
                                                                      "paris_paragraphs", "reference",
                                                                      "subjects", "assets", "narrative")},
                                         "title": "Revised"})
        assert revised.status_code == 200, revised.text
        rotate(runtime, "data")

        with pytest.raises(Conflict, match="run `arx keys rewrap` first"):
            retire_key(runtime, ADMIN, "data", "1", wait=False)
        assert ("keys.retire", "data-v1", "denied") in key_actions(runtime)
        assert dependents(runtime, "data", 1) == 7  # six revisions + one TOTP secret

        with runtime.db.unit_of_work() as session:
            before = {(r.notice_id, r.revision): (r.nonce, r.ciphertext, r.key.wrapped_key)
                      for r in session.scalars(select(NoticeRevision))}
        seen: list[tuple[int, int]] = []
        report = rewrap_data_keys(runtime, ADMIN, batch_size=2, progress=lambda d, t: seen.append((d, t)),
                                  wait=False)
        assert report.rewrapped == 7 and report.unreadable == 0
        assert seen[-1][0] == 7 and seen[0] == (0, 7)
        with runtime.db.unit_of_work() as session:
            after = {(r.notice_id, r.revision): (r.key.key_version, r.nonce, r.ciphertext, r.key.wrapped_key)
                     for r in session.scalars(select(NoticeRevision))}
        for key, (nonce, ciphertext, wrapped) in before.items():
            version, nonce2, ciphertext2, wrapped2 = after[key]
            # Content untouched, only the wrapped data key changed.
            assert version == 2 and (nonce2, ciphertext2) == (nonce, ciphertext) and wrapped2 != wrapped
        assert rewrap_data_keys(runtime, ADMIN, wait=False).rewrapped == 0  # idempotent

        retired = retire_key(runtime, ADMIN, "data", "v1", wait=False)
        assert retired.version == 1
        assert not runtime.keys.refresh().version("data", 1).usable
        for notice in notices:
            got = world.client.get(f"/api/v1/notices/{notice['id']}", headers=world.headers("icc_inv"))
            assert got.status_code == 200, got.text
        history = world.client.get(f"/api/v1/notices/{notices[0]['id']}/revisions",
                                   headers=world.headers("icc_inv"))
        assert [r["title"] for r in history.json()["items"]] == ["Notice 0", "Revised"]
        assert secret is not None
        login(world.client, "fra_totp", otp=pyotp.TOTP(secret).now())
        actions = key_actions(runtime)
        assert ("keys.rewrap", "data-v2", "ok") in actions and ("keys.retire", "data-v1", "ok") in actions

    def test_format_1_audit_details_block_retirement_unless_abandoned(self, world: World) -> None:
        runtime = world.runtime
        # An entry written before format 2: its leaf covers the wrapped key, kept in the entry itself.
        sealed = runtime.envelope.seal(b'{"q": "secret query"}', detail_aad(f"old-request|{Action.SEARCH}"))
        with runtime.db.unit_of_work() as session:
            session.add(AuditEntry(username="cli:old", party="-", role="admin", action=str(Action.SEARCH),
                                   outcome="ok", request_id="old-request", entry_format=1,
                                   detail_key_version=sealed.key_version,
                                   detail_wrapped_key=sealed.wrapped_key, detail_nonce=sealed.nonce,
                                   detail_ciphertext=sealed.ciphertext))
        rotate(runtime, "data")
        report = rewrap_data_keys(runtime, ADMIN, wait=False)
        assert report.audit_details_left == {1: 1}
        assert dependents(runtime, "data", 1) == 1
        with pytest.raises(Conflict, match="audit detail"):
            retire_key(runtime, ADMIN, "data", "1", wait=False)
        retired = retire_key(runtime, ADMIN, "data", "1", wait=False, abandon_audit_details=True)
        assert retired.abandoned_audit_details == 1

    def test_data_key_retirable_after_searches_details_still_readable(self, world: World) -> None:
        from app.audit.sequencer import seal_pending
        from app.audit.verify import verify_log

        runtime = world.runtime
        world.post_notice("fra_fp")
        for name in ("Jean-Pierre Exemple", "Somebody Else"):
            found = world.client.post("/api/v1/search/subjects", json={"name": name},
                                      headers=world.headers("icc_inv"))
            assert found.status_code == 200, found.text
        seal_pending(runtime)
        with runtime.db.unit_of_work() as session:
            leaves_before = dict(session.execute(
                select(AuditLeaf.entry_id, AuditLeaf.leaf_hash)).tuples().all())
        rotate(runtime, "data")
        report = rewrap_data_keys(runtime, ADMIN, wait=False)
        assert report.audit_details_left == {} and report.unreadable == 0
        retired = retire_key(runtime, ADMIN, "data", "1", wait=False)
        assert retired.abandoned_audit_details == 0
        assert not runtime.keys.refresh().version("data", 1).usable
        seal_pending(runtime)
        assert verify_log(runtime).first_bad is None
        with runtime.db.unit_of_work() as session:
            leaves_after = dict(session.execute(
                select(AuditLeaf.entry_id, AuditLeaf.leaf_hash)).tuples().all())
            assert {k: leaves_after[k] for k in leaves_before} == leaves_before  # no leaf changed
            searches = list(session.scalars(select(AuditEntry).where(
                AuditEntry.action == str(Action.SEARCH)).order_by(AuditEntry.id)))
            details = [open_detail(session, runtime.envelope, e) for e in searches]
        assert [d["name"] for d in details if d] == ["Jean-Pierre Exemple", "Somebody Else"]

    def test_active_and_unknown_versions_are_refused(self, runtime: Runtime) -> None:
        with pytest.raises(Conflict, match="is active"):
            retire_key(runtime, ADMIN, "data", "1", wait=False)
        with pytest.raises(Conflict, match="not in the keyring"):
            retire_key(runtime, ADMIN, "signing", "7", wait=False)
        with pytest.raises(Exception, match="positive integer"):
            retire_key(runtime, ADMIN, "data", "one", wait=False)

    def test_retire_waits_for_running_services_to_switch(self, runtime: Runtime) -> None:
        rotate(runtime, "data")
        started = time.monotonic()
        retire_key(runtime, ADMIN, "data", "1")
        # keyring_poll_seconds=0.2 in tests, plus one second for in-flight transactions.
        assert time.monotonic() - started >= 1.0


class TestWritersInFlight:
    """A post that sealed under the old key can outlive the in-flight allowance (waiting for the matching
    lock): a key job waits for every writing transaction begun before it, not for readers."""

    @pytest.fixture(autouse=True)
    def _postgresql(self, runtime: Runtime) -> None:
        if runtime.db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite: the job's own batches wait for the writer's write lock")

    def test_a_job_waits_for_an_older_writer_but_not_for_a_reader(self, runtime: Runtime) -> None:
        ended = threading.Event()

        def job() -> None:
            await_older_writers(runtime)
            ended.set()

        with runtime.db.engine.connect() as reader, runtime.db.engine.connect() as writer:
            reader.execute(text("SELECT 1"))  # a read-only transaction: a backup, a verification
            writer.execute(text("SELECT txid_current()"))  # has written, not yet committed
            thread = threading.Thread(target=job)
            thread.start()
            assert not ended.wait(1.0)
            writer.commit()
            assert ended.wait(10.0), "the job still waits once the writer committed"
            thread.join()

    def test_a_writer_that_never_ends_fails_the_job_naming_it(self, runtime: Runtime) -> None:
        with runtime.db.engine.connect() as writer:
            pid = writer.scalar(text("SELECT pg_backend_pid()"))
            writer.execute(text("SELECT txid_current()"))
            with pytest.raises(Conflict, match=f"still open .*{pid}"):
                await_older_writers(runtime, timeout=0.5)


class TestSigning:
    def test_old_tokens_live_until_retire_then_refused_and_gone_from_jwks(self, world: World) -> None:
        client = world.client
        old_token = world.tokens["fra_fp"]
        rotate(world.runtime, "signing")
        new_token = login(client, "nld_fp")
        kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
        assert kids == {"signing-v1", "signing-v2"}
        assert client.get("/api/v1/me", headers=bearer(old_token)).status_code == 200
        assert dependents(world.runtime, "signing", 1) >= 1

        # Another process (the CLI) retires: this service learns it by polling, within the interval.
        from app.crypto.keyring import FileKeyProvider
        FileKeyProvider(world.runtime.settings.keys_dir).update(lambda r: r.retired("signing", 1))
        deadline = time.monotonic() + 5
        while client.get("/api/v1/me", headers=bearer(old_token)).status_code == 200:
            assert time.monotonic() < deadline, "retired signing key still accepted after 5 s"
            time.sleep(0.05)
        assert_problem(client.get("/api/v1/me", headers=bearer(old_token)), 401)
        assert client.get("/api/v1/me", headers=bearer(new_token)).status_code == 200
        kids = {k["kid"] for k in client.get("/.well-known/jwks.json").json()["keys"]}
        assert kids == {"signing-v2"}

    def test_signing_retire_is_immediate_even_right_after_rotation(self, world: World) -> None:
        rotate(world.runtime, "signing")
        started = time.monotonic()
        retire_key(world.runtime, ADMIN, "signing", "signing-v1")
        assert time.monotonic() - started < 1.0
        assert_problem(world.client.get("/api/v1/me", headers=world.headers("fra_fp")), 401)


class TestAudit:
    def test_retire_refused_until_a_newer_key_countersigned(self, runtime: Runtime) -> None:
        with runtime.db.unit_of_work() as session:
            session.add(AuditCheckpoint(tree_size=5, root_hash=b"\0" * 32, key_version=1, note="n"))
        rotate(runtime, "audit")
        with pytest.raises(Conflict, match="countersigned"):
            retire_key(runtime, ADMIN, "audit", "1", wait=False)
        with runtime.db.unit_of_work() as session:
            session.add(AuditCheckpoint(tree_size=6, root_hash=b"\1" * 32, key_version=2, note="n"))
        retire_key(runtime, ADMIN, "audit", "1", wait=False)
        old = runtime.keys.refresh().version("audit", 1)
        assert old.material is None and old.public is not None and len(old.public) == 32
        assert dependents(runtime, "audit", 1) == 1

    def test_real_checkpoints_countersigned_then_log_still_verifies(self, world: World) -> None:
        from app.audit.sequencer import seal_pending
        from app.audit.verify import verify_log

        runtime = world.runtime
        world.post_notice("fra_fp")
        seal_pending(runtime)
        rotate(runtime, "audit")
        with runtime.db.unit_of_work() as session:
            record(session, ADMIN, Action.AUDIT_READ)
        seal_pending(runtime)
        with runtime.db.unit_of_work() as session:
            signers = set(session.scalars(select(AuditCheckpoint.key_version)))
        assert signers == {1, 2}
        retire_key(runtime, ADMIN, "audit", "1", wait=False)
        seal_pending(runtime)
        report = verify_log(runtime)
        assert report.first_bad is None and report.checkpoints >= 2


class TestIndex:
    def test_retire_refused_without_complete_newer_build_then_terms_purged(self, runtime: Runtime
                                                                         ) -> None:
        rotate(runtime, "index")
        with pytest.raises(Conflict, match="reindex"):
            retire_key(runtime, ADMIN, "index", "1", wait=False)
        with runtime.db.unit_of_work() as session:
            session.add(IndexBuild(key_version=2))
        with pytest.raises(Conflict, match="reindex"):
            retire_key(runtime, ADMIN, "index", "1", wait=False)
        with runtime.db.unit_of_work() as session:
            build = session.get(IndexBuild, 2)
            assert build is not None
            build.completed_at = build.started_at
        retire_key(runtime, ADMIN, "index", "1", wait=False)
        assert purge_index_terms(runtime, 1) == 0
        with runtime.db.unit_of_work() as session:
            assert session.scalar(select(SubjectTerm.id).where(SubjectTerm.key_version == 1)) is None


def test_status_counts_totp_secrets(runtime: Runtime) -> None:
    from tests.support.factories import make_party
    make_party(runtime, code="FRA")
    make_user(runtime, username="with_totp", party="FRA", role="focal_point", totp=True)
    with runtime.db.unit_of_work() as session:
        status = key_status(session, runtime)
        assert session.scalar(select(User.totp_key_version).where(User.username == "with_totp")) == 1
    data_v1 = status["data"]["versions"][0]
    assert status["data"]["active"] == 1 and data_v1["totp_secrets"] == 1 and data_v1["dependents"] == 1
    assert set(status) == {"data", "index", "signing", "audit"}


class TestReindex:
    def test_concurrent_runs_write_each_term_once_and_complete_the_build(self, world: World) -> None:
        import threading

        runtime = world.runtime
        for i in range(6):
            world.post_notice("fra_fp", subjects=[{"name": f"Subject Number{'x' * i} Ostrowski",
                                                   "birth_date": "1970-01-01"}])
        rotate(runtime, "index")
        errors: list[BaseException] = []

        def run() -> None:
            try:
                reindex_subjects(runtime, ADMIN, batch_size=1, wait=False)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with runtime.db.unit_of_work() as session:
            def terms(version: int) -> list[tuple[object, ...]]:
                return sorted(tuple(r) for r in session.execute(
                    select(SubjectTerm.notice_id, SubjectTerm.subject_no, SubjectTerm.term)
                    .where(SubjectTerm.key_version == version)))
            old, new = terms(1), terms(2)
            assert len(new) == len(set(new)) and len(old) == len(new) > 0
            build = session.get(IndexBuild, 2)
            assert build is not None and build.completed_at is not None


def test_a_retirement_that_lost_a_race_can_be_undone(runtime: Runtime) -> None:
    from app.keys.rules import restored

    sealed = runtime.envelope.seal(b"written by a service that had not seen the rotation", b"aad")
    rotate(runtime, "data")
    material = runtime.keys.refresh().material("data", 1)
    assert sealed.key_version == 1
    runtime.keys.update(lambda r: r.retired("data", 1))
    runtime.keys.update(restored("data", 1, material))
    ring = runtime.keys.refresh()
    assert ring.version("data", 1).usable and ring.active_version("data") == 2
    assert runtime.envelope.open(sealed, b"aad").startswith(b"written")
