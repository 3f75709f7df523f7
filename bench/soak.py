"""Soak: minutes of moderate mixed load on real `arx serve` instances over one database.

For each instance count asked (default: one, then three on one PostgreSQL), the same mixed load as
bench/load.py (post, read, list, search) for --duration seconds: the servers' resident memory sampled
every --every seconds (every process of every instance: supervisor and workers), and latency and errors
minute by minute. Memory should stay flat once warm and p99 stable; any error is a failure.

    python -m bench.soak [--duration 300] [--clients 4] [--instances 1,3] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

from bench.common import percentiles, print_table
from bench.load import MIX, Load, Served, seed_notices, served

OPS = tuple(op for op, _ in MIX)


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def instance_rss(cluster: Served) -> list[float]:
    """Per instance: the RSS of its supervisor and workers together, MiB."""
    totals = []
    for server in cluster.servers:
        try:
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        except OSError:
            children = []
        totals.append(rss_mb(server.pid) + sum(rss_mb(int(c)) for c in children))
    return totals


def soak(backend: str, instances: int, workers: int, clients: int, duration: float, every: float,
         seed: int) -> bool:
    with served(backend, instances, workers) as cluster:
        load = Load(cluster.bases, cluster.context, cluster.users, seed=1)
        seed_notices(load, seed)
        samples: list[tuple[float, list[float], tuple[float, float, float]]] = []
        stop = threading.Event()

        def sample() -> None:
            started = time.monotonic()
            while True:
                samples.append((time.monotonic() - started, instance_rss(cluster), os.getloadavg()))
                if stop.wait(every):
                    return

        sampler = threading.Thread(target=sample, daemon=True)
        started = time.monotonic() + 3.0  # Load.run's warm-up below
        sampler_timer = threading.Timer(3.0, sampler.start)
        sampler_timer.start()
        elapsed = load.run(clients, 3.0, duration, MIX)
        stop.set()
        sampler.join(timeout=10)
        samples.append((elapsed, instance_rss(cluster), os.getloadavg()))

    title = (f"{backend}, {instances} x arx serve --workers {workers}, {clients} clients, "
             f"{elapsed:.0f} s of mixed load")
    rss_rows: list[list[object]] = [
        [f"{t:.0f}", *(f"{r:.0f}" for r in rss), f"{sum(rss):.0f}", f"{load1:.2f}"]
        for t, rss, (load1, _, _) in samples]
    print_table(f"Server resident memory (MiB) every {every:.0f} s — {title}",
                ["t (s)", *(f"instance {i + 1}" for i in range(instances)), "total", "load avg 1m"],
                rss_rows)
    minute_rows = []
    errors = 0
    for minute in range(int(elapsed // 60) + (1 if elapsed % 60 >= 1 else 0)):
        window = [(ms, failed, op) for end, ms, failed, op in load.timeline
                  if minute * 60 <= end - started < (minute + 1) * 60]
        if len(window) < 2:
            continue
        failed = sum(f for _, f, _ in window)
        errors += failed
        p = percentiles([ms for ms, _, _ in window])
        span = min(60.0, elapsed - minute * 60)
        # Which operation slows down, if the whole does: each one's median this minute.
        medians = [statistics.median([ms for ms, _, o in window if o == op] or [0.0]) for op in OPS]
        minute_rows.append([minute + 1, len(window), f"{len(window) / span:.0f}", f"{p['p50']:.1f}",
                            f"{p['p95']:.1f}", f"{p['p99']:.1f}", failed, *(f"{m:.1f}" for m in medians)])
    print_table(f"Minute by minute — {title}",
                ["minute", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors",
                 *(f"{op} p50" for op in OPS)], minute_rows)
    warm, last = sum(samples[1][1]) if len(samples) > 2 else sum(samples[0][1]), sum(samples[-1][1])
    growth = (last - warm) / warm if warm else 0.0
    total_errors = sum(load.errors.values())
    print(f"errors {total_errors}; RSS from the first warm sample to the end: {warm:.0f} -> {last:.0f} MiB "
          f"({growth:+.1%})")
    return total_errors == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of load per soak")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop clients (moderate load)")
    parser.add_argument("--instances", default="1,3", help="instance counts to soak, one after another")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between memory samples")
    parser.add_argument("--seed", type=int, default=100, help="notices posted before each soak")
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    args = parser.parse_args()
    ok = True
    for count in (int(n) for n in args.instances.split(",")):
        ok = soak(args.backend, count, args.workers, args.clients, args.duration, args.every,
                  args.seed) and ok
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
