"""Summarise py-spy collapsed stacks (`py-spy record --format raw --idle`, as bench/load.py --profile
writes them) as two tables: where the server's threads spent their samples, and the ARX functions that
took the most (inclusive).

    python -m bench.flame DIR_OR_FILES... [--top 15]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from bench.common import print_table

# Leaves where a thread sleeps for want of work (not a request waiting on something).
IDLE_LEAVES = ("Condition.wait", "_worker (concurrent/futures/thread.py", "select (selectors.py",
               "_PollLikeSelector.select", "Runner.run (asyncio", "Connection._recv (multiprocessing",
               "wait (multiprocessing", "WorkerThread.run (anyio", "main (multiprocessing/resource_tracker",
               "Event.wait")


def category(frames: list[str]) -> str | None:
    """What one sample was doing, or None for an idle thread."""
    leaf = frames[-1]
    stack = ";".join(frames)
    if "seal_pending" in stack or "sequencer" in stack:
        return "audit sequencer (background)"
    if "psycopg" in leaf and ("wait" in leaf.lower() or "_recv" in leaf):
        return "waiting on PostgreSQL"
    if any(leaf.startswith(idle) for idle in IDLE_LEAVES):
        return None
    if "psycopg" in leaf:
        return "psycopg (client side)"
    if "sqlalchemy" in leaf:
        return "SQLAlchemy (compile, ORM)"
    if "cryptography" in leaf or "argon2" in leaf or "hashlib" in leaf or "hmac" in leaf:
        return "cryptography"
    if "pydantic" in leaf or "json" in leaf:
        return "pydantic / JSON"
    if any(m in leaf for m in ("starlette", "fastapi", "uvicorn", "anyio", "ssl", "httptools", "asyncio")):
        return "HTTP stack (uvicorn, Starlette, FastAPI, TLS)"
    if "(app/" in leaf:
        return "ARX code (self)"
    return "other Python"


def summarise(paths: list[Path], top: int) -> None:
    categories: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    busy = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            what = category(frames)
            if what is None:
                continue
            n = int(count)
            busy += n
            categories[what] += n
            if what == "audit sequencer (background)":
                continue
            for name in {f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0] + ")"
                         for f in frames if "(app/" in f}:
                functions[name] += n
    print_table(f"Where the server threads' samples went ({busy} non-idle samples, {len(paths)} processes)",
                ["activity", "samples", "share"],
                [[k, v, f"{v / busy:.0%}"] for k, v in categories.most_common()])
    print_table(f"ARX functions, inclusive (top {top})", ["function", "samples", "share"],
                [[k, v, f"{v / busy:.0%}"] for k, v in functions.most_common(top)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    files = [f for p in args.paths for f in (sorted(p.glob("*.txt")) if p.is_dir() else [p])]
    summarise(files, args.top)


if __name__ == "__main__":
    main()
