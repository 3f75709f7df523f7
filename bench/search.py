"""Suspect search latency and recall over N indexed subjects, beside a plaintext pg_trgm baseline.

Set-up (bulk path): N synthetic subjects (Zipf-like first names and surnames, four subjects a notice,
85 % of notices shared with the Court) plus the labelled identities and near-miss distractors of
tests/support/search_variants.py, sealed and indexed once with one keyring and written into a throw-away
SQLite database and a throw-away PostgreSQL database. Measured: `search_subjects` through the service
layer in its own unit of work (candidates, decryption, rescoring, audit entries, commit) as a Court
investigator, on both databases; baseline: `similarity()` over the unencrypted names with a pg_trgm GIN
index in the same PostgreSQL database (no encryption, no visibility filter, no audit). Same queries.

    python -m bench.search --size 100000            # ~2-3 min on a 2-core machine
    python -m bench.search --size 100000 --size 1000000
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, cast

from rapidfuzz import fuzz, process, utils
from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    create_engine,
    text,
    true,
)
from unidecode import unidecode

from app.auth.principal import Principal, Role
from app.config import Settings
from app.crypto.keyring import FileKeyProvider
from app.notices.schemas import Identifier, Subject
from app.notices.service import content_aad
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.runtime import Runtime
from app.search import names, normalise
from app.search import service as search_service
from app.search.blind_index import subject_terms
from app.search.models import SubjectTerm
from app.search.schemas import SubjectQuery
from app.search.service import search_subjects
from app.serving import settle_heap
from app.users.service import add_user
from bench.common import percentiles, print_table, throwaway_database
from tests.support.search_variants import (
    DISTRACTORS,
    IDENTITIES,
    VARIANTS,
    Report,
    Variant,
    evaluate,
)

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
INVESTIGATOR = Principal(username="icc_inv", party="ICC", role=Role.COURT_INVESTIGATOR,
                         request_id="bench-search")
PARTIES = ("FRA", "NLD", "DEU")
PER_NOTICE = 4
BATCH_NOTICES = 2_000
SYNTHETIC_QUERIES = 200
WARM_UP = 20
LABELLED_NOTICES = math.ceil((len(IDENTITIES) + len(DISTRACTORS)) / PER_NOTICE)

NOTICE_COLS = ("id", "kind", "author_party", "author_user_id", "tlp", "asset_status",
               "current_revision", "created_at", "updated_at")
REVISION_COLS = ("notice_id", "revision", "author_user_id", "created_at", "nonce", "ciphertext", "tlp")
REVISION_KEY_COLS = ("notice_id", "revision", "key_version", "wrapped_key")
TERM_COLS = ("notice_id", "revision", "subject_no", "key_version", "term")
# Dropped for the bulk load and built again after it, as the model declares them.
TERM_INDEXES = tuple(cast(Table, SubjectTerm.__table__).indexes)


# -- synthetic people ----------------------------------------------------------------------------------
ONSETS = ["b", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "ch", "sh",
          "kh", "br", "dr", "kr", "st", "tr", "y", "j", "w", ""]
NUCLEI = ["a", "e", "i", "o", "u", "ia", "ou", "ei", "ai", "y"]
CODAS = ["", "", "n", "r", "s", "l", "m", "k", "v", "d", "sk", "ng"]


def _vocabulary(rng: random.Random, size: int, syllables: tuple[int, int]) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        word = "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)
                       for _ in range(rng.randint(*syllables)))
        if len(word) >= 3:
            words[word.capitalize()] = None
    return list(words)


class People:
    """Subjects whose name frequencies have a heavy head (some first names are very common)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.given = _vocabulary(self.rng, 3_000, (1, 3))
        self.surnames = _vocabulary(self.rng, 60_000, (2, 4))
        self.given_w = list(accumulate(1 / (r + 5) for r in range(len(self.given))))
        self.surname_w = list(accumulate(1 / (r + 50) for r in range(len(self.surnames))))
        self.nations = ["COD", "RUS", "UKR", "GRC", "SDN", "CHN", "ESP", "FRA", "DEU", "NGA", "BRA"]

    def subject(self) -> dict[str, Any]:
        rng = self.rng
        given = rng.choices(self.given, cum_weights=self.given_w, k=1 + (rng.random() < 0.3))
        family = rng.choices(self.surnames, cum_weights=self.surname_w, k=1 + (rng.random() < 0.2))
        names = [*given, *family] if rng.random() < 0.8 else [*family, *given]
        subject: dict[str, Any] = {"name": " ".join(names), "aliases": []}
        if rng.random() < 0.1:
            subject["aliases"] = [f"{given[0]} {rng.choice(self.surnames)}"]
        if rng.random() < 0.9:
            subject["birth_date"] = date(rng.randint(1940, 2000), rng.randint(1, 12),
                                         rng.randint(1, 28)).isoformat()
        if rng.random() < 0.7:
            subject["nationality"] = rng.choice(self.nations)
        if rng.random() < 0.3:
            subject["identifiers"] = [{"scheme": "passport", "value": f"P{rng.randrange(10**8):08d}"}]
        return subject


def perturbed(rng: random.Random, key: str, subject: dict[str, Any]) -> Variant:
    """A query for subject as another investigator might type it (swap, drop, typo; sometimes a date)."""
    tokens = subject["name"].split()
    change = rng.choice(("swap", "drop", "typo", "exact"))
    if change == "swap":
        tokens = tokens[1:] + tokens[:1]
    elif change == "drop" and len(tokens) > 2:
        tokens.pop(rng.randrange(len(tokens)))
    elif change == "typo":
        i = rng.randrange(len(tokens))
        word = tokens[i]
        j = rng.randrange(1, len(word))
        tokens[i] = word[:j] + rng.choice("aeiourstnl") + word[j + 1:]
    birth = subject.get("birth_date") if rng.random() < 0.5 else None
    return Variant(key, " ".join(tokens), f"synthetic {change}", birth)


# -- bulk set-up -------------------------------------------------------------------------------------
def _setup_parties(runtime: Runtime) -> dict[str, int]:
    with runtime.db.unit_of_work() as s:
        ensure_court(s, ADMIN)
        ensure_shipped_paragraphs(s, ADMIN)
        users = {}
        for code in PARTIES:
            add_party(s, ADMIN, code=code, name=f"Party {code}", kind="state")
            user, _ = add_user(s, ADMIN, runtime.envelope, username=f"fp_{code.lower()}", party=code,
                               role="focal_point", password="benchmark password 123")
            users[code] = user.id
        return users


def _subject_model(raw: dict[str, Any]) -> Subject:
    # model_construct: the bulk path skips validation (the data is generated, not user input).
    return Subject.model_construct(
        name=raw["name"], aliases=raw.get("aliases", []),
        birth_date=date.fromisoformat(raw["birth_date"]) if raw.get("birth_date") else None,
        nationality=raw.get("nationality"),
        identifiers=[Identifier.model_construct(**i) for i in raw.get("identifiers", [])])


def _batches(size: int, people: People) -> Iterator[list[list[dict[str, Any]]]]:
    """Notices (lists of subjects): labelled identities and distractors first, then synthetic."""
    labelled = [i.subject() for i in IDENTITIES] + list(DISTRACTORS)
    subjects = iter([*labelled, *(people.subject() for _ in range(size - len(labelled)))])
    batch: list[list[dict[str, Any]]] = []
    while chunk := [s for _, s in zip(range(PER_NOTICE), subjects, strict=False)]:
        batch.append(chunk)
        if len(batch) == BATCH_NOTICES:
            yield batch
            batch = []
    if batch:
        yield batch


class Loader:
    """Builds notice, revision, recipient, paragraph and term rows once; writes them to every DB."""

    def __init__(self, runtimes: dict[str, Runtime], users: dict[str, int]) -> None:
        self.runtimes = runtimes
        self.users = users
        self.sealer = next(iter(runtimes.values()))  # same keyring everywhere: seal once
        self.keyring = self.sealer.keys.current()
        self.rng = random.Random(11)
        self.labels: dict[tuple[str, int], str] = {}  # (notice id, subject number) -> identity
        self.by_subject: dict[tuple[str, str, str | None], str] = {}  # (notice id, name, birth date)
        self.notices = 0
        self.sample: list[tuple[str, dict[str, Any]]] = []  # (key, subject) of synthetic targets
        self.plain: list[tuple[str, int, str]] = []
        self.terms = 0

    def rows(self, notices: list[list[dict[str, Any]]]) -> dict[str, list[tuple[Any, ...]]]:
        out: dict[str, list[tuple[Any, ...]]] = {"notice": [], "notice_recipient": [],
                                                  "notice_paragraph": [], "notice_revision": [],
                                                  "notice_revision_key": [], "notice_revision_recipient": [],
                                                  "subject_term": []}
        now = datetime.now(UTC).replace(tzinfo=None)
        for subjects in notices:
            notice_id = str(uuid.uuid4())
            author = self.rng.choice(PARTIES)
            self.notices += 1
            recipients = ["ICC"] if self.notices <= LABELLED_NOTICES or self.rng.random() < 0.85 else [
                self.rng.choice([p for p in PARTIES if p != author])]
            if self.rng.random() < 0.3:
                recipients.append(self.rng.choice([p for p in PARTIES if p != author]))
            recipients = sorted(set(recipients))
            doc = {"kind": "frozen_asset", "title": "bench", "tlp": "AMBER", "recipients": recipients,
                   "paris_paragraphs": ["13"], "subjects": subjects, "assets": []}
            sealed = self.sealer.envelope.seal(
                _json(doc), content_aad(notice_id, 1, author, "frozen_asset"))
            uid = self.users[author]
            out["notice"].append((notice_id, "frozen_asset", author, uid, "AMBER", "", 1, now, now))
            out["notice_recipient"] += [(notice_id, r) for r in recipients]
            out["notice_paragraph"].append((notice_id, "13"))
            out["notice_revision"].append((notice_id, 1, uid, now, sealed.nonce, sealed.ciphertext,
                                           "AMBER"))
            out["notice_revision_key"].append((notice_id, 1, sealed.key_version, sealed.wrapped_key))
            out["notice_revision_recipient"] += [(notice_id, 1, r) for r in recipients]
            for no, raw in enumerate(subjects):
                terms = subject_terms(self.keyring, 1, _subject_model(raw))
                out["subject_term"] += [(notice_id, 1, no, 1, t) for t in terms]
                self.terms += len(terms)
                self.plain += [(notice_id, no, n) for n in [raw["name"], *raw.get("aliases", [])]]
                if ("ICC" in recipients and self.notices > LABELLED_NOTICES
                        and len(self.sample) < 5_000 and self.rng.random() < 0.05):
                    key = f"synthetic:{notice_id}:{no}"
                    self.sample.append((key, raw))
                    self.labels[(notice_id, no)] = key
                    self.by_subject[(notice_id, raw["name"], raw.get("birth_date"))] = key
        return out

    def label(self, first_notices: list[tuple[str, list[dict[str, Any]]]]) -> None:
        keys = {(i.name, i.birth_date): i.key for i in IDENTITIES}
        for notice_id, subjects in first_notices:
            for no, raw in enumerate(subjects):
                key = keys.get((raw["name"], raw.get("birth_date")))
                if key:
                    self.labels[(notice_id, no)] = key
                    self.by_subject[(notice_id, raw["name"], raw.get("birth_date"))] = key


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def _write(runtime: Runtime, rows: dict[str, list[tuple[Any, ...]]]) -> None:
    columns = {"notice": NOTICE_COLS, "notice_recipient": ("notice_id", "party_code"),
               "notice_paragraph": ("notice_id", "paragraph"), "notice_revision": REVISION_COLS,
               "notice_revision_key": REVISION_KEY_COLS,
               "notice_revision_recipient": ("notice_id", "revision", "party_code"),
               "subject_term": TERM_COLS}
    raw = runtime.db.engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, cols in columns.items():
            if runtime.db.is_sqlite:
                cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                f"({', '.join('?' * len(cols))})", rows[table])
            else:
                with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _sql(runtime: Runtime, *statements: str) -> None:
    with runtime.db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def build(size: int, runtimes: dict[str, Runtime], pg_url: str) -> Loader:
    users = {name: _setup_parties(rt) for name, rt in runtimes.items()}
    # Every runtime's users got the same ids (same fresh schema, same order).
    loader = Loader(runtimes, next(iter(users.values())))
    for rt in runtimes.values():
        with rt.db.engine.begin() as conn:
            for index in TERM_INDEXES:
                index.drop(conn)
    people = People()
    started = time.perf_counter()
    first = True
    for notices in _batches(size, people):
        rows = loader.rows(notices)
        if first:
            loader.label([(r[0], n) for r, n in zip(rows["notice"], notices, strict=True)])
            first = False
        for rt in runtimes.values():
            _write(rt, rows)
    built = time.perf_counter() - started
    for rt in runtimes.values():
        with rt.db.engine.begin() as conn:
            if not rt.db.is_sqlite:
                conn.exec_driver_sql("SET LOCAL statement_timeout = 0")  # minutes, as in a migration
            for index in TERM_INDEXES:
                index.create(conn)
        # Bulk-loaded tables get the statistics and visibility map autovacuum would give them.
        if rt.db.is_sqlite:
            _sql(rt, "ANALYZE")
        else:
            with rt.db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        conn.execute(text("CREATE TABLE plain_subject (notice_id varchar(36), subject_no int, "
                          "name text)"))
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection  # psycopg's connection: its cursor has copy()
        with driver.cursor() as cur, cur.copy("COPY plain_subject FROM STDIN") as copy:
            for row in loader.plain:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_plain_trgm ON plain_subject USING gin (name gin_trgm_ops)"))
        conn.execute(text("ANALYZE plain_subject"))
    engine.dispose()
    print(f"  built {size:,} subjects ({loader.terms:,} term rows) in {built:.0f} s "
          f"+ indexes {time.perf_counter() - started - built:.0f} s", flush=True)
    return loader


# -- measuring -----------------------------------------------------------------------------------------
@contextmanager
def platform_wide_counts() -> Iterator[None]:
    """For comparison only: term counts over every State's notices, as search chose terms before
    issue 11 (an oracle on invisible notices). The cost of counting only visible rows is the
    difference between this row and ARX's own."""
    own = search_service._count_statement

    @lru_cache(maxsize=64)  # the type search_service expects; own caches the statement itself
    def statement(scope: ColumnElement[bool], size: int) -> Select[Any]:
        return own(true(), size)  # the same count with no visibility filter

    search_service._count_statement = statement
    search_service._term_counts.clear()
    try:
        yield
    finally:
        search_service._count_statement = own
        search_service._term_counts.clear()


def _query(variant: Variant) -> SubjectQuery:
    return SubjectQuery(name=variant.query, birth_date=variant.birth_date, limit=10)


def _cold_caches() -> None:
    """Each database's searches start from empty caches, as a freshly started instance's do: the second
    database would otherwise find every comparison of the same queries cached by the first (term
    counts, names and their comparisons, statements)."""
    search_service._term_counts.clear()
    for module in (search_service, normalise, names):
        for value in vars(module).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()


def measure_arx(runtime: Runtime, loader: Loader,
                queries: list[Variant]) -> tuple[list[float], dict[str, list[str]]]:
    times, found = [], {}
    for n, variant in enumerate(queries):
        started = time.perf_counter()
        with runtime.db.unit_of_work() as session:
            matches = search_subjects(session, runtime, INVESTIGATOR, _query(variant))
        elapsed = (time.perf_counter() - started) * 1000
        if n >= WARM_UP:
            times.append(elapsed)
        found[variant.query + "|" + str(variant.birth_date)] = [loader.by_subject.get(
            (m.notice_id, m.subject.name,
             m.subject.birth_date.isoformat() if m.subject.birth_date else None), "other")
            for m in matches]
    return times, found


def measure_baseline(pg_url: str, loader: Loader,
                     queries: list[Variant]) -> tuple[list[float], dict[str, list[str]]]:
    engine = create_engine(pg_url)
    times, found = [], {}
    sql = text("SELECT notice_id, subject_no FROM plain_subject WHERE name % :q "
               "ORDER BY similarity(name, :q) DESC LIMIT 10")
    with engine.connect() as conn:
        for n, variant in enumerate(queries):
            started = time.perf_counter()
            rows = conn.execute(sql, {"q": variant.query}).all()
            conn.commit()
            elapsed = (time.perf_counter() - started) * 1000
            if n >= WARM_UP:
                times.append(elapsed)
            found[variant.query + "|" + str(variant.birth_date)] = [
                loader.labels.get((r[0], r[1]), "other") for r in rows]
    engine.dispose()
    return times, found


def measure_token_sort(loader: Loader,
                       queries: list[Variant]) -> tuple[list[float], dict[str, list[str]]]:
    """Plaintext baseline: rapidfuzz token-sort ratio of the accent-folded (unidecode) query against
    every stored name and alias, in memory (no index, no encryption, no visibility filter)."""
    names = [(notice_id, no, unidecode(name)) for notice_id, no, name in loader.plain]
    choices = [utils.default_process(n) for _, _, n in names]
    times, found = [], {}
    for n, variant in enumerate(queries):
        started = time.perf_counter()
        best = process.extract(utils.default_process(unidecode(variant.query)), choices,
                               scorer=fuzz.token_sort_ratio, processor=None, limit=30)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= WARM_UP:
            times.append(elapsed)
        keys: list[str] = []
        for _, _, index in best:
            key = loader.labels.get((names[index][0], names[index][1]), f"other:{index}")
            if key not in keys:
                keys.append(key)
        found[variant.query + "|" + str(variant.birth_date)] = keys[:10]
    return times, found


def print_kinds(size: int, reports: dict[str, Report]) -> None:
    """Recall@1, recall@3 and MRR by kind of variation, for every method side by side."""
    kinds = sorted(next(iter(reports.values())).by_kind, key=lambda k: (
        k not in ("all", "transliterated", "name only", "with birth date"), k))
    header = ["kind", "queries"] + [f"{label} {m}" for label in reports for m in ("r@1", "r@3", "MRR")]
    rows: list[list[object]] = []
    for kind in kinds:
        row: list[object] = [kind, next(iter(reports.values())).by_kind[kind].queries]
        for report in reports.values():
            stats = report.by_kind[kind]
            row += [f"{stats.recall_at_1:.3f}", f"{stats.recall_at_3:.3f}", f"{stats.mrr:.3f}"]
        rows.append(row)
    print_table(f"Recall by kind of variation, {size:,} subjects (labelled set: {len(IDENTITIES)} "
                f"identities, {len(VARIANTS)} queries)", header, rows)


def run(size: int, platform_wide: bool = False) -> list[list[object]]:
    print(f"\n== {size:,} subjects", flush=True)
    with ExitStack() as stack:
        urls = {b: stack.enter_context(throwaway_database(b)) for b in ("sqlite", "postgresql")}
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "keys"
        FileKeyProvider(keys).create_if_absent()
        runtimes = {b: Runtime.build(Settings(database_url=u, keys_dir=keys))
                    for b, u in urls.items()}
        for rt in runtimes.values():
            stack.callback(rt.close)
        loader = build(size, runtimes, urls["postgresql"])
        rng = random.Random(5)
        synthetic = [perturbed(rng, key, s) for key, s in rng.sample(
            loader.sample, min(SYNTHETIC_QUERIES, len(loader.sample)))]
        queries = [*VARIANTS[:WARM_UP], *VARIANTS, *synthetic]
        # As `arx serve` does once loaded; here it also takes the harness's own million-row lists out of
        # every full collection, which the timed searches would otherwise pay for.
        settle_heap()
        results: dict[str, tuple[list[float], dict[str, list[str]]]] = {
            "pg_trgm plaintext (baseline)": measure_baseline(urls["postgresql"], loader, queries),
            "token-sort plaintext (baseline)": measure_token_sort(loader, queries)}
        for backend, rt in runtimes.items():
            _cold_caches()
            results[f"ARX blind index, {backend}"] = measure_arx(rt, loader, queries)
            if platform_wide:
                with platform_wide_counts():
                    results[f"ARX, platform-wide counts (pre-#11), {backend}"] = measure_arx(
                        rt, loader, queries)
        base_p95 = percentiles(results["pg_trgm plaintext (baseline)"][0])["p95"]
        rows: list[list[object]] = []
        reports: dict[str, Report] = {}
        for label, (times, found) in results.items():
            pct = percentiles(times)

            def lookup(v: Variant, f: dict[str, list[str]] = found) -> list[str]:
                return f[v.query + "|" + str(v.birth_date)]

            report = evaluate(lookup)
            reports[label.replace(" (baseline)", "").replace("ARX blind index, ", "ARX ")] = report
            synthetic_recall = sum(q.key in found[q.query + "|" + str(q.birth_date)][:3]
                                   for q in synthetic) / max(1, len(synthetic))
            rows.append([f"{size:,}", label, f"{pct['p50']:.1f}", f"{pct['p95']:.1f}",
                         f"{pct['p99']:.1f}", f"{pct['p95'] / base_p95:.2f}",
                         f"{report.recall_at_3:.3f}", f"{report.top1:.3f}", f"{report.mrr:.3f}",
                         f"{report.disambiguated_top1:.2f}", f"{synthetic_recall:.3f}"])
            if report.misses and label.startswith("ARX"):
                print(f"  {label}: {len(report.misses)} misses (not in the top 3), e.g. "
                      f"{report.misses[:10]}")
            if report.dated_misses and label.startswith("ARX"):
                print(f"  {label}: queries with a birth date not ranked first: {report.dated_misses}")
        print_table(f"Suspect search, {size:,} subjects ({len(queries) - WARM_UP} timed queries)",
                    HEADER, rows)
        print_kinds(size, {k: v for k, v in reports.items() if k in (
            "ARX sqlite", "ARX postgresql", "token-sort plaintext", "pg_trgm plaintext")})
        return rows


HEADER = ["subjects", "method", "p50 ms", "p95 ms", "p99 ms", "p95 ratio", "recall@3", "recall@1",
          "MRR", "top-1 same name+date", "synthetic recall@3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append",
                        help="indexed subjects (repeatable; default 100000)")
    parser.add_argument("--platform-wide", action="store_true",
                        help="also measure search with platform-wide term counts (pre-issue 11)")
    args = parser.parse_args()
    rows = []
    for size in args.size or [100_000]:
        rows += run(size, args.platform_wide)
    print_table("Summary (latency through the service layer: candidates, decrypt, rescore, audit, "
                "commit; shared 2-core machine)", HEADER, rows)


if __name__ == "__main__":
    main()
