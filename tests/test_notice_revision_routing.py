"""Each revision is shown only to parties it was shared with when written (issue 11, item 2)."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import select

from app import policy
from app.auth.principal import Principal, Role
from app.db import Database, alembic_config
from app.notices.models import Notice, NoticeRevision, NoticeRevisionRecipient
from tests.support.factories import World, assert_problem

SECRET = {"name": "Oksana Secretiva", "birth_date": "1966-06-06"}


def revise(world: World, who: str, notice: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = {k: notice[k] for k in ("kind", "title", "tlp", "recipients", "paris_paragraphs",
                                  "subjects", "assets")}
    response = world.client.put(f"/api/v1/notices/{notice['id']}", json={**doc, **changes},
                                headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def history(world: World, who: str, notice_id: object) -> list[dict[str, Any]]:
    response = world.client.get(f"/api/v1/notices/{notice_id}/revisions", headers=world.headers(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


class TestRevisionHistory:
    def test_widened_notice_hides_its_restricted_first_revision(self, world: World) -> None:
        notice = world.post_notice("fra_fp", tlp="RED", recipients=["ICC"], subjects=[SECRET],
                                   narrative="source: informant K")
        revise(world, "fra_fp", notice, tlp="CLEAR", recipients=["*"], subjects=[], narrative=None)
        seen = history(world, "nld_fp", notice["id"])
        assert [r["revision"] for r in seen] == [2]
        assert "Secretiva" not in str(seen) and "informant" not in str(seen)
        assert [r["revision"] for r in history(world, "icc_inv", notice["id"])] == [1, 2]
        assert [r["revision"] for r in history(world, "fra_fp", notice["id"])] == [1, 2]
        assert [r["tlp"] for r in history(world, "fra_fp", notice["id"])] == ["RED", "CLEAR"]

    def test_a_party_added_later_sees_only_revisions_from_then_on(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        second = revise(world, "fra_fp", notice, recipients=["DEU", "NLD"])
        revise(world, "fra_fp", second, recipients=["DEU", "NLD"], title="third")
        assert [r["revision"] for r in history(world, "deu_fp", notice["id"])] == [2, 3]
        assert [r["revision"] for r in history(world, "nld_fp", notice["id"])] == [1, 2, 3]

    def test_a_party_removed_gets_404_like_any_stranger(self, world: World) -> None:
        notice = world.post_notice("fra_fp", recipients=["NLD"])
        revise(world, "fra_fp", notice, recipients=["DEU"])
        assert_problem(world.client.get(f"/api/v1/notices/{notice['id']}/revisions",
                                        headers=world.headers("nld_fp")), 404)

    def test_predicate_and_sql_filter_agree(self, world: World) -> None:
        first = world.post_notice("fra_fp", tlp="RED", recipients=["ICC"])
        revise(world, "fra_fp", first, tlp="CLEAR", recipients=["*"])
        other = world.post_notice("deu_fp", recipients=["NLD"])
        revise(world, "deu_fp", other, recipients=["FRA", "NLD"])
        principals = [Principal(username="x", party=party, role=role, request_id="r")
                      for party in ("FRA", "NLD", "DEU", "ICC", "BEL")
                      for role in (Role.FOCAL_POINT, Role.AUDITOR)]
        with world.runtime.db.unit_of_work() as session:
            rows = session.execute(select(NoticeRevision, Notice.author_party)
                                   .join(Notice, Notice.id == NoticeRevision.notice_id)).all()
            for principal in principals:
                by_sql = set(session.execute(
                    select(NoticeRevision.notice_id, NoticeRevision.revision)
                    .join(Notice, Notice.id == NoticeRevision.notice_id)
                    .where(policy.visible_revisions(principal))).all())
                by_predicate = {(r.notice_id, r.revision) for r, author in rows
                                if policy.can_read_revision(principal, author,
                                                            [c.party_code for c in r.recipients])}
                assert by_sql == by_predicate, principal
        assert by_sql == set()  # the last principal is an auditor: never any content


class TestMigrationBackfill:
    def test_existing_revisions_get_the_notices_current_routing(self, world: World,
                                                                database_url: str) -> None:
        notice = world.post_notice("fra_fp", tlp="RED", recipients=["ICC"])
        revise(world, "fra_fp", notice, tlp="GREEN", recipients=["DEU", "NLD"])
        world.runtime.db.dispose()
        cfg = alembic_config(database_url)
        before = ScriptDirectory.from_config(cfg).get_revision("0003")
        assert before is not None and isinstance(before.down_revision, str)
        command.downgrade(cfg, before.down_revision)
        command.upgrade(cfg, "head")
        db = Database(database_url)
        try:
            with db.unit_of_work() as session:
                tlps = list(session.scalars(select(NoticeRevision.tlp)
                                            .order_by(NoticeRevision.revision)))
                routed = session.execute(select(NoticeRevisionRecipient.revision,
                                                NoticeRevisionRecipient.party_code)
                                         .order_by(NoticeRevisionRecipient.revision,
                                                   NoticeRevisionRecipient.party_code)).all()
        finally:
            db.dispose()
        assert tlps == ["GREEN", "GREEN"]
        assert [tuple(r) for r in routed] == [(1, "DEU"), (1, "NLD"), (2, "DEU"), (2, "NLD")]
