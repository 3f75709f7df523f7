"""The `arx` command line: parses, opens a unit of work, calls the same services as the API."""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from app.audit.cli import audit_app
from app.auth.principal import Principal, Role
from app.config import Settings, get_settings
from app.crypto.cli import keys_app
from app.crypto.keyring import KeyringError
from app.errors import AppError
from app.runtime import Runtime

app = typer.Typer(help="ARX — Asset Recovery eXchange administration.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
party_app = typer.Typer(help="Parties: States, the Court, organisations.", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
paragraphs_app = typer.Typer(help="The Paris Declaration vocabulary.", no_args_is_help=True)
app.add_typer(party_app, name="party")
app.add_typer(user_app, name="user")
app.add_typer(paragraphs_app, name="paragraphs")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")

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


@contextmanager
def runtime_for(settings: Settings | None = None) -> Iterator[Runtime]:
    runtime = Runtime.build(settings or get_settings())
    try:
        yield runtime
    except (AppError, KeyringError) as exc:
        fail(str(getattr(exc, "detail", exc)))
    finally:
        runtime.close()


def run_in_unit_of_work(use_case: Callable[[Any, Runtime], T]) -> T:
    """Call use_case(session, runtime) in one transaction; one-line error and non-zero exit on failure."""
    with runtime_for() as runtime:
        runtime.keys.current()  # fail fast on a missing, sealed-without-passphrase or damaged keyring
        with runtime.db.unit_of_work() as session:
            return use_case(session, runtime)


@app.command()
def init(as_json: JsonOpt = False) -> None:
    """Migrate the database, create keyring and TLS certificate if absent, create party ICC. Idempotent."""
    from app.crypto.tls import create_self_signed
    from app.db import migrate
    from app.parties.service import ensure_court
    from app.reference.service import ensure_shipped_paragraphs

    settings = get_settings()
    with runtime_for(settings) as runtime:
        created_keyring = runtime.keys.create_if_absent()
        runtime.keys.check_permissions()
        created_cert = create_self_signed(runtime.keys.keys_dir)
        migrate(settings.database_url)
        actor = operator()
        with runtime.db.unit_of_work() as session:
            created_court = ensure_court(session, actor)
            loaded = ensure_shipped_paragraphs(session, actor)
    emit(as_json, {"keyring_created": created_keyring, "certificate_created": created_cert,
                   "court_created": created_court, "paragraphs_loaded": loaded,
                   "keys_dir": str(settings.keys_dir.resolve())},
         f"ARX initialised (keys in {settings.keys_dir.resolve()}, database migrated to head).")


@app.command()
def serve(host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.")] = 8443,
          tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate chain.")] = None,
          tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
          client_ca: Annotated[Path | None, typer.Option("--client-ca",
                                                         help="Require client certificates from this CA.")] = None,
          insecure_http: Annotated[bool, typer.Option("--insecure-http",
                                                      help="Plain HTTP, only behind a TLS proxy.")] = False,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1) -> None:
    """Serve the API over HTTPS (default https://127.0.0.1:8443)."""
    from app.crypto.tls import CERT_FILE, KEY_FILE
    from app.main import create_app
    from app.serving import ArxConfig, run

    settings = get_settings()
    runtime = Runtime.build(settings)
    try:
        runtime.keys.check_permissions()
        runtime.keys.current()
    except (KeyringError, FileNotFoundError) as exc:
        fail(f"{exc} (run `arx init` first)" if isinstance(exc, FileNotFoundError) else str(exc))
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    ssl_args: dict[str, Any] = {}
    if not insecure_http:
        cert = tls_cert or settings.keys_dir / CERT_FILE
        key = tls_key or settings.keys_dir / KEY_FILE
        if not cert.exists() or not key.exists():
            fail(f"no TLS certificate at {cert} (run `arx init`, or pass --tls-cert/--tls-key)")
        ssl_args = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    elif client_ca is not None:
        fail("--client-ca needs TLS; drop --insecure-http")
    if workers > 1:
        # Each worker builds its own app and runtime from the same ARX_* environment.
        runtime.close()
    config = ArxConfig("app.main:create_app" if workers > 1 else create_app(runtime=runtime),
                       factory=workers > 1, workers=workers, client_ca=client_ca, host=host, port=port,
                       proxy_headers=insecure_http, server_header=False, date_header=True, log_level="info",
                       access_log=False, log_config=None, timeout_keep_alive=15, **ssl_args)
    scheme = "http" if insecure_http else "https"
    err.print(f"arx: serving {scheme}://{host}:{port}" + (f" with {workers} workers" if workers > 1 else ""))
    run(config)


@party_app.command("add")
def party_add(code: str, name: Annotated[str, typer.Option(help="Display name.")],
              kind: Annotated[str, typer.Option(help="state | court | organization")],
              as_json: JsonOpt = False) -> None:
    """Register a party."""
    from app.parties.service import add_party

    party = run_in_unit_of_work(lambda s, rt: add_party(s, operator(), code=code, name=name, kind=kind))
    emit(as_json, {"code": party.code, "name": party.name, "kind": party.kind},
         f"party {party.code} registered")


@user_app.command("add")
def user_add(username: str, party: Annotated[str, typer.Option(help="Party code.")],
             role: Annotated[str, typer.Option(help="focal_point | court_investigator | auditor | admin")],
             password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                          help="Read the password from stdin.")] = False,
             totp: Annotated[bool, typer.Option("--totp", help="Enrol TOTP; prints the secret.")] = False,
             email: Annotated[str | None, typer.Option(
                 help="Address for notification e-mails (stored encrypted).")] = None,
             as_json: JsonOpt = False) -> None:
    """Create a user (password from stdin, or prompted)."""
    from app.users.service import add_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user, secret = run_in_unit_of_work(lambda s, rt: add_user(s, operator(), rt.envelope, username=username,
                                                              party=party, role=role, password=password,
                                                              totp=totp, email=email))
    doc: dict[str, Any] = {"username": user.username, "party": user.party_code, "role": user.role}
    if secret:
        doc["totp_secret"] = secret
    emit(as_json, doc, f"user {user.username} created" + (f"\nTOTP secret: {secret}" if secret else ""))


@user_app.command("disable")
def user_disable(username: str, as_json: JsonOpt = False) -> None:
    """Disable a user; its tokens stop working at once."""
    from app.users.service import disable_user

    user = run_in_unit_of_work(lambda s, rt: disable_user(s, operator(), username))
    emit(as_json, {"username": user.username, "disabled": True}, f"user {user.username} disabled")


@paragraphs_app.command("load")
def paragraphs_load(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
                    as_json: JsonOpt = False) -> None:
    """Load the Paris Declaration vocabulary from a JSON file (see app/reference/paris_paragraphs.json)."""
    from app.reference.service import load_paragraph_file

    count = run_in_unit_of_work(lambda s, rt: load_paragraph_file(s, operator(), file))
    emit(as_json, {"loaded": count}, f"{count} paragraphs loaded")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
