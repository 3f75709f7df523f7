"""Helpers for fault-injection tests: small filesystems, a PostgreSQL cluster of the test's own, and a
bounded load that counts answers by status before, during and after a fault."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.factories import notice_document

REPORT_DIR = Path(os.environ.get("ARX_FAULT_REPORT_DIR", tempfile.gettempdir())) / "arx-fault-report"


# -- small filesystems ------------------------------------------------------------------------------
@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at path (skips the test where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()[:80]})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill directory's filesystem with one file until at most `leave` bytes stay free."""
    filler = directory / f"filler-{uuid.uuid4().hex[:8]}"
    with filler.open("wb") as out:
        chunk = b"\0" * 65536
        while True:
            st = os.statvfs(directory)
            free = st.f_bavail * st.f_frsize
            if free <= leave:
                break
            try:
                out.write(chunk[: max(1, min(len(chunk), free - leave))])
                out.flush()
            except OSError:
                break
    return filler


def free_bytes(directory: Path) -> int:
    st = os.statvfs(directory)
    return st.f_bavail * st.f_frsize


# -- a PostgreSQL cluster the test owns -------------------------------------------------------------
def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
    return str(found[-1])


class PgCluster:
    """initdb + pg_ctl on a spare port, as the postgres user when run as root; stopped, frozen, resumed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.root = Path(tempfile.mkdtemp(prefix="arx-pg-"))
        self.data = self.root / "data"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        done = subprocess.run([*self.as_user, *args], check=False, capture_output=True, text=True,
                              timeout=timeout)
        if done.returncode != 0:
            raise AssertionError(f"{args[0]} failed: {done.stderr[-800:]}")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/arx"

    def init(self) -> PgCluster:
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        self.start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "arx")
        return self

    def start(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-o",
                  f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off",
                  "start")

    def stop_immediate(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def pids(self) -> list[int]:
        head = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == head:
                children.append(int(stat.parent.name))
        return [head, *children]

    def signal_all(self, sig: signal.Signals) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.signal_all(signal.SIGCONT)
        with contextlib.suppress(Exception):
            self.stop_immediate()
        shutil.rmtree(self.root, ignore_errors=True)


# -- load that counts answers by phase ----------------------------------------------------------------
@dataclass
class Load:
    """Posts notices (and reads one back) from threads at a bounded pace; counts statuses by phase."""

    make_client: Callable[[], httpx.Client]
    headers: dict[str, str]
    phase: str = "before"
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    acknowledged: list[str] = field(default_factory=list)
    slowest: dict[str, float] = field(default_factory=dict)
    retry_after_seen: bool = False
    problems_ok: bool = True
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _note(self, status: str, seconds: float) -> None:
        with self._lock:
            self.counts.setdefault(self.phase, Counter())[status] += 1
            self.slowest[self.phase] = max(self.slowest.get(self.phase, 0.0), seconds)

    def _work(self, worker: int, limit: int) -> None:
        with self.make_client() as client:
            for i in range(limit):
                if self._stop.is_set():
                    return
                started = time.monotonic()
                try:
                    response = client.post("/api/v1/notices", headers=self.headers,
                                           json=notice_document(title=f"load {worker}-{i}"))
                except httpx.HTTPError as exc:
                    self._note(type(exc).__name__, time.monotonic() - started)
                    time.sleep(0.05)
                    continue
                self._note(str(response.status_code), time.monotonic() - started)
                if response.status_code == 201:
                    with self._lock:
                        self.acknowledged.append(response.json()["id"])
                elif response.status_code >= 400:
                    if not response.headers.get("content-type", "").startswith("application/problem+json"):
                        self.problems_ok = False
                    if response.status_code in (503, 507) and response.headers.get("retry-after"):
                        self.retry_after_seen = True
                time.sleep(0.05)

    def start(self, workers: int = 3, limit: int = 400) -> Load:
        for w in range(workers):
            thread = threading.Thread(target=self._work, args=(w, limit), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def table(self) -> dict[str, dict[str, int]]:
        return {phase: dict(sorted(c.items())) for phase, c in self.counts.items()}


def report(name: str, load: Load, **extra: Any) -> None:
    """Print the counts and keep them in REPORT_DIR (for the closing note)."""
    doc = {"scenario": name, "counts": load.table(),
           "slowest_seconds": {k: round(v, 2) for k, v in load.slowest.items()},
           "acknowledged": len(load.acknowledged), **extra}
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{name}.json").write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               load: Load | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}"
                                 + (f": {load.table()}" if load is not None else ""))
        time.sleep(0.1)
