"""Audit benchmarks: full verification rate, and read throughput with the audit entry on vs off.

    python -m bench.audit [--entries 1000000] [--requests 1500] [--backend sqlite|postgresql]

1. Verification: N entries are bulk-loaded (a tenth with an encrypted-detail-sized blob), sealed by the
   real sequencer, then `verify_log` recomputes every leaf, root and signature. Baseline: streaming the
   same rows from the database without hashing, in the same run.
2. Reads: GET /api/v1/notices/{id} through the real ASGI app (background sequencer running), with the
   audit entry written in each request's transaction vs the same code with `record` made a no-op.
   Rounds alternate off/on to share the machine's noise fairly.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from app.audit.canonical import canonical_entry_sql
from app.audit.sequencer import seal_pending
from app.audit.verify import _snapshot, _stream, verify_log
from app.auth.principal import Principal, Role
from app.main import create_app
from app.notices import service as notice_service
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.runtime import Runtime
from app.users.service import add_user
from bench.common import bench_runtime

ADMIN = Principal(username="cli:bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "correct horse battery staple"
ACTIONS = ["notice.read", "notice.list", "search.hit", "notice.create", "auth.login"]
COLUMNS = ("created_at", "username", "party", "role", "action", "object_id", "outcome", "request_id",
           "detail_key_version", "detail_wrapped_key", "detail_nonce", "detail_ciphertext")


def entry_rows(count: int) -> Iterator[tuple[Any, ...]]:
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    for i in range(count):
        detail = i % 10 == 0
        yield (start + timedelta(microseconds=2_500 * i), f"user{i % 500}", "FRA", "focal_point",
               ACTIONS[i % len(ACTIONS)], str(uuid.UUID(int=i)), "ok", uuid.UUID(int=i * 7919).hex,
               1 if detail else None, secrets.token_bytes(60) if detail else None,
               secrets.token_bytes(12) if detail else None, secrets.token_bytes(96) if detail else None)


def bulk_load(runtime: Runtime, count: int) -> float:
    """Insert count entries straight through the driver (set-up only: COPY on PostgreSQL)."""
    started = time.perf_counter()
    conn = runtime.db.engine.raw_connection()
    try:
        cur = conn.cursor()
        if runtime.db.is_sqlite:
            cur.execute("BEGIN")  # the pooled connection autocommits: one transaction, not one per row
            marks = ", ".join("?" * len(COLUMNS))
            # A generator, not a list: a million rows stay out of memory (sqlite3 takes any iterable).
            rows = ((r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in entry_rows(count))
            sql = f"INSERT INTO audit_entry ({', '.join(COLUMNS)}) VALUES ({marks})"
            cur.executemany(sql, rows)  # type: ignore[arg-type]
        else:
            cur.execute("SET statement_timeout = 0")  # a set-up COPY of a million rows outlasts a request's
            with cur.copy(f"COPY audit_entry ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for row in entry_rows(count):
                    copy.write_row(row)
        conn.commit()
    finally:
        conn.close()
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the verification workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def plain_scan(runtime: Runtime) -> tuple[int, float]:
    """The baseline: stream the same joined rows verification reads, without hashing anything."""
    started = time.perf_counter()
    dialect = runtime.db.engine.dialect.name
    sql = (f"SELECT l.tree_index, l.entry_id, l.leaf_hash, e.id, {canonical_entry_sql(dialect)} "
           "FROM audit_leaf l LEFT JOIN audit_entry e ON e.id = l.entry_id ORDER BY l.tree_index")
    with _snapshot(runtime.db) as conn:
        rows = sum(1 for _ in _stream(runtime.db, conn, sql))
    return rows, time.perf_counter() - started


def read_throughput(runtime: Runtime, notice_id: str, *, requests: int, threads: int,
                    audit: bool) -> float:
    """Requests per second of GET /notices/{id} from `threads` concurrent clients."""
    original = notice_service.record
    if not audit:
        notice_service.record = lambda *a, **k: None  # type: ignore[assignment]
    try:
        with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
            token = client.post("/api/v1/auth/token", data={"username": "bench_icc",
                                                            "password": PASSWORD}).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}
            per_thread = requests // threads
            failures: list[int] = []

            def worker() -> None:
                for _ in range(per_thread):
                    status = client.get(f"/api/v1/notices/{notice_id}", headers=headers).status_code
                    if status != 200:
                        failures.append(status)

            workers = [threading.Thread(target=worker) for _ in range(threads)]
            started = time.perf_counter()
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            elapsed = time.perf_counter() - started
            if failures:
                raise SystemExit(f"reads failed: {failures[:5]}")
            return per_thread * threads / elapsed
    finally:
        notice_service.record = original


def prepare_reads(runtime: Runtime) -> str:
    """Two parties, a reader at the Court, and one notice for it to read; returns the notice id."""
    with runtime.db.unit_of_work() as session:
        ensure_court(session, ADMIN)
        ensure_shipped_paragraphs(session, ADMIN)
        add_party(session, ADMIN, code="FRA", name="France", kind="state")
        add_user(session, ADMIN, runtime.envelope, username="bench_fra", party="FRA", role="focal_point",
                 password=PASSWORD)
        add_user(session, ADMIN, runtime.envelope, username="bench_icc", party="ICC",
                 role="court_investigator", password=PASSWORD)
    with TestClient(create_app(runtime=runtime), base_url="https://testserver") as client:
        token = client.post("/api/v1/auth/token", data={"username": "bench_fra",
                                                        "password": PASSWORD}).json()["access_token"]
        doc = {"kind": "frozen_asset", "title": "Bench notice", "recipients": ["ICC"], "tlp": "AMBER",
               "paris_paragraphs": ["13"], "reference": "bench", "narrative": "bench",
               "subjects": [{"name": "Jean-Pierre Exemple", "birth_date": "1962-11-04"}],
               "assets": [{"type": "bank_account", "description": "Current account",
                           "jurisdiction": "CHE", "status": "frozen"}]}
        created = client.post("/api/v1/notices", json=doc, headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201, created.text
        return created.json()["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1500, help="reads per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on rounds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with bench_runtime(args.backend) as runtime:
        print(f"# audit benchmark on {args.backend}, {args.entries:,} entries, cpus={os.cpu_count()} "
              "(shared machine: other work ran at the same time)")
        load = bulk_load(runtime, args.entries)
        started = time.perf_counter()
        sealed = seal_pending(runtime)
        seal_s = time.perf_counter() - started
        scanned, scan_s = plain_scan(runtime)
        cpu_before = cpu_seconds()
        one = verify_log(runtime, workers=1)
        one_cpu = cpu_seconds() - cpu_before
        cpu_before = cpu_seconds()
        report = verify_log(runtime)
        verify_cpu = cpu_seconds() - cpu_before
        if not report.ok or not one.ok or report.leaves != sealed:
            raise SystemExit(f"verification failed: {report.first_bad or one.first_bad}")
        verify_rate, scan_rate = report.leaves / report.seconds, scanned / scan_s

        notice_id = prepare_reads(runtime)
        off, on = [], []
        for _ in range(args.rounds):
            off.append(read_throughput(runtime, notice_id, requests=args.requests, threads=args.threads,
                                       audit=False))
            on.append(read_throughput(runtime, notice_id, requests=args.requests, threads=args.threads,
                                      audit=True))
        seal_pending(runtime)
        final = verify_log(runtime)

    off_rps, on_rps = statistics.median(off), statistics.median(on)
    print()
    print("| measurement | value | baseline (same run) | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| bulk load (set-up) | {args.entries / load:,.0f} entries/s | | | |")
    print(f"| sequencer sealing | {sealed / seal_s:,.0f} entries/s | | | |")
    print(f"| verify, {report.workers} worker process(es) (leaves + roots + {report.checkpoints} signatures) "
          f"| {verify_rate:,.0f} entries/s | plain scan {scan_rate:,.0f} rows/s | "
          f"{verify_rate / scan_rate:.2f} | >= 200,000 entries/s |")
    print(f"| verify, one process | {one.leaves / one.seconds:,.0f} entries/s | plain scan "
          f"{scan_rate:,.0f} rows/s | {one.leaves / one.seconds / scan_rate:.2f} | |")
    print(f"| verify, one process, per CPU-second | {one.leaves / one_cpu:,.0f} entries/CPU-s | | | |")
    print(f"| verify, {report.workers} process(es), per CPU-second | {report.leaves / verify_cpu:,.0f} "
          "entries/CPU-s | | | |")
    print(f"| reads, audit on (median of {args.rounds}) | {on_rps:,.0f} req/s | audit off "
          f"{off_rps:,.0f} req/s | {on_rps / off_rps:.2f} | >= 0.80 |")
    print()
    print(f"rounds off: {', '.join(f'{r:,.0f}' for r in off)}; on: {', '.join(f'{r:,.0f}' for r in on)}; "
          f"log after the reads verifies: {final.ok} ({final.leaves:,} leaves)")


if __name__ == "__main__":
    main()
