"""The authorisation matrix: every route of the app × every kind of caller × own, foreign, absent objects.

Routes are enumerated from the running app, so the matrix grows by itself: a route that nobody has
classified in ACCESS below fails ``test_every_route_is_classified``. Expected outcomes come from the
rules of docs/http-contract.md written out here (the test oracle), not from app/policy.py.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import select
from starlette.testclient import TestClient

from app.audit.models import AuditEntry
from app.notifications.models import Notification
from app.runtime import Runtime
from app.users.models import User
from tests.support.apps import serve
from tests.support.database import DatabaseFactory
from tests.support.factories import (
    assert_problem,
    bearer,
    login,
    make_party,
    make_user,
    notice_document,
)

CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CONTENT_ROLES = {"focal_point", "court_investigator"}


@dataclass(frozen=True)
class Caller:
    name: str
    party: str | None  # None: anonymous
    role: str | None


CALLERS = [
    Caller("anonymous", None, None),
    Caller("fra_fp", "FRA", "focal_point"),      # author of notice A
    Caller("deu_fp", "DEU", "focal_point"),      # a recipient of A, not its author
    Caller("nld_fp", "NLD", "focal_point"),      # A is foreign to it; author of C
    Caller("icc_inv", "ICC", "court_investigator"),
    Caller("fra_auditor", "FRA", "auditor"),     # same party as A's author, yet no content
    Caller("icc_admin", "ICC", "admin"),
]


@dataclass(frozen=True)
class Obj:
    """A notice the matrix is played against (or an id that names none)."""

    name: str
    author: str | None = None  # the posting user; None for ids that name no notice
    recipients: tuple[str, ...] = ()
    tlp: str = "AMBER"
    fixed_id: str | None = None

    @property
    def author_party(self) -> str | None:
        return next((c.party for c in CALLERS if c.name == self.author), None)

    def document(self) -> dict[str, Any]:
        return notice_document(recipients=list(self.recipients or ("ICC",)), tlp=self.tlp)


OBJECTS = [
    Obj("A-fra-to-deu", author="fra_fp", recipients=("DEU",)),
    Obj("B-icc-to-nld", author="icc_inv", recipients=("NLD",)),
    Obj("C-nld-to-all", author="nld_fp", recipients=("*",), tlp="GREEN"),
    Obj("absent", fixed_id=str(uuid.UUID(int=0x5EED))),
    Obj("malformed-id", fixed_id="not-a-notice-id"),
    Obj("hostile-id", fixed_id="%00'%20OR%20'1'='1" + "9" * 100),  # NUL, quotes, long
]


@dataclass(frozen=True)
class ReqObj:
    """A request for cooperation the matrix is played against (or an id that names none)."""

    name: str
    author: str | None = None  # the requesting user
    addressee: str | None = None
    fixed_id: str | None = None

    @property
    def author_party(self) -> str | None:
        return next((c.party for c in CALLERS if c.name == self.author), None)


REQUEST_OBJECTS = [
    ReqObj("R-icc-to-fra", author="icc_inv", addressee="FRA"),
    ReqObj("R-fra-to-nld", author="fra_fp", addressee="NLD"),
    ReqObj("R-absent", fixed_id=str(uuid.UUID(int=0x5EED5))),
    ReqObj("R-malformed-id", fixed_id="not-a-request-id"),
]


def request_document(addressee: str) -> dict[str, Any]:
    return {"addressee": addressee, "type": "formal", "measures": ["tracing"],
            "legal_basis": ["Rome Statute art. 93(1)(k)"], "priority": "standard",
            "title": "Matrix request", "body": "Matrix body", "tlp": "AMBER", "paris_paragraphs": ["13"],
            "subjects": [{"name": "Wenqiang Zhou-Matrix"}]}


def sees_request(caller: Caller, obj: ReqObj) -> bool:
    """CONTRACT: content roles of the requester and the addressee parties, nobody else."""
    return (caller.role in CONTENT_ROLES and obj.author_party is not None
            and caller.party in (obj.author_party, obj.addressee))


def visible_to(caller: Caller, author_party: str, recipients: list[str] | tuple[str, ...]) -> bool:
    """docs/http-contract.md: content roles of the author party and of every recipient party ("*": all)."""
    if caller.role not in CONTENT_ROLES:
        return False
    return author_party == caller.party or caller.party in recipients or "*" in recipients


def sees(caller: Caller, obj: Obj) -> bool:
    return obj.author_party is not None and visible_to(caller, obj.author_party, obj.recipients)


# -- the classification table -------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    """Who may call a route. kind: public | login | authenticated | content | auditor | focal_point |
    fra_write (FRA's legal profile or contact: only FRA's focal points) |
    notice_read | notice_write | notice_author (the object-scoped kinds take a {notice_id}) |
    portal (a browser page: a session cookie, never a bearer token, signs in; without one a page
    redirects to /login and a form post is refused) | portal_public (the sign-in page itself)."""

    kind: str
    ok: int = 200
    params: dict[str, Any] | list[tuple[str, str]] = field(default_factory=dict)
    body: str | None = None  # "notice": the object's own document; "search": a subject query
    fresh_token: bool = False  # the call consumes its token (logout)
    fresh_contact: bool = False  # the call retires its contact: each cell gets a new one

    @property
    def per_object(self) -> bool:
        return self.kind.startswith(("notice_", "request_"))

    @property
    def objects(self) -> list[Any]:
        if self.kind.startswith("request_"):
            return list(REQUEST_OBJECTS)
        return list(OBJECTS) if self.per_object else [None]

    @property
    def portal(self) -> bool:
        return self.kind.startswith("portal")


NOTICE = "/api/v1/notices/{notice_id}"
REQUEST = "/api/v1/requests/{request_id}"
HIT = "/api/v1/hits/{hit_id}"
ABSENT_HIT = str(uuid.UUID(int=0x417))
ACCESS: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): Rule("public"),
    ("GET", "/health/ready"): Rule("public"),
    ("GET", "/.well-known/jwks.json"): Rule("public"),
    ("POST", "/api/v1/auth/token"): Rule("login"),
    ("POST", "/api/v1/auth/logout"): Rule("authenticated", ok=204, fresh_token=True),
    ("GET", "/api/v1/me"): Rule("authenticated"),
    ("GET", "/api/v1/parties"): Rule("authenticated"),
    ("GET", "/api/v1/paris-paragraphs"): Rule("authenticated"),
    ("POST", "/api/v1/notices"): Rule("content", ok=201, body="new-notice"),
    ("GET", "/api/v1/notices"): Rule("content", params={"limit": 100}),
    ("GET", NOTICE): Rule("notice_read"),
    ("PUT", NOTICE): Rule("notice_write", body="notice"),
    ("GET", NOTICE + "/revisions"): Rule("notice_read"),
    # An export is a read by another name: whoever reads the notice exports it, others get the 404.
    ("GET", NOTICE + "/export"): Rule("notice_read", params={"format": "ftm"}),
    # CONTRACT: the access log is for the author party; anyone else gets the 404 of an absent notice.
    ("GET", NOTICE + "/access-log"): Rule("notice_author"),
    ("POST", "/api/v1/search/subjects"): Rule("content", body="search"),
    ("POST", "/api/v1/search/batch"): Rule("content", body="batch"),
    ("GET", "/api/v1/audit/entries"): Rule("auditor"),
    # CONTRACT: "any authenticated user" keeps checkpoints and checks proofs against them.
    ("GET", "/api/v1/audit/checkpoint"): Rule("authenticated"),
    ("GET", "/api/v1/audit/proofs/inclusion"): Rule("authenticated",
                                                     params={"index": 0, "tree_size": 1}),
    ("GET", "/api/v1/audit/proofs/consistency"): Rule("authenticated",
                                                       params={"first": 1, "second": 1}),
    # Public keys, like the JWKS: anyone holding a checkpoint must be able to verify it.
    ("GET", "/api/v1/audit/keys"): Rule("public"),
    # CONTRACT: legal profiles and the directory are read by every authenticated user; a State's
    # profile and contacts are written by that State's focal points only (here: FRA's).
    ("GET", "/api/v1/legislation"): Rule("authenticated", params={"q": "freezing"}),
    ("GET", "/api/v1/legislation/compare"): Rule("authenticated",
                                                 params=[("party", "FRA"), ("party", "NLD")]),
    ("GET", "/api/v1/legislation/freshness"): Rule("authenticated"),
    ("GET", "/api/v1/legislation/{party}"): Rule("authenticated"),
    ("GET", "/api/v1/legislation/{party}/revisions"): Rule("authenticated"),
    ("PUT", "/api/v1/legislation/{party}"): Rule("fra_write", body="profile"),
    ("GET", "/api/v1/directory"): Rule("authenticated", params={"party": "FRA"}),
    ("GET", "/api/v1/directory/stale"): Rule("focal_point"),
    ("POST", "/api/v1/directory"): Rule("focal_point", ok=201, body="contact"),
    ("PUT", "/api/v1/directory/{contact_id}"): Rule("fra_write", body="contact"),
    ("DELETE", "/api/v1/directory/{contact_id}"): Rule("fra_write", ok=204, fresh_contact=True),
    ("POST", "/api/v1/directory/{contact_id}/confirm"): Rule("fra_write"),
    # Each user's own inbox (empty for roles nothing is sent to); another user's notification is 404.
    ("GET", "/api/v1/notifications"): Rule("authenticated", params={"unread": "true"}),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Rule("own_notification"),
    ("GET", "/api/v1/obstacles"): Rule("authenticated"),
    ("POST", "/api/v1/requests"): Rule("content", ok=201, body="new-request"),
    ("GET", "/api/v1/requests"): Rule("content", params={"box": "inbox", "limit": 100}),
    ("GET", REQUEST): Rule("request_party"),
    ("GET", REQUEST + "/messages"): Rule("request_party"),
    ("POST", REQUEST + "/messages"): Rule("request_party", ok=201, body="message"),
    # Executing a request that was only sent is impossible for either side: 409 for its two parties
    # (it may see it, so 404 would be a lie), 404 for everyone else. Stateless, so cells don't interact.
    ("POST", REQUEST + "/transitions"): Rule("request_conflict", body="transition"),
    # Only consultations convert; the planted requests are formal: 409 likewise.
    ("POST", REQUEST + "/convert"): Rule("request_conflict"),
    ("POST", "/api/v1/enquiries"): Rule("content", ok=201, body="enquiry"),
    ("GET", "/api/v1/hits"): Rule("content", params={"box": "received"}),
    # Hits are decided by their owner party only; nobody owns the hit id the matrix names.
    ("POST", HIT + "/share"): Rule("hit_owner"),
    ("POST", HIT + "/decline"): Rule("hit_owner"),
    # Statistics derive from content: the content roles read them (app/policy.py can_read_statistics).
    ("GET", "/api/v1/stats/notices"): Rule("content", params={"by": "paris_paragraph",
                                                              "scope": "platform"}),
    ("GET", "/api/v1/stats/assets"): Rule("content", params={"by": "status", "scope": "mine"}),
    ("GET", "/api/v1/stats/requests"): Rule("content", params={"by": "priority", "scope": "platform"}),
    # Portal pages (tests/test_web_*.py test them signed in; here: no bearer token opens them).
    ("GET", "/"): Rule("portal"),
    ("GET", "/login"): Rule("portal_public"),
    ("POST", "/login"): Rule("portal_public", ok=403),  # no login CSRF cookie and token
    ("POST", "/logout"): Rule("portal"),
    ("GET", "/account"): Rule("portal"),
    ("POST", "/account/password"): Rule("portal"),
    ("POST", "/account/totp/start"): Rule("portal"),
    ("POST", "/account/totp/confirm"): Rule("portal"),
    ("GET", "/notices"): Rule("portal"),
    ("GET", "/notices/new"): Rule("portal"),
    ("POST", "/notices/new"): Rule("portal"),
    ("GET", "/notices/{notice_id}"): Rule("portal"),
    ("GET", "/notices/{notice_id}/edit"): Rule("portal"),
    ("POST", "/notices/{notice_id}/edit"): Rule("portal"),
    ("GET", "/search"): Rule("portal"),
    ("POST", "/search"): Rule("portal"),
    ("GET", "/requests"): Rule("portal"),
    ("GET", "/requests/new"): Rule("portal"),
    ("POST", "/requests/new"): Rule("portal"),
    ("GET", "/requests/{request_id}"): Rule("portal"),
    ("POST", "/requests/{request_id}/messages"): Rule("portal"),
    ("POST", "/requests/{request_id}/transitions"): Rule("portal"),
    ("POST", "/requests/{request_id}/convert"): Rule("portal"),
    ("GET", "/notifications"): Rule("portal"),
    ("POST", "/notifications/{notification_id}/read"): Rule("portal"),
    ("GET", "/parties"): Rule("portal"),
    ("GET", "/paris-paragraphs"): Rule("portal"),
    ("GET", "/legislation"): Rule("portal"),
    ("GET", "/legislation/compare"): Rule("portal"),
    ("GET", "/legislation/freshness"): Rule("portal"),
    ("GET", "/legislation/{party}"): Rule("portal"),
    ("GET", "/legislation/{party}/edit"): Rule("portal"),
    ("POST", "/legislation/{party}/edit"): Rule("portal"),
    ("GET", "/directory"): Rule("portal"),
    ("GET", "/directory/stale"): Rule("portal"),
    ("GET", "/directory/new"): Rule("portal"),
    ("POST", "/directory/new"): Rule("portal"),
    ("GET", "/directory/{contact_id}/edit"): Rule("portal"),
    ("POST", "/directory/{contact_id}/edit"): Rule("portal"),
    ("POST", "/directory/{contact_id}/confirm"): Rule("portal"),
    ("POST", "/directory/{contact_id}/retire"): Rule("portal"),
    ("GET", "/enquiries"): Rule("portal"),
    ("POST", "/enquiries"): Rule("portal"),
    ("GET", "/hits"): Rule("portal"),
    ("POST", "/hits/{hit_id}/share"): Rule("portal"),
    ("POST", "/hits/{hit_id}/decline"): Rule("portal"),
    ("GET", "/stats"): Rule("portal"),
    ("GET", "/stats/charts/{name}.svg"): Rule("portal"),
    ("GET", "/stats/charts/{name}.csv"): Rule("portal"),
    ("GET", "/stats/report"): Rule("portal"),
    ("GET", "/stats/report.csv"): Rule("portal"),
}
NOTIFIED = "fra_fp"  # the owner of the notification the own_notification cells target


def expected(rule: Rule, caller: Caller, obj: Obj | ReqObj | None) -> int:
    """The one status the rule gives this caller on this object."""
    if rule.kind in ("public", "login", "portal_public"):
        return rule.ok
    if rule.kind == "portal":
        return 303  # to /login: a bearer token is no portal session
    if caller.role is None:
        return 401
    if rule.kind == "authenticated":
        return rule.ok
    if rule.kind == "content":
        return rule.ok if caller.role in CONTENT_ROLES else 403
    if rule.kind == "auditor":
        return rule.ok if caller.role == "auditor" else 403
    if rule.kind == "focal_point":
        return rule.ok if caller.role == "focal_point" else 403
    if rule.kind == "fra_write":
        return rule.ok if (caller.role, caller.party) == ("focal_point", "FRA") else 403
    if rule.kind == "hit_owner":
        return 404  # absent and not owned answer alike
    if rule.kind == "own_notification":
        return rule.ok if caller.name == NOTIFIED else 404
    assert obj is not None
    if isinstance(obj, ReqObj):
        if not sees_request(caller, obj):
            return 404
        return rule.ok if rule.kind == "request_party" else 409
    if not sees(caller, obj):
        return 404  # invisible answers exactly like absent
    is_author = obj.author_party == caller.party
    if rule.kind == "notice_read":
        return rule.ok
    if rule.kind == "notice_write":
        return rule.ok if is_author else 403  # it may see the notice, so a 404 would be a lie
    if rule.kind == "notice_author":
        return rule.ok if is_author else 404
    raise AssertionError(f"unknown rule kind {rule.kind}")


PROFILE: dict[str, Any] = {
    "language": "en", "summary": "Matrix profile: freezing at the Court's request.",
    "measures": {"freezing": {"available": True, "legal_basis": "Matrix Act, s. 1"}},
    "request_requirements": {"languages": ["en"], "channel": "central authority"}}
CONTACT: dict[str, Any] = {"name": "Matrix Contact", "function": "Focal point", "areas": ["general"],
                           "languages": ["en"], "availability": "office_hours"}


def add_contact(client: TestClient, token: str) -> str:
    response = client.post("/api/v1/directory", json=CONTACT, headers=bearer(token))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


# -- the service under test ---------------------------------------------------------------------------
def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, schema or not."""
    app: Any = client.app
    # A typed segment ({party:alpha3}) is the schema's {party}.
    found = {(method, re.sub(r"\{(\w+):\w+\}", r"{\1}", context.path))
             for context in iter_route_contexts(app.routes)
             for method in (context.methods or ()) if context.path is not None}
    documented = {(method.upper(), path) for path, item in app.openapi()["paths"].items()
                  for method in item}
    assert documented <= found, documented - found  # the enumeration misses nothing OpenAPI knows
    return found


@dataclass
class Service:
    runtime: Runtime
    client: TestClient
    routes: set[tuple[str, str]]
    tokens: dict[str, str]
    ids: dict[str, str]
    fixed: dict[str, str]  # {party} and {contact_id} of the profile and contact the matrix plays on

    def url(self, path: str, obj: Obj | ReqObj | None) -> str:
        default = "R-icc-to-fra" if "{request_id}" in path else "A-fra-to-deu"
        target = self.ids[obj.name if obj is not None else default]
        return path.format(notice_id=target, request_id=target, **self.fixed)

    def headers(self, caller: Caller, fresh: bool = False) -> dict[str, str]:
        if caller.role is None:
            return {}
        return bearer(login(self.client, caller.name) if fresh else self.tokens[caller.name])

    def call(self, method: str, path: str, rule: Rule, caller: Caller,
             obj: Obj | ReqObj | None) -> Any:
        fixed = self.fixed
        if rule.fresh_contact:
            fixed = {**fixed, "contact_id": add_contact(self.client, self.tokens["fra_fp"])}
        default = "R-icc-to-fra" if "{request_id}" in path else "A-fra-to-deu"
        target = self.ids[obj.name if obj is not None else default]
        url = path.format(notice_id=target, request_id=target, **fixed)
        kwargs: dict[str, Any] = {"headers": self.headers(caller, rule.fresh_token),
                                  "params": rule.params}
        if rule.portal:
            kwargs["follow_redirects"] = False
            kwargs["data"] = {"csrf_token": "x"} if method == "POST" else None
        if rule.body == "notice":
            assert isinstance(obj, Obj)
            kwargs["json"] = obj.document()  # unchanged routing: visibility stays as planned
        elif rule.body == "new-notice":
            kwargs["json"] = notice_document(recipients=[caller.party or "FRA"], subjects=[
                {"name": "Wenqiang Zhou-Matrix", "birth_date": "1970-01-01"}])
        elif rule.body == "enquiry":
            kwargs["json"] = {"subjects": [{"name": "Jean-Pierre Exemple",
                                            "birth_date": "1962-11-04"}],
                              "purpose": "matrix", "legal_basis": "matrix"}
        elif rule.body == "new-request":
            kwargs["json"] = request_document("NLD" if caller.party == "FRA" else "FRA")
        elif rule.body == "message":
            kwargs["json"] = {"body": "Matrix message"}
        elif rule.body == "transition":
            kwargs["json"] = {"status": "executed"}
        elif rule.body == "search":
            kwargs["json"] = {"name": "Jean-Pierre Exemple", "limit": 100}
        elif rule.body == "batch":
            kwargs["json"] = {"queries": {"q": {"schema": "Person",
                                                "properties": {"name": ["Jean-Pierre Exemple"]}}}}
            kwargs["params"] = {"limit": 100}
        elif rule.body == "profile":
            kwargs["json"] = PROFILE
        elif rule.body == "contact":
            kwargs["json"] = CONTACT
        if rule.kind == "login":
            kwargs["data"] = {"username": caller.name if caller.role else "fra_fp",
                              "password": "correct horse battery staple"}
        return self.client.request(method, url, **kwargs)


@pytest.fixture(scope="module")
def service(databases: DatabaseFactory, keyring_template: Path,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with serve(databases, keyring_template, tmp_path_factory.mktemp("matrix")) as (runtime, client):
        for code in ("FRA", "NLD", "DEU"):
            make_party(runtime, code=code)
        for caller in CALLERS[1:]:
            make_user(runtime, username=caller.name, party=str(caller.party), role=str(caller.role))
        tokens = {c.name: login(client, c.name) for c in CALLERS[1:]}
        ids = {}
        for obj in OBJECTS:
            if obj.author is None:
                ids[obj.name] = str(obj.fixed_id)
                continue
            response = client.post("/api/v1/notices", json=obj.document(),
                                   headers=bearer(tokens[obj.author]))
            assert response.status_code == 201, response.text
            ids[obj.name] = response.json()["id"]
        for code in ("FRA", "NLD"):
            response = client.put(f"/api/v1/legislation/{code}", json=PROFILE,
                                  headers=bearer(tokens[f"{code.lower()}_fp"]))
            assert response.status_code == 200, response.text
        contact_id = add_contact(client, tokens["fra_fp"])
        for robj in REQUEST_OBJECTS:
            if robj.author is None:
                ids[robj.name] = str(robj.fixed_id)
                continue
            response = client.post("/api/v1/requests", json=request_document(str(robj.addressee)),
                                   headers=bearer(tokens[robj.author]))
            assert response.status_code == 201, response.text
            ids[robj.name] = response.json()["id"]
        with runtime.db.unit_of_work() as session:  # C-nld-to-all notified fra_fp
            ids["notification"] = str(session.scalar(
                select(Notification.id).join(User, User.id == Notification.user_id)
                .where(User.username == NOTIFIED).order_by(Notification.id).limit(1)))
        fixed = {"party": "FRA", "contact_id": contact_id, "notification_id": ids["notification"],
                 "hit_id": ABSENT_HIT, "name": "notices-by-paragraph"}
        routes = app_routes(client)
        if ("GET", "/api/v1/audit/checkpoint") in routes:
            # Proof and checkpoint cells need a signed tree head: wait for the sequencer's first.
            deadline = time.monotonic() + 10
            while client.get("/api/v1/audit/checkpoint",
                             headers=bearer(tokens["fra_fp"])).status_code != 200:
                assert time.monotonic() < deadline, "no audit checkpoint was signed"
                time.sleep(0.1)
        yield Service(runtime=runtime, client=client, routes=routes, tokens=tokens, ids=ids,
                      fixed=fixed)


# -- the tests ----------------------------------------------------------------------------------------
def test_every_route_is_classified(service: Service) -> None:
    unclassified = sorted(service.routes - set(ACCESS))
    assert not unclassified, f"classify these routes in ACCESS: {unclassified}"


def cells() -> Iterator[Any]:
    for (method, path), rule in ACCESS.items():
        for caller in CALLERS:
            for obj in rule.objects:
                label = f"{method} {path} | {caller.name}" + (f" | {obj.name}" if obj else "")
                yield pytest.param(method, path, caller, obj, id=label)


def skip_if_absent(service: Service, method: str, path: str) -> None:
    if (method, path) not in service.routes:
        pytest.skip(f"{method} {path} is not served by this build")


@pytest.mark.parametrize(("method", "path", "caller", "obj"), list(cells()))
def test_matrix(service: Service, method: str, path: str, caller: Caller,
                obj: Obj | ReqObj | None) -> None:
    skip_if_absent(service, method, path)
    rule = ACCESS[(method, path)]
    want = expected(rule, caller, obj)
    response = service.call(method, path, rule, caller, obj)
    assert response.status_code == want, (response.status_code, response.text)
    if rule.portal:
        if want == 303:
            assert response.headers["location"].startswith("/login")
        return
    if want >= 400:
        body = assert_problem(response, want)
        if want == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        assert body.get("instance") == response.request.url.path
        if want in (403, 404):
            assert_refusal_audited(service, caller, obj, response)
    elif rule.kind == "content" and path == "/api/v1/requests" and method == "GET":
        planted = {service.ids[o.name]: o for o in REQUEST_OBJECTS if o.author is not None}
        ids = [i["id"] for i in response.json()["items"]]
        assert {i for i in ids if i in planted} == {
            i for i, o in planted.items() if sees_request(caller, o) and o.addressee == caller.party}
        for item in response.json()["items"]:  # inbox: addressed to the caller's party, always
            assert item["addressee"] == caller.party, item["id"]
    elif rule.kind == "content" and path.startswith("/api/v1/stats/"):
        # Aggregates, never items (tests/test_stats_api.py checks the figures and the suppression).
        assert set(response.json()) == {"rows", "suppressed"}
        assert not any(service.ids[o.name] in response.text for o in OBJECTS if o.author)
    elif rule.kind == "content" and method == "GET" and path != "/api/v1/hits":
        assert_only_visible(service, caller, [i["id"] for i in response.json()["items"]],
                            response.json()["items"])
    elif rule.kind == "content" and path.endswith("/enquiries"):
        # Hit/no-hit: the parties of exactly the planted notices (all the same subject) it may not
        # see, as party codes and nothing else.
        hidden = sorted({str(o.author_party) for o in OBJECTS if o.author and not sees(caller, o)})
        assert [h["party"] for h in response.json()["hits"]] == hidden
        assert not any(service.ids[o.name] in response.text for o in OBJECTS if o.author)
    elif rule.kind == "content" and path.endswith("/search/subjects"):
        assert_only_visible(service, caller, [m["notice_id"] for m in response.json()["matches"]])
    elif rule.kind == "content" and path.endswith("/search/batch"):
        assert_only_visible(service, caller, [r["notice_id"] for r in
                                              response.json()["responses"]["q"]["results"]])


def assert_refusal_audited(service: Service, caller: Caller, obj: Any, response: Any) -> None:
    """Every refusal of an authenticated caller (role or visibility) leaves exactly one denied entry,
    under the request id the server gave it, naming an object only by a well-formed id."""
    with service.runtime.db.unit_of_work() as session:
        entries = list(session.scalars(select(AuditEntry).where(
            AuditEntry.request_id == response.headers["x-request-id"])))
    assert [(e.username, e.outcome) for e in entries] == [(caller.name, "denied")], response.text
    object_id = entries[0].object_id
    assert object_id is None or CANONICAL_UUID.fullmatch(object_id), object_id
    if obj is not None and obj in OBJECTS:
        attempted = service.ids[obj.name]
        assert object_id == (attempted if CANONICAL_UUID.fullmatch(attempted) else None)


def assert_only_visible(service: Service, caller: Caller, ids: list[str],
                        items: list[dict[str, Any]] | None = None) -> None:
    """A list or search shows exactly the planted notices the caller sees, and nothing it may not."""
    planted = {service.ids[o.name]: o for o in OBJECTS if o.author is not None}
    assert {i for i in ids if i in planted} == {i for i, o in planted.items() if sees(caller, o)}
    for item in items or []:  # notices other cells posted: check them by their own routing fields
        assert visible_to(caller, item["author_party"], item["recipients"]), item["id"]


def invisible_cells() -> Iterator[Any]:
    for (method, path), rule in ACCESS.items():
        if rule.per_object:
            for caller in CALLERS[1:]:
                for obj in rule.objects:
                    hidden = (not sees_request(caller, obj) if isinstance(obj, ReqObj)
                              else not sees(caller, obj))
                    if obj.author is not None and hidden:
                        yield pytest.param(method, path, caller, obj,
                                           id=f"{method} {path} | {caller.name} | {obj.name}")


@pytest.mark.parametrize(("method", "path", "caller", "obj"), list(invisible_cells()))
def test_invisible_answers_exactly_like_absent(service: Service, method: str, path: str,
                                               caller: Caller, obj: Obj | ReqObj) -> None:
    """Same status, headers and body (but for the instance path): nothing tells the two apart."""
    skip_if_absent(service, method, path)
    rule = ACCESS[(method, path)]
    hidden = service.call(method, path, rule, caller, obj)
    absent = service.call(method, path, rule, caller,
                          REQUEST_OBJECTS[2] if isinstance(obj, ReqObj) else OBJECTS[3])
    assert_problem(hidden, 404)

    def shape(response: Any) -> tuple[Any, ...]:
        body = dict(response.json())
        assert body.pop("instance") == response.request.url.path
        headers = {k: v for k, v in response.headers.items()
                   if k not in ("x-request-id", "date", "content-length")}
        return response.status_code, headers, body

    assert shape(hidden) == shape(absent)


def test_denied_object_access_is_audited(service: Service) -> None:
    """A refused read leaves an entry naming caller and object, outcome denied."""
    target = service.ids["A-fra-to-deu"]
    nld = CALLERS[3]
    assert_problem(service.client.get(f"/api/v1/notices/{target}", headers=service.headers(nld)), 404)
    with service.runtime.db.unit_of_work() as session:
        outcomes = session.scalars(select(AuditEntry.outcome).where(
            AuditEntry.username == "nld_fp", AuditEntry.object_id == target,
            AuditEntry.action == "notice.read"))
        assert "denied" in list(outcomes)


@pytest.mark.parametrize("caller", [CALLERS[0], CALLERS[6]], ids=lambda c: c.name)
def test_unrouted_methods_are_405_for_everyone(service: Service, caller: Caller) -> None:
    templates = {(m, p): re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$")
                 for m, p in service.routes}
    for path in sorted({p for _, p in service.routes}):
        url = service.url(path, None)
        # A URL may fit several templates (/legislation/compare is also /legislation/{party}).
        allowed = {m for (m, _), pattern in templates.items() if pattern.match(url)}
        for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed):
            response = service.client.request(method, url, headers=service.headers(caller))
            assert_problem(response, 405)
