"""The keyring sealed by an AES key on a PKCS#11 token (SoftHSM2): round trip, what the file gives away
without the token, wrong PIN / missing key / missing token, tampering, and a real `arx serve` through
rotation, rewrap and restart."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType

from app.crypto.hsm import Pkcs11Seal
from app.crypto.keyring import (
    BACKUP_FILE,
    KINDS,
    FileKeyProvider,
    Keyring,
    KeyringError,
    b64e,
    decode_file,
)
from tests.support.database import DatabaseFactory
from tests.support.e2e import Server, make_site
from tests.support.factories import notice_document
from tests.support.softhsm import SoftHsm, empty_softhsm_conf, softhsm


@pytest.fixture(scope="module")
def hsm() -> SoftHsm:
    return softhsm()


def new_seal(hsm: SoftHsm, *, pin: str | None = None, generate: bool = True) -> Pkcs11Seal:
    """A seal with a key label of its own on the test token (generated there unless told not to)."""
    seal = Pkcs11Seal(module=hsm.module, token_label=hsm.token_label,
                      key_label=f"arx-test-{uuid.uuid4().hex[:10]}", pin=pin or hsm.pin)
    if generate:
        assert seal.generate_key()
    return seal


def every_secret(ring: Keyring) -> list[bytes]:
    """Each key version's material, raw and as the plain keyring file would hold it (base64)."""
    found = []
    for kind in KINDS:
        for v in ring.versions[kind]:
            if v.material is not None:
                found += [v.material, b64e(v.material).encode()]
    return found


class TestSealedFile:
    def test_round_trip_and_the_file_holds_nothing_usable_without_the_token(self, hsm: SoftHsm,
                                                                            tmp_path: Path) -> None:
        seal = new_seal(hsm)
        provider = FileKeyProvider(tmp_path / "keys", seal=seal)
        assert provider.create_if_absent()
        ring = provider.current()
        rotated = provider.update(lambda r: r.rotated("data"))
        assert rotated.active_version("data") == 2
        reread = FileKeyProvider(tmp_path / "keys", seal=seal).current()
        assert reread.to_document() == rotated.to_document()
        for path in (provider.path, provider.keys_dir / BACKUP_FILE):
            raw = path.read_bytes()
            # Attack: read the file as JSON, look for any key (raw or base64), or parse it as a keyring.
            doc = json.loads(raw)
            assert doc["format"] == "arx-keyring-pkcs11/1" and "kinds" not in doc
            for secret in every_secret(rotated) + every_secret(ring):
                assert secret not in raw
            assert b"PRIVATE KEY" not in raw
            with pytest.raises(KeyringError, match="unknown keyring format"):
                Keyring.from_document(doc)
            # The passphrase path cannot open it, whatever the passphrase; no seal at all neither.
            for passphrase in ("", "guess", hsm.pin):
                with pytest.raises(KeyringError, match="sealed"):
                    decode_file(raw, passphrase)

    def test_the_token_key_is_sensitive_and_cannot_be_read_out(self, hsm: SoftHsm) -> None:
        seal = new_seal(hsm)
        assert seal.generate_key() is False  # idempotent: the existing key is kept
        token = pkcs11.lib(str(hsm.module)).get_token(token_label=hsm.token_label)
        with token.open(user_pin=hsm.pin) as session:
            key = session.get_key(label=seal.key_label, key_type=KeyType.AES)
            assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
            with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                key[Attribute.VALUE]

    def test_wrong_pin_and_absent_key_are_one_line_errors(self, hsm: SoftHsm, tmp_path: Path) -> None:
        seal = new_seal(hsm)
        FileKeyProvider(tmp_path / "keys", seal=seal).create_if_absent()
        wrong_pin = Pkcs11Seal(hsm.module, hsm.token_label, seal.key_label, pin="000000")
        with pytest.raises(KeyringError, match="wrong PIN") as caught:
            FileKeyProvider(tmp_path / "keys", seal=wrong_pin).current()
        assert "\n" not in str(caught.value) and hsm.pin not in str(caught.value)
        pin_file = tmp_path / "pin"
        pin_file.write_text("not-the-pin\n")
        with pytest.raises(KeyringError, match="wrong PIN"):
            FileKeyProvider(tmp_path / "keys", seal=Pkcs11Seal(hsm.module, hsm.token_label, seal.key_label,
                                                               pin_file=pin_file)).current()
        pin_file.write_text(hsm.pin + "\n")
        assert FileKeyProvider(tmp_path / "keys", seal=Pkcs11Seal(
            hsm.module, hsm.token_label, seal.key_label, pin_file=pin_file)).current()
        # A keyring sealed by a key the token does not have (deleted, or another token's key).
        absent = new_seal(hsm, generate=False)
        with pytest.raises(KeyringError, match="no AES key labelled"):
            FileKeyProvider(tmp_path / "other", seal=absent).create_if_absent()
        assert not (tmp_path / "other" / "keyring.json").exists()

    @pytest.mark.parametrize("field", ["ciphertext", "wrapped_key", "key_nonce", "nonce"])
    def test_a_tampered_file_is_refused_and_a_running_provider_keeps_its_keys(
            self, hsm: SoftHsm, tmp_path: Path, field: str) -> None:
        seal = new_seal(hsm)
        writer = FileKeyProvider(tmp_path / "keys", seal=seal)
        writer.create_if_absent()
        running = FileKeyProvider(tmp_path / "keys", seal=seal, poll_seconds=0.01)
        in_memory = running.current()
        doc = json.loads(writer.path.read_bytes())
        raw = bytearray(base64.b64decode(doc[field]))
        raw[len(raw) // 2] ^= 0x01
        doc[field] = b64e(bytes(raw))
        writer.path.write_text(json.dumps(doc))
        with pytest.raises(KeyringError):
            FileKeyProvider(tmp_path / "keys", seal=seal).current()
        time.sleep(0.02)
        assert running.refresh() is in_memory and running.health == "unreadable"

    def test_a_running_provider_keeps_its_keys_when_the_token_refuses(self, hsm: SoftHsm,
                                                                       tmp_path: Path) -> None:
        pin_file = tmp_path / "pin"
        pin_file.write_text(hsm.pin)
        seal = new_seal(hsm)
        running = FileKeyProvider(tmp_path / "keys", seal=Pkcs11Seal(
            hsm.module, hsm.token_label, seal.key_label, pin_file=pin_file), poll_seconds=0.01)
        FileKeyProvider(tmp_path / "keys", seal=seal).create_if_absent()
        before = running.current()
        pin_file.write_text("000000")  # the PIN changed under the service, then a rotation lands
        FileKeyProvider(tmp_path / "keys", seal=seal).update(lambda r: r.rotated("data"))
        time.sleep(0.02)
        assert running.refresh() is before and running.health == "unreadable"
        assert "wrong PIN" in running.problem
        pin_file.write_text(hsm.pin)
        time.sleep(0.02)
        assert running.refresh().active_version("data") == 2 and running.health == "ok"

    def test_passphrase_and_pkcs11_together_are_refused(self, hsm: SoftHsm, tmp_path: Path) -> None:
        with pytest.raises(KeyringError, match="exclude each other"):
            FileKeyProvider(tmp_path / "keys", passphrase="secret", seal=new_seal(hsm, generate=False))


@pytest.mark.slow
class TestServedWithTheHsm:
    def test_init_rotate_rewrap_restart_and_refusals(self, hsm: SoftHsm, databases: DatabaseFactory,
                                                     tmp_path: Path) -> None:
        key_label = f"arx-e2e-{uuid.uuid4().hex[:8]}"
        pkcs11_env = hsm.settings(key_label, ARX_KEYRING_POLL_SECONDS="0.2")
        # `arx keys hsm-init` makes the token key (once), then `arx init` seals the new keyring with it.
        root = tmp_path / "site"
        root.mkdir()
        hsm_init = subprocess.run([str(Path(sys.executable).with_name("arx")), "keys", "hsm-init", "--json"],
                                  env={**os.environ, **pkcs11_env}, capture_output=True, text=True,
                                  timeout=60, check=False)
        assert hsm_init.returncode == 0, hsm_init.stderr
        assert json.loads(hsm_init.stdout)["key_created"] is True
        site = make_site(root, databases.empty(), **pkcs11_env)
        assert site.arx_json("keys", "hsm-init")["key_created"] is False
        assert json.loads(site.keys_dir.joinpath("keyring.json").read_text())["format"] == \
            "arx-keyring-pkcs11/1"

        server = Server(site).start()
        try:
            first = self._post(server, "Before Rotation")
            assert site.arx_json("keys", "rotate", "data")["active"] == 2
            time.sleep(1.0)  # the service re-reads (and unseals) the changed file within 5 s
            second = self._post(server, "After Rotation")
            with server.client() as client:
                status = client.get(f"/api/v1/notices/{second}",
                                    headers={"Authorization": f"Bearer {server.token('fra_fp')}"})
            assert status.status_code == 200
            rewrap = site.arx_json("keys", "rewrap")
            assert rewrap["active"] == 2 and rewrap["rewrapped"] >= 1 and rewrap["unreadable"] == 0
            self._read_both(server, first, second)
        finally:
            server.stop()
        status = site.arx_json("keys", "status")
        assert status["data"]["active"] == 2
        assert {v["version"]: v["dependents"] for v in status["data"]["versions"]}[2] >= 2

        restarted = Server(site).start()
        try:
            self._read_both(restarted, first, second)
        finally:
            restarted.stop()

        # Refusals at start, each one line: wrong PIN, the key absent, the token absent.
        absent_conf = empty_softhsm_conf(tmp_path / "no-hsm")
        for override, message in (({"ARX_PKCS11_PIN": "000000"}, "wrong PIN"),
                                  ({"ARX_PKCS11_KEY_LABEL": "arx-missing"}, "not by the configured"),
                                  ({"SOFTHSM2_CONF": str(absent_conf)}, "not found")):
            site.env.update(override)
            try:
                done = site.arx("serve", "--port", "1", check=False, timeout=60)
            finally:
                for name in override:
                    site.env[name] = {**pkcs11_env}[name]
            assert done.returncode != 0
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and message in lines[0], done.stderr
        # The token key itself destroyed (the HSM was reset): refused at start, naming the key.
        token = pkcs11.lib(str(hsm.module)).get_token(token_label=hsm.token_label)
        with token.open(user_pin=hsm.pin, rw=True) as session:
            session.get_key(label=key_label, key_type=KeyType.AES).destroy()
        done = site.arx("serve", "--port", "1", check=False, timeout=60)
        assert done.returncode != 0 and "no AES key labelled" in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1

    @staticmethod
    def _post(server: Server, name: str) -> str:
        with server.client() as client:
            response = client.post("/api/v1/notices", json=notice_document(
                subjects=[{"name": name, "birth_date": "1970-01-01"}]),
                headers={"Authorization": f"Bearer {server.token('fra_fp')}"})
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    @staticmethod
    def _read_both(server: Server, *ids: str) -> None:
        token = server.token("icc_inv")
        with server.client() as client:
            for notice_id in ids:
                response = client.get(f"/api/v1/notices/{notice_id}",
                                      headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200, response.text
