"""Three `arx serve` instances on one PostgreSQL database behave as one (issue 21): a rate limit of N a
minute allows N in total, login lockout applies across instances, the audit log is sealed by one
sequencer at a time with strictly increasing checkpoints, and `arx audit verify` passes afterwards."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support.database import PG_URL, DatabaseFactory
from tests.support.e2e import Server, Site, make_site
from tests.support.factories import notice_document

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not PG_URL.startswith("postgresql"),
                                 reason="instances share state through PostgreSQL")]
SEARCH_RATE = 6


@pytest.fixture(scope="module")
def site(databases: DatabaseFactory, tmp_path_factory: pytest.TempPathFactory) -> Site:
    return make_site(tmp_path_factory.mktemp("multi") / "site", databases.empty(),
                     ARX_SEARCH_RATE_PER_MINUTE=str(SEARCH_RATE), ARX_LOGIN_MAX_FAILURES="3",
                     ARX_LOGIN_LOCKOUT_SECONDS="120", ARX_AUDIT_SEAL_INTERVAL_SECONDS="0.2")


@pytest.fixture(scope="module")
def instances(site: Site) -> Iterator[list[Server]]:
    servers = [Server(site) for _ in range(3)]
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.stop()


def round_robin(instances: list[Server]) -> Iterator[Server]:
    return itertools.cycle(instances)


class TestSharedLimits:
    def test_a_per_user_limit_of_n_allows_n_in_total_across_instances(self, instances: list[Server]) -> None:
        token = instances[0].token("icc_inv")
        targets = list(itertools.islice(round_robin(instances), SEARCH_RATE * 3))

        def search(server: Server) -> int:
            with server.client(headers={"Authorization": f"Bearer {token}"}) as client:
                return client.post("/api/v1/search/subjects", json={"name": "Nobody Known"}).status_code

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(search, targets))
        assert sorted(set(statuses)) == [200, 429]
        assert statuses.count(200) == SEARCH_RATE, statuses

    def test_lockout_on_one_instance_holds_on_the_others(self, instances: list[Server]) -> None:
        for server in instances:  # three failures, one on each instance
            with server.client() as client:
                wrong = client.post("/api/v1/auth/token", data={"username": "deu_fp", "password": "nope"})
                assert wrong.status_code == 400
        for server in instances:
            with server.client() as client:
                right = client.post("/api/v1/auth/token",
                                    data={"username": "deu_fp", "password": "correct horse battery staple"})
                assert right.status_code == 429, right.text
                assert int(right.headers["retry-after"]) >= 1


    def test_rate_events_skip_the_wal_and_lockout_stays_durable(self, site: Site,
                                                                 instances: list[Server]) -> None:
        """Rate-limit hits are counters for the next minute: their table is unlogged, so the commit of
        each hit does not wait for the disk (migration 0016). Login lockout guards passwords and stays
        in a logged table."""
        with instances[0].client() as client:  # one rate-limited request, refused or not
            client.post("/api/v1/auth/token", data={"username": "nobody", "password": "nope"})
        engine = create_engine(site.env["ARX_DATABASE_URL"])
        try:
            with engine.connect() as connection:
                persistence = dict(connection.execute(text(
                    "SELECT relname, relpersistence FROM pg_class"
                    " WHERE relname IN ('rate_event', 'login_throttle')")).tuples().all())
                assert connection.execute(text("SELECT count(*) FROM rate_event")).scalar_one() > 0
        finally:
            engine.dispose()
        assert persistence == {"rate_event": "u", "login_throttle": "p"}


class TestSharedAudit:
    def test_load_on_three_instances_is_sealed_once_and_verifies(self, site: Site, instances: list[Server],
                                                                tmp_path: Path) -> None:
        tokens = {server.port: server.token("fra_fp") for server in instances}

        def post(server: Server) -> int:
            with server.client(headers={"Authorization": f"Bearer {tokens[server.port]}"}) as client:
                return client.post("/api/v1/notices", json=notice_document(recipients=["ICC"])).status_code

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(post, itertools.islice(round_robin(instances), 30)))
        assert statuses == [201] * 30
        engine = create_engine(site.env["ARX_DATABASE_URL"])
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    unsealed = conn.execute(text(
                        "SELECT count(*) FROM audit_entry e LEFT JOIN audit_leaf l ON l.entry_id = e.id "
                        "WHERE l.entry_id IS NULL")).scalar_one()
                if unsealed == 0:
                    break
                time.sleep(0.3)
            assert unsealed == 0
            with engine.connect() as conn:
                sizes = conn.execute(text("SELECT tree_size FROM audit_checkpoint "
                                          "ORDER BY created_at, tree_size")).scalars().all()
                leaves = conn.execute(text("SELECT count(*), count(DISTINCT entry_id), max(tree_index) + 1 "
                                           "FROM audit_leaf")).one()
        finally:
            engine.dispose()
        # Every entry sealed exactly once, at consecutive positions; checkpoints strictly increasing.
        assert leaves[0] == leaves[1] == leaves[2]
        assert sizes == sorted(set(sizes))
        assert site.arx("audit", "verify", check=False).returncode == 0
