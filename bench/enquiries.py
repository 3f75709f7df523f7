"""Hit/no-hit enquiry latency, and what automatic deconfliction adds to posting, over N subjects.

Set-up: the bulk loader of bench/search.py (N synthetic subjects, four a notice, most shared with the
Court only, 30 % with a passport) on a throw-away SQLite and a throw-away PostgreSQL database. The
enquirer is a French focal point, so notices of other States not shared with France are the ones an
enquiry looks into. Measured through the service layer, each call in its own unit of work (term
lookup, constant-work confirmation, hits, audit, commit):

- enquiries: one subject each, a third by passport, a third by name and birth date of an indexed
  subject (hits where France may not see it), a third of people nobody holds (no hit); p50/p95/p99,
  and the no-hit/hit ratio of medians (the work should not depend on what matched);
- posting a notice of two new subjects (one notice in ten also holds an indexed subject, so it
  matches and makes hits), alternately with
  ARX_DECONFLICTION_ENABLED off and on in the same run: the ratio is what deconfliction adds.

    python -m bench.enquiries --size 100000          # ~4 min on a 2-core machine
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from app.auth.principal import Principal, Role
from app.config import Settings
from app.crypto.keyring import FileKeyProvider
from app.enquiries.schemas import EnquiryCreate
from app.enquiries.service import create_enquiry
from app.notices.schemas import NoticeDocument
from app.notices.service import create_notice
from app.runtime import Runtime
from app.users.service import add_user
from bench.common import percentiles, print_table, throwaway_database
from bench.search import ADMIN, Loader, People, build

ENQUIRIES = 300
POSTS = 150  # per mode
WARM_UP = 20
MATCHING_POSTS = 0.1


def _enquirer(runtime: Runtime) -> Principal:
    user_id = None
    with runtime.db.unit_of_work() as session:
        from sqlalchemy import select

        from app.users.models import User

        user_id = session.scalar(select(User.id).where(User.username == "fp_fra"))
    return Principal(username="fp_fra", party="FRA", role=Role.FOCAL_POINT, user_id=user_id,
                     request_id="bench-enquiries")


def _queries(loader: Loader, people: People, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(kind, enquiry subject): passport, name and birth date, or someone nobody holds."""
    with_passport = [s for _, s in loader.sample if s.get("identifiers")]
    with_birth = [s for _, s in loader.sample if s.get("birth_date")]
    out: list[tuple[str, dict[str, Any]]] = []
    for n in range(ENQUIRIES + WARM_UP):
        kind = ("passport", "name+birth date", "nobody")[n % 3]
        if kind == "passport":
            s = rng.choice(with_passport)
            out.append((kind, {"identifiers": [{"scheme": "passport",
                                                "value": s["identifiers"][0]["value"]}]}))
        elif kind == "name+birth date":
            s = rng.choice(with_birth)
            out.append((kind, {"name": s["name"], "birth_date": s["birth_date"]}))
        else:
            s = people.subject()
            out.append((kind, {"name": s["name"] + " Unheld", "birth_date": "1939-01-01",
                               "identifiers": [{"scheme": "passport",
                                                "value": f"Z{rng.randrange(10**8):08d}"}]}))
    return out


def measure_enquiries(runtime: Runtime, queries: list[tuple[str, dict[str, Any]]]
                      ) -> tuple[list[float], dict[str, list[float]], float]:
    enquirer = _enquirer(runtime)
    times: list[float] = []
    by_outcome: dict[str, list[float]] = {"hit": [], "no hit": []}
    hits = 0
    for n, (_, subject) in enumerate(queries):
        body = EnquiryCreate.model_validate({"subjects": [subject], "purpose": "benchmark",
                                             "legal_basis": "benchmark"})
        started = time.perf_counter()
        with runtime.db.unit_of_work() as session:
            answer = create_enquiry(session, runtime, enquirer, body)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= WARM_UP:
            times.append(elapsed)
            by_outcome["hit" if answer.hits else "no hit"].append(elapsed)
            hits += bool(answer.hits)
    return times, by_outcome, hits / max(1, len(times))


def _post_documents(loader: Loader, people: People, rng: random.Random) -> list[NoticeDocument]:
    docs = []
    for _ in range(2 * POSTS + WARM_UP):
        subjects = [people.subject(), people.subject()]
        if rng.random() < MATCHING_POSTS:
            subjects[0] = rng.choice(loader.sample)[1]
        docs.append(NoticeDocument.model_validate({
            "kind": "frozen_asset", "title": "bench", "tlp": "AMBER", "recipients": ["ICC"],
            "paris_paragraphs": ["13"], "subjects": subjects, "assets": [],
            "narrative": "benchmark notice"}))
    return docs


def measure_posting(runtime: Runtime, docs: list[NoticeDocument]) -> dict[bool, list[float]]:
    poster = Principal(username="fp_deu", party="DEU", role=Role.FOCAL_POINT,
                       user_id=_enquirer(runtime).user_id, request_id="bench-post")
    times: dict[bool, list[float]] = {False: [], True: []}
    for n, doc in enumerate(docs):
        enabled = n % 2 == 1  # interleaved: both modes see the same load and cache state
        runtime.settings.deconfliction_enabled = enabled
        started = time.perf_counter()
        with runtime.db.unit_of_work() as session:
            create_notice(session, runtime, poster, doc)
        elapsed = (time.perf_counter() - started) * 1000
        if n >= WARM_UP:
            times[enabled].append(elapsed)
    runtime.settings.deconfliction_enabled = True
    return times


def run(size: int) -> list[list[object]]:
    print(f"\n== {size:,} subjects", flush=True)
    rows: list[list[object]] = []
    with ExitStack() as stack:
        urls = {b: stack.enter_context(throwaway_database(b)) for b in ("sqlite", "postgresql")}
        keys = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "keys"
        FileKeyProvider(keys).create_if_absent()
        runtimes = {b: Runtime.build(Settings(database_url=u, keys_dir=keys))
                    for b, u in urls.items()}
        for rt in runtimes.values():
            stack.callback(rt.close)
        loader = build(size, runtimes, urls["postgresql"])
        for rt in runtimes.values():
            with rt.db.unit_of_work() as session:
                add_user(session, ADMIN, rt.envelope, username="fp_deu_poster", party="DEU",
                         role="focal_point", password="benchmark password 123")
        people = People(seed=99)
        queries = _queries(loader, people, random.Random(3))
        docs = _post_documents(loader, people, random.Random(4))
        for backend, rt in runtimes.items():
            times, by_outcome, hit_rate = measure_enquiries(rt, queries)
            pct = percentiles(times)
            hit_p50 = statistics.median(by_outcome["hit"]) if by_outcome["hit"] else float("nan")
            miss_p50 = statistics.median(by_outcome["no hit"]) if by_outcome["no hit"] else float("nan")
            rows.append([f"{size:,}", backend, "enquiry", f"{pct['p50']:.1f}", f"{pct['p95']:.1f}",
                         f"{pct['p99']:.1f}",
                         (f"hits {hit_rate:.0%}; p50 hit {hit_p50:.1f} / no hit {miss_p50:.1f} "
                          f"(ratio {miss_p50 / hit_p50:.2f})")])
            posting = measure_posting(rt, docs)
            off, on = percentiles(posting[False]), percentiles(posting[True])
            for enabled, pct in ((False, off), (True, on)):
                rows.append([f"{size:,}", backend,
                             "post, deconfliction " + ("on" if enabled else "off (baseline)"),
                             f"{pct['p50']:.1f}", f"{pct['p95']:.1f}", f"{pct['p99']:.1f}",
                             (f"p50 ratio {pct['p50'] / off['p50']:.2f}, mean ratio "
                              f"{statistics.fmean(posting[enabled]) / statistics.fmean(posting[False]):.2f}")
                             ])
        print_table(f"Enquiries and deconfliction, {size:,} subjects", HEADER, rows)
    return rows


HEADER = ["subjects", "database", "operation", "p50 ms", "p95 ms", "p99 ms", "notes"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append",
                        help="indexed subjects (repeatable; default 100000)")
    args = parser.parse_args()
    rows = []
    for size in args.size or [100_000]:
        rows += run(size)
    print_table("Summary (service layer, own unit of work each; shared 2-core machine)", HEADER, rows)


if __name__ == "__main__":
    main()
