"""The mutation suite: an insider drops the append-only triggers and rewrites the audit tables; every
change must be caught by verification, which names the first bad entry. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, create_engine, delete, func, insert, select, text, update
from sqlalchemy.exc import DatabaseError

from app.audit.canonical import (
    CANONICAL_COLUMNS,
    CANONICAL_COLUMNS_V2,
    canonical_entry_sql,
    leaf_of,
)
from app.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from app.audit.record import Action, record
from app.audit.sequencer import seal_pending
from app.audit.verify import Report, verify_log
from app.auth.principal import Principal, Role
from app.runtime import Runtime
from tests.support.audit import drop_triggers

ACTOR = Principal(username="fra_fp", party="FRA", role=Role.FOCAL_POINT, request_id="req-mutation")
TABLES = ("audit_entry", "audit_leaf", "audit_checkpoint")


@dataclass
class Log:
    runtime: Runtime
    leaves: list[tuple[int, int]]  # (tree index, entry id)
    target: int  # a tree index in the middle whose entry carries an encrypted detail

    def entry_of(self, index: int) -> int:
        return self.leaves[index][1]


@pytest.fixture
def log(runtime: Runtime) -> Log:
    """Entries sealed two at a time (a checkpoint every two leaves), every other one with a detail."""
    for round_ in range(8):
        with runtime.db.unit_of_work() as session:
            record(session, ACTOR, Action.NOTICE_READ, object_id=f"notice-{round_}")
            record(session, ACTOR, Action.SEARCH, detail={"name": f"query {round_}"},
                   envelope=runtime.envelope)
        seal_pending(runtime)
    with runtime.db.unit_of_work() as session:
        leaves = [tuple(r) for r in session.execute(
            select(AuditLeaf.tree_index, AuditLeaf.entry_id).order_by(AuditLeaf.tree_index))]
        target = next(i for i, e in leaves[len(leaves) // 2:]
                      if session.get_one(AuditEntry, e).detail_ciphertext is not None)
    report = verify_log(runtime)
    assert report.ok, report.problems
    return Log(runtime, leaves, target)


Insider = Callable[[], AbstractContextManager[Connection]]


@pytest.fixture
def insider(log: Log) -> Iterator[Insider]:
    """One committed transaction with the triggers dropped and foreign keys off, as a superuser has."""
    engine = create_engine(log.runtime.settings.database_url)  # plain: SQLite foreign keys stay off

    @contextmanager
    def tamper() -> Iterator[Connection]:
        with engine.begin() as conn:
            drop_triggers(conn)
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK checks
            yield conn

    yield tamper
    engine.dispose()


def canonical_leaf(conn: Connection, entry_id: int) -> bytes:
    """The leaf hash an insider recomputes for a row they changed (so the stored leaf looks right)."""
    sql = f"SELECT {canonical_entry_sql(conn.dialect.name)} FROM audit_entry e WHERE e.id = :id"
    return leaf_of(conn.execute(text(sql), {"id": entry_id}).scalar_one())


def changed(value: object) -> object:
    if value is None:
        return "x"
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value[:-1] + ("x" if value[-1:] != "x" else "y")
    assert isinstance(value, datetime)  # created_at
    return value + timedelta(microseconds=1)


def assert_first_bad_within(report: Report, index: int, *, exact: bool) -> None:
    first = report.first_bad
    assert not report.ok and first is not None
    assert first.tree_index is not None, first
    if exact:
        assert first.tree_index == index, first.message()
    else:  # an entry rewritten together with its leaf hash: known down to one checkpoint interval
        assert first.tree_index <= index < (first.checkpoint_size or index + 1), first.message()


# Every column format 2 covers, and the format tag itself (format-1 columns are NULL in these entries;
# the wrapped key of a format-2 detail lives in audit_detail_key, which rewrap updates).
COLUMNS = ["created_at", "username", "party", "role", "action", "object_id", "outcome", "request_id",
           "detail_key_id", "detail_nonce", "detail_ciphertext", "entry_format"]


class TestEveryMutationIsDetected:
    @pytest.mark.parametrize("column", COLUMNS)
    def test_modifying_any_column_of_an_entry(self, log: Log, insider: Insider,
                                              column: str) -> None:
        entry_id = log.entry_of(log.target)
        with insider() as conn:
            old = conn.execute(select(getattr(AuditEntry, column)).where(AuditEntry.id == entry_id)).scalar()
            conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values({column: changed(old)}))
        report = verify_log(log.runtime)
        assert_first_bad_within(report, log.target, exact=True)
        assert report.first_bad is not None
        assert report.first_bad.entry_id == entry_id

    def test_modifying_the_entry_id(self, log: Log, insider: Insider) -> None:
        entry_id = log.entry_of(log.target)
        with insider() as conn:
            conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(id=entry_id + 10_000))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=True)

    def test_modifying_an_entry_and_recomputing_its_leaf_hash(self, log: Log,
                                                              insider: Insider) -> None:
        entry_id = log.entry_of(log.target)
        with insider() as conn:
            conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(username="someone"))
            conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target)
                         .values(leaf_hash=canonical_leaf(conn, entry_id)))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=False)

    def test_modifying_a_stored_leaf_hash(self, log: Log, insider: Insider) -> None:
        with insider() as conn:
            conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target)
                         .values(leaf_hash=bytes(32)))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=True)

    def test_deleting_an_entry_and_its_leaf(self, log: Log, insider: Insider) -> None:
        with insider() as conn:
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index == log.target))
            conn.execute(delete(AuditEntry).where(AuditEntry.id == log.entry_of(log.target)))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=True)

    def test_deleting_an_entry_only(self, log: Log, insider: Insider) -> None:
        with insider() as conn:
            conn.execute(delete(AuditEntry).where(AuditEntry.id == log.entry_of(log.target)))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=True)

    def test_deleting_an_entry_and_renumbering_the_tree(self, log: Log,
                                                        insider: Insider) -> None:
        with insider() as conn:
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index == log.target))
            conn.execute(delete(AuditEntry).where(AuditEntry.id == log.entry_of(log.target)))
            for index in range(log.target + 1, len(log.leaves)):
                conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == index)
                             .values(tree_index=index - 1))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=False)

    def test_inserting_a_forged_entry_into_history(self, log: Log,
                                                   insider: Insider) -> None:
        with insider() as conn:
            for index in reversed(range(log.target, len(log.leaves))):
                conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == index)
                             .values(tree_index=index + 1))
            template = conn.execute(select(AuditEntry).where(
                AuditEntry.id == log.entry_of(log.target))).mappings().one()
            forged = {**template, "id": 900_000, "username": "ghost", "detail_key_version": None,
                      "detail_wrapped_key": None, "detail_nonce": None, "detail_ciphertext": None}
            conn.execute(insert(AuditEntry).values(forged))
            conn.execute(insert(AuditLeaf).values(tree_index=log.target, entry_id=900_000,
                                                  leaf_hash=canonical_leaf(conn, 900_000)))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=False)

    def test_appending_a_forged_leaf_without_a_checkpoint(self, log: Log,
                                                          insider: Insider) -> None:
        size = len(log.leaves)
        with insider() as conn:
            template = conn.execute(select(AuditEntry).where(
                AuditEntry.id == log.entry_of(0))).mappings().one()
            conn.execute(insert(AuditEntry).values({**template, "id": 900_001}))
            conn.execute(insert(AuditLeaf).values(tree_index=size, entry_id=900_001,
                                                  leaf_hash=canonical_leaf(conn, 900_001)))
        assert_first_bad_within(verify_log(log.runtime), size, exact=True)

    def test_reordering_two_entries(self, log: Log, insider: Insider) -> None:
        a, b = log.entry_of(log.target), log.entry_of(log.target + 1)
        with insider() as conn:
            conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target).values(entry_id=-1))
            conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target + 1).values(entry_id=a))
            conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target).values(entry_id=b))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=True)

    def test_reordering_two_entries_with_their_leaf_hashes(self, log: Log,
                                                           insider: Insider) -> None:
        with insider() as conn:
            rows = {i: conn.execute(select(AuditLeaf.entry_id, AuditLeaf.leaf_hash).where(
                AuditLeaf.tree_index == i)).one() for i in (log.target, log.target + 1)}
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index.in_(list(rows))))
            for i, j in ((log.target, log.target + 1), (log.target + 1, log.target)):
                conn.execute(insert(AuditLeaf).values(tree_index=i, entry_id=rows[j][0],
                                                      leaf_hash=rows[j][1]))
        assert_first_bad_within(verify_log(log.runtime), log.target, exact=False)

    def test_truncating_the_tail(self, log: Log, insider: Insider) -> None:
        cut = len(log.leaves) - 3
        with insider() as conn:
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index >= cut))
            conn.execute(delete(AuditEntry).where(AuditEntry.id.in_([e for _, e in log.leaves[cut:]])))
        report = verify_log(log.runtime)
        assert_first_bad_within(report, cut, exact=True)
        assert report.first_bad is not None
        assert "truncated" in report.first_bad.reason

    def test_truncating_the_tables(self, log: Log, insider: Insider) -> None:
        with insider() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql("TRUNCATE audit_leaf, audit_entry")
            else:
                conn.exec_driver_sql("DELETE FROM audit_leaf")
                conn.exec_driver_sql("DELETE FROM audit_entry")
        assert_first_bad_within(verify_log(log.runtime), 0, exact=True)

    @pytest.mark.parametrize("change", ["root_hash", "note_signature", "note_size", "key_version"])
    def test_tampering_with_a_checkpoint(self, log: Log, insider: Insider,
                                         change: str) -> None:
        with insider() as conn:
            cp = conn.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)
                              .limit(1).offset(2)).one()
            where = AuditCheckpoint.tree_size == cp.tree_size
            values: dict[str, object] = {
                "root_hash": {"root_hash": changed(cp.root_hash)},
                "note_signature": {"note": cp.note[:-4] + ("A" if cp.note[-4] != "A" else "B")
                                   + cp.note[-3:]},
                "note_size": {"note": cp.note.replace(f"\n{cp.tree_size}\n", f"\n{cp.tree_size + 1}\n")},
                "key_version": {"key_version": 99},
            }[change]
            conn.execute(update(AuditCheckpoint).where(where).values(values))
        report = verify_log(log.runtime)
        assert not report.ok
        assert report.first_bad is not None
        assert report.first_bad.checkpoint_size == cp.tree_size, report.first_bad.message()


class TestSavedCheckpoints:
    def test_truncation_with_checkpoints_is_caught_by_a_saved_checkpoint(
            self, log: Log, insider: Insider) -> None:
        with log.runtime.db.unit_of_work() as session:
            saved = session.scalar(select(AuditCheckpoint.note).order_by(AuditCheckpoint.tree_size.desc()))
        cut = len(log.leaves) - 2  # back to the previous checkpoint: the log alone looks whole
        with insider() as conn:
            assert cut is not None
            conn.execute(delete(AuditCheckpoint).where(AuditCheckpoint.tree_size > cut))
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index >= cut))
            conn.execute(delete(AuditEntry).where(AuditEntry.id.in_([e for _, e in log.leaves[cut:]])))
        assert verify_log(log.runtime).ok, "without outside evidence a clean cut is invisible"
        report = verify_log(log.runtime, saved_note=saved)
        assert report.first_bad is not None
        assert not report.ok and "truncated" in report.first_bad.reason

    def test_rewritten_and_re_signed_history_is_caught_by_a_saved_checkpoint(
            self, log: Log, insider: Insider) -> None:
        with log.runtime.db.unit_of_work() as session:
            saved = session.scalar(select(AuditCheckpoint.note).order_by(AuditCheckpoint.tree_size.desc()))
        entry_id = log.entry_of(log.target)
        with insider() as conn:
            conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(username="someone"))
            cut = conn.scalar(select(func.max(AuditCheckpoint.tree_size))
                              .where(AuditCheckpoint.tree_size <= log.target))
            assert cut is not None
            conn.execute(delete(AuditCheckpoint).where(AuditCheckpoint.tree_size > cut))
            conn.execute(delete(AuditLeaf).where(AuditLeaf.tree_index >= cut))
        restarted = Runtime.build(log.runtime.settings)  # the service re-seals what has no leaf
        try:
            assert seal_pending(restarted) == len(log.leaves) - cut
        finally:
            restarted.close()
        assert verify_log(log.runtime).ok, "re-signed by the service's own key, the log is coherent"
        report = verify_log(log.runtime, saved_note=saved)
        assert report.first_bad is not None
        assert not report.ok and "rewritten" in report.first_bad.reason

    def test_a_forged_saved_checkpoint_is_refused(self, log: Log) -> None:
        with log.runtime.db.unit_of_work() as session:
            saved = session.scalar(select(AuditCheckpoint.note).order_by(AuditCheckpoint.tree_size.desc()))
        assert saved is not None
        report = verify_log(log.runtime, saved_note=saved.replace("\n", "\n\n", 1))
        assert not report.ok


def test_triggers_refuse_update_delete_and_truncate(log: Log) -> None:
    engine = log.runtime.db.engine
    statements = [f"UPDATE {t} SET {c} = {c}" for t, c in (("audit_entry", "username"),
                                                            ("audit_leaf", "leaf_hash"),
                                                            ("audit_checkpoint", "note"))]
    statements += [f"DELETE FROM {t}" for t in TABLES]
    if engine.dialect.name == "postgresql":
        statements += [f"TRUNCATE {t} CASCADE" for t in TABLES]
    for sql in statements:
        with pytest.raises(DatabaseError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(sql)
    assert verify_log(log.runtime).ok


# -- the CLI, as a party runs it ------------------------------------------------------------------------
def arx(runtime: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    env.update(ARX_DATABASE_URL=runtime.settings.database_url, ARX_KEYS_DIR=str(runtime.settings.keys_dir))
    return subprocess.run([sys.executable, "-m", "app.cli", "audit", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_verify_checkpoint_and_since_checkpoint(log: Log, insider: Insider,
                                                    tmp_path: Path) -> None:
    saved = arx(log.runtime, "checkpoint")
    assert saved.returncode == 0 and saved.stdout.startswith(log.runtime.settings.audit_origin + "\n")
    note = tmp_path / "checkpoint.txt"
    note.write_text(saved.stdout)
    intact = arx(log.runtime, "verify", "--json", "--since-checkpoint", str(note))
    assert intact.returncode == 0, intact.stderr
    body = json.loads(intact.stdout)
    assert body["ok"] and body["leaves"] == len(log.leaves) and body["first_bad"] is None

    entry_id = log.entry_of(log.target)
    with insider() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(outcome="denied"))
    broken = arx(log.runtime, "verify")
    assert broken.returncode != 0
    assert f"first bad entry: entry id {entry_id}, tree index {log.target}" in broken.stderr
    as_json = arx(log.runtime, "verify", "--json")
    assert as_json.returncode != 0
    assert json.loads(as_json.stdout)["first_bad"]["entry_id"] == entry_id


def test_parallel_chunks_agree_with_one_pass(log: Log, insider: Insider) -> None:
    one = verify_log(log.runtime, workers=1)
    chunked = verify_log(log.runtime, workers=2, chunk=4)
    assert chunked.ok and (chunked.leaves, chunked.root_hash) == (one.leaves, one.root_hash)
    entry_id = log.entry_of(log.target)
    with insider() as conn:
        conn.execute(update(AuditEntry).where(AuditEntry.id == entry_id).values(username="someone"))
        conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == log.target)
                     .values(leaf_hash=canonical_leaf(conn, entry_id)))
        conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == len(log.leaves) - 1)
                     .values(leaf_hash=bytes(32)))
    one, chunked = verify_log(log.runtime, workers=1), verify_log(log.runtime, workers=2, chunk=4)
    assert not chunked.ok and chunked.first_bad == one.first_bad
    assert_first_bad_within(chunked, log.target, exact=False)


def reference_text(values: dict[str, object]) -> str:
    """The canonical text from the module doc of app.audit.canonical, written independently in Python."""
    v2 = values.get("entry_format") == 2
    out = "arx-audit-entry/2" if v2 else "arx-audit-entry/1"
    for column in CANONICAL_COLUMNS_V2 if v2 else CANONICAL_COLUMNS:
        value = values[column]
        if value is None:
            out += "~"
            continue
        if isinstance(value, bytes):
            value = value.hex()
        elif isinstance(value, datetime):
            value = value.strftime("%Y-%m-%d %H:%M:%S.%f")
        value = str(value)
        out += f"{len(value)}:{value}"
    return out


def test_the_database_renders_the_documented_canonical_text(runtime: Runtime) -> None:
    odd = Principal(username="Zoë-ß 李", party="ICC", role=Role.COURT_INVESTIGATOR, request_id="r:1~2")
    with runtime.db.unit_of_work() as session:
        plain = record(session, odd, Action.NOTICE_READ, object_id="a1:b2")
        sealed = record(session, odd, Action.SEARCH, detail={"name": "x"}, envelope=runtime.envelope)
        session.flush()
        ids = [plain.id, sealed.id]
    with runtime.db.engine.connect() as conn:
        for entry_id in ids:
            row = conn.execute(select(AuditEntry.__table__).where(AuditEntry.id == entry_id)).mappings().one()
            got = conn.execute(text(f"SELECT {canonical_entry_sql(conn.dialect.name)} FROM audit_entry e "
                                    "WHERE e.id = :id"), {"id": entry_id}).scalar_one()
            assert got == reference_text(dict(row))


def test_canonical_text_is_injective_across_field_boundaries() -> None:
    base = {c: None for c in CANONICAL_COLUMNS} | {"id": 7, "username": "ab", "party": "FRA"}
    assert reference_text(base) != reference_text(base | {"username": "a", "party": "bFRA"})
    assert reference_text(base) != reference_text(base | {"object_id": ""})  # NULL differs from empty


def test_cli_seal_refuses_to_extend_a_tampered_tree(log: Log, insider: Insider) -> None:
    with log.runtime.db.unit_of_work() as session:
        record(session, ACTOR, Action.NOTICE_READ, object_id="after-tampering")
    with insider() as conn:
        conn.execute(update(AuditLeaf).where(AuditLeaf.tree_index == 0).values(leaf_hash=bytes(32)))
    refused = arx(log.runtime, "seal")
    assert refused.returncode != 0 and "arx audit verify" in refused.stderr
    assert "Traceback" not in refused.stderr
