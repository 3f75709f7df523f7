"""A short soak (issue 21): mixed load on three `arx serve` instances over one database for a while;
no request fails and the servers' memory stays bounded. Timing is not asserted (bench/soak.py reports
latency minute by minute over five minutes); this checks correctness under sustained concurrent load."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.database import PG_URL, DatabaseFactory
from tests.support.e2e import Server, Site, make_site
from tests.support.factories import notice_document

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not PG_URL.startswith("postgresql"),
                                 reason="instances share one database on PostgreSQL")]
SOAK_SECONDS = 40.0
CLIENTS = 4
# Resident memory may grow while caches warm (statement caches, pools, TLS sessions), not without bound.
MAX_GROWTH_MIB = 60.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("soak") / "site", databases.empty(),
                     ARX_SEARCH_RATE_PER_MINUTE="100000", ARX_WRITE_RATE_PER_MINUTE="100000",
                     ARX_IP_RATE_PER_MINUTE="100000",
                     # Correctness, not timing: on a saturated CI machine a write may outlast the 10 s
                     # default deadline, which would answer 503 for want of CPU, not for a fault.
                     ARX_REQUEST_DEADLINE_SECONDS="120")


@pytest.fixture(scope="module")
def instances(site: Site) -> Iterator[list[Server]]:
    servers = [Server(site) for _ in range(3)]
    try:
        for server in servers:
            server.start(timeout=180)
        yield servers
    finally:
        for server in servers:
            server.stop()


def test_sustained_mixed_load_on_three_instances_fails_nothing_and_memory_stays_bounded(
        instances: list[Server]) -> None:
    users = ["fra_fp", "nld_fp", "deu_fp", "icc_inv"]
    tokens = {u: instances[0].token(u) for u in users}
    outcomes: list[tuple[str, int]] = []
    posted: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client_loop(index: int) -> None:
        user = users[index % len(users)]
        server = instances[index % len(instances)]
        headers = {"Authorization": f"Bearer {tokens[user]}"}
        with server.client(headers=headers) as client:
            for step in itertools.count():
                if stop.is_set():
                    return
                op = ("post", "read", "list", "search")[step % 4]
                if op == "post" and user != "icc_inv":
                    r = client.post("/api/v1/notices", json=notice_document(recipients=["ICC"]))
                    if r.status_code == 201:
                        with lock:
                            posted.append(r.json()["id"])
                elif op == "read" and user == "icc_inv" and posted:
                    r = client.get(f"/api/v1/notices/{posted[-1]}")
                elif op == "search":
                    r = client.post("/api/v1/search/subjects", json={"name": "Jean-Pierre Exemple"})
                else:
                    r = client.get("/api/v1/notices", params={"limit": 20})
                with lock:
                    outcomes.append((op, r.status_code))

    threads = [threading.Thread(target=client_loop, args=(i,), daemon=True) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    time.sleep(SOAK_SECONDS / 4)  # warm: pools, statement caches, TLS sessions
    pids = [s.process.pid for s in instances if s.process is not None]
    warm = sum(rss_mib(pid) for pid in pids)
    time.sleep(SOAK_SECONDS * 3 / 4)
    end = sum(rss_mib(pid) for pid in pids)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)

    failures = [(op, status) for op, status in outcomes if status >= 400]
    assert len(outcomes) > 20 and posted, "the load ran"
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed: {failures[:10]}"
    assert end - warm < MAX_GROWTH_MIB, f"resident memory grew from {warm:.0f} to {end:.0f} MiB"
