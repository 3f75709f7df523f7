"""Two writes at the same moment, as two workers or instances serve them: the first held open in a unit
of work while the second runs in a thread. Without the lock that serialises them, the second is done
(or failed) before the first commits."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.auth.principal import Principal, Role
from app.runtime import Runtime
from app.users.models import User


def second_while_first_open(runtime: Runtime, first: Callable[[Session], object],
                            second: Callable[[Session], object], *, hold: float = 1.5) -> bool:
    """Run second while first is open (for at most hold seconds); whether second was done before first
    committed. Fails the test if second failed (a primary key met, a deadlock) or did not end once
    first committed."""
    failures: list[BaseException] = []

    def run_second() -> None:
        try:
            with runtime.db.unit_of_work() as session:
                second(session)
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=run_second)
    with runtime.db.unit_of_work() as session:
        first(session)
        thread.start()
        thread.join(timeout=hold)  # without a lock, the second write is done by now
        done_meanwhile = not thread.is_alive()
    thread.join(timeout=30)
    assert not thread.is_alive() and not failures, failures
    return done_meanwhile


def principal_of(runtime: Runtime, username: str) -> Principal:
    """The principal a token of username's carries, for calling a use case directly."""
    with runtime.db.reading() as session:
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        return Principal(username=username, party=user.party_code, role=Role(user.role),
                         user_id=user.id, request_id=f"test-{username}")
