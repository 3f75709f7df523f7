"""Statistics over notices, their assets and requests for cooperation (docs/statistics.md).

Notices and assets are counted from running aggregates (app/stats/models.py) that posting and revising
maintain in their own transaction (`record_notice_write`, subscribed to the notices' after-write hook):
a revision subtracts what the previous revision contributed and adds its own. Requests are counted from
their routing columns, which are in clear already (statuses, dates, obstacle codes).

Two scopes. `mine`: the caller's party's own notices and requests, complete. `platform`: every party's,
summed across parties and never broken down by party (a breakdown by addressee, requester or asset
jurisdiction is refused with 422 there); a cell is shown only when at least MIN_CELL notices (requests)
of *other* parties than the caller's are behind it, so that platform minus mine never isolates fewer
than MIN_CELL notices of others; suppressed cells are counted, never shown.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, func, select, text
from sqlalchemy.orm import Session

from app import policy
from app.audit.record import Action, record
from app.auth.principal import Principal
from app.errors import InvalidInput
from app.notices.models import NoticeRevision
from app.notices.schemas import NoticeDocument
from app.notices.service import ACCOUNT, NoticeWritten, after_notice_written, open_content
from app.requests.machine import FINAL
from app.requests.models import CooperationRequest
from app.requests.schemas import Status
from app.runtime import Runtime
from app.stats.models import StatCell

MIN_CELL = 3
NOTICE, ASSET = "notice", "asset"
Scope = Literal["mine", "platform"]
NoticeBy = Literal["paris_paragraph", "kind", "month"]
AssetBy = Literal["status", "jurisdiction", "paris_paragraph", "month"]
RequestBy = Literal["addressee", "requester", "status", "obstacle", "priority"]
# Breakdowns that would show one party's own figures on the platform scope: refused there.
PARTY_BREAKDOWNS = frozenset({"addressee", "requester", "jurisdiction"})
ASSET_STATUSES = ("identified", "traced", "frozen", "seized", "confiscated", "released", "returned")
# Turnaround counts requests the addressee closed; a withdrawal is the requester's, not an execution.
EXECUTED = frozenset({Status.EXECUTED, Status.PARTIALLY_EXECUTED, Status.REFUSED})
SCALE = 10_000  # the notice schema keeps amounts to four decimal places


# -- maintaining the aggregates ------------------------------------------------------------------------
Key = tuple[str, str, str, str, str, str]  # subject, dimension, party, month, value, currency


@dataclass
class Delta:
    items: int = 0
    notices: int = 0
    amount: int = 0  # in ten-thousandths

    def add(self, other: Delta, sign: int) -> None:
        self.items += sign * other.items
        self.notices += sign * other.notices
        self.amount += sign * other.amount

    def __bool__(self) -> bool:
        return bool(self.items or self.notices or self.amount)


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m") if moment.tzinfo else moment.strftime("%Y-%m")


def contribution(party: str, month: str, doc: NoticeDocument) -> dict[Key, Delta]:
    """What one revision of a notice adds to the aggregates: the notice once per kind and paragraph;
    each asset once per status, jurisdiction and paragraph, with its amount in its currency's cells.
    ``notices`` counts the notice once in every cell it touches."""
    cells: dict[Key, Delta] = defaultdict(Delta)
    paragraphs = sorted(set(doc.paris_paragraphs))
    for dimension, values in (("kind", [doc.kind]), ("paris_paragraph", paragraphs)):
        for value in values:
            cells[(NOTICE, dimension, party, month, value, "")] = Delta(1, 1, 0)
    touched: set[Key] = set()
    for asset in doc.assets:
        currency = asset.value.currency if asset.value is not None else ""
        amount = int(asset.value.amount * SCALE) if asset.value is not None else 0
        for dimension, value in (("status", str(asset.status)),
                                 ("jurisdiction", asset.jurisdiction or ""),
                                 *(("paris_paragraph", p) for p in paragraphs)):
            key = (ASSET, dimension, party, month, value, currency)
            cells[key].items += 1
            cells[key].amount += amount
            touched.add(key)
    for key in touched:
        cells[key].notices = 1
    return cells


_KEY = ("subject", "dimension", "party", "month", "value", "currency")
_SUMMED = ("items", "notices", "amount_units", "amount_fraction")
# The same SQL on SQLite and PostgreSQL, as text: SQLAlchemy's on_conflict_do_update() has no cache key,
# so it was compiled afresh on every write (which cost more than the write).
_UPSERT = text(
    f"INSERT INTO {StatCell.__tablename__} ({', '.join(_KEY + _SUMMED)}) "
    f"VALUES ({', '.join(':' + c for c in _KEY + _SUMMED)}) "
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = {StatCell.__tablename__}.{c} + excluded.{c}" for c in _SUMMED))


def apply_deltas(session: Session, deltas: dict[Key, Delta]) -> None:
    """Add deltas to their cells in one upsert statement (atomic per row on PostgreSQL; rows in key
    order, so two concurrent writers lock shared cells in the same order)."""
    rows = [{"subject": k[0], "dimension": k[1], "party": k[2], "month": k[3], "value": k[4][:48],
             "currency": k[5], "items": d.items, "notices": d.notices,
             "amount_units": d.amount // SCALE, "amount_fraction": d.amount % SCALE}
            for k, d in sorted(deltas.items()) if d]
    if rows:
        session.execute(_UPSERT, rows)


def notice_write_deltas(party: str, created_at: datetime, doc: NoticeDocument,
                        previous: NoticeDocument | None) -> dict[Key, Delta]:
    """The net change of a write: the new revision's contribution minus the previous revision's."""
    month = month_of(created_at)
    deltas: dict[Key, Delta] = defaultdict(Delta)
    for key, delta in contribution(party, month, doc).items():
        deltas[key].add(delta, +1)
    if previous is not None:
        for key, delta in contribution(party, month, previous).items():
            deltas[key].add(delta, -1)
    return deltas


def record_notice_write(session: Session, party: str, created_at: datetime, doc: NoticeDocument,
                        previous: NoticeDocument | None) -> None:
    """Account a posted (previous None) or revised notice in the aggregates, in its transaction."""
    apply_deltas(session, notice_write_deltas(party, created_at, doc, previous))


def previous_document(session: Session, runtime: Runtime, written: NoticeWritten) -> NoticeDocument | None:
    """The revision a write replaced, opened (None for a new notice): its contribution is subtracted.
    No caller sees it: it only turns into the negative of what it had added."""
    if written.revision <= 1:
        return None
    notice = written.notice
    revision = session.get(NoticeRevision, (notice.id, written.revision - 1))
    assert revision is not None
    return NoticeDocument.model_validate(open_content(runtime, notice, revision))


@after_notice_written(ACCOUNT)
def count_notice(session: Session, runtime: Runtime, principal: Principal,
                 written: NoticeWritten) -> None:
    """The statistics' after-write hook: a post adds its contribution, a revision replaces the previous
    revision's, in the posting transaction (so the aggregates never disagree with the notices)."""
    notice = written.notice
    record_notice_write(session, notice.author_party, notice.created_at, written.document,
                        previous_document(session, runtime, written))


# -- reading them ---------------------------------------------------------------------------------------
@dataclass
class StatsTable:
    """Rows of one breakdown, and how many cells suppression withheld."""

    rows: list[dict[str, Any]]
    suppressed: int = 0


def _refuse_party_breakdown(by: str, scope: Scope) -> None:
    if scope == "platform" and by in PARTY_BREAKDOWNS:
        raise InvalidInput(
            f"by={by} is available for scope=mine only: platform statistics are never broken down by "
            "party", errors=[{"field": "by", "message": "not available for scope=platform"}])


def _year_months(year: int | None) -> ColumnElement[bool] | None:
    if year is None:
        return None
    return and_(StatCell.month >= f"{year:04d}-01", StatCell.month <= f"{year:04d}-12")


def _cell_query(principal: Principal, scope: Scope, subject: str, dimension: str,
                year: int | None, group: Sequence[Any]) -> Any:
    scoped = policy.own_stat_cells(principal) if scope == "mine" else policy.all_stat_cells(principal)
    others = func.sum(case((policy.own_stat_cells(principal), 0), else_=StatCell.notices))
    query = (select(*group, func.sum(StatCell.items), func.sum(StatCell.notices), others,
                    func.sum(StatCell.amount_units), func.sum(StatCell.amount_fraction))
             .where(StatCell.subject == subject, StatCell.dimension == dimension, scoped)
             .group_by(*group).order_by(*group))
    months = _year_months(year)
    return query if months is None else query.where(months)


def _cells(session: Session, principal: Principal, scope: Scope, subject: str, dimension: str,
           year: int | None, group: Sequence[Any], table: StatsTable) -> Iterator[Any]:
    """The non-empty cells to show; the ones withheld (platform: fewer than MIN_CELL notices of other
    parties) are counted in table.suppressed. Empty cells (all revised away) are neither."""
    for row in session.execute(_cell_query(principal, scope, subject, dimension, year, group)):
        notices, others = row[len(group) + 1], row[len(group) + 2]
        if not notices:
            continue
        if scope == "platform" and others < MIN_CELL:
            table.suppressed += 1
            continue
        yield row


def _total(units: int, fraction: int) -> str:
    total = Decimal(int(units)) + Decimal(int(fraction)).scaleb(-4)
    return str(total.quantize(Decimal("0.01")) if total == total.quantize(Decimal("0.01"))
               else total.quantize(Decimal("0.0001")))


def notice_statistics(session: Session, principal: Principal, *, by: NoticeBy, scope: Scope,
                      year: int | None = None, audit: bool = True) -> StatsTable:
    """Notices per Paris paragraph, kind or posting month (month: YYYY-MM)."""
    _require(session, principal, "notices", by, scope, audit)
    dimension = "kind" if by in ("kind", "month") else "paris_paragraph"
    group = [StatCell.month] if by == "month" else [StatCell.value]
    table = StatsTable(rows=[])
    for value, _items, notices, _others, _u, _f in _cells(session, principal, scope, NOTICE, dimension,
                                                          year, group, table):
        table.rows.append({by: value, "notices": int(notices)})
    return table


def asset_statistics(session: Session, principal: Principal, *, by: AssetBy, scope: Scope,
                     year: int | None = None, audit: bool = True) -> StatsTable:
    """Assets per status, jurisdiction, Paris paragraph, or posting month and status: counts, the
    notices behind them, and totals per currency (Decimal strings; currency null: no value given)."""
    _require(session, principal, "assets", by, scope, audit)
    dimension = "status" if by == "month" else by
    group = [StatCell.month, StatCell.value, StatCell.currency] if by == "month" else \
        [StatCell.value, StatCell.currency]
    table = StatsTable(rows=[])
    for *keys, items, notices, _others, units, fraction in _cells(session, principal, scope, ASSET,
                                                                  dimension, year, group, table):
        currency = keys[-1] or None
        row: dict[str, Any] = {"month": keys[0], "status": keys[1]} if by == "month" else \
            {by: keys[0] or None}
        row.update({"currency": currency, "assets": int(items), "notices": int(notices),
                    "total": _total(units, fraction) if currency else None})
        table.rows.append(row)
    if by == "status" or by == "month":
        order = {s: i for i, s in enumerate(ASSET_STATUSES)}
        table.rows.sort(key=lambda r: (r.get("month") or "", order.get(r["status"], 99),
                                       r["currency"] or ""))
    return table


def _require(session: Session, principal: Principal, what: str, by: str, scope: Scope,
             audit: bool) -> None:
    """Refuse (audited) who may not read statistics and breakdowns by party on the platform scope;
    record the read."""
    policy.require(policy.can_read_statistics(principal) if audit else
                   policy.can_produce_report(principal), principal, Action.STATS_READ,
                   detail="this role never sees statistics derived from content")
    _refuse_party_breakdown(by, scope)
    if audit:
        record(session, principal, Action.STATS_READ, object_id=f"{what}:{by}:{scope}")


@dataclass
class _Group:
    requests: int = 0
    others: int = 0
    acknowledge: list[float] = field(default_factory=list)
    close: list[float] = field(default_factory=list)
    decided: int = 0  # executed, partially executed or refused, or open past its due date
    on_time: int = 0


def _days(session: Session, start: Any, end: Any) -> Any:
    """Days from start to end, computed by the database (no timestamp is loaded into Python)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", end - start) / 86400.0
    return func.julianday(end) - func.julianday(start)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def request_statistics(session: Session, principal: Principal, *, by: RequestBy, scope: Scope,
                       year: int | None = None, now: datetime | None = None,
                       audit: bool = True) -> StatsTable:
    """Requests per addressee, requester (mine only), status, obstacle or priority: counts, median days
    to acknowledge and to close (executed, partially executed or refused), and the share of requests
    due by now that were closed by their due date (year: requests sent that year)."""
    _require(session, principal, "requests", by, scope, audit)
    now = now or datetime.now(UTC)
    scoped = policy.own_requests(principal) if scope == "mine" else policy.all_requests(principal)
    R = CooperationRequest
    executed = and_(R.closed_at.is_not(None), R.status.in_([str(x) for x in EXECUTED]))
    past_due = and_(R.closed_at.is_(None), R.status.not_in([str(x) for x in FINAL]), R.due_at < now)
    column = {"addressee": R.addressee, "requester": R.requester, "status": R.status,
              "priority": R.priority, "obstacle": R.obstacles}[by]
    # Only the grouping key and numbers cross to Python: the timestamps stay in the database.
    query = select(column, case((policy.own_requests(principal), 0), else_=1),
                   _days(session, R.created_at, R.acknowledged_at),
                   case((executed, _days(session, R.created_at, R.closed_at)), else_=None),
                   case((executed, 1), (past_due, 1), else_=0),
                   case((and_(executed, R.closed_at <= R.due_at), 1), else_=0)).where(scoped)
    if year is not None:
        # Up to the year's last instant, not "before next New Year": year 9999 has no next one.
        query = query.where(R.created_at >= datetime(year, 1, 1, tzinfo=UTC),
                            R.created_at <= datetime(year, 12, 31, 23, 59, 59, 999999, tzinfo=UTC))
    groups: dict[str, _Group] = defaultdict(_Group)
    for value, other, acknowledge, close, decided, on_time in \
            session.connection().execute(query):
        keys: Iterable[str] = [o for o in (value or "").split(",") if o] if by == "obstacle" \
            else [value]
        for k in keys:
            g = groups[k]
            g.requests += 1
            g.others += other
            if acknowledge is not None:
                g.acknowledge.append(float(acknowledge))
            if close is not None:
                g.close.append(float(close))
            g.decided += decided
            g.on_time += on_time
    table = StatsTable(rows=[])
    for key in sorted(groups):
        g = groups[key]
        if scope == "platform" and g.others < MIN_CELL:
            table.suppressed += 1
            continue
        table.rows.append({by: key, "requests": g.requests,
                           "median_days_to_acknowledge": _median(g.acknowledge),
                           "median_days_to_close": _median(g.close),
                           "closed_on_time_share": round(g.on_time / g.decided, 3) if g.decided
                           else None})
    if by == "obstacle":
        table.rows.sort(key=lambda r: (-r["requests"], r["obstacle"]))
    return table


# -- the yearly report -----------------------------------------------------------------------------------
@dataclass
class YearlyReport:
    """The platform-scope statistics of one year, for the Court's report to the Assembly."""

    year: int
    sections: dict[str, StatsTable]


REPORT_SECTIONS: list[tuple[str, str, str]] = [
    # (section, what, by)
    ("notices_by_paragraph", "notices", "paris_paragraph"),
    ("notices_by_month", "notices", "month"),
    ("assets_by_status", "assets", "status"),
    ("assets_by_paragraph", "assets", "paris_paragraph"),
    ("assets_by_month", "assets", "month"),
    ("requests_by_priority", "requests", "priority"),
    ("requests_by_outcome", "requests", "status"),
    ("obstacles_ranked", "requests", "obstacle"),
]


def yearly_report(session: Session, principal: Principal, year: int, *,
                  now: datetime | None = None) -> YearlyReport:
    """Every REPORT_SECTIONS table at platform scope for the year (content roles and operators)."""
    policy.require(policy.can_produce_report(principal), principal, Action.STATS_REPORT,
                   detail="this role may not produce the statistical report")
    if not 1900 <= year <= 9999:
        raise InvalidInput("year: out of range", errors=[{"field": "year", "message": "out of range"}])
    sections: dict[str, StatsTable] = {}
    for name, what, by in REPORT_SECTIONS:
        if what == "notices":
            sections[name] = notice_statistics(session, principal, by=by,  # type: ignore[arg-type]
                                               scope="platform", year=year, audit=False)
        elif what == "assets":
            sections[name] = asset_statistics(session, principal, by=by,  # type: ignore[arg-type]
                                              scope="platform", year=year, audit=False)
        else:
            sections[name] = request_statistics(session, principal, by=by,  # type: ignore[arg-type]
                                                scope="platform", year=year, now=now, audit=False)
    record(session, principal, Action.STATS_REPORT, object_id=f"report:{year}")
    return YearlyReport(year=year, sections=sections)

