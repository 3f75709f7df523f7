"""Key-rotation throughput: rewrap (data keys/s) and reindex (subjects/s) on SQLite and PostgreSQL.

    python -m bench.keys                      # N = 1,000,000 data keys, 100,000 subjects to reindex
    python -m bench.keys --n 100000 --reindex-n 20000 --skip-postgres

Set-up bulk-inserts sealed rows (real envelope encryption, one subject per notice) straight into the
tables. Each measurement is compared with a baseline taken in the same run on the same rows:
- rewrap vs. "same batches, no crypto": the identical SELECT/UPDATE pass writing each row back unchanged;
- reindex vs. "insert the same number of term rows": the index writes without decrypting or HMACing.
PostgreSQL: --pg-url names a server database used only to create and drop a throw-away database.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from app.auth.principal import Principal, Role
from app.config import Settings
from app.crypto.keyring import FileKeyProvider
from app.db import migrate, utcnow
from app.keys.reindex import reindex_subjects
from app.keys.rewrap import _revision_batch, apply_rewrap, rewrap_data_keys
from app.keys.rotate import rotate_key
from app.notices.models import Notice, NoticeRevision, NoticeRevisionKey
from app.notices.service import content_aad
from app.parties.service import add_party
from app.runtime import Runtime
from app.search.models import SubjectTerm
from app.users.service import add_user

ADMIN = Principal(username="cli:bench", party="-", role=Role.ADMIN, request_id="bench")
FIRST = ["Amadou", "Beatriz", "Chen", "Dmitri", "Elif", "Farid", "Greta", "Hiroshi", "Ines", "Jonas"]
LAST = ["Abernathy", "Bouchard", "Castellano", "Delacroix", "Eriksen", "Fontaine", "Gallagher",
        "Haverford", "Iglesias", "Jablonski"]
SEED_CHUNK = 20_000


class Target:
    """A throw-away migrated database (SQLite file or PostgreSQL database) and a fresh keyring."""

    def __init__(self, label: str, url: str, pg_admin: str | None, tmp: Path) -> None:
        self.label, self.url, self.pg_admin = label, url, pg_admin
        self.keys = tmp / f"keys-{uuid.uuid4().hex[:8]}"
        FileKeyProvider(self.keys).create_if_absent()
        migrate(url)
        self.runtime = Runtime.build(Settings(database_url=url, keys_dir=self.keys,
                                              keyring_poll_seconds=0.2))
        with self.runtime.db.unit_of_work() as session:
            add_party(session, ADMIN, code="FRA", name="France", kind="state")
            add_party(session, ADMIN, code="ICC", name="Court", kind="court")
        with self.runtime.db.unit_of_work() as session:
            user, _ = add_user(session, ADMIN, self.runtime.envelope, username="bench_fp", party="FRA",
                               role="focal_point", password=secrets.token_urlsafe(16))
            self.user_id = user.id

    def close(self) -> None:
        self.runtime.close()
        if self.pg_admin:
            admin = create_engine(self.pg_admin, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(self.url).database}" WITH (FORCE)'))
            admin.dispose()


def make_targets(which: str, pg_url: str, tmp: Path, count: int) -> list[Target]:
    targets = []
    for i in range(count):
        if which == "sqlite":
            targets.append(Target("SQLite", f"sqlite:///{tmp / f'bench-{i}.db'}", None, tmp))
        else:
            name = f"arx_bench_{uuid.uuid4().hex[:10]}"
            admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            admin.dispose()
            url = make_url(pg_url).set(database=name).render_as_string(hide_password=False)
            targets.append(Target("PostgreSQL", url, pg_url, tmp))
    return targets


def seed(target: Target, n: int) -> None:
    """n notices with one sealed revision each (one subject per notice), bulk-inserted."""
    rt = target.runtime
    template = {"kind": "frozen_asset", "title": "Accounts frozen", "recipients": ["ICC"], "tlp": "AMBER",
                "paris_paragraphs": ["13"], "reference": "ref", "subjects": [], "assets": [],
                "narrative": "free text"}
    now = utcnow()
    for start in range(0, n, SEED_CHUNK):
        notices, revisions, keys = [], [], []
        for i in range(start, min(n, start + SEED_CHUNK)):
            notice_id = str(uuid.uuid4())
            doc = dict(template, subjects=[{"name": f"{FIRST[i % 10]} {LAST[i // 10 % 10]} {i:07d}",
                                            "aliases": [], "birth_date": "1961-03-05",
                                            "nationality": "COD", "identifiers": []}])
            sealed = rt.envelope.seal(json.dumps(doc).encode(),
                                      content_aad(notice_id, 1, "FRA", "frozen_asset"))
            notices.append({"id": notice_id, "kind": "frozen_asset", "author_party": "FRA",
                            "author_user_id": target.user_id, "tlp": "AMBER", "asset_status": "",
                            "current_revision": 1, "created_at": now, "updated_at": now})
            revisions.append({"notice_id": notice_id, "revision": 1, "author_user_id": target.user_id,
                              "created_at": now, "nonce": sealed.nonce,
                              "ciphertext": sealed.ciphertext, "tlp": "AMBER"})
            keys.append({"notice_id": notice_id, "revision": 1, "key_version": sealed.key_version,
                         "wrapped_key": sealed.wrapped_key})
        with rt.db.engine.begin() as conn:
            conn.execute(insert(Notice), notices)
            conn.execute(insert(NoticeRevision), revisions)
            conn.execute(insert(NoticeRevisionKey), keys)


def baseline_rewrap(target: Target, batch_size: int) -> float:
    """The rewrap pass without cryptography: the job's own batched SELECT and bulk UPDATE, each row
    written back unchanged (same rows, same statements, same transactions)."""
    db = target.runtime.db
    started = time.perf_counter()
    after = None
    while True:
        with db.unit_of_work() as session:
            rows = _revision_batch(session, 999, after, batch_size)
            if not rows:
                break
            apply_rewrap(session, [(r[0], r[1], r[2], r[3], r[3], r[4]) for r in rows])
            after = rows[-1][0]
    return time.perf_counter() - started


def baseline_index_writes(target: Target, subjects: int, terms_per_subject: int, batch: int) -> float:
    """Insert (then remove) as many term rows as the reindex wrote, without decrypting or HMACing."""
    db = target.runtime.db
    with db.unit_of_work() as session:
        ids = list(session.scalars(select(Notice.id).order_by(Notice.id).limit(subjects)))
    started = time.perf_counter()
    for start in range(0, len(ids), batch):
        with db.unit_of_work() as session:
            session.execute(insert(SubjectTerm), [
                {"notice_id": nid, "revision": 1, "subject_no": 0, "key_version": 99,
                 "term": os.urandom(3)} for nid in ids[start:start + batch]
                for _ in range(terms_per_subject)])
    elapsed = time.perf_counter() - started
    with db.unit_of_work() as session:
        session.execute(delete(SubjectTerm).where(SubjectTerm.key_version == 99))
    return elapsed


def run(which: str, args: argparse.Namespace, tmp: Path) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    rewrap_target, reindex_target = make_targets(which, args.pg_url, tmp, 2)
    try:
        t = rewrap_target
        started = time.perf_counter()
        seed(t, args.n)
        print(f"[{t.label}] seeded {args.n:,} sealed revisions in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        base = baseline_rewrap(t, args.batch_size)
        with t.runtime.db.unit_of_work() as session:
            rotate_key(session, t.runtime, ADMIN, "data")
        started = time.perf_counter()
        report = rewrap_data_keys(t.runtime, ADMIN, batch_size=args.batch_size, wait=False)
        elapsed = time.perf_counter() - started
        assert report.rewrapped == args.n and report.unreadable == 0, report
        base_rate, rate = args.n / base, report.rewrapped / elapsed
        rows.append((t.label, "rewrap", f"{args.n:,}", f"{elapsed:.1f}", f"{rate:,.0f} keys/s",
                     f"{base_rate:,.0f} rows/s", f"{rate / base_rate:.2f}"))

        t = reindex_target
        seed(t, args.reindex_n)
        with t.runtime.db.unit_of_work() as session:
            rotate_key(session, t.runtime, ADMIN, "index")
        started = time.perf_counter()
        indexed = reindex_subjects(t.runtime, ADMIN, batch_size=args.reindex_batch, wait=False)
        elapsed = time.perf_counter() - started
        with t.runtime.db.unit_of_work() as session:
            terms = int(session.scalar(select(func.count()).select_from(SubjectTerm)) or 0)
        per_subject = max(1, round(terms / max(1, indexed.subjects)))
        base = baseline_index_writes(t, args.reindex_n, per_subject, args.reindex_batch)
        rate, base_rate = indexed.subjects / elapsed, args.reindex_n / base
        rows.append((t.label, "reindex", f"{indexed.subjects:,}", f"{elapsed:.1f}",
                     f"{rate:,.0f} subjects/s", f"{base_rate:,.0f} subjects/s", f"{rate / base_rate:.2f}"))
    finally:
        rewrap_target.close()
        reindex_target.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="data keys to rewrap")
    parser.add_argument("--reindex-n", type=int, default=100_000, help="subjects to reindex")
    parser.add_argument("--batch-size", type=int, default=20_000, help="rewrap rows per transaction")
    parser.add_argument("--reindex-batch", type=int, default=2_000, help="reindex notices per transaction")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="arx-bench-keys-"))
    results: list[tuple[str, ...]] = []
    try:
        for which, skip in (("sqlite", args.skip_sqlite), ("postgres", args.skip_postgres)):
            if not skip:
                results += run(which, args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = ("database", "operation", "items", "seconds", "rate", "baseline (no crypto)", "ratio")
    widths = [max(len(r[i]) for r in [header, *results]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *results]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    print("\nTarget: rewrap >= 20,000 data keys/s. Shared 2-core machine: numbers vary between runs.")


if __name__ == "__main__":
    main()
