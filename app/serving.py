"""uvicorn set-up for `arx serve`: hardened TLS and JSON logs in the serving process and every worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from app.crypto.tls import harden
from app.logging import configure_logging


class ArxConfig(uvicorn.Config):
    """A uvicorn Config that hardens its TLS context and installs JSON logging wherever it is loaded.

    Worker processes receive the config pickled and load it themselves, so the hardening must live in
    load(), not be applied once by the parent."""

    def __init__(self, app: Any, *, client_ca: Path | None = None, **kwargs: Any) -> None:
        self.client_ca = client_ca
        super().__init__(app, **kwargs)

    def configure_logging(self) -> None:
        super().configure_logging()
        configure_logging()

    def load(self) -> None:
        super().load()
        if self.ssl is not None:
            harden(self.ssl, self.client_ca)


def run(config: ArxConfig) -> None:
    """Serve in this process, or supervise `config.workers` processes sharing one listening socket."""
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()
