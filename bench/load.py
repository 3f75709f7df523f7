"""Mixed load against a real `arx serve` (HTTPS) on PostgreSQL: posting, reading, listing, searching.

Several focal points of several States and a Court investigator, each a closed-loop client thread with
its own keep-alive connection, for --duration seconds after a short warm-up. Reports throughput,
p50/p95/p99 and errors per operation, and the server's CPU use. Baseline in the same run: GET /health
under the same concurrency (TLS + HTTP + middleware, no database, no crypto), and the authenticated
floor GET /api/v1/me (the same plus the token's signature checked and its account looked up: what every
API request pays before its own work).

Rate limits are raised for the run: this measures capacity, not the limiter (tests cover that).
The load generator shares the machine with the server; the figures are end-to-end as a client sees them.

    python -m bench.load [--duration 60] [--clients 8] [--seed 300] [--backend postgresql|sqlite]
                         [--workers 2] [--instances 1] [--profile DIR] [--birth-dates 1]

--instances N starts N `arx serve` processes on the one database (as behind a load balancer) and spreads
the clients over them round-robin. --profile DIR records every server process with py-spy during the
mixed phase (collapsed stacks in DIR, summarised by `python -m bench.flame DIR/*.txt`).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx

from app.auth.principal import Principal, Role
from app.config import Settings
from app.parties.service import add_party
from app.runtime import Runtime
from app.users.service import add_user
from bench.common import percentiles, print_table, throwaway_database

ADMIN = Principal(username="bench", party="-", role=Role.ADMIN, request_id="bench")
PASSWORD = "benchmark password 123"
ARX = str(Path(sys.executable).with_name("arx"))
STATES = ("FRA", "NLD", "DEU", "ITA", "ESP", "BEL")
SURNAMES = ("Exemple", "Mustermann", "Rossi", "Jansen", "Garcia", "Peeters", "Novak", "Dupont")
MIX = (("post", 20), ("read", 40), ("list", 20), ("search", 20))


def document(rng: random.Random, state: str, birth_dates: int = 1) -> dict[str, object]:
    """A notice of one suspect, born on 4 November 1962 or (birth_dates > 1) on one of that many days
    from then: suspects sharing a birth date may match, so their posts wait for each other's matching."""
    surname = rng.choice(SURNAMES)
    born = date(1962, 11, 4) + timedelta(days=rng.randrange(birth_dates) if birth_dates > 1 else 0)
    others = [s for s in STATES if s != state]
    return {
        "kind": rng.choice(["frozen_asset", "financial_investigation"]),
        "title": f"Accounts frozen under order 2026/{rng.randrange(10**6)}",
        "recipients": ["ICC", *rng.sample(others, 2)], "tlp": "AMBER", "paris_paragraphs": ["13"],
        "reference": f"case {rng.randrange(10**6)}",
        "subjects": [{"name": f"Jean {surname}{rng.randrange(500)}", "birth_date": born.isoformat(),
                      "nationality": "COD", "identifiers": [{"scheme": "passport",
                                                             "value": f"OB{rng.randrange(10**7):07d}"}]}],
        "assets": [{"type": "bank_account", "description": "Current account", "jurisdiction": "CHE",
                    "value": {"amount": "1250000.00", "currency": "EUR"}, "status": "frozen",
                    "status_date": "2026-10-02"}],
        "narrative": "Funds moved through two shell companies before the freeze. " * 4,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU time of the server process and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0
    for each in [str(pid), *children]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class Load:
    def __init__(self, bases: list[str], context: ssl.SSLContext, users: list[tuple[str, str]],
                 seed: int, birth_dates: int = 1) -> None:
        self.bases, self.context, self.users, self.seed = bases, context, users, seed
        self.birth_dates = birth_dates
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.timeline: list[tuple[float, float, bool, str]] = []  # (monotonic end, ms, failed, op) recording
        self.errors: dict[str, int] = defaultdict(int)
        self.known: dict[str, list[str]] = defaultdict(list)  # party -> ids of notices it may read
        self.lock = threading.Lock()
        self.recording = threading.Event()
        self.stopping = threading.Event()

    def remember(self, notice_id: str, author: str, doc: dict[str, object]) -> None:
        with self.lock:
            for party in {author, *doc["recipients"]}:  # type: ignore[misc]
                self.known[party].append(notice_id)

    def client(self, index: int = 0) -> httpx.Client:
        """A keep-alive client of instance index modulo the number of instances (round-robin)."""
        return httpx.Client(base_url=self.bases[index % len(self.bases)], verify=self.context, timeout=30)

    def token(self, client: httpx.Client, username: str) -> dict[str, str]:
        response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
        response.raise_for_status()
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def _call(self, op: str, client: httpx.Client, method: str, url: str,
              **kw: object) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = client.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            response = None
        elapsed = (time.perf_counter() - started) * 1000
        if self.recording.is_set():
            failed = response is None or response.status_code >= 400
            with self.lock:
                self.samples[op].append(elapsed)
                self.timeline.append((time.monotonic(), elapsed, failed, op))
                if failed:
                    self.errors[op] += 1
        return response

    def worker(self, index: int, mix: tuple[tuple[str, int], ...]) -> None:
        rng = random.Random(self.seed + index)
        username, state = self.users[index % len(self.users)]
        ops = [op for op, weight in mix for _ in range(weight)]
        with self.client(index) as client:
            headers = self.token(client, username)
            while not self.stopping.is_set():
                op = rng.choice(ops)
                if op == "health":
                    self._call(op, client, "GET", "/health")
                elif op == "me":
                    self._call(op, client, "GET", "/api/v1/me", headers=headers)
                elif op == "post":
                    doc = document(rng, state, self.birth_dates)
                    response = self._call(op, client, "POST", "/api/v1/notices", headers=headers, json=doc)
                    if response is not None and response.status_code == 201:
                        self.remember(response.json()["id"], state, doc)
                elif op == "read":
                    notice = rng.choice(self.known[state])
                    self._call(op, client, "GET", f"/api/v1/notices/{notice}", headers=headers)
                elif op == "list":
                    self._call(op, client, "GET", "/api/v1/notices", headers=headers, params={"limit": 20})
                else:
                    name = f"Jean {rng.choice(SURNAMES)}{rng.randrange(500)}"
                    self._call(op, client, "POST", "/api/v1/search/subjects", headers=headers,
                               json={"name": name, "limit": 10})

    def run(self, clients: int, warmup: float, duration: float,
            mix: tuple[tuple[str, int], ...]) -> float:
        self.samples.clear()
        self.timeline.clear()
        self.errors.clear()
        self.recording.clear()
        self.stopping.clear()
        threads = [threading.Thread(target=self.worker, args=(i, mix), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        time.sleep(warmup)
        self.recording.set()
        started = time.perf_counter()
        time.sleep(duration)
        self.recording.clear()
        elapsed = time.perf_counter() - started
        self.stopping.set()
        for thread in threads:
            thread.join(timeout=60)
        return elapsed


@dataclass
class Served:
    """N running `arx serve` instances on one seeded database."""

    bases: list[str]
    servers: list[subprocess.Popen[bytes]]
    context: ssl.SSLContext
    users: list[tuple[str, str]]

    def pids(self) -> list[int]:
        """Every serving process: each instance's supervisor and its worker processes."""
        pids = []
        for server in self.servers:
            pids.append(server.pid)
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        return pids


@contextmanager
def served(backend: str, instances: int, workers: int) -> Iterator[Served]:
    """A throw-away database with six States' focal points and a Court investigator, served by
    `instances` `arx serve` processes of `workers` workers each; rate limits raised (capacity, not the
    limiter, is measured)."""
    with throwaway_database(backend) as url, tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp) / "keys"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
        env.update(ARX_DATABASE_URL=url, ARX_KEYS_DIR=str(keys), ARX_SEARCH_RATE_PER_MINUTE="1000000000",
                   ARX_WRITE_RATE_PER_MINUTE="1000000000", ARX_IP_RATE_PER_MINUTE="1000000000",
                   ARX_TOKEN_IP_RATE_PER_MINUTE="1000000000")
        subprocess.run([ARX, "init"], env=env, check=True, capture_output=True, cwd=tmp)
        runtime = Runtime.build(Settings(database_url=url, keys_dir=keys))
        users: list[tuple[str, str]] = []
        with runtime.db.unit_of_work() as session:
            for state in STATES:
                add_party(session, ADMIN, code=state, name=f"State {state}", kind="state")
        for state in STATES:
            with runtime.db.unit_of_work() as session:
                add_user(session, ADMIN, runtime.envelope, username=f"fp_{state.lower()}", party=state,
                         role="focal_point", password=PASSWORD)
            users.append((f"fp_{state.lower()}", state))
        with runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, runtime.envelope, username="icc_inv", party="ICC",
                     role="court_investigator", password=PASSWORD)
        users.append(("icc_inv", "ICC"))
        runtime.close()

        context = ssl.create_default_context(cafile=str(keys / "tls-cert.pem"))
        servers: list[subprocess.Popen[bytes]] = []
        bases: list[str] = []
        with ExitStack() as stack:
            try:
                for n in range(instances):
                    port = free_port()
                    log = stack.enter_context(open(Path(tmp) / f"serve-{n}.log", "wb"))
                    servers.append(subprocess.Popen(
                        [ARX, "serve", "--port", str(port), "--workers", str(workers)],
                        env=env, stdout=log, stderr=log, cwd=tmp))
                    bases.append(f"https://127.0.0.1:{port}")
                for base, server in zip(bases, servers, strict=True):
                    deadline = time.monotonic() + 180
                    while True:
                        try:
                            if httpx.get(f"{base}/health", verify=context, timeout=2).status_code == 200:
                                break
                        except httpx.HTTPError:
                            if time.monotonic() > deadline or server.poll() is not None:
                                logged = (Path(tmp) / f"serve-{bases.index(base)}.log").read_text()
                                raise SystemExit("arx serve did not start:\n" + logged[-3000:]) from None
                            time.sleep(0.2)
                time.sleep(1)  # every worker of every instance listening
                yield Served(bases, servers, context, users)
            finally:
                for server in servers:
                    server.terminate()
                for server in servers:
                    server.wait(timeout=30)


def seed_notices(load: Load, count: int) -> None:
    """Post count notices (round-robin over the instances and the States) and remember who reads them."""
    rng = random.Random(0)
    authors = load.users[:-1]  # the focal points; the Court investigator reads and searches
    clients = [load.client(i) for i in range(len(load.bases))]
    try:
        tokens = {username: load.token(clients[0], username) for username, _ in authors}
        for i in range(count):
            username, state = authors[i % len(authors)]
            doc = document(rng, state, load.birth_dates)
            response = clients[i % len(clients)].post("/api/v1/notices", json=doc, headers=tokens[username])
            response.raise_for_status()
            load.remember(response.json()["id"], state, doc)
    finally:
        for client in clients:
            client.close()


@contextmanager
def profiling(directory: str | None, pids: list[int], seconds: float) -> Iterator[None]:
    """py-spy (collapsed stacks, idle frames included) on every pid for about seconds, when asked."""
    if directory is None:
        yield
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    spy = str(Path(sys.executable).with_name("py-spy"))
    recorders = [subprocess.Popen([spy, "record", "--pid", str(pid), "--format", "raw", "--idle",
                                   "--rate", "50", "--duration", str(int(seconds)), "--nonblocking",
                                   "-o", str(Path(directory) / f"{pid}.txt")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in pids]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds of mixed load")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=8, help="concurrent closed-loop clients")
    parser.add_argument("--seed", type=int, default=300, help="notices posted before the run")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="arx serve worker processes")
    parser.add_argument("--instances", type=int, default=1, help="arx serve instances on the one database")
    parser.add_argument("--profile", metavar="DIR", help="record the servers with py-spy into DIR")
    parser.add_argument("--birth-dates", type=int, default=1,
                        help="days the posted suspects' birth dates spread over (1: all the same day, as "
                             "issue 21 measured; posts that could match wait for each other)")
    args = parser.parse_args()

    with served(args.backend, args.instances, args.workers) as cluster:
        users = cluster.users
        load = Load(cluster.bases, cluster.context, users, seed=1, birth_dates=args.birth_dates)
        seed_notices(load, args.seed)
        print(f"backend {args.backend}; {args.instances} x arx serve --workers {args.workers}; "
              f"{args.seed} notices seeded; {args.clients} clients, "
              f"{len(users)} users of {len(STATES)} States + ICC; {args.duration:.0f} s measured; "
              f"suspects born on {args.birth_dates} day(s); "
              f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        cpu0 = sum(map(cpu_seconds, (s.pid for s in cluster.servers)))
        base_elapsed = load.run(args.clients, args.warmup, min(10.0, args.duration), (("health", 1),))
        base_cpu = (sum(map(cpu_seconds, (s.pid for s in cluster.servers))) - cpu0) / base_elapsed
        health = (list(load.samples["health"]), load.errors["health"], base_elapsed)
        # The floor under every API request: the token checked and its account looked up (one round
        # trip), nothing else. No mixed request can cost less.
        floor_elapsed = load.run(args.clients, args.warmup, min(10.0, args.duration), (("me", 1),))
        floor = (list(load.samples["me"]), load.errors["me"], floor_elapsed)

        cpu0 = sum(map(cpu_seconds, (s.pid for s in cluster.servers)))
        with profiling(args.profile, cluster.pids(), args.warmup + args.duration):
            elapsed = load.run(args.clients, args.warmup, args.duration, MIX)
        server_cpu = (sum(map(cpu_seconds, (s.pid for s in cluster.servers))) - cpu0) / elapsed

    base_p50 = percentiles(health[0])["p50"]

    def row(label: str, samples: list[float], errors: int, seconds: float) -> list[object]:
        p = percentiles(samples)
        return [label, len(samples), f"{len(samples) / seconds:.0f}", f"{p['p50']:.1f}", f"{p['p95']:.1f}",
                f"{p['p99']:.1f}", errors, f"{p['p50'] / base_p50:.2f}"]

    rows = [row("health (baseline)", *health), row("me (authenticated floor)", *floor)]
    every = [ms for op, _ in MIX for ms in load.samples[op]]
    total_errors = sum(load.errors[op] for op, _ in MIX)
    rows += [row(op, load.samples[op], load.errors[op], elapsed) for op, _ in MIX]
    rows.append(row("all (mixed)", every, total_errors, elapsed))
    p = percentiles(every)
    base_rate, floor_rate = len(health[0]) / health[2], len(floor[0]) / floor[2]
    print_table(f"Mixed load over HTTPS, {args.clients} clients, {elapsed:.0f} s "
                f"(server CPU {server_cpu:.2f} cores; {base_cpu:.2f} cores during the baseline)",
                ["operation", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "p50 / health"],
                rows)
    ok = total_errors == 0 and p["p99"] < 250
    print(f"\ntarget (zero errors, p99 < 250 ms): {'met' if ok else 'NOT met'} "
          f"(errors {total_errors}, p99 {p['p99']:.1f} ms)")
    mixed_rate = len(every) / elapsed
    print(f"mixed / health throughput: {mixed_rate / base_rate:.2f} "
          f"(issue 21 target >= 0.30 with p99 <= 150 ms); authenticated floor / health "
          f"{floor_rate / base_rate:.2f}, mixed / floor {mixed_rate / floor_rate:.2f}; "
          f"load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
