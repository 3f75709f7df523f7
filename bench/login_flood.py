"""Other writers' latency while logins for unknown usernames flood the service (issue 11, item 9).

Every ARX request writes (its audit entry), so "another request" is modelled as one small write unit of
work (an audit entry) timed in a loop; the flood is N threads calling the login use case for fresh
unknown usernames (one argon2id check each). Before the fix the hash ran inside the login's
transaction, i.e. under SQLite's write lock, so each writer queued behind whole hashes; now the hash
runs with no transaction open. Baseline: the same writer with no flood, in the same run.

    python -m bench.login_flood [--seconds 5] [--threads 4] [--backend sqlite --backend postgresql]
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid

from app.audit.record import Action, record
from app.auth import service
from app.auth.principal import Principal, Role
from app.errors import AppError
from app.runtime import Runtime
from bench.common import bench_runtime, percentiles, print_table

WRITER = Principal(username="bench", party="FRA", role=Role.FOCAL_POINT, request_id="bench")


def writer_latencies(runtime: Runtime, seconds: float) -> list[float]:
    samples, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        with runtime.db.unit_of_work() as session:
            record(session, WRITER, Action.NOTICE_READ)
        samples.append((time.perf_counter() - started) * 1000)
        time.sleep(0.005)  # a request every few milliseconds, not a tight loop
    return samples


def flood(runtime: Runtime, stop: threading.Event, counter: list[int]) -> None:
    while not stop.is_set():
        try:
            service.login(runtime, username=f"nobody-{uuid.uuid4().hex[:12]}", password="guess",
                          otp=None, request_id="flood")
        except AppError:
            counter.append(1)


def run(backend: str, seconds: float, threads: int) -> list[object]:
    with bench_runtime(backend) as runtime:
        runtime.settings.login_max_failures = 10**6
        baseline = writer_latencies(runtime, seconds)
        stop, counter = threading.Event(), list[int]()
        workers = [threading.Thread(target=flood, args=(runtime, stop, counter)) for _ in range(threads)]
        for w in workers:
            w.start()
        try:
            flooded = writer_latencies(runtime, seconds)
        finally:
            stop.set()
            for w in workers:
                w.join()
        base, under = percentiles(baseline), percentiles(flooded)
        return [backend, threads, f"{base['p50']:.1f}", f"{under['p50']:.1f}",
                f"{under['p50'] / base['p50']:.1f}x", f"{base['p95']:.1f}", f"{under['p95']:.1f}",
                f"{len(counter) / seconds:.0f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    rows = [run(b, args.seconds, args.threads) for b in args.backend or ["sqlite"]]
    print_table("Another writer's latency (ms) during a flood of unknown-username logins",
                ["db", "flood threads", "p50 alone", "p50 flooded", "ratio", "p95 alone",
                 "p95 flooded", "logins/s"], rows)


if __name__ == "__main__":
    main()
