"""Helpers for end-to-end tests that drive the real `arx` executable: a site (database + keys dir set up
with `arx init`), and `arx serve` processes reached over HTTPS."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.factories import PASSWORD

ARX = str(Path(sys.executable).with_name("arx"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Site:
    """One deployment: its environment (database URL, keys dir) and the users created in it."""

    root: Path
    env: dict[str, str]
    users: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def keys_dir(self) -> Path:
        return Path(self.env["ARX_KEYS_DIR"])

    def arx(self, *args: str, stdin: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([ARX, *args], check=False, env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=timeout, cwd=self.root)
        if check and done.returncode != 0:
            raise AssertionError(f"arx {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
        return done

    def arx_json(self, *args: str) -> Any:
        return json.loads(self.arx(*args, "--json").stdout)

    def add_user(self, username: str, party: str, role: str) -> None:
        self.arx("user", "add", username, "--party", party, "--role", role, "--password-stdin",
                 stdin=PASSWORD + "\n")
        self.users[username] = (party, role)

    def tls_context(self, **versions: ssl.TLSVersion) -> ssl.SSLContext:
        """A client context trusting the site's self-signed certificate."""
        context = ssl.create_default_context(cafile=str(self.keys_dir / "tls-cert.pem"))
        for name, value in versions.items():
            setattr(context, name, value)
        return context


def make_site(root: Path, database_url: str, **settings: str) -> Site:
    """`arx init` on a fresh database and keys dir, then parties FRA/NLD and a few users."""
    root.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    env.update({"ARX_DATABASE_URL": database_url, "ARX_KEYS_DIR": str(root / "keys"), **settings})
    site = Site(root=root, env=env)
    init = site.arx_json("init")
    assert init["keyring_created"] and init["certificate_created"]
    for code in ("FRA", "NLD", "DEU"):
        site.arx("party", "add", code, "--name", f"State {code}", "--kind", "state")
    for username, party, role in (("fra_fp", "FRA", "focal_point"), ("nld_fp", "NLD", "focal_point"),
                                  ("deu_fp", "DEU", "focal_point"), ("icc_inv", "ICC", "court_investigator"),
                                  ("icc_aud", "ICC", "auditor")):
        site.add_user(username, party, role)
    return site


class Server:
    """A running `arx serve`; stderr (its JSON logs) goes to a file."""

    def __init__(self, site: Site, *args: str, port: int | None = None) -> None:
        self.site = site
        self.port = port or free_port()
        self.args = args
        self.log_path = site.root / f"serve-{self.port}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def start(self, context: ssl.SSLContext | None = None, timeout: float = 60) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([ARX, "serve", "--port", str(self.port), *self.args],
                                        env=self.site.env, stdout=log, stderr=log, cwd=self.site.root)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"arx serve exited {self.process.returncode}: {self.log()[-2000:]}")
            try:
                with httpx.Client(verify=context or self.site.tls_context(), timeout=2) as client:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return self
            except (httpx.HTTPError, ssl.SSLError, OSError):
                time.sleep(0.2)
        raise AssertionError(f"arx serve not ready: {self.log()[-2000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()

    def client(self, context: ssl.SSLContext | None = None, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=context or self.site.tls_context(), timeout=30, **kw)

    def token(self, username: str) -> str:
        with self.client() as client:
            response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
            assert response.status_code == 200, response.text
            return response.json()["access_token"]
