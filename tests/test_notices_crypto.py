"""Encryption at rest, attacked: a stolen database reveals nothing; moved or altered ciphertext never
opens."""

import os
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from app.crypto.envelope import DecryptionError, Envelope
from app.crypto.keyring import FileKeyProvider, KeyringError
from app.notices.models import Notice, NoticeRevision, NoticeRevisionKey
from app.notices.service import content_aad
from tests.support.database import raw_database_bytes
from tests.support.factories import World, assert_problem, make_user, notice_document

API = "/api/v1/notices"


def canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10].upper()
    return {
        "name": f"Zebulon Canaryname{tag}",
        "alias": f"Zeb Aliascanary{tag}",
        "passport": f"PCANARY{tag}",
        "title": f"Title canary {tag}",
        "narrative": f"Narrative canary {tag} about laundering",
        "reference": f"REF-CANARY-{tag}",
        "description": f"Villa canary {tag}",
        "order": f"ORDER-CANARY-{tag}",
    }


def plant(world: World, c: dict[str, str]) -> str:
    created = world.post_notice(
        "fra_fp", title=c["title"], narrative=c["narrative"], reference=c["reference"],
        subjects=[{"name": c["name"], "aliases": [c["alias"]], "birth_date": "1970-01-02",
                   "nationality": "COD", "identifiers": [{"scheme": "passport", "value": c["passport"]}]}],
        assets=[{"type": "bank_account", "description": c["description"], "jurisdiction": "CHE",
                 "identifier": "CH5604835012345678009", "status": "frozen",
                 "order_reference": c["order"], "value": {"amount": "987654.32", "currency": "CHF"}}])
    # Revise too, so every path that writes content has run.
    response = world.client.put(f"{API}/{created['id']}", headers=world.headers("fra_fp"),
                                json=notice_document(title=c["title"] + " v2", narrative=c["narrative"],
                                                     reference=c["reference"],
                                                     subjects=[{"name": c["name"], "aliases": [c["alias"]]}]))
    assert response.status_code == 200, response.text
    return str(created["id"])


def needles(c: dict[str, str]) -> list[bytes]:
    words = [v for v in c.values()] + ["CH5604835012345678009", "CH56 0483 5012 3456 7800 9", "987654.32"]
    words += [w.split()[-1] for w in (c["name"], c["alias"])]  # surname tokens on their own
    out = []
    for w in words:
        out += [w.encode(), w.lower().encode(), w.upper().encode(), w.encode("utf-16-le")]
    return out


class TestCanary:
    def test_a_stolen_database_reveals_no_content(self, world: World, database_url: str,
                                                  tmp_path: Path) -> None:
        c = canaries()
        notice_id = plant(world, c)
        secret = make_user(world.runtime, username="totp_user", party="FRA", role="focal_point", totp=True)
        assert secret
        got = world.client.get(f"{API}/{notice_id}", headers=world.headers("icc_inv"))
        assert got.status_code == 200 and got.json()["narrative"] == c["narrative"]  # it is really stored
        raw = raw_database_bytes(database_url, tmp_path)
        assert len(raw) > 10_000
        assert notice_id.encode() in raw  # the scan does see the database
        hits = [n for n in [*needles(c), secret.encode()] if n in raw]
        assert hits == []


    def test_the_audit_tables_hold_no_text_a_client_typed(self, world: World, database_url: str,
                                                          tmp_path: Path) -> None:
        """Issue 11, item 6: a malformed object id, a chosen X-Request-Id and the username of a failed
        login for no account each reach the audit log (and the throttle table) only as our own data."""
        from app.audit.models import AuditEntry

        tag = uuid.uuid4().hex[:10]
        planted = {"object id": f"ObjCanary{tag}", "request id": f"ReqCanary{tag}",
                   "username": f"usercanary{tag}", "password as username": f"Pw-Canary-{tag}!x"}
        target = world.post_notice("fra_fp", recipients=["ICC"])["id"]
        for suffix in ("", "/revisions", "/access-log"):
            got = world.client.get(f"{API}/{planted['object id']}{suffix}",
                                   headers=world.headers("nld_fp"))
            assert_problem(got, 404)
        put = world.client.put(f"{API}/{planted['object id']}", json=notice_document(),
                               headers=world.headers("fra_fp"))
        assert_problem(put, 404)
        chosen = world.client.get(f"{API}/{target}", headers={**world.headers("nld_fp"),
                                                               "X-Request-Id": planted["request id"]})
        assert_problem(chosen, 404)
        for name in (planted["username"], planted["password as username"]):
            failed = world.client.post("/api/v1/auth/token", data={"username": name, "password": "x"})
            assert failed.status_code in (400, 401), failed.text  # RFC 6749 invalid_grant
        with world.runtime.db.unit_of_work() as session:  # the refusals really were audited
            denied = session.scalars(select(AuditEntry).where(AuditEntry.outcome != "ok")).all()
            assert len(denied) >= 7
            assert chosen.headers["x-request-id"] in {e.request_id for e in denied}
        raw = raw_database_bytes(database_url, tmp_path)
        assert b"notice.read" in raw and target.encode() in raw  # the scan does see the audit rows
        hits = [(what, form) for what, value in planted.items()
                for form in (value, value.lower(), value.upper(), value.encode("utf-16-le"))
                if (form if isinstance(form, bytes) else form.encode()) in raw]
        assert hits == []


class TestTampering:
    def _two_notices(self, world: World) -> tuple[str, str]:
        a = world.post_notice("fra_fp", recipients=["ICC"], narrative="alpha secret")
        b = world.post_notice("fra_fp", recipients=["ICC"], narrative="bravo secret")
        return str(a["id"]), str(b["id"])

    @pytest.mark.parametrize("columns", [("ciphertext", "nonce"), ("wrapped_key",),
                                         ("ciphertext", "nonce", "wrapped_key", "key_version")])
    def test_moving_ciphertext_or_wrapped_key_to_another_row_fails(self, world: World,
                                                                    columns: tuple[str, ...]) -> None:
        a, b = self._two_notices(world)
        with world.runtime.db.unit_of_work() as session:
            source = session.get(NoticeRevision, (a, 1))
            assert source is not None
            # The wrapped data key lives in notice_revision_key, the content in notice_revision.
            for model, row in ((NoticeRevision, source), (NoticeRevisionKey, source.key)):
                moved = {c: getattr(row, c) for c in columns if c in model.__table__.c}
                if moved:
                    session.execute(update(model).where(model.notice_id == b).values(moved))
        response = world.client.get(f"{API}/{b}", headers=world.headers("icc_inv"))
        assert_problem(response, 500)
        assert "alpha" not in response.text and "bravo" not in response.text
        assert world.client.get(f"{API}/{a}", headers=world.headers("icc_inv")).json()["narrative"] == \
            "alpha secret"

    def test_reattributing_a_notice_breaks_decryption(self, world: World) -> None:
        a, _ = self._two_notices(world)
        with world.runtime.db.unit_of_work() as session:
            session.execute(update(Notice).where(Notice.id == a).values(author_party="NLD"))
        response = world.client.get(f"{API}/{a}", headers=world.headers("nld_fp"))
        assert_problem(response, 500)
        assert "alpha" not in response.text

    def test_flipped_ciphertext_bit_fails(self, world: World) -> None:
        a, _ = self._two_notices(world)
        with world.runtime.db.unit_of_work() as session:
            row = session.get(NoticeRevision, (a, 1))
            assert row is not None
            ct = bytearray(row.ciphertext)
            ct[5] ^= 0x01
            row.ciphertext = bytes(ct)
        assert_problem(world.client.get(f"{API}/{a}", headers=world.headers("icc_inv")), 500)


class TestEnvelope:
    def test_no_nonce_or_data_key_reuse_over_100k_encryptions(self, keys_dir: Path) -> None:
        envelope = Envelope(FileKeyProvider(keys_dir))
        nonces: set[bytes] = set()
        wrap_nonces: set[bytes] = set()
        n = 100_000
        for _ in range(n):
            sealed = envelope.seal(b"x", b"aad")
            nonces.add(sealed.nonce)
            wrap_nonces.add(sealed.wrapped_key[:12])
        assert len(nonces) == n and len(wrap_nonces) == n

    def test_wrong_associated_data_never_returns_plaintext(self, keys_dir: Path) -> None:
        envelope = Envelope(FileKeyProvider(keys_dir))
        sealed = envelope.seal(b"secret", content_aad("n1", 1, "FRA", "frozen_asset"))
        assert envelope.open(sealed, content_aad("n1", 1, "FRA", "frozen_asset")) == b"secret"
        for aad in (content_aad("n2", 1, "FRA", "frozen_asset"), content_aad("n1", 2, "FRA", "frozen_asset"),
                    content_aad("n1", 1, "NLD", "frozen_asset"),
                    content_aad("n1", 1, "FRA", "financial_investigation")):
            with pytest.raises(DecryptionError):
                envelope.open(sealed, aad)


class TestKeyringFile:
    def test_sealed_keyring_holds_no_key_material_and_refuses_wrong_passphrase(self, tmp_path: Path) -> None:
        provider = FileKeyProvider(tmp_path / "keys", passphrase="correct horse battery staple")
        assert provider.create_if_absent()
        raw = provider.path.read_bytes()
        ring = provider.current()
        material = ring.material("data", 1)
        assert material not in raw and b"PRIVATE KEY" not in raw
        with pytest.raises(KeyringError, match="wrong passphrase"):
            FileKeyProvider(tmp_path / "keys", passphrase="wrong").current()
        with pytest.raises(KeyringError, match="sealed"):
            FileKeyProvider(tmp_path / "keys").current()
        tampered = raw.replace(b'"ciphertext": "', b'"ciphertext": "AAAA')
        provider.path.write_bytes(tampered)
        with pytest.raises(KeyringError):
            FileKeyProvider(tmp_path / "keys", passphrase="correct horse battery staple").current()

    def test_group_readable_keyring_is_refused(self, tmp_path: Path) -> None:
        provider = FileKeyProvider(tmp_path / "keys")
        provider.create_if_absent()
        provider.check_permissions()
        os.chmod(provider.path, 0o640)
        with pytest.raises(KeyringError, match="group/others"):
            provider.check_permissions()

    def test_running_service_sees_rotation_without_restart(self, tmp_path: Path) -> None:
        reader = FileKeyProvider(tmp_path / "keys", poll_seconds=0.05)
        writer = FileKeyProvider(tmp_path / "keys")
        writer.create_if_absent()
        assert reader.current().active_version("data") == 1
        writer.update(lambda ring: ring.rotated("data"))
        time.sleep(0.1)
        assert reader.current().active_version("data") == 2


def test_raw_sql_scan_sanity(world: World) -> None:
    """The clear columns hold routing data only (guards against a future model adding content in clear)."""
    world.post_notice("fra_fp")
    with world.runtime.db.unit_of_work() as session:
        row = session.execute(text("SELECT * FROM notice")).mappings().one()
        assert set(row.keys()) == {"id", "kind", "author_party", "author_user_id", "tlp", "asset_status",
                                   "current_revision", "created_at", "updated_at"}
        assert session.scalar(select(Notice.asset_status)) == "frozen"
