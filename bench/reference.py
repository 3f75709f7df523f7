"""Legislation full-text search and one State's directory page, through the ASGI app, on both databases.

Set-up: 200 State parties, each with a synthetic legal profile (English or French vocabulary, a few
instruments, every measure with notes) and 10 focal-point contacts (2,000 in all, names, e-mails and
phones sealed). Measured, as a focal point over HTTP (token check, query validation, service, audit
entries, commit): ``GET /api/v1/legislation?q=…`` with one- and two-word queries in both languages, and
``GET /api/v1/directory?party=P`` (10 contacts decrypted, 10 audit entries). Baseline in the same run:
``GET /api/v1/me`` (the same stack with one indexed lookup). Targets (issue 16): FTS p95 ≤ 20 ms,
directory p95 ≤ 15 ms.

    python -m bench.reference [-n 300] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import random
import time

import pycountry
from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.directory.schemas import ContactDocument
from app.directory.service import create_contact
from app.legislation.schemas import MEASURES, ProfileDocument
from app.legislation.service import write_profile
from app.main import create_app
from app.parties.service import add_party, ensure_court
from app.users.service import add_user
from bench.common import bench_runtime, percentiles, print_table

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"
STATES = 200
CONTACTS_PER_STATE = 10
EN = ["assets", "frozen", "freezing", "order", "court", "prosecutor", "confiscation", "seizure", "bank",
      "account", "tracing", "identification", "value", "based", "conviction", "interim", "measures",
      "request", "mutual", "assistance", "judge", "property", "proceeds", "crime", "laundering", "registry",
      "evidence", "warrant", "authority", "central", "office"]
FR = ["avoirs", "gel", "gelés", "saisie", "saisies", "confiscation", "parquet", "juge", "demande", "cour",
      "biens", "produits", "infraction", "blanchiment", "registre", "preuve", "mandat", "autorité",
      "centrale", "office", "mesures", "conservatoires", "entraide", "identification", "dépistage",
      "valeur", "condamnation"]
QUERIES = ["frozen", "freezing", "gelé", "saisie", "confiscation", "bank account", "juge demande",
           "interim measures", "blanchiment", "warrant", "registre", "value based confiscation"]


def words(rng: random.Random, vocabulary: tuple[str, ...] | list[str], n: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(n)).capitalize() + "."


def profile(rng: random.Random, french: bool) -> ProfileDocument:
    vocab = FR if french else EN
    return ProfileDocument.model_validate({
        "language": "fr" if french else "en",
        "summary": "SAMPLE DATA (benchmark). " + words(rng, vocab, 60),
        "implementing_legislation": [{"title": words(rng, vocab, 8), "reference": f"BENCH-{i}",
                                      "url": f"https://example.org/bench/{i}"} for i in range(3)],
        "measures": {m: {"available": rng.random() < 0.7, "legal_basis": words(rng, vocab, 6),
                         "notes": words(rng, vocab, 25)} for m in MEASURES},
        "competent_authorities": [{"name": "Bench Office", "role": "central authority"}],
        "request_requirements": {"languages": ["fr", "en"] if french else ["en"],
                                 "channel": "central authority", "notes": words(rng, vocab, 15)},
    })


def contact(rng: random.Random, i: int) -> ContactDocument:
    return ContactDocument.model_validate({
        "name": f"Bench Person {i}", "function": "Focal point", "unit": "Asset recovery office",
        "areas": rng.sample(["financial_investigations", "asset_recovery", "arrest", "general"], 2),
        "languages": ["en", "fr"], "email": f"person{i}@example.org", "phone": f"+41 22 {i:07d}",
        "time_zone": "Europe/Paris", "availability": rng.choice(["office_hours", "24/7"])})


def timed(client: TestClient, urls: list[str], headers: dict[str, str]) -> dict[str, float]:
    for url in urls[:30]:  # warm-up
        client.get(url, headers=headers)
    samples = []
    cpu = time.process_time()
    for url in urls:
        t0 = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200, response.text
    # CPU of this process per request (client, app and, on SQLite, the database engine): what the
    # request costs on a quiet machine, whatever else the shared cores are doing meanwhile.
    return {**percentiles(samples), "cpu": (time.process_time() - cpu) * 1000 / len(urls)}


def run(backend: str, n: int) -> list[list[object]]:
    rng = random.Random(16)
    codes = [c.alpha_3 for c in list(pycountry.countries)[:STATES]]
    with bench_runtime(backend) as runtime:
        t0 = time.perf_counter()
        with runtime.db.unit_of_work() as session:
            ensure_court(session, ADMIN)
            for code in codes:
                add_party(session, ADMIN, code=code, name=f"State {code}", kind="state")
            add_user(session, ADMIN, runtime.envelope, username="fp", party=codes[0],
                     role="focal_point", password=PASSWORD)
        with runtime.db.unit_of_work() as session:
            for k, code in enumerate(codes):
                write_profile(session, runtime, ADMIN, code, profile(rng, french=k % 3 == 0))
        for k, code in enumerate(codes):
            writer = Principal(username=f"fp-{code}", party=code, role=Role.FOCAL_POINT,
                               request_id="bench-setup")
            with runtime.db.unit_of_work() as session:
                for j in range(CONTACTS_PER_STATE):
                    create_contact(session, runtime, writer, contact(rng, k * CONTACTS_PER_STATE + j))
        setup = time.perf_counter() - t0
        app = create_app(runtime=runtime)
        with TestClient(app, base_url="https://bench") as client:
            token = client.post("/api/v1/auth/token", data={"username": "fp", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            hits = {q: len(client.get("/api/v1/legislation", params={"q": q}, headers=headers)
                           .json()["items"]) for q in QUERIES}
            me = timed(client, ["/api/v1/me"] * n, headers)
            fts = timed(client, [f"/api/v1/legislation?q={QUERIES[i % len(QUERIES)]}"
                                 for i in range(n)], headers)
            directory = timed(client, [f"/api/v1/directory?party={codes[i % STATES]}"
                                       for i in range(n)], headers)
    print(f"{backend}: set-up {setup:.1f} s, load average {os.getloadavg()[0]:.1f}; results per query: "
          + ", ".join(f"{q!r}={h}" for q, h in hits.items()))
    return [[backend, name, f"{p['p50']:.2f}", f"{p['p95']:.2f}", f"{p['p99']:.2f}",
             f"{p['p95'] / me['p95']:.1f}x", f"{p['cpu']:.2f}", target]
            for name, p, target in (("GET /me (baseline)", me, "-"),
                                    ("legislation full-text q", fts, "p95 <= 20 ms"),
                                    ("directory of one State", directory, "p95 <= 15 ms"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=300, help="requests per measurement")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        rows += run(backend, args.n)
    print_table(f"Reference data: {STATES} profiles, {STATES * CONTACTS_PER_STATE} contacts, "
                f"{args.n} sequential requests each through the ASGI app",
                ["database", "request", "p50 ms", "p95 ms", "p99 ms", "p95 vs baseline",
                 "process CPU ms/req", "target"],
                rows)


if __name__ == "__main__":
    main()
