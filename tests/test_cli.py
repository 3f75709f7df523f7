"""The `arx` CLI end to end, as real subprocesses against a real database and keys dir."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import DatabaseFactory
from tests.support.factories import PASSWORD

pytestmark = pytest.mark.slow  # each test runs `arx` as subprocesses


def arx(env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.fixture
def cli_env(databases: DatabaseFactory, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARX_")}
    env.update(ARX_DATABASE_URL=databases.empty(), ARX_KEYS_DIR=str(tmp_path / "keys"))
    return env


def test_init_creates_keys_and_is_idempotent(cli_env: dict[str, str], tmp_path: Path) -> None:
    # Run from an unrelated directory: migrations must be found from anywhere.
    first = arx(cli_env, "init", "--json", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["keyring_created"] and report["certificate_created"] and report["court_created"]
    keys = Path(cli_env["ARX_KEYS_DIR"])
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert stat.S_IMODE((keys / "keyring.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((keys / "tls-key.pem").stat().st_mode) == 0o600
    keyring_before = (keys / "keyring.json").read_bytes()

    second = arx(cli_env, "init", "--json", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout)
    assert not (again["keyring_created"] or again["certificate_created"] or again["court_created"])
    assert (keys / "keyring.json").read_bytes() == keyring_before


def test_party_and_user_administration(cli_env: dict[str, str]) -> None:
    assert arx(cli_env, "init").returncode == 0
    added = arx(cli_env, "party", "add", "FRA", "--name", "France", "--kind", "state", "--json")
    assert added.returncode == 0 and json.loads(added.stdout)["code"] == "FRA"

    user = arx(cli_env, "user", "add", "alice", "--party", "FRA", "--role", "focal_point",
               "--password-stdin", "--totp", "--json", stdin=PASSWORD + "\n")
    assert user.returncode == 0, user.stderr
    doc = json.loads(user.stdout)
    assert doc["username"] == "alice" and len(doc["totp_secret"]) >= 16

    mailed = arx(cli_env, "user", "add", "carol", "--party", "FRA", "--role", "focal_point",
                 "--password-stdin", "--email", "carol@fra.example", "--json", stdin=PASSWORD + "\n")
    assert mailed.returncode == 0, mailed.stderr
    assert "carol@fra.example" not in mailed.stdout  # never echoed
    bad = arx(cli_env, "user", "add", "dave", "--party", "FRA", "--role", "focal_point",
              "--password-stdin", "--email", "not an address", stdin=PASSWORD + "\n")
    assert bad.returncode != 0 and "email" in bad.stderr

    disabled = arx(cli_env, "user", "disable", "alice", "--json")
    assert disabled.returncode == 0 and json.loads(disabled.stdout)["disabled"] is True


@pytest.mark.parametrize(("args", "message"), [
    (("party", "add", "XXX", "--name", "Nowhere", "--kind", "state"), "ISO 3166-1"),
    (("party", "add", "ICC", "--name", "Again", "--kind", "court"), "already exists"),
    (("user", "add", "bob", "--party", "ZZZ", "--role", "focal_point", "--password-stdin"), "unknown party"),
    (("user", "add", "bob", "--party", "ICC", "--role", "wizard", "--password-stdin"), "role"),
    (("user", "disable", "nobody"), "no such user"),
])
def test_failures_exit_non_zero_with_one_line(cli_env: dict[str, str], args: tuple[str, ...],
                                              message: str) -> None:
    assert arx(cli_env, "init").returncode == 0
    result = arx(cli_env, *args, stdin=PASSWORD + "\n")
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr


def test_short_password_refused_and_nothing_written(cli_env: dict[str, str]) -> None:
    assert arx(cli_env, "init").returncode == 0
    result = arx(cli_env, "user", "add", "carol", "--party", "ICC", "--role", "auditor",
                 "--password-stdin", stdin="short\n")
    assert result.returncode != 0 and "password" in result.stderr
    # The name is still free: the failed command left no half-created user.
    ok = arx(cli_env, "user", "add", "carol", "--party", "ICC", "--role", "auditor", "--password-stdin",
             stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr


def test_serve_refuses_a_readable_keyring(cli_env: dict[str, str]) -> None:
    assert arx(cli_env, "init").returncode == 0
    keyring = Path(cli_env["ARX_KEYS_DIR"]) / "keyring.json"
    os.chmod(keyring, 0o644)
    result = arx(cli_env, "serve", "--port", "1")
    assert result.returncode != 0 and "group/others" in result.stderr


def test_sealed_keyring_needs_its_passphrase(cli_env: dict[str, str]) -> None:
    sealed_env = {**cli_env, "ARX_KEYRING_PASSPHRASE": "a long and secret passphrase"}
    assert arx(sealed_env, "init").returncode == 0
    raw = (Path(cli_env["ARX_KEYS_DIR"]) / "keyring.json").read_text()
    assert '"arx-keyring-sealed/1"' in raw and '"material"' not in raw
    wrong = arx({**cli_env, "ARX_KEYRING_PASSPHRASE": "wrong"}, "party", "add", "FRA", "--name", "France",
                "--kind", "state")
    missing = arx(cli_env, "user", "add", "dave", "--party", "ICC", "--role", "auditor", "--password-stdin",
                  "--totp", stdin=PASSWORD + "\n")
    assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr
    assert missing.returncode != 0 and "ARX_KEYRING_PASSPHRASE" in missing.stderr
    right = arx(sealed_env, "party", "add", "FRA", "--name", "France", "--kind", "state")
    assert right.returncode == 0, right.stderr


def test_report_and_stats_rebuild(cli_env: dict[str, str]) -> None:
    """`arx report` in its three formats (an empty platform: every section empty, nothing withheld)
    and `arx stats rebuild`; a bad year or format is a one-line error."""
    assert arx(cli_env, "init").returncode == 0
    as_json = arx(cli_env, "report", "--year", "2026", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    document = json.loads(as_json.stdout)
    assert document["year"] == 2026 and document["scope"] == "platform"
    assert set(document["sections"]) >= {"notices_by_paragraph", "assets_by_status",
                                         "requests_by_priority", "requests_by_outcome",
                                         "obstacles_ranked"}
    assert all(s == {"rows": [], "suppressed": 0} for s in document["sections"].values())
    as_csv = arx(cli_env, "report", "--year", "2026", "--format", "csv")
    assert as_csv.stdout.startswith("year,section,suppressed")
    as_html = arx(cli_env, "report", "--year", "2026", "--format", "html", "--lang", "fr")
    assert as_html.returncode == 0 and '<html lang="fr">' in as_html.stdout
    assert "Statistiques de coopération pour 2026" in as_html.stdout and "@media print" in as_html.stdout
    assert "<script" not in as_html.stdout
    bad = arx(cli_env, "report", "--year", "20x6")
    assert bad.returncode != 0 and bad.stdout == ""
    rebuilt = arx(cli_env, "stats", "rebuild", "--json")
    assert rebuilt.returncode == 0 and json.loads(rebuilt.stdout) == {"notices": 0}
