"""Statistics at 100,000 notices: p50/p95 of each breakdown through the ASGI app, against GET /api/v1/me
(token check, one audit entry: the same stack with no statistics) measured in the same run.

The aggregates are seeded with the contributions of --notices generated notice documents (31 parties,
24 months, 2 kinds, 1-2 paragraphs, 0-3 assets in 3 currencies) through the very functions the
after-write hook uses (app.stats.service.contribution and apply_deltas): the table the statistics read
is then exactly what posting those notices would have left, without spending the run on encryption.
Requests (--requests) are created through the requests use case.

    python -m bench.stats [--notices 100000] [--requests 2000] [-n 300] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from typing import Any

from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.main import create_app
from app.notices.schemas import NoticeDocument
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.schemas import RequestCreate
from app.requests.service import create_request, ensure_shipped_obstacles
from app.stats.service import Delta, Key, apply_deltas, contribution
from app.users.models import User
from app.users.service import add_user
from bench.common import bench_runtime, percentiles, print_table

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"
PARTIES = ["FRA", *[f"P{i:02d}" for i in range(30)]]
MONTHS = [f"{2025 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
STATUSES = ["identified", "traced", "frozen", "seized", "confiscated", "released", "returned"]
CURRENCIES = ["EUR", "USD", "CHF"]
JURISDICTIONS = ["CHE", "FRA", "NLD", "LUX", "GBR", "USA", "ARE", "SGP"]


def templates() -> list[NoticeDocument]:
    docs = []
    for i in range(210):
        assets = [{"type": "other", "status": STATUSES[(i + j) % 7],
                   "jurisdiction": JURISDICTIONS[(i * 3 + j) % 8],
                   "value": {"amount": f"{(i * 7919 + j * 104729) % 10_000_000}.{i % 100:02d}",
                             "currency": CURRENCIES[(i + j) % 3]}} for j in range(i % 4)]
        docs.append(NoticeDocument.model_validate({
            "kind": "frozen_asset" if i % 3 else "financial_investigation", "title": "t", "tlp": "AMBER",
            "recipients": ["ICC"], "paris_paragraphs": ["11", "12", "13"][: 1 + i % 2] if i % 5
            else ["13"], "assets": assets}))
    return docs


def seed_aggregates(runtime: Any, notices: int) -> None:
    docs = templates()
    deltas: dict[Key, Delta] = defaultdict(Delta)
    for i in range(notices):
        for key, delta in contribution(PARTIES[i % len(PARTIES)], MONTHS[(i // 7) % len(MONTHS)],
                                       docs[i % len(docs)]).items():
            deltas[key].add(delta, +1)
    items = list(deltas.items())
    for start in range(0, len(items), 500):
        with runtime.db.unit_of_work() as s:
            apply_deltas(s, dict(items[start:start + 500]))


def request_document(i: int, addressee: str) -> dict[str, Any]:
    return {"addressee": addressee, "type": "formal", "measures": ["tracing"],
            "legal_basis": ["Rome Statute art. 93(1)(k)"],
            "priority": "urgent" if i % 5 == 0 else "standard", "title": f"Request {i}", "body": "b",
            "tlp": "AMBER", "paris_paragraphs": ["13"]}


ENDPOINTS = [
    ("GET /me (baseline)", "/api/v1/me", {}),
    ("notices by paragraph, mine", "/api/v1/stats/notices", {"by": "paris_paragraph", "scope": "mine"}),
    ("notices by paragraph, platform", "/api/v1/stats/notices",
     {"by": "paris_paragraph", "scope": "platform"}),
    ("notices by month, platform", "/api/v1/stats/notices", {"by": "month", "scope": "platform"}),
    ("assets by status, platform", "/api/v1/stats/assets", {"by": "status", "scope": "platform"}),
    ("assets by month, platform", "/api/v1/stats/assets", {"by": "month", "scope": "platform"}),
    ("assets by jurisdiction, mine", "/api/v1/stats/assets", {"by": "jurisdiction", "scope": "mine"}),
    ("requests by priority, platform", "/api/v1/stats/requests",
     {"by": "priority", "scope": "platform"}),
    ("requests by addressee, mine", "/api/v1/stats/requests", {"by": "addressee", "scope": "mine"}),
]


def run(backend: str, notices: int, requests: int, n: int) -> list[list[object]]:
    with bench_runtime(backend) as runtime:
        with runtime.db.unit_of_work() as s:
            ensure_court(s, ADMIN)
            ensure_shipped_paragraphs(s, ADMIN)
            ensure_shipped_obstacles(s, ADMIN)
            for code in ("FRA", "NLD"):
                add_party(s, ADMIN, code=code, name=code, kind="state")
            for user, party in (("fp", "FRA"), ("nl", "NLD")):
                add_user(s, ADMIN, runtime.envelope, username=user, party=party, role="focal_point",
                         password=PASSWORD)
        seed_aggregates(runtime, notices)
        with runtime.db.unit_of_work() as s:
            nl_id = s.query(User.id).filter(User.username == "nl").scalar()
        sender = Principal(username="nl", party="NLD", role=Role.FOCAL_POINT, user_id=nl_id,
                           request_id="bench-seed")
        for start in range(0, requests, 200):
            with runtime.db.unit_of_work() as s:
                for i in range(start, min(requests, start + 200)):
                    create_request(s, runtime, sender,
                                   RequestCreate.model_validate(request_document(i, "FRA" if i % 2
                                                                                 else "ICC")))
        rows: list[list[object]] = []
        with TestClient(create_app(runtime=runtime), base_url="https://bench") as client:
            got = client.post("/api/v1/auth/token", data={"username": "fp", "password": PASSWORD})
            headers = {"Authorization": f"Bearer {got.json()['access_token']}"}
            results = []
            for name, path, params in ENDPOINTS:
                for _ in range(20):  # warm-up
                    client.get(path, params=params, headers=headers)
                samples = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = client.get(path, params=params, headers=headers)
                    samples.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, r.text
                results.append((name, percentiles(samples), len(r.json().get("rows", []))))
            base = results[0][1]["p95"]
            rows = [[backend, name, f"{notices:,}", cells, f"{p['p50']:.2f}", f"{p['p95']:.2f}",
                     f"{p['p95'] / base:.2f}x"] for name, p, cells in results]
        return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notices", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("-n", type=int, default=300, help="timed calls per endpoint")
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    rows: list[list[object]] = []
    for backend in args.backends.split(","):
        rows += run(backend, args.notices, args.requests, args.n)
    print_table(f"Statistics, {args.n} sequential calls per breakdown through the ASGI app",
                ["database", "breakdown", "notices", "rows", "p50 ms", "p95 ms", "p95 vs /me"], rows)


if __name__ == "__main__":
    main()
