"""The desk's store on PostgreSQL (`SHOPASSIST_DATABASE_URL=postgresql://…`): the same
`Database` seam as SQLite (desk/store/db.py), so that several desk replicas on several
machines share one record.

The driver is psycopg2 (psycopg2-binary 2.9.13, the version Rasa 3.6 itself pins for its
SQL tracker store): one driver in the environment, no second one to keep in step.

- **Writes**: one writer connection on its own thread per desk process, with the same
  group commit as SQLite (`_ConnectionThread`). Every write transaction begins with
  `pg_advisory_xact_lock(WRITE_LOCK)`: a transaction-level lock that every desk replica
  takes before its first read, the counterpart of SQLite's `BEGIN IMMEDIATE`. So what a
  write reads (an agent's load, whether a conversation is still queued, whether a
  `client_id` was seen) cannot change before its commit, on any replica: two replicas
  never give a conversation two owners nor push an agent past a cap, with the very same
  SQL as on SQLite (desk/routing.py). The lock is released by the COMMIT (or ROLLBACK),
  also when a replica dies mid-transaction (its connection closes).
- **Reads**: `READ_CONNECTIONS` reader connections, each on its own thread, each read a
  `REPEATABLE READ READ ONLY` transaction (one snapshot), handed out in turn; a read
  never waits for the writer.
- **SQL**: the parts write `?` placeholders; `PgConnection.execute` turns them into
  psycopg2's `%s` (and a literal `%` into `%%`). Rows are read by column name or by
  position, like `sqlite3.Row`.
- **Schema**: desk/store/schema.py's `POSTGRES_SCHEMA` (its SQLite tables translated by
  `postgres_ddl`), applied in the first write transaction (under the lock, so replicas
  starting together do not race).
- **Losing the server** (a restart, a network cut): a connection found broken is
  replaced by a new one for the next transaction (`_ConnectionThread`), and a
  transaction whose first statement finds it broken is begun again at once on a new
  one. What could not reach the server fails with `DatabaseUnavailable` (desk/errors.py:
  a 503 JSON answer, to be tried again), not a hang (`connect_timeout`) nor a 500;
  nothing acknowledged is lost, since an answer is only given after its COMMIT.
- `synchronous_commit` is left at PostgreSQL's default (on): a write has reached the
  server's WAL on disk when `write` returns.
"""

from __future__ import annotations

import asyncio
import itertools
from functools import lru_cache
from typing import Any

import psycopg2
import psycopg2.extensions
import psycopg2.extras

from ..errors import DatabaseUnavailable
from . import schema
from .db import Database, Work, _ConnectionThread

WRITE_LOCK = 0x5A0D_E5C0          # pg_advisory_xact_lock key of the desk's writes
READ_CONNECTIONS = 3
CONNECT_TIMEOUT_S = 5             # a server that does not answer: unavailable, not a hang
# what the driver raises when the server cannot be reached or the connection broke
UNREACHABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)
BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """`?` placeholders as psycopg2's `%s` (a literal `%` doubled). The parts' SQL has no
    `?` inside string literals."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg2 connection that answers like the sqlite3 one the parts use:
    `execute(sql, params)` returns a cursor (fetchone, fetchall, iteration, rowcount)
    whose rows are read by name or position."""

    def __init__(self, dsn: str):
        self.raw = psycopg2.connect(dsn, cursor_factory=psycopg2.extras.DictCursor,
                                    connect_timeout=CONNECT_TIMEOUT_S)
        self.raw.autocommit = True        # transactions are opened by BEGIN explicitly

    def execute(self, sql: str, params: tuple | list = ()):
        cur = self.raw.cursor()
        if params:
            cur.execute(to_pyformat(sql), tuple(params))
        else:
            cur.execute(sql)              # no parameters: psycopg2 takes it verbatim
        return cur

    def executemany(self, sql: str, rows):
        cur = self.raw.cursor()
        cur.executemany(to_pyformat(sql), list(rows))
        return cur

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg2.extensions.TRANSACTION_STATUS_IDLE

    @property
    def broken(self) -> bool:
        """The connection is closed or was broken by an error (psycopg2's `closed`)."""
        return bool(self.raw.closed)

    def close(self) -> None:
        self.raw.close()


def _is_broken(conn: PgConnection) -> bool:
    return conn.broken


async def _reachable(future) -> Any:
    """The job's result; the server's absence as `DatabaseUnavailable`."""
    try:
        return await asyncio.wrap_future(future)
    except UNREACHABLE as exc:
        raise DatabaseUnavailable("the desk's database is unavailable; try again shortly",
                                  retry_after_s=1) from exc


class PostgresDatabase(Database):
    """The desk's record in PostgreSQL (see the module docstring)."""

    IntegrityError = psycopg2.IntegrityError

    def __init__(self, url: str, *, group_commit: bool = True,
                 read_connections: int = READ_CONNECTIONS):
        self.url = url
        def connect() -> PgConnection:
            return PgConnection(url)

        self._writer = _ConnectionThread("desk-pg-write", connect, BEGIN_WRITE,
                                         group=group_commit, is_broken=_is_broken)
        self._readers = [_ConnectionThread(f"desk-pg-read-{i}", connect, BEGIN_READ,
                                           is_broken=_is_broken)
                         for i in range(max(1, read_connections))]
        self._next_reader = itertools.cycle(self._readers)
        self.write_sync(schema.apply_postgres)

    async def write(self, fn: Work, *args: Any) -> Any:
        return await _reachable(self._writer.submit(fn, args))

    async def read(self, fn: Work, *args: Any) -> Any:
        return await _reachable(next(self._next_reader).submit(fn, args))

    def write_sync(self, fn: Work, *args: Any) -> Any:
        return self._writer.submit(fn, args).result()

    def read_sync(self, fn: Work, *args: Any) -> Any:
        return next(self._next_reader).submit(fn, args).result()

    def close(self) -> None:
        for reader in self._readers:
            reader.close()
        self._writer.close()
