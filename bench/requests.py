"""Requests for cooperation: creating one (two subjects) vs the plain-insert baseline, and inbox pages.

Create: HTTP (ASGI), token check, validation, reference checks, envelope encryption, blind index of two
subjects, notification of the addressee's users, audit entry, one transaction — against the baseline of
bench/notices.py: the same HTTP stack and token check, the same JSON body, one plain INSERT and a commit.
Inbox: GET /api/v1/requests (a page of 50, soonest due first, each decrypted and audited) over an inbox
of --inbox requests, with and without filters. Same run, same database.

    python -m bench.requests [-n 1000] [--inbox 10000] [--pages 200] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import time
import uuid
from typing import Any

from fastapi import Request
from sqlalchemy import text
from starlette.testclient import TestClient

from app.api import CurrentPrincipal, DbSession
from app.auth.principal import Principal, Role
from app.main import create_app
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.schemas import RequestCreate
from app.requests.service import create_request, ensure_shipped_obstacles
from app.users.models import User
from app.users.service import add_user
from bench.common import bench_runtime, percentiles, print_table

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"
SEED_BATCH = 200


def document(i: int, addressee: str = "NLD") -> dict[str, Any]:
    return {
        "addressee": addressee, "type": "formal", "measures": ["tracing", "freezing"],
        "legal_basis": ["Rome Statute art. 93(1)(k)", "Law 2026-114 art. 12"],
        "priority": "urgent" if i % 5 == 0 else "standard",
        "title": f"Trace and freeze the accounts of case {i}",
        "body": "Funds traced through three jurisdictions; please freeze. " * 10,
        "subjects": [{"name": f"Jean-Pierre Exemple{i}", "aliases": ["J.P. Exemple"],
                      "birth_date": "1962-11-04", "nationality": "COD",
                      "identifiers": [{"scheme": "passport", "value": f"OB{i:07d}"}]},
                     {"name": f"Marie Exemplaire{i}", "birth_date": "1970-01-02"}],
        "tlp": "AMBER", "paris_paragraphs": ["13"],
    }


def _time(client: TestClient, method: str, path: str, n: int, headers: dict[str, str],
          **kw: Any) -> tuple[float, dict[str, float]]:
    samples = []
    start = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        r = client.request(method, path, headers=headers,
                           **{k: (v(i) if callable(v) else v) for k, v in kw.items()})
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code in (200, 201), r.text
    return n / (time.perf_counter() - start), percentiles(samples)


def run(backend: str, n: int, inbox: int, pages: int) -> tuple[list[list[object]], list[list[object]]]:
    with bench_runtime(backend) as runtime:
        with runtime.db.unit_of_work() as s:
            ensure_court(s, ADMIN)
            ensure_shipped_paragraphs(s, ADMIN)
            ensure_shipped_obstacles(s, ADMIN)
            add_party(s, ADMIN, code="FRA", name="France", kind="state")
            add_party(s, ADMIN, code="NLD", name="Netherlands", kind="state")
            add_user(s, ADMIN, runtime.envelope, username="fp", party="FRA", role="focal_point",
                     password=PASSWORD)
            add_user(s, ADMIN, runtime.envelope, username="nl", party="NLD", role="focal_point",
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

        create_rows: list[list[object]] = []
        inbox_rows: list[list[object]] = []
        with TestClient(app, base_url="https://bench") as client:
            def token(user: str) -> dict[str, str]:
                got = client.post("/api/v1/auth/token", data={"username": user, "password": PASSWORD})
                return {"Authorization": f"Bearer {got.json()['access_token']}"}

            fra = token("fp")
            results = []
            for name, path in (("plain insert (baseline)", "/bench/plain"),
                               ("ARX create request (2 subjects)", "/api/v1/requests")):
                for i in range(min(50, n)):  # warm-up
                    client.post(path, json=document(i), headers=fra)
                results.append((name, *_time(client, "POST", path, n, fra,
                                             json=lambda i: document(i))))
            base = results[0][1]
            create_rows = [[backend, name, f"{rate:,.0f}", f"{p['p50']:.2f}", f"{p['p95']:.2f}",
                            f"{rate / base:.0%}"] for name, rate, p in results]

            # An inbox of `inbox` requests addressed to FRA, sent by NLD through the same use case.
            with runtime.db.unit_of_work() as s:
                nl_id = s.query(User.id).filter(User.username == "nl").scalar()
            sender = Principal(username="nl", party="NLD", role=Role.FOCAL_POINT, user_id=nl_id,
                               request_id="bench-seed")
            for start in range(0, inbox, SEED_BATCH):
                with runtime.db.unit_of_work() as s:
                    for i in range(start, min(inbox, start + SEED_BATCH)):
                        create_request(s, runtime, sender,
                                       RequestCreate.model_validate(document(i, addressee="FRA")))
            fra = token("fp")  # seeding may outlast the token's lifetime on a busy machine
            for name, params in (("inbox page (50, by due date)", {"box": "inbox"}),
                                 ("inbox page, status=sent", {"box": "inbox", "status": "sent"}),
                                 ("inbox page, overdue=false", {"box": "inbox", "overdue": "false"})):
                for _ in range(10):
                    client.get("/api/v1/requests", params=params, headers=fra)
                rate, p = _time(client, "GET", "/api/v1/requests", pages, fra, params=params)
                inbox_rows.append([backend, name, f"{inbox:,}", f"{p['p50']:.2f}", f"{p['p95']:.2f}",
                                   f"{rate:,.0f}"])
        return create_rows, inbox_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="requests per create measurement")
    parser.add_argument("--inbox", type=int, default=10_000, help="requests in the listed inbox")
    parser.add_argument("--pages", type=int, default=200, help="inbox pages timed per variant")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    creates, inboxes = [], []
    for backend in args.backends.split(","):
        c, i = run(backend, args.n, args.inbox, args.pages)
        creates += c
        inboxes += i
    print_table(f"Creating requests, N={args.n} sequential requests through the ASGI app",
                ["database", "path", "requests/s", "p50 ms", "p95 ms", "vs baseline"], creates)
    print_table(f"Listing an inbox, {args.pages} pages per variant",
                ["database", "page", "inbox size", "p50 ms", "p95 ms", "pages/s"], inboxes)


if __name__ == "__main__":
    main()
