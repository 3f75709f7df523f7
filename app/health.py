"""Readiness (`/health/ready`): can this instance serve requests now? Database, disk and keyring."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from sqlalchemy import text

from app.crypto.keyring import KeyringError
from app.db import is_sqlite
from app.resilience import classify
from app.runtime import Runtime

CHECK_SECONDS = 2.0
_stuck: dict[int, threading.Thread] = {}


def _probe(runtime: Runtime, result: list[str]) -> None:
    try:
        with runtime.db.reading() as session:
            session.execute(text("SELECT 1"))
        result.append("ok")
    except Exception as exc:
        problem = classify(exc)
        result.append("full" if problem is not None and problem.status == 507 else "unreachable")


def _database(runtime: Runtime) -> str:
    """SELECT 1 within CHECK_SECONDS; a frozen server leaves one probe thread waiting, not one each."""
    previous = _stuck.get(id(runtime.db))
    if previous is not None and previous.is_alive():
        return "unreachable"
    result: list[str] = []
    probe = threading.Thread(target=_probe, args=(runtime, result), daemon=True,
                             name="arx-ready-probe")
    probe.start()
    probe.join(CHECK_SECONDS)
    if probe.is_alive():
        _stuck[id(runtime.db)] = probe
        return "unreachable"
    return result[0] if result else "unreachable"


def _free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _disk(runtime: Runtime) -> str:
    paths = [runtime.settings.keys_dir]
    url = runtime.settings.database_url
    if is_sqlite(url) and url.split("///", 1)[-1] not in ("", ":memory:"):
        paths.append(Path(url.split("///", 1)[-1]).parent)
    try:
        low = any(_free_bytes(p) < runtime.settings.ready_min_free_bytes for p in paths)
    except OSError:
        return "unreadable"
    return "full" if low else "ok"


def _keyring(runtime: Runtime) -> str:
    try:
        runtime.keys.current()
    except KeyringError:
        return "unreadable"
    return runtime.keys.health


def readiness(runtime: Runtime) -> dict[str, str]:
    """Each component's state: "ok", or what is wrong ("unreachable", "full", "unreadable", ...)."""
    return {"database": _database(runtime), "disk": _disk(runtime), "keyring": _keyring(runtime)}
