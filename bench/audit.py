"""Audit benchmarks: full verification rate, and read throughput with the audit entry on vs off.

    python -m bench.audit [--entries 1000000] [--requests 1500] [--backend sqlite|postgresql]

1. Verification: N format-2 entries are bulk-loaded (a tenth with an encrypted-detail-sized blob), sealed
   by the real sequencer, then `verify_log` recomputes every leaf, root and signature, with one worker
   process per CPU and with one process. Baselines of the same run: a plain SELECT streaming the same rows
   (canonical text rendered, nothing hashed), and raw SHA-256 of the same canonical bytes in one process
   (the leaf hashes alone, no tree, no database). Rates per CPU-second (this process and its workers;
   PostgreSQL's own backends are not counted) tell what the machine's load hides.
2. Reads: GET /api/v1/notices/{id} through the real ASGI app (background sequencer running), with the
   audit entry written in each request's transaction vs the same code with `record` made a no-op.
   Rounds alternate off/on to share the machine's noise fairly.
"""

from __future__ import annotations

import argparse
import hashlib
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
from app.audit.leafwalk import batches
from app.audit.sequencer import seal_pending
from app.audit.verify import _snapshot, verify_log
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
           "entry_format", "detail_key_id", "detail_nonce", "detail_ciphertext")


def entry_rows(count: int) -> Iterator[tuple[Any, ...]]:
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    for i in range(count):
        detail = i % 10 == 0
        yield (start + timedelta(microseconds=2_500 * i), f"user{i % 500}", "FRA", "focal_point",
               ACTIONS[i % len(ACTIONS)], str(uuid.UUID(int=i)), "ok", uuid.UUID(int=i * 7919).hex, 2,
               secrets.token_hex(16) if detail else None, secrets.token_bytes(12) if detail else None,
               secrets.token_bytes(96) if detail else None)


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


def plain_scan(runtime: Runtime) -> tuple[list[bytes], float, float]:
    """Baseline 1: stream the same rows verification reads, without hashing; keeps the canonical bytes
    for baseline 2. Returns (canonical bytes, seconds, CPU seconds of this process)."""
    dialect = runtime.db.engine.dialect.name
    sql = (f"SELECT l.tree_index, l.entry_id, l.leaf_hash, {canonical_entry_sql(dialect)} "
           "FROM audit_leaf l LEFT JOIN audit_entry e ON e.id = l.entry_id ORDER BY l.tree_index")
    canonical: list[bytes] = []
    started, cpu = time.perf_counter(), cpu_seconds()
    with _snapshot(runtime.db) as conn:
        for rows in batches(conn, dialect, sql):
            canonical.extend(row[3].encode() for row in rows)
    return canonical, time.perf_counter() - started, cpu_seconds() - cpu


def raw_sha256(canonical: list[bytes]) -> float:
    """Baseline 2: seconds to compute the leaf hashes of the same bytes in one process."""
    started = time.perf_counter()
    sha256 = hashlib.sha256
    for data in canonical:
        sha256(b"\x00" + data).digest()
    return time.perf_counter() - started


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


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


def verify_table(runtime: Runtime, entries: int) -> list[str]:
    """Seal, then time verification against its same-run baselines; the table's rows."""
    started = time.perf_counter()
    sealed = seal_pending(runtime)
    seal_s = time.perf_counter() - started
    load_before = load_average()
    canonical, scan_s, scan_cpu = plain_scan(runtime)
    sha_s = raw_sha256(canonical)
    runs = {}
    for label, workers in (("one process", 1), (f"{os.cpu_count()} worker processes", None)):
        cpu = cpu_seconds()
        report = verify_log(runtime, workers=workers)
        if not report.ok or report.leaves != sealed:
            raise SystemExit(f"verification failed: {report.first_bad}")
        runs[label] = (report, cpu_seconds() - cpu)
    n = len(canonical)
    rows = [f"| sequencer sealing (set-up) | {sealed / seal_s:,.0f} entries/s | | | |",
            f"| baseline: plain SELECT of the same rows | {n / scan_s:,.0f} rows/s | | | "
            f"{n / scan_cpu:,.0f} rows/CPU-s |",
            f"| baseline: raw SHA-256 of the same bytes, one process | {n / sha_s:,.0f} leaves/s | | | |"]
    for label, (report, cpu) in runs.items():
        rate = report.leaves / report.seconds
        rows.append(f"| verify, {label} ({report.workers} used; leaves, roots, {report.checkpoints} "
                    f"signatures) | {rate:,.0f} entries/s | {rate / (n / scan_s):.2f} | "
                    f"{rate / (n / sha_s):.2f} | {report.leaves / cpu:,.0f} entries/CPU-s |")
    rows.append(f"| load average (1, 5, 15 min) before / after | {load_before} / {load_average()} | | | |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=1500, help="reads per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating off/on read rounds (0: none)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()

    with bench_runtime(args.backend) as runtime:
        print(f"# audit benchmark on {args.backend}, {args.entries:,} entries, cpus={os.cpu_count()} "
              "(shared machine: other work ran at the same time)")
        load = bulk_load(runtime, args.entries)
        table = verify_table(runtime, args.entries)
        off: list[float] = []
        on: list[float] = []
        if args.rounds:
            notice_id = prepare_reads(runtime)
            for _ in range(args.rounds):
                off.append(read_throughput(runtime, notice_id, requests=args.requests, threads=args.threads,
                                           audit=False))
                on.append(read_throughput(runtime, notice_id, requests=args.requests, threads=args.threads,
                                          audit=True))
            seal_pending(runtime)
        final = verify_log(runtime)

    print()
    print("| measurement | value | ratio to plain SELECT | ratio to raw SHA-256 | per CPU-second |")
    print("|---|---|---|---|---|")
    print(f"| bulk load (set-up) | {args.entries / load:,.0f} entries/s | | | |")
    for row in table:
        print(row)
    print("target: verify >= 200,000 entries/s at 1,000,000 entries")
    if on:
        off_rps, on_rps = statistics.median(off), statistics.median(on)
        print()
        print(f"reads, audit on (median of {args.rounds}): {on_rps:,.0f} req/s; audit off {off_rps:,.0f} "
              f"req/s; ratio {on_rps / off_rps:.2f} (target >= 0.80)")
        print(f"rounds off: {', '.join(f'{r:,.0f}' for r in off)}; on: {', '.join(f'{r:,.0f}' for r in on)}")
    print(f"log after the run verifies: {final.ok} ({final.leaves:,} leaves)")


if __name__ == "__main__":
    main()
