"""Structured logs: one JSON line per request, and a canary run proving logs never hold request content.

Unique strings are planted through the API in every place a careless log could pick them up (names,
aliases, identifiers, an IBAN, narrative, title, search terms, passwords, tokens, unknown query
parameters, paths, invalid input); every log record any logger emits is captured and searched.
"""

from __future__ import annotations

import io
import json
import logging
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from stdnum import iban

from app.logging import ACCESS_LOGGER, JsonFormatter, configure_logging
from tests.support.factories import World, make_user, notice_document


def unique_iban() -> str:
    """A valid Swiss IBAN no other test uses."""
    bban = f"{random.randrange(10**16, 10**17)}"[:17].rjust(17, "0")
    for check in range(100):
        candidate = f"CH{check:02d}{bban}"
        if iban.is_valid(candidate):
            return candidate
    raise AssertionError("no check digits")


# The test's own HTTP client logs the URLs it requests; that is the caller's log, not the service's.
CLIENT_SIDE = {"httpx", "httpcore"}


class Capture(logging.Handler):
    """Every record any logger emits, rendered with its arguments and exception text (strictest view)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.text: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in CLIENT_SIDE:
            return
        self.records.append(record)
        parts = [record.name, record.getMessage(), json.dumps(record.__dict__, default=repr)]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.text.append(" ".join(parts))


@pytest.fixture
def captured() -> Iterator[tuple[Capture, io.StringIO]]:
    """The JSON stream the service writes (as `arx serve` configures it) plus a catch-all handler."""
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream)
    capture = Capture()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(capture)
    logging.getLogger("arx").addHandler(capture)
    logging.getLogger("uvicorn").addHandler(capture)
    root.setLevel(logging.INFO)
    yield capture, stream
    root.removeHandler(capture)
    root.setLevel(old_level)
    for name in ("arx", "uvicorn"):
        logging.getLogger(name).removeHandler(capture)
        logging.getLogger(name).removeHandler(handler)


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line["logger"] == ACCESS_LOGGER]


class TestAccessLog:
    def test_one_json_line_per_request_with_principal_route_status_latency(
            self, world: World, captured: tuple[Capture, io.StringIO]) -> None:
        _, stream = captured
        created = world.post_notice("fra_fp")
        got = world.client.get(f"/api/v1/notices/{created['id']}", headers={
            **world.headers("icc_inv"), "X-Request-Id": "req-canary-0001"})
        world.client.get("/api/v1/me")
        lines = access_lines(stream)
        assert len(lines) == 3
        post, read, anonymous = lines
        assert post["method"] == "POST" and post["route"] == "/api/v1/notices" and post["status"] == 201
        assert (post["username"], post["party"], post["role"]) == ("fra_fp", "FRA", "focal_point")
        assert read["route"] == "/api/v1/notices/{notice_id}"
        assert read["request_id"] == got.headers["x-request-id"]
        assert "req-canary-0001" not in stream.getvalue()  # the client's id is never logged as given
        assert read["username"] == "icc_inv" and read["status"] == 200
        assert anonymous["status"] == 401 and "username" not in anonymous
        for line in lines:
            assert isinstance(line["latency_ms"], float) and line["latency_ms"] >= 0
            assert line["level"] == "info" and line["ts"].endswith("+00:00")

    def test_refusals_before_routing_are_logged_without_the_path(
            self, world: World, captured: tuple[Capture, io.StringIO]) -> None:
        _, stream = captured
        world.client.get("/api/v1/Jean-Pierre-Exemple")
        world.client.post("/api/v1/notices", content=b"x" * (3 * 1024 * 1024),
                          headers={**world.headers("fra_fp"), "Content-Type": "application/json"})
        lines = access_lines(stream)
        # The body limit answers before routing: neither line carries the path the client sent.
        assert [(line["status"], line["route"]) for line in lines] == [(404, "unmatched"),
                                                                      (413, "unmatched")]
        assert "Jean-Pierre" not in stream.getvalue()


class TestFormatter:
    def test_exception_messages_and_arguments_are_not_written(self) -> None:
        logger = logging.getLogger("arx.test")
        try:
            raise ValueError("secret-canary-in-exception Jean-Pierre Exemple")
        except ValueError:
            record = logger.makeRecord("arx.test", logging.ERROR, __file__, 1, "failed for %s",
                                       ("secret-canary-arg",), __import__("sys").exc_info(),
                                       extra={"request_id": "r-1", "subject_name": "secret-canary-extra"})
        line = json.loads(JsonFormatter().format(record))
        text = json.dumps(line)
        assert "secret-canary" not in text and "Jean-Pierre" not in text
        assert line["exc_type"] == "ValueError" and line["msg"] == "failed for %s"
        assert line["request_id"] == "r-1" and "subject_name" not in line


def test_canary_run_leaves_no_trace_in_logs(world: World, captured: tuple[Capture, io.StringIO]) -> None:
    capture, stream = captured
    tag = uuid.uuid4().hex[:10]
    username = f"canary_fp_{uuid.uuid4().hex[:6]}"  # usernames are logged; the planted values are not
    canaries = {
        "name": f"Canaryname{tag} Zyxwvuts",
        "alias": f"Aliascanary{tag}",
        "passport": f"PC{tag.upper()}",
        "iban": unique_iban(),
        "narrative": f"narrative-canary-{tag} laundering through shell companies",
        "title": f"title-canary-{tag}",
        "reference": f"ref-canary-{tag}",
        "search": f"Searchcanary{tag} Qwertzuiop",
        "password": f"password-canary-{tag}-long-enough",
        "wrong_password": f"wrongpw-canary-{tag}",
        "unknown_user": f"usercanary{tag}",
        "query": f"querycanary{tag}",
        "path": f"pathcanary{tag}",
        "invalid": f"invalidcanary{tag}",
    }
    client = world.client
    make_user(world.runtime, username=username, party="FRA", role="focal_point",
              password=canaries["password"])
    login = client.post("/api/v1/auth/token", data={"username": username,
                                                    "password": canaries["password"]})
    assert login.status_code == 200
    token = login.json()["access_token"]
    canaries["token"] = token
    canaries["token_signature"] = token.rsplit(".", 1)[1]
    headers = {"Authorization": f"Bearer {token}"}

    doc = notice_document(
        title=canaries["title"], reference=canaries["reference"], narrative=canaries["narrative"],
        recipients=["ICC", "NLD"],
        subjects=[{"name": canaries["name"], "aliases": [canaries["alias"]], "birth_date": "1970-01-02",
                   "nationality": "COD",
                   "identifiers": [{"scheme": "passport", "value": canaries["passport"]}]}],
        assets=[{"type": "bank_account", "description": "Current account", "jurisdiction": "CHE",
                 "identifier": canaries["iban"], "value": {"amount": "10.00", "currency": "EUR"},
                 "status": "frozen", "status_date": "2026-10-02", "order_reference": "2026/1"}])
    created = client.post("/api/v1/notices", json=doc, headers=headers)
    assert created.status_code == 201, created.text
    notice_id = created.json()["id"]
    revised = client.put(f"/api/v1/notices/{notice_id}",
                         json={**doc, "narrative": canaries["narrative"] + "!"}, headers=headers)
    assert revised.status_code == 200
    for who in ("icc_inv", "nld_fp", "deu_fp"):
        client.get(f"/api/v1/notices/{notice_id}", headers=world.headers(who))
        client.get(f"/api/v1/notices/{notice_id}/revisions", headers=world.headers(who))
        client.get("/api/v1/notices", headers=world.headers(who))
        found = client.post("/api/v1/search/subjects", json={"name": canaries["search"]},
                            headers=world.headers(who))
        assert found.status_code == 200
        client.post("/api/v1/search/subjects", json={"name": canaries["name"], "nationality": "COD"},
                    headers=world.headers(who))
    # Failures: wrong password, unknown user, unknown query parameter, odd path, invalid input, bad token.
    assert client.post("/api/v1/auth/token", data={"username": username,
                                                   "password": canaries["wrong_password"]}).status_code == 400
    assert client.post("/api/v1/auth/token", data={"username": canaries["unknown_user"],
                                                   "password": canaries["wrong_password"]}).status_code == 400
    assert client.get("/api/v1/notices", params={"q": canaries["query"]}, headers=headers).status_code == 422
    assert client.get(f"/api/v1/notices/{canaries['path']}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/{canaries['path']}", headers=headers).status_code == 404
    bad = notice_document(subjects=[{"name": canaries["invalid"], "nationality": "ZZZ"}])
    assert client.post("/api/v1/notices", json=bad, headers=headers).status_code == 422
    bad_iban = notice_document(assets=[{"type": "bank_account", "identifier": canaries["iban"][:-1] + "X",
                                        "status": "frozen"}])
    assert client.post("/api/v1/notices", json=bad_iban, headers=headers).status_code == 422
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}x"}).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401

    logged = stream.getvalue() + "\n".join(capture.text)
    assert len(access_lines(stream)) >= 25, "the run was logged"
    leaks = {what: value for what, value in canaries.items() if value.lower() in logged.lower()}
    assert leaks == {}, f"log lines contain planted values: {sorted(leaks)}"
    # Nor any word of the planted names on its own (a log could split or reorder them).
    for word in (f"Canaryname{tag}", f"Searchcanary{tag}", f"Aliascanary{tag}"):
        assert word.lower() not in logged.lower()
