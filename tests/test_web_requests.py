"""Request and notification pages through the ASGI app: the new-request form (errors beside their
fields, nothing written), inbox and outbox badges, the request page with its thread, the transition
buttons of each side with the obstacles picker, conversion, 404 for other parties, the bell, French."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.requests.models import CooperationRequest
from app.runtime import Runtime
from tests.support.portal import Browser, portal_app, portal_settings


@pytest.fixture
def settings(database_url: str, keys_dir: Path) -> Settings:
    return portal_settings(database_url, keys_dir)


@pytest.fixture
def app(runtime: Runtime) -> Iterator[Any]:
    yield from portal_app(runtime)





def request_form(**overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "addressee": "FRA", "type": "consultation", "priority": "urgent", "due_date": "",
        "measures": ["tracing", "freezing"], "tlp": "AMBER", "paris_paragraphs": ["13"],
        "title": "Accounts of Jean-Pierre Exemple", "legal_basis": "Rome Statute art. 93(1)(k)",
        "body": "Would a freezing request be executable?", "subjects-0-name": "Jean-Pierre Exemple",
        "subjects-0-birth_date": "1962-11-04", "subjects-0-nationality": "COD",
    }
    form.update(overrides)
    return form


def send(icc: Browser, **overrides: Any) -> str:
    icc.get("/requests/new")
    response = icc.post("/requests/new", request_form(**overrides))
    assert response.status_code == 303, response.text
    found = re.fullmatch(r"/requests/([0-9a-f-]{36})", response.headers["location"])
    assert found
    return found.group(1)


def count(runtime: Runtime) -> int:
    with runtime.db.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(CooperationRequest)) or 0)


def test_new_request_errors_beside_fields_and_nothing_written(icc: Browser, runtime: Runtime) -> None:
    icc.get("/requests/new")
    past = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    response = icc.post("/requests/new", request_form(title="", measures=[], due_date=past))
    assert response.status_code == 422
    html = response.text
    assert 'id="title-error"' in html and 'id="measures-error"' in html
    assert "Accounts of Jean-Pierre Exemple" not in html or 'value=""' in html
    assert 'value="Rome Statute art. 93(1)(k)"' not in html  # textarea keeps it as content
    assert "Rome Statute art. 93(1)(k)" in html  # the input is kept
    assert count(runtime) == 0
    response = icc.post("/requests/new", request_form(due_date=past))
    assert response.status_code == 422 and 'id="due_date-error"' in response.text
    assert count(runtime) == 0


def test_the_whole_flow_in_the_browser(icc: Browser, fra: Browser, nld: Browser) -> None:
    rid = send(icc)
    page = icc.get(f"/requests/{rid}").text
    assert "Accounts of Jean-Pierre Exemple" in page and "Turn into a formal request" in page
    assert 'name="status" value="withdrawn"' in page and 'value="acknowledged"' not in page

    inbox = fra.get("/requests").text
    assert "Accounts of Jean-Pierre Exemple" in inbox and "badge-urgent" in inbox
    assert re.search(r'class="count">1<', inbox)  # the bell: one unread (request.received)
    view = fra.get(f"/requests/{rid}").text
    assert 'value="acknowledged"' in view and 'value="withdrawn"' not in view
    assert fra.post(f"/requests/{rid}/transitions", {"status": "acknowledged",
                                                    "note": "Received."}).status_code == 303
    fra.get(f"/requests/{rid}")
    assert fra.post(f"/requests/{rid}/messages", {"body": "Which bank?"}).status_code == 303
    assert icc.get(f"/requests/{rid}").status_code == 200
    assert icc.post(f"/requests/{rid}/convert", {}).status_code == 303
    thread = icc.get(f"/requests/{rid}").text
    assert "Received." in thread and "Which bank?" in thread and "Formal request" in thread
    fra.get(f"/requests/{rid}")
    assert fra.post(f"/requests/{rid}/transitions", {"status": "in_progress"}).status_code == 303
    page = fra.get(f"/requests/{rid}").text
    assert 'name="obstacles" value="bank_secrecy"' in page  # the picker on refuse / partial
    fra.get(f"/requests/{rid}")
    refused = fra.post(f"/requests/{rid}/transitions", {"status": "refused", "note": "No."})
    assert refused.status_code == 422 and 'id="obstacles-error"' in refused.text
    fra.get(f"/requests/{rid}")
    done = fra.post(f"/requests/{rid}/transitions", [("status", "refused"),
                                                      ("obstacles", "bank_secrecy")])
    assert done.status_code == 303
    final = fra.get(f"/requests/{rid}").text
    assert "Bank or professional secrecy" in final and 'name="status"' not in final
    assert nld.get(f"/requests/{rid}").status_code == 404
    nld.get("/requests")
    assert nld.post(f"/requests/{rid}/messages", {"body": "hi"}).status_code == 404
    outbox = icc.get("/requests?box=outbox").text
    assert "status-refused" in outbox


def test_overdue_badge_and_french(icc: Browser, fra: Browser, runtime: Runtime) -> None:
    rid = send(icc, type="formal")
    with runtime.db.unit_of_work() as session:
        row = session.get(CooperationRequest, rid)
        assert row is not None
        row.due_at = datetime.now(UTC) - timedelta(hours=3)
    page = fra.get("/requests?overdue=true").text
    assert "badge-overdue" in page and "Accounts of Jean-Pierre Exemple" in page
    french = fra.get("/requests?lang=fr").text
    assert "Demandes reçues" in french and "En retard" in french and 'lang="fr"' in french


def test_notifications_page_marks_read_and_opens_the_request(icc: Browser, fra: Browser) -> None:
    rid = send(icc)
    page = fra.get("/notifications").text
    assert "Your party received a request for cooperation." in page
    found = re.search(r'action="/notifications/(\d+)/read"', page)
    assert found
    opened = fra.post(f"/notifications/{found.group(1)}/read", {})
    assert opened.status_code == 303 and opened.headers["location"] == f"/requests/{rid}"
    assert re.search(r'class="count">0<', fra.get("/notifications?unread=true").text)
    icc.get("/notifications")
    assert icc.post(f"/notifications/{found.group(1)}/read", {}).status_code == 404
