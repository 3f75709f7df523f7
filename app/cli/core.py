"""`arx init` and `arx serve`: setting up an installation and serving the API."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli.common import JsonOpt, emit, err, fail, operator, runtime_for
from app.config import get_settings
from app.crypto.keyring import KeyringError
from app.crypto.tls import CERT_FILE, KEY_FILE, create_self_signed
from app.db import migrate
from app.main import create_app
from app.parties.service import ensure_court
from app.reference.service import ensure_shipped_paragraphs
from app.requests.service import ensure_shipped_obstacles
from app.runtime import Runtime
from app.serving import ArxConfig, run


def init(as_json: JsonOpt = False) -> None:
    """Migrate the database, create keyring and TLS certificate if absent, create party ICC. Idempotent."""
    settings = get_settings()
    with runtime_for(settings, adopt_keys=False) as runtime:
        # The keyring is checked against the database once the database has its tables.
        guard, runtime.keys.guard = runtime.keys.guard, None
        created_keyring = runtime.keys.create_if_absent()
        runtime.keys.check_permissions()
        created_cert = create_self_signed(runtime.keys.keys_dir)
        migrate(settings.database_url)
        runtime.keys.guard = guard
        runtime.adopt_keys()
        actor = operator()
        with runtime.db.unit_of_work() as session:
            created_court = ensure_court(session, actor)
            loaded = ensure_shipped_paragraphs(session, actor)
            ensure_shipped_obstacles(session, actor)
    emit(as_json, {"keyring_created": created_keyring, "certificate_created": created_cert,
                   "court_created": created_court, "paragraphs_loaded": loaded,
                   "keys_dir": str(settings.keys_dir.resolve())},
         f"ARX initialised (keys in {settings.keys_dir.resolve()}, database migrated to head).")


def serve(host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port.")] = 8443,
          tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="PEM certificate chain.")] = None,
          tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
          client_ca: Annotated[Path | None, typer.Option(
              "--client-ca", help="Require client certificates from this CA.")] = None,
          insecure_http: Annotated[bool, typer.Option("--insecure-http",
                                                      help="Plain HTTP, only behind a TLS proxy.")] = False,
          workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1) -> None:
    """Serve the API over HTTPS (default https://127.0.0.1:8443)."""
    settings = get_settings()
    try:
        runtime = Runtime.build(settings)
    except KeyringError as exc:
        fail(str(exc))
    try:
        runtime.keys.check_permissions()
        runtime.adopt_keys()
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
                       access_log=False, log_config=None, timeout_keep_alive=15,
                       timeout_graceful_shutdown=int(settings.shutdown_grace_seconds), **ssl_args)
    scheme = "http" if insecure_http else "https"
    err.print(f"arx: serving {scheme}://{host}:{port}" + (f" with {workers} workers" if workers > 1 else ""))
    run(config)
