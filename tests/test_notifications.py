"""Notifications: one per active content user of the party, own inbox only, e-mail through a real SMTP
server (aiosmtpd, plain and STARTTLS) with retries, never carrying content."""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from starlette.testclient import TestClient

from app.crypto.tls import CERT_FILE, KEY_FILE, create_self_signed
from app.db import utcnow
from app.main import create_app
from app.notifications.mailer import deliver_pending, parse_smtp_url
from app.notifications.models import EmailOutbox, Notification
from app.notifications.service import notify
from app.runtime import Runtime
from app.users.models import User
from app.users.service import disable_user
from tests.support.factories import ADMIN, World, assert_problem, make_user

TITLE_CANARY = "Canary-Title-Xq7Zt9"
SUBJECT_CANARY = "Canaryname Wqzkvlm"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    """What the SMTP server received."""

    messages: list[tuple[str, list[str], Message, bytes]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message_from_bytes(raw), raw))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def smtp_starttls(tmp_path: Path) -> Iterator[tuple[Inbox, int, Path]]:
    """A STARTTLS-only server with a throw-away self-signed certificate."""
    create_self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / CERT_FILE, tmp_path / KEY_FILE)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    yield inbox, port, tmp_path / CERT_FILE
    controller.stop()


def mailing(runtime: Runtime, url: str, **extra: Any) -> Runtime:
    """The same runtime with e-mail settings (a copy: the fixture's settings stay as they are)."""
    from pydantic import SecretStr

    runtime.settings = runtime.settings.model_copy(update={"smtp_url": SecretStr(url),
                                                          "smtp_from": "arx@platform.test",
                                                          "public_url": "https://arx.test",
                                                          "mail_backoff_seconds": 60.0, **extra})
    return runtime


def count(runtime: Runtime, model: Any, *where: Any) -> int:
    with runtime.db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class TestNotify:
    def test_one_per_active_content_user_of_the_party(self, world: World) -> None:
        make_user(world.runtime, username="fra_fp2", party="FRA", role="focal_point")
        make_user(world.runtime, username="fra_gone", party="FRA", role="focal_point")
        with world.runtime.db.unit_of_work() as session:
            disable_user(session, ADMIN, "fra_gone")
        with world.runtime.db.unit_of_work() as session:
            assert notify(session, party="FRA", kind="request.received", object_type="request",
                          object_id="r-1") == 2
        with world.runtime.db.unit_of_work() as session:
            names = set(session.scalars(select(User.username).join(
                Notification, Notification.user_id == User.id)))
        assert names == {"fra_fp", "fra_fp2"}  # not the auditor, not the disabled user, no one else

    def test_rolls_back_with_the_callers_transaction(self, world: World) -> None:
        def failing_event() -> None:
            with world.runtime.db.unit_of_work() as session:
                notify(session, party="FRA", kind="request.received", object_type="request",
                       object_id="r-1")
                raise RuntimeError("the event failed")

        with pytest.raises(RuntimeError, match="the event failed"):
            failing_event()
        assert count(world.runtime, Notification) == 0

    def test_unknown_kind_is_a_programming_error(self, world: World) -> None:
        with pytest.raises(ValueError, match="unknown notification kind"), \
                world.runtime.db.unit_of_work() as session:
            notify(session, party="FRA", kind="request.gossip", object_type="request", object_id="x")


class TestInbox:
    def test_lists_own_marks_read_and_filters(self, world: World) -> None:
        with world.runtime.db.unit_of_work() as session:
            notify(session, party="FRA", kind="request.received", object_type="request", object_id="a")
            notify(session, party="FRA", kind="request.status", object_type="request", object_id="a")
            notify(session, party="NLD", kind="request.received", object_type="request", object_id="b")
        c = world.client
        body = c.get("/api/v1/notifications", headers=world.headers("fra_fp")).json()
        assert [i["kind"] for i in body["items"]] == ["request.status", "request.received"]
        assert body["unread"] == 2 and not any(i["read"] for i in body["items"])
        first = body["items"][1]
        assert set(first) == {"id", "kind", "object_type", "object_id", "created_at", "read"}
        done = c.post(f"/api/v1/notifications/{first['id']}/read", headers=world.headers("fra_fp"))
        assert done.status_code == 200 and done.json()["read"] is True
        again = c.post(f"/api/v1/notifications/{first['id']}/read", headers=world.headers("fra_fp"))
        assert again.status_code == 200  # idempotent
        unread = c.get("/api/v1/notifications", params={"unread": "true"},
                       headers=world.headers("fra_fp")).json()
        assert [i["kind"] for i in unread["items"]] == ["request.status"] and unread["unread"] == 1
        read = c.get("/api/v1/notifications", params={"unread": "false"},
                     headers=world.headers("fra_fp")).json()
        assert [i["id"] for i in read["items"]] == [first["id"]]

    def test_someone_elses_notification_is_404_and_stays_unread(self, world: World) -> None:
        with world.runtime.db.unit_of_work() as session:
            notify(session, party="NLD", kind="request.received", object_type="request", object_id="b")
        nld = world.client.get("/api/v1/notifications", headers=world.headers("nld_fp")).json()
        target = nld["items"][0]["id"]
        for who in ("fra_fp", "icc_inv", "fra_auditor", "icc_admin"):
            assert_problem(world.client.post(f"/api/v1/notifications/{target}/read",
                                             headers=world.headers(who)), 404)
            assert world.client.get("/api/v1/notifications",
                                    headers=world.headers(who)).json()["items"] == []
        for bogus in ("999999", "abc", "1e3"):
            assert_problem(world.client.post(f"/api/v1/notifications/{bogus}/read",
                                             headers=world.headers("fra_fp")), 404)
        assert count(world.runtime, Notification, Notification.read_at.is_not(None)) == 0

    def test_notice_shared_notifies_recipients_not_the_author(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD", "ICC"])
        for who, want in (("nld_fp", 1), ("icc_inv", 1), ("fra_fp", 0), ("deu_fp", 0)):
            items = world.client.get("/api/v1/notifications", headers=world.headers(who)).json()["items"]
            assert [(i["kind"], i["object_id"]) for i in items] == [("notice.shared", notice["id"])] * want
        broadcast = world.post_notice("nld_fp", recipients=["*"], tlp="GREEN")
        items = world.client.get("/api/v1/notifications", headers=world.headers("deu_fp")).json()["items"]
        assert [i["object_id"] for i in items] == [broadcast["id"]]


class TestEmail:
    def _post_canary_notice(self, world: World) -> dict[str, Any]:
        return world.post_notice("fra_fp", recipients=["NLD"], title=TITLE_CANARY,
                                 subjects=[{"name": SUBJECT_CANARY}])

    def test_plain_smtp_delivers_kind_and_link_only(self, world: World,
                                                    smtp: tuple[Inbox, int]) -> None:
        inbox, port = smtp
        runtime = mailing(world.runtime, f"smtp://127.0.0.1:{port}")
        make_user(runtime, username="nld_mail", party="NLD", role="focal_point")
        with runtime.db.unit_of_work() as session:
            user = session.scalar(select(User).where(User.username == "nld_mail"))
            assert user is not None and user.email_sealed() is None
        from app.users.service import add_user

        with runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, runtime.envelope, username="nld_fp_mail", party="NLD",
                     role="focal_point", password="correct horse battery staple",
                     email="officer@nld.example")
        notice = self._post_canary_notice(world)
        assert count(runtime, EmailOutbox) == 1  # queued with the notice; only the user with an address
        report = deliver_pending(runtime)
        assert (report.sent, report.retried, report.failed) == (1, 0, 0)
        (sender, rcpts, message, raw) = inbox.messages[0]
        assert sender == "arx@platform.test" and rcpts == ["officer@nld.example"]
        assert message["Subject"] == "[ARX] notice.shared"
        body = message.get_payload(decode=True).decode()  # type: ignore[union-attr]
        assert f"https://arx.test/notices/{notice['id']}" in body
        for canary in (TITLE_CANARY, SUBJECT_CANARY, "Accounts frozen", "CH9300762011623852957"):
            assert canary.encode() not in raw
        assert deliver_pending(runtime).sent == 0  # sent once
        assert count(runtime, EmailOutbox, EmailOutbox.sent_at.is_not(None)) == 1

    def test_starttls_with_a_self_signed_certificate(self, world: World,
                                                     smtp_starttls: tuple[Inbox, int, Path]) -> None:
        inbox, port, cert = smtp_starttls
        make_user(world.runtime, username="unused", party="DEU", role="focal_point")
        from app.users.service import add_user

        with world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_tls", party="NLD",
                     role="focal_point", password="correct horse battery staple",
                     email="tls@nld.example")
        self._post_canary_notice(world)
        # Not trusted: the worker refuses the server's certificate, and retries later.
        runtime = mailing(world.runtime, f"smtp+starttls://127.0.0.1:{port}")
        report = deliver_pending(runtime)
        assert (report.sent, report.retried) == (0, 1) and inbox.messages == []
        runtime = mailing(world.runtime, f"smtp+starttls://127.0.0.1:{port}", smtp_ca_file=cert)
        assert deliver_pending(runtime).sent == 0  # backing off: not due yet
        report = deliver_pending(runtime, now=utcnow() + timedelta(minutes=2))
        assert report.sent == 1 and inbox.messages[0][1] == ["tls@nld.example"]
        assert TITLE_CANARY.encode() not in inbox.messages[0][3]

    def test_plain_smtp_to_a_starttls_only_server_is_refused(
            self, world: World, smtp_starttls: tuple[Inbox, int, Path]) -> None:
        inbox, port, _ = smtp_starttls
        from app.users.service import add_user

        with world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_tls", party="NLD",
                     role="focal_point", password="correct horse battery staple", email="t@nld.example")
        self._post_canary_notice(world)
        report = deliver_pending(mailing(world.runtime, f"smtp://127.0.0.1:{port}"))
        assert report.retried == 1 and inbox.messages == []

    def test_server_down_retries_with_backoff_logs_then_gives_up(
            self, world: World, caplog: pytest.LogCaptureFixture) -> None:
        from app.users.service import add_user

        with world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_down", party="NLD",
                     role="focal_point", password="correct horse battery staple",
                     email="down@nld.example")
        self._post_canary_notice(world)
        runtime = mailing(world.runtime, f"smtp://127.0.0.1:{free_port()}", mail_max_attempts=3)
        start = utcnow()
        with caplog.at_level(logging.WARNING, logger="arx.mail"):
            assert deliver_pending(runtime, now=start).retried == 1
            with runtime.db.unit_of_work() as session:
                row = session.scalars(select(EmailOutbox)).one()
                assert row.attempts == 1 and row.next_attempt_at == start + timedelta(seconds=60)
            assert deliver_pending(runtime, now=start + timedelta(seconds=59)).retried == 0
            assert deliver_pending(runtime, now=start + timedelta(seconds=61)).retried == 1
            with runtime.db.unit_of_work() as session:  # doubled
                assert session.scalars(select(EmailOutbox)).one().next_attempt_at == \
                    start + timedelta(seconds=61 + 120)
            assert deliver_pending(runtime, now=start + timedelta(hours=1)).failed == 1
        assert count(runtime, EmailOutbox, EmailOutbox.failed_at.is_not(None)) == 1
        assert deliver_pending(runtime, now=start + timedelta(days=1)).retried == 0
        logged = [r for r in caplog.records if r.name == "arx.mail"]
        assert len(logged) == 3 and logged[-1].levelno == logging.ERROR
        assert all("down@nld.example" not in r.getMessage() + str(r.__dict__) for r in logged)

    def test_the_service_lifespan_sends_in_the_background(self, world: World,
                                                          smtp: tuple[Inbox, int]) -> None:
        inbox, port = smtp
        from app.users.service import add_user

        with world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_bg", party="NLD",
                     role="focal_point", password="correct horse battery staple", email="bg@nld.example")
        runtime = mailing(world.runtime, f"smtp://127.0.0.1:{port}", mail_poll_seconds=0.1)
        with TestClient(create_app(runtime=runtime), base_url="https://testserver"):
            self._post_canary_notice(world)
            deadline = time.monotonic() + 20
            while not inbox.messages:
                assert time.monotonic() < deadline, "the mailer never sent"
                time.sleep(0.05)
        assert inbox.messages[0][1] == ["bg@nld.example"]

    def test_address_is_encrypted_at_rest(self, world: World) -> None:
        from app.users.service import add_user

        with world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_enc", party="NLD",
                     role="focal_point", password="correct horse battery staple",
                     email="canary-address-77@nld.example")
        url = world.runtime.settings.database_url
        if url.startswith("sqlite"):
            world.runtime.db.dispose()
            data = Path(url.split("///", 1)[1]).read_bytes()
            for suffix in ("-wal", "-shm"):
                extra = Path(url.split("///", 1)[1] + suffix)
                data += extra.read_bytes() if extra.exists() else b""
            assert b"canary-address-77" not in data
        else:
            with world.runtime.db.unit_of_work() as session:
                assert session.scalar(select(func.count()).select_from(User).where(
                    User.email_ciphertext.is_not(None))) == 1

    def test_bad_email_is_refused(self, world: World) -> None:
        from app.errors import InvalidInput
        from app.users.service import add_user

        with pytest.raises(InvalidInput) as caught, world.runtime.db.unit_of_work() as session:
            add_user(session, ADMIN, world.runtime.envelope, username="nld_bad", party="NLD",
                     role="focal_point", password="correct horse battery staple", email="no at sign")
        assert caught.value.errors == [{"field": "email", "message": "invalid"}]


def test_smtp_urls() -> None:
    assert parse_smtp_url("smtp+starttls://u%40x:p@mail.example:2587") == \
        parse_smtp_url("smtp+starttls://u%40x:p@mail.example:2587")
    target = parse_smtp_url("smtp+starttls://u%40x:p@mail.example:2587")
    assert (target.scheme, target.host, target.port, target.username, target.password) == \
        ("smtp+starttls", "mail.example", 2587, "u@x", "p")
    assert parse_smtp_url("smtp://localhost").port == 25
    with pytest.raises(ValueError, match="ARX_SMTP_URL"):
        parse_smtp_url("http://mail.example")
