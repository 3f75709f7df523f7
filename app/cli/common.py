"""What every `arx` command group shares: the operator principal, one-line failures, output, runtime."""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from app.auth.principal import Principal, Role
from app.config import Settings, get_settings
from app.crypto.keyring import KeyringError
from app.errors import AppError
from app.runtime import Runtime

err = Console(stderr=True, highlight=False)
out = Console(highlight=False)
T = TypeVar("T")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def operator() -> Principal:
    """The CLI caller as its audit entries name it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Principal(username=f"cli:{who}"[:64], party="-", role=Role.ADMIN,
                     request_id=f"cli-{uuid.uuid4().hex}")


def fail(message: str, code: int = 1) -> None:
    err.print(f"arx: error: {message}", soft_wrap=True)
    raise typer.Exit(code)


def emit(as_json: bool, document: dict[str, Any], text: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(document) + "\n")
    else:
        out.print(text)


# An operator's command waits this long at least for SQLite's write lock. Request handlers keep the short
# ARX_DATABASE_BUSY_TIMEOUT_SECONDS and answer 503; a key rotation beside a service under sustained
# posting could lose every race for the lock for five seconds and fail (seen in CI, both suites at once).
CLI_LOCK_WAIT_SECONDS = 60.0


@contextmanager
def runtime_for(settings: Settings | None = None, *, adopt_keys: bool = True) -> Iterator[Runtime]:
    """A runtime whose keyring was checked against the database (one-line error and exit otherwise)."""
    settings = settings or get_settings()
    patient = settings.model_copy(update={"database_busy_timeout_seconds": max(
        settings.database_busy_timeout_seconds, CLI_LOCK_WAIT_SECONDS)})
    try:
        runtime = Runtime.build(patient)
    except KeyringError as exc:
        fail(str(exc))
    try:
        if adopt_keys:
            runtime.adopt_keys()
        yield runtime
    except (AppError, KeyringError) as exc:
        fail(str(getattr(exc, "detail", exc)))
    finally:
        runtime.close()


def run_in_unit_of_work(use_case: Callable[[Any, Runtime], T]) -> T:
    """Call use_case(session, runtime) in one transaction; one-line error and non-zero exit on failure."""
    with runtime_for() as runtime, runtime.db.unit_of_work() as session:
        return use_case(session, runtime)
