"""The predicates of app/policy.py agree with its SQL filters, across every role, party and routing.

The routers answer single notices through the SQL filters and pages decide what to show with the
predicates: if the two ever disagreed, a page would show a link to a 404, or hide what the API serves.
"""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from app import policy
from app.auth.principal import Principal, Role
from app.notices.models import Notice, NoticeRecipient
from tests.support.factories import World

PARTIES = ("FRA", "NLD", "DEU", "ICC")
# (author, recipients): the Court, another State, several, a State to the Court, every party.
ROUTINGS = [("fra_fp", ["ICC"]), ("fra_fp", ["NLD"]), ("fra_fp", ["NLD", "DEU"]), ("nld_fp", ["ICC"]),
            ("deu_fp", ["*"]), ("icc_inv", ["FRA"])]
PRINCIPALS = [Principal(username=f"{party.lower()}_{role}", party=party, role=role, request_id="matrix")
              for party, role in itertools.product(PARTIES, list(Role))]


@pytest.fixture
def routed(world: World) -> World:
    for author, recipients in ROUTINGS:
        world.post_notice(author, recipients=recipients, tlp="GREEN")
    return world


def _routing(world: World) -> dict[str, tuple[str, list[str]]]:
    with world.runtime.db.unit_of_work() as session:
        notices = {n.id: n.author_party for n in session.scalars(select(Notice))}
        named: dict[str, list[str]] = {notice_id: [] for notice_id in notices}
        for notice_id, code in session.execute(select(NoticeRecipient.notice_id, NoticeRecipient.party_code)):
            named[notice_id].append(code)
    return {notice_id: (author, named[notice_id]) for notice_id, author in notices.items()}


def _admitted(world: World, *where: object) -> set[str]:
    with world.runtime.db.unit_of_work() as session:
        return set(session.scalars(select(Notice.id).where(*where)))  # type: ignore[arg-type]


def test_can_read_notice_agrees_with_visible_notices(routed: World) -> None:
    routing = _routing(routed)
    assert len(routing) == len(ROUTINGS)
    seen_any = False
    for principal in PRINCIPALS:
        by_sql = _admitted(routed, policy.visible_notices(principal))
        by_predicate = {n for n, (author, named) in routing.items()
                        if policy.can_read_notice(principal, author, named)}
        assert by_sql == by_predicate, principal
        seen_any = seen_any or bool(by_sql)
    assert seen_any  # the matrix is not vacuous


def test_revise_and_access_log_predicates_agree_with_their_filters(routed: World) -> None:
    routing = _routing(routed)
    for principal in PRINCIPALS:
        own = {n for n, (author, _) in routing.items() if author == principal.party}
        expected = own if principal.role in policy.CONTENT_ROLES else set()
        assert _admitted(routed, policy.revisable_notices(principal)) == expected, principal
        assert _admitted(routed, policy.access_log_notices(principal)) == expected, principal
        assert {n for n, (author, _) in routing.items()
                if policy.can_revise_notice(principal, author)} == expected
        assert {n for n, (author, _) in routing.items()
                if policy.can_read_access_log(principal, author)} == expected
