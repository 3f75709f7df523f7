"""Rate limits keyed by user or client address: sliding windows shared by every instance on PostgreSQL.

On PostgreSQL the events live in the database (``rate_event``) and one call of ``arx_rate_hit`` counts and
records a hit atomically under a per-key advisory lock, so N instances behind a load balancer allow N in
total, not N times the limit (docs/adr: shared state lives in PostgreSQL, never in a process). SQLite is
the single-node default and keeps the same sliding window in process memory.
"""

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from fastapi import Request
from sqlalchemy import Engine, Float, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.api import CurrentPrincipal
from app.db import Base, BigId
from app.errors import TooManyRequests

WINDOW_SECONDS = 60.0


class RateEvent(Base):
    """One accepted event of a rate-limited purpose (PostgreSQL only; pruned as it leaves its window)."""

    __tablename__ = "rate_event"
    __table_args__ = (Index("ix_rate_event_bucket_at", "bucket", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(String(200))
    at: Mapped[float] = mapped_column(Float)  # seconds since the epoch, by the database's clock


class Limiter(Protocol):
    def hit(self, key: str) -> None:
        """Count one event for key, or raise TooManyRequests (refused events are not counted)."""


def _refuse(retry_after: float) -> TooManyRequests:
    return TooManyRequests("Too many requests: slow down and retry later.", math.ceil(retry_after))


class SlidingWindowLimiter:
    """At most ``rate`` events per key in any ``window`` seconds, in this process's memory."""

    def __init__(self, rate: int, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.rate:
                raise _refuse(events[0] + self.window - now)
            events.append(now)
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # Bound memory by the number of recently active keys, not by every key ever seen.
        if len(self._events) > 1024:
            for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                del self._events[key]


class DatabaseLimiter:
    """The same sliding window kept in PostgreSQL: one round trip per hit, exact across instances."""

    def __init__(self, engine: Engine, name: str, rate: int, window: float = WINDOW_SECONDS) -> None:
        # One statement in autocommit: its own transaction (a refused or failed request must not roll the
        # count back, and the per-key lock is held for that statement only) in one round trip, not three.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.name = name
        self.rate = rate
        self.window = window

    def hit(self, key: str) -> None:
        with self.engine.connect() as conn:
            wait = conn.execute(text("SELECT arx_rate_hit(:bucket, :rate, :window)"),
                                {"bucket": f"{self.name}:{key}"[:200], "rate": self.rate,
                                 "window": self.window}).scalar_one()
        if wait > 0:
            raise _refuse(wait)


_registry_lock = threading.Lock()


def limiter_for(owner: object, name: str, rate: int) -> Limiter:
    """The limiter called name kept on owner (an app's state), created on first use.

    Shared through the database when owner carries a PostgreSQL engine (``rate_limit_engine``, set by
    create_app), else in process memory."""
    attribute = f"rate_limiter_{name}"
    with _registry_lock:
        limiter: Limiter | None = getattr(owner, attribute, None)
        if limiter is None:
            engine = getattr(owner, "rate_limit_engine", None)
            limiter = (DatabaseLimiter(engine, name, rate) if engine is not None
                       else SlidingWindowLimiter(rate))
            setattr(owner, attribute, limiter)
        return limiter


def client_address(request: Request) -> str:
    """The peer address (behind `arx serve --insecure-http`, uvicorn takes it from the trusted proxy)."""
    return request.client.host if request.client else "unknown"


def per_ip(purpose: str, setting: str) -> Callable[[Request], None]:
    """A route dependency: at most settings.<setting> requests a minute from one client address."""

    def limit(request: Request) -> None:
        rate = getattr(request.app.state.runtime.settings, setting)
        limiter_for(request.app.state, f"{purpose}_ip", rate).hit(client_address(request))

    return limit


def per_user(purpose: str, setting: str) -> Callable[..., None]:
    """A route dependency: at most settings.<setting> requests a minute by one user."""

    def limit(request: Request, principal: CurrentPrincipal) -> None:
        rate = getattr(request.app.state.runtime.settings, setting)
        limiter_for(request.app.state, f"{purpose}_user", rate).hit(principal.username)

    return limit
