"""Database engine, declarative base and the unit of work shared by the API and the CLI."""

import logging
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from pathlib import Path
from typing import Any

from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    create_engine,
    event,
    text,
)
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import TypeDecorator

from app.errors import AppError

log = logging.getLogger("arx.db")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose constraint names are stable across SQLite and PostgreSQL."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored as naive UTC and always returned timezone-aware (SQLite drops offsets)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


MATCHING_LOCK_KEY = 0x4152_584D_4154_4348  # "ARXMATCH"
# Term locks live in PostgreSQL's two-integer key space (disjoint from the one-bigint keys above),
# under this first half; the second is a 32-bit key of the term.
MATCHING_TERM_SPACE = 0x4152_584D  # "ARXM"
HIT_GROUP_SPACE = 0x4152_5848  # "ARXH": pending hits' groups (lock_hit_groups)
MAX_TERM_LOCKS = 64


def advisory_lock(session: Session, key: int, *, wait: bool = True) -> bool:
    """PostgreSQL's transaction-level advisory lock `key`, held until the transaction ends: wait for it,
    or (wait=False) try, and say whether it was taken. SQLite: True at once, since BEGIN IMMEDIATE
    already serialises every write transaction."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key}))


_MATCHING_MODE = "arx.matching"  # session.info: how this transaction entered the matching lock


def enter_matching(session: Session, *, exclusive: bool = False) -> None:
    """The platform-wide matching lock, until this transaction ends: shared by writers that then lock
    their terms (hold_matching_lock), exclusive for one that may match or revise whatever the terms (a
    hit decision, a write of many terms). A use case enters before any row lock it takes: a revision
    before its notice's, a decision before its hit's. A transaction that entered shared stays shared
    (asking for exclusive then could deadlock with another doing the same): it takes term locks
    instead. SQLite: nothing to do, BEGIN IMMEDIATE already serialises every write transaction."""
    held = session.info.get(_MATCHING_MODE)
    if held == "exclusive" or (held == "shared" and not exclusive):
        return
    if held == "shared":
        raise RuntimeError("the matching lock was entered shared: it cannot become exclusive")
    session.info[_MATCHING_MODE] = "exclusive" if exclusive else "shared"
    if session.get_bind().dialect.name != "postgresql":
        return
    if exclusive:
        advisory_lock(session, MATCHING_LOCK_KEY)
    else:
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": MATCHING_LOCK_KEY})


def hold_matching_lock(session: Session, keys: Collection[int], *, writes: bool = True) -> None:
    """Serialise matching writes that could match each other, until this transaction ends. Two writes
    that match (two parties posting the same suspect, an enquiry beside a post) made at the same moment
    by two workers would otherwise each read before the other committed, and neither learn of the other.

    keys: the writer's term locks (app/enquiries/matching.py matching_keys: two writes can only match
    through a shared identifier or birth-date term), taken in ascending order (two writers never
    deadlock on them) under the matching lock entered shared: only writers sharing a term wait for each
    other, the second reading after the first committed. writes=False (an enquiry: enquiries never
    match each other) takes them shared, so that two enquiries about one person never wait for, nor
    learn anything of, each other. More keys than MAX_TERM_LOCKS enter the lock exclusively instead,
    unless this transaction already entered it shared. Taken after the writer's own inserts (rows no
    one else waits for) and before the rows every writer shares (statistics), so a holder never waits
    for a row lock a waiter holds."""
    enter_matching(session, exclusive=len(keys) > MAX_TERM_LOCKS
                   and _MATCHING_MODE not in session.info)
    if session.info[_MATCHING_MODE] == "exclusive" or not keys:
        return
    if session.get_bind().dialect.name == "postgresql":
        take = "pg_advisory_xact_lock" if writes else "pg_advisory_xact_lock_shared"
        session.execute(text(f"SELECT count({take}(:space, k)) "
                             "FROM unnest(CAST(:keys AS integer[])) AS k"),
                        {"space": MATCHING_TERM_SPACE, "keys": sorted(set(keys))})


def lock_hit_groups(session: Session, groups: Collection[str]) -> None:
    """Lock each pending hit's group (origin, owner, counterpart, revealed) that a matching write is
    about to join or start, until the transaction ends, in ascending order: two writes matching one
    notice or enquiry through different terms (so under no common term lock) would otherwise each start
    their own pending hit. Taken under the term locks, before the rows every writer shares."""
    if not groups or session.get_bind().dialect.name != "postgresql":
        return
    keys = {int.from_bytes(blake2b(g.encode(), digest_size=4).digest(), "big", signed=True)
            for g in groups}
    session.execute(text("SELECT count(pg_advisory_xact_lock(:space, k)) "
                         "FROM unnest(CAST(:keys AS integer[])) AS k"),
                    {"space": HIT_GROUP_SPACE, "keys": sorted(keys)})


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@dataclass(frozen=True)
class Timeouts:
    """How long the database may keep a request waiting (README "Outages")."""

    connect_seconds: int = 3
    statement_seconds: float = 15.0
    busy_seconds: float = 5.0
    pool_seconds: float = 3.0


# Address space, not memory: pages are the operating system's file cache, shared by every connection.
SQLITE_MMAP_BYTES = 16 * 2**30


def make_engine(url: str, timeouts: Timeouts | None = None) -> Engine:
    """An engine for SQLite (WAL, foreign keys, busy timeout) or PostgreSQL via psycopg 3."""
    t = timeouts or Timeouts()
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": t.busy_seconds, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, emit BEGIN: see _sqlite_begin below.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(t.busy_seconds * 1000)}")
            cur.execute("PRAGMA synchronous=NORMAL")
            # Reads through a shared memory map instead of a pread() per page missing from each
            # connection's 2 MB cache: at a million subjects, search spent a third of its time there.
            cur.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            # Every ARX transaction writes (each access is audited), so take the write lock up front:
            # a deferred transaction upgrading to a writer fails with SQLITE_BUSY instead of waiting.
            # Read-only work (checking the keyring against the database) must not queue behind writers.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("arx_read_only")
                                 else "BEGIN IMMEDIATE")

        return engine
    # A stopped server refuses at once; a frozen one is bounded by connect_timeout (connecting) and by
    # the request deadline (app/resilience.py): statement_timeout fires only in a running server.
    # No parallel query: ARX's statements are index reads of at most a few thousand rows, and starting
    # a parallel worker took 4-7 ms beside a 1 ms sort in search's candidate read at a million subjects
    # (EXPLAIN ANALYZE), on a server whose cores serve other requests meanwhile.
    options = (f"-c statement_timeout={int(t.statement_seconds * 1000)} "
               "-c max_parallel_workers_per_gather=0")
    engine = create_engine(url, pool_size=10, max_overflow=20, pool_timeout=t.pool_seconds,
                           connect_args={"connect_timeout": t.connect_seconds, "options": options})

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        # Pessimistic disconnect handling, as pool_pre_ping, but only for a connection that sat idle:
        # one just used has just answered, and a ping on every checkout was one round trip in six on a
        # read. A server restarted under load fails the request on each connection that met it, and
        # that request's disconnect error makes the pool replace every connection it holds.
        checked_in = record.info.get(_CHECKED_IN)
        if checked_in is not None and time.monotonic() - checked_in > PING_AFTER_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:  # the pool replaces the connection and tries again
                raise DisconnectionError() from exc

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: ConnectionPoolEntry) -> None:
        if dbapi_conn is None:  # invalidated (a disconnect): the pool will open a new one
            return
        record.info[_CHECKED_IN] = time.monotonic()
        # plan_with_parameters stops preparing for the rest of one checkout: the next starts as usual.
        dbapi_conn.prepare_threshold = PREPARE_THRESHOLD

    return engine


# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out again.
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN = "arx_checked_in"


# psycopg's default: a statement is prepared on the server once it has run this many times.
PREPARE_THRESHOLD = 5


def plan_with_parameters(session: Session) -> None:
    """PostgreSQL: plan the statements session sends, until its connection goes back to the pool (the
    end of a request's unit of work), with their actual parameters.

    psycopg prepares a statement once it has run five times, and PostgreSQL may then keep a generic
    plan made without the parameters. For statements over blind-index terms, whose row counts differ by
    orders of magnitude from one term to the next, that plan tripled search's candidate read at a
    million subjects. So these statements are not prepared: each is sent unnamed and planned for its
    parameters. Not for every transaction: planning each execution made posting a third slower. (A
    setting on the client's connection: no round trip, unlike SET LOCAL plan_cache_mode, which did the
    same before.)"""
    if session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        assert driver is not None  # a connection in use has its driver's connection
        driver.prepare_threshold = None


class _Running:
    """The DBAPI connection a unit of work's transaction runs on, while it runs (cancel_running)."""

    __slots__ = ("connection", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connection: Any = None


_RUNNING = "arx.running"


def _track_running(sessions: sessionmaker[Session]) -> None:
    """Keep, in each session's info, the DBAPI connection of its transaction until that ends (and the
    connection goes back to the pool, where it may serve another request)."""
    @event.listens_for(sessions, "after_begin")
    def _began(session: Session, _transaction: Any, connection: Connection) -> None:
        running = session.info.setdefault(_RUNNING, _Running())
        with running.lock:
            running.connection = connection.connection.dbapi_connection

    @event.listens_for(sessions, "after_transaction_end")
    def _ended(session: Session, transaction: Any) -> None:
        running = session.info.get(_RUNNING)
        if running is not None and transaction.parent is None:
            with running.lock:
                running.connection = None


def cancel_running(session: Session, timeout: float = 1.0) -> bool:
    """Cancel the statement session's transaction is running or waiting in (a lock, a slow query), from
    another thread: a request answered 503 at its deadline stops waiting and rolls back now, instead of
    holding its connection, its locks and a worker thread until statement_timeout. PostgreSQL: a cancel
    request (an idle backend ignores it); SQLite: sqlite3's interrupt(). Under the session's lock, so
    the connection cannot meanwhile go back to the pool and its next user be cancelled instead. Whether
    there was a transaction to cancel."""
    running = session.info.get(_RUNNING)
    if running is None:
        return False
    with running.lock:
        connection = running.connection
        if connection is None:
            return False
        try:
            if hasattr(connection, "cancel_safe"):
                connection.cancel_safe(timeout=timeout)
            else:
                connection.interrupt()
        except Exception as exc:  # a server that cannot take a cancel (frozen, gone): statement_timeout
            log.warning("could not cancel an abandoned request's statement",
                        extra={"kind": type(exc).__name__})
            return False
    return True


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str, timeouts: Timeouts | None = None) -> None:
        self.url = url
        self.engine = make_engine(url, timeouts)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        _track_running(self.sessions)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commits on clean exit, rolls back on any exception. Services only flush.

        An AppError may carry work that must outlive the rollback (the denied audit entry of a refusal,
        a failed-login count): it runs here, in its own short transaction, once the refused one is
        gone. Every entry point opens its transactions here, so none can skip it."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException as exc:
            self.abandon(session, exc)
            raise
        finally:
            session.close()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction that never waits for SQLite's write lock (rolled back at the end)."""
        with self.engine.connect().execution_options(arx_read_only=True) as connection:
            session = Session(bind=connection)
            try:
                yield session
            finally:
                session.close()
                connection.rollback()

    def abandon(self, session: Session | None, exc: BaseException | None) -> None:
        """Roll session back, then run what exc must leave behind (its on_rollback hook) in its own short
        transaction — once, however deeply units of work nest. unit_of_work calls it on any exception;
        an entry point that turns an error into an answer inside a unit of work (the portal's pages)
        calls it itself."""
        if session is not None:
            session.rollback()
        if isinstance(exc, AppError) and exc.on_rollback is not None:
            hook, exc.on_rollback = exc.on_rollback, None
            with self.unit_of_work() as after:
                hook(after)

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """Alembic configuration pointing at the repository's migrations/, whatever the working directory."""
    root = Path(__file__).resolve().parent.parent
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(url: str, revision: str = "head") -> None:
    """Upgrade the database at url to revision (Alembic is the only source of the schema)."""
    from alembic import command

    command.upgrade(alembic_config(url), revision)


BigId = BigInteger().with_variant(Integer, "sqlite")
"""An auto-incrementing 64-bit key (INTEGER on SQLite, where only that type aliases the rowid)."""
