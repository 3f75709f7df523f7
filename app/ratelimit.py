"""Small in-process sliding-window rate limiters keyed by user or client address (per process, purpose)."""

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from app.errors import TooManyRequests


class SlidingWindowLimiter:
    """At most ``rate`` events per key in any ``window`` seconds; refusals say when to retry."""

    def __init__(self, rate: int, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.window = window
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> None:
        """Count one event for key, or raise TooManyRequests (refused events are not counted)."""
        now = self.clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.rate:
                retry = math.ceil(events[0] + self.window - now)
                raise TooManyRequests("Too many requests: slow down and retry later.", retry)
            events.append(now)
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        # Bound memory by the number of recently active keys, not by every key ever seen.
        if len(self._events) > 1024:
            for key in [k for k, v in self._events.items() if not v or v[-1] <= now - self.window]:
                del self._events[key]


_registry_lock = threading.Lock()


def limiter_for(owner: object, name: str, rate: int) -> SlidingWindowLimiter:
    """The limiter called name kept on owner (an app's state), created on first use."""
    attribute = f"rate_limiter_{name}"
    with _registry_lock:
        limiter = getattr(owner, attribute, None)
        if limiter is None:
            limiter = SlidingWindowLimiter(rate)
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
    from app.api import CurrentPrincipal

    def limit(request: Request, principal: CurrentPrincipal) -> None:
        rate = getattr(request.app.state.runtime.settings, setting)
        limiter_for(request.app.state, f"{purpose}_user", rate).hit(principal.username)

    return limit
