"""Posting notices through the full stack vs a plain insert of the same JSON through the same stack.

Full: HTTP (ASGI), token check, validation, routing tables, envelope encryption, blind index, audit entry,
one transaction. Baseline: the same HTTP stack and token check, the same JSON body, one plain INSERT of the
JSON text and a commit — what the platform would cost with no protection at all. Same run, same database.

    python -m bench.notices [-n 2000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import time
import uuid

from fastapi import Request
from sqlalchemy import text
from starlette.testclient import TestClient

from app.api import CurrentPrincipal, DbSession
from app.auth.principal import Principal, Role
from app.main import create_app
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.users.service import add_user
from bench.common import bench_runtime, percentiles, print_table

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"


def document(i: int) -> dict[str, object]:
    return {
        "kind": "frozen_asset", "title": f"Accounts frozen under order 2026/{i}",
        "recipients": ["ICC", "NLD"],
        "tlp": "AMBER", "paris_paragraphs": ["13"], "reference": f"case {i}",
        "subjects": [{"name": f"Jean-Pierre Exemple{i}", "aliases": ["J.P. Exemple"],
                      # Spread like real birth dates: one date shared by every notice would make each
                      # post's deconfliction read every earlier subject (see the closing note of #21).
                      "birth_date": f"{1940 + i % 60}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                      "nationality": "COD", "identifiers": [{"scheme": "passport", "value": f"OB{i:07d}"}]}],
        "assets": [{"type": "bank_account", "description": "Current account", "jurisdiction": "CHE",
                    "identifier": "CH9300762011623852957",
                    "value": {"amount": "1250000.00", "currency": "EUR"},
                    "status": "frozen", "status_date": "2026-10-02", "order_reference": "2026/114"}],
        "narrative": "Funds traced through three jurisdictions. " * 10,
    }


def run(backend: str, n: int) -> list[list[object]]:
    with bench_runtime(backend) as runtime:
        with runtime.db.unit_of_work() as s:
            ensure_court(s, ADMIN)
            ensure_shipped_paragraphs(s, ADMIN)
            add_party(s, ADMIN, code="FRA", name="France", kind="state")
            add_party(s, ADMIN, code="NLD", name="Netherlands", kind="state")
            add_user(s, ADMIN, runtime.envelope, username="fp", party="FRA", role="focal_point",
                     password=PASSWORD)
            s.execute(text("CREATE TABLE bench_plain (id VARCHAR(36) PRIMARY KEY, body TEXT NOT NULL)"))
        app = create_app(runtime=runtime)

        @app.post("/bench/plain", status_code=201)
        async def plain(request: Request, session: DbSession, principal: CurrentPrincipal) -> dict[str, str]:
            body = (await request.body()).decode()
            row_id = str(uuid.uuid4())
            session.execute(text("INSERT INTO bench_plain (id, body) VALUES (:i, :b)"),
                            {"i": row_id, "b": body})
            return {"id": row_id}

        results = []
        with TestClient(app, base_url="https://bench") as client:
            token = client.post("/api/v1/auth/token", data={"username": "fp", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for name, path in (("plain insert (baseline)", "/bench/plain"),
                               ("ARX post notice", "/api/v1/notices")):
                for i in range(min(50, n)):  # warm-up
                    client.post(path, json=document(i), headers=headers)
                samples = []
                start = time.perf_counter()
                for i in range(n):
                    t0 = time.perf_counter()
                    r = client.post(path, json=document(i), headers=headers)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 201, r.text
                elapsed = time.perf_counter() - start
                results.append((name, n / elapsed, percentiles(samples)))
        base = results[0][1]
        return [[backend, name, f"{rate:,.0f}", f"{p['p50']:.2f}", f"{p['p95']:.2f}", f"{rate / base:.0%}"]
                for name, rate, p in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="notices per measurement")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        rows += run(backend, args.n)
    print_table(f"Posting notices, N={args.n} sequential requests through the ASGI app",
                ["database", "path", "notices/s", "p50 ms", "p95 ms", "vs baseline"], rows)


if __name__ == "__main__":
    main()
