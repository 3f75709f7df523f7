"""Rebuilding the statistics aggregates from the notices themselves (`arx stats rebuild`): after the
migration that created them (a migration holds no keys, so it cannot open notices), or to check them.

A job: it clears the aggregates in one transaction, then opens the current revision of every notice in
batches, each batch its own transaction. Run it while the service is stopped (like a migration): a
notice written during the rebuild would be counted by its after-write hook and again by the rebuild.
Interrupted, it is simply run again (it starts by clearing)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sqlalchemy import and_, delete, or_, select

from app.audit.record import Action, record
from app.auth.principal import Principal
from app.notices.models import Notice, NoticeRevision
from app.notices.schemas import NoticeDocument
from app.notices.service import open_content
from app.runtime import Runtime
from app.stats.models import StatCell
from app.stats.service import Delta, Key, apply_deltas, contribution, month_of

BATCH = 500


def _rebuild_batch(runtime: Runtime, after: str, batch: int) -> tuple[str | None, int]:
    """Count the next batch of notices (ids after `after`); the last id counted and how many."""
    with runtime.db.unit_of_work() as session:
        notices = list(session.scalars(select(Notice).where(Notice.id > after)
                                       .order_by(Notice.id).limit(batch)))
        if not notices:
            return None, 0
        revisions = {r.notice_id: r for r in session.scalars(select(NoticeRevision).where(or_(
            *(and_(NoticeRevision.notice_id == n.id, NoticeRevision.revision == n.current_revision)
              for n in notices))))}
        deltas: dict[Key, Delta] = defaultdict(Delta)
        for notice in notices:
            doc = NoticeDocument.model_validate(open_content(runtime, notice, revisions[notice.id]))
            for key, delta in contribution(notice.author_party, month_of(notice.created_at),
                                           doc).items():
                deltas[key].add(delta, +1)
        apply_deltas(session, deltas)
        return notices[-1].id, len(notices)


def rebuild_statistics(runtime: Runtime, operator: Principal, *, batch: int = BATCH,
                       progress: Callable[[int], None] | None = None) -> int:
    """Recompute every aggregate from the current revisions; the number of notices counted."""
    with runtime.db.unit_of_work() as session:
        session.execute(delete(StatCell))
        record(session, operator, Action.STATS_REBUILD)
    after, total = "", 0
    while True:
        last, counted = _rebuild_batch(runtime, after, batch)
        if last is None:
            return total
        after, total = last, total + counted
        if progress is not None:
            progress(total)
