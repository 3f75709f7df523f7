"""Database round trips per request on the hot paths (post, read, list, search), through the ASGI app.

Counts the statements each request sends to the database (every execute on the engine, the rate
limiters' included) and the transactions it opens. Unlike a timing, this does not depend on how busy the
machine is: it is the figure issue 21's "cut round trips" is about.

    python -m bench.roundtrips [--backends sqlite,postgresql] [-n 20]
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from app.auth.principal import Principal, Role
from app.main import create_app
from app.parties.service import add_party, ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.users.service import add_user
from bench.common import bench_runtime, print_table
from bench.load import STATES, document

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"


def run(backend: str, n: int, show: bool = False) -> list[list[object]]:
    with bench_runtime(backend) as runtime:
        with runtime.db.unit_of_work() as s:
            ensure_court(s, ADMIN)
            ensure_shipped_paragraphs(s, ADMIN)
            for state in STATES:
                add_party(s, ADMIN, code=state, name=f"State {state}", kind="state")
        with runtime.db.unit_of_work() as s:
            add_user(s, ADMIN, runtime.envelope, username="fp", party="FRA", role="focal_point",
                     password=PASSWORD)
        statements: Counter[str] = Counter()
        transactions: Counter[str] = Counter()
        current = ["-"]
        last: dict[str, list[str]] = {}

        @event.listens_for(runtime.db.engine, "before_cursor_execute")
        def _statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements[current[0]] += 1
            last.setdefault(current[0], []).append(" ".join(statement.split())[:150])

        @event.listens_for(runtime.db.engine, "begin")
        def _begin(*_: Any) -> None:
            transactions[current[0]] += 1
            last.setdefault(current[0], []).append("BEGIN")

        app = create_app(runtime=runtime)
        rng = random.Random(1)
        ids: list[str] = []
        # Not entered as a context manager: no lifespan, so the audit sequencer and the other jobs do not
        # run and every statement counted is a request's.
        client = TestClient(app, base_url="https://bench")
        if client:
            token = client.post("/api/v1/auth/token", data={"username": "fp", "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            for _ in range(5):  # warm caches (keyring, statement cache, vocabularies)
                ids.append(client.post("/api/v1/notices", json=document(rng, "FRA"), headers=headers)
                           .json()["id"])
                client.get(f"/api/v1/notices/{ids[-1]}", headers=headers)
                client.get("/api/v1/notices", headers=headers, params={"limit": 20})
                client.post("/api/v1/search/subjects", headers=headers, json={"name": "Jean Rossi1"})
            calls = {
                "post": lambda: client.post("/api/v1/notices", json=document(rng, "FRA"), headers=headers),
                "read": lambda: client.get(f"/api/v1/notices/{rng.choice(ids)}", headers=headers),
                "list": lambda: client.get("/api/v1/notices", headers=headers, params={"limit": 20}),
                "search": lambda: client.post("/api/v1/search/subjects", headers=headers,
                                              json={"name": f"Jean Rossi{rng.randrange(500)}", "limit": 10}),
            }
            for op, call in calls.items():
                current[0] = op
                for _ in range(n):
                    last.pop(op, None)
                    response = call()
                    assert response.status_code < 300, response.text
                current[0] = "-"
                if show:
                    print(f"-- {backend} {op}, the last request's statements:", *last.get(op, []), sep="\n  ")
        return [[backend, op, f"{statements[op] / n:.1f}", f"{transactions[op] / n:.1f}"] for op in calls]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20, help="requests per operation")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--show", action="store_true",
                        help="print the statements of each operation's last request")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        rows += run(backend, args.n, args.show)
    print_table(f"Database round trips per request (mean of {args.n} requests; jobs not running)",
                ["database", "operation", "statements", "transactions"], rows)


if __name__ == "__main__":
    main()
