"""The database seam of the desk's store: the one place that owns connections, threads
and transactions.

`Database` is all the store's parts (desk/store/accounts.py, conversations.py,
suggestions.py, metrics.py) know of a database:

- `await db.write(fn, *args)` runs `fn(conn, *args)` as **one write transaction** and
  returns its result once the transaction is committed, or raises what `fn` raised after
  rolling everything back. Writes are serialized: what `fn` reads cannot change before its
  commit, which is what keeps ownership decisions (desk/routing.py) atomic.
- `await db.read(fn, *args)` runs `fn(conn, *args)` in a read transaction: one consistent
  snapshot that sees every write committed before it began.
- `write_sync` / `read_sync` do the same for code outside an event loop (tests and tools;
  the routing race tests run in threads and processes). The service and the handlers use
  only the async interface.

`fn` gets a DB-API style connection (`conn.execute(sql, params)`, rows read by column
name). The parts' SQL stays portable (`?` placeholders, which the PostgreSQL backend
rewrites to `%s`; `INSERT … RETURNING` rather than `lastrowid`);
what is SQLite's own (PRAGMAs, `BEGIN IMMEDIATE`, `AUTOINCREMENT`) lives in
`SQLiteDatabase` and desk/store/schema.py.

`SQLiteDatabase`: WAL journal with `synchronous=FULL`, so a commit has reached the disk
(the WAL is fsynced) when `write` returns; every message is therefore durable before the
desk answers or pushes it. One writer connection on its own thread runs every write as
`BEGIN IMMEDIATE` (the file's write lock is taken at once, so writers in other threads or
processes sharing the file wait for it; a busy timeout of 60 s). One reader connection on
another thread (`query_only`) serves reads beside the writer, as WAL allows, so a read
never waits for an fsync.

PostgreSQL (desk/store/postgres.py, `SHOPASSIST_DATABASE_URL`): `PostgresDatabase`, the
same four methods on psycopg2, one writer connection with this group commit and several
readers, each write transaction serialized across every desk replica with
`pg_advisory_xact_lock` (the counterpart of `BEGIN IMMEDIATE`), and its own schema.

**Group commit** (the writer): the writer thread takes every write already waiting (up to
`GROUP_LIMIT`), opens one `BEGIN IMMEDIATE`, runs each write in its own `SAVEPOINT` (a
write that raises is rolled back to its savepoint alone and gets its exception; the others
go on), then `COMMIT`s once: one fsync for the whole group. Only after that commit has
returned is any of the group's callers answered, so "committed when `write` returns"
holds for each of them; if the `COMMIT` itself fails, every write of the group gets that
error and nothing of it is kept. Within a group the writes run one after the other in
the order they were asked for, each seeing the ones before it, exactly as if each had
been committed alone. The reader connection is not grouped (reads never wait for an
fsync).
"""

from __future__ import annotations

import abc
import asyncio
import queue
import sqlite3
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from . import schema

Work = Callable[..., Any]          # fn(conn, *args)


class Database(abc.ABC):
    """The store's database (see the module docstring)."""

    # the driver's exception for a broken UNIQUE or CHECK constraint (DB-API)
    IntegrityError: type[Exception] = Exception

    @abc.abstractmethod
    async def write(self, fn: Work, *args: Any) -> Any:
        """fn(conn, *args) as one write transaction; its result once committed."""

    @abc.abstractmethod
    async def read(self, fn: Work, *args: Any) -> Any:
        """fn(conn, *args) in one read transaction (a consistent snapshot)."""

    @abc.abstractmethod
    def write_sync(self, fn: Work, *args: Any) -> Any:
        """`write` for code outside an event loop."""

    @abc.abstractmethod
    def read_sync(self, fn: Work, *args: Any) -> Any:
        """`read` for code outside an event loop."""

    @abc.abstractmethod
    def close(self) -> None:
        """Finish the work already asked for, then close the connections."""


GROUP_LIMIT = 64          # writes committed together at most (bounds one group's latency)


class _ConnectionThread:
    """One thread owning one connection: runs queued jobs one after the other, each in
    its own transaction opened with `begin`; with `group` it commits every job already
    waiting in one transaction, each job in its own savepoint (group commit, see the
    module docstring).

    `connect()` makes the connection. With `is_broken` (PostgreSQL), a connection found
    broken after an error (the server restarted, the network failed) is closed and a new
    one made for the next job; when the very first statement of a transaction finds the
    connection broken, nothing of the job has run yet, so the transaction is opened
    once more on a new connection. A job that fails because the database is unreachable
    gets the driver's error (the store turns it into `DatabaseUnavailable`)."""

    def __init__(self, name: str, connect: Callable[[], Any], begin: str,
                 group: bool = False, is_broken: Callable[[Any], bool] | None = None):
        self._connect = connect
        self._conn = connect()
        self._begin = begin
        self._group = group
        self._is_broken = is_broken
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Work, args: tuple) -> Future:
        if self._closed:
            raise RuntimeError("the desk's database is closed")
        fut: Future = Future()
        self._jobs.put((fn, args, fut))
        return fut

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
            self._thread.join()

    def _take(self) -> tuple[list, bool]:
        """The next jobs to run (one, or with `group` every one already waiting, up to
        GROUP_LIMIT; cancelled ones dropped) and whether the queue's end was reached."""
        jobs, stop = [], False
        job = self._jobs.get()
        while True:
            if job is None:
                stop = True
                break
            if job[2].set_running_or_notify_cancel():     # else its caller went away
                jobs.append(job)
            if not self._group or len(jobs) >= GROUP_LIMIT:
                break
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
        return jobs, stop

    def _loop(self) -> None:
        while True:
            jobs, stop = self._take()
            if len(jobs) == 1 or (jobs and not self._group):
                fn, args, fut = jobs[0]
                try:
                    result = self._transaction(fn, args)
                except Exception as exc:        # noqa: BLE001 - handed to the caller
                    fut.set_exception(exc)
                else:
                    fut.set_result(result)
            elif jobs:
                self._group_transaction(jobs)
            if stop:
                break
        if self._conn is not None:
            self._conn.close()

    def _open(self) -> Any:
        """The connection with a transaction begun (a broken connection replaced)."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.execute(self._begin)
        except Exception:
            if not self._broken():
                raise
            self._conn = self._connect()        # nothing ran yet: once more, anew
            self._conn.execute(self._begin)
        return self._conn

    def _broken(self) -> bool:
        """After an error: whether the connection is broken; if so it is dropped (the
        next job makes a new one)."""
        if self._is_broken is None or self._conn is None or not self._is_broken(self._conn):
            return False
        try:
            self._conn.close()
        except Exception:                       # noqa: BLE001 - it is gone either way
            pass
        self._conn = None
        return True

    def _rollback(self) -> None:
        """Roll back after an error, unless the connection turns out to be broken."""
        if self._conn is None or self._broken():
            return
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except Exception:                       # noqa: BLE001 - broken while rolling back
            if not self._broken():
                raise

    def _transaction(self, fn: Work, args: tuple) -> Any:
        conn = self._open()
        try:
            result = fn(conn, *args)
            conn.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return result

    def _group_transaction(self, jobs: list) -> None:
        """Every job in its own savepoint of one transaction, one COMMIT; each caller is
        answered only after that COMMIT (or gets its error)."""
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = self._open()
            for fn, args, _ in jobs:
                conn.execute("SAVEPOINT job")
                try:
                    result = fn(conn, *args)
                except Exception as exc:        # noqa: BLE001 - handed to the caller
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append((False, exc))
                else:
                    conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append((True, result))
            conn.execute("COMMIT")
        except Exception as exc:                # noqa: BLE001 - the group failed as one
            try:
                self._rollback()
            except Exception:                   # noqa: BLE001 - the group's error stands
                pass
            for _, _, fut in jobs:
                fut.set_exception(exc)
            return
        for (ok, value), (_, _, fut) in zip(outcomes, jobs):
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)


class SQLiteDatabase(Database):
    """The desk's SQLite file (see the module docstring)."""

    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0,
                 group_commit: bool = True):
        if sqlite3.sqlite_version_info < (3, 35):
            raise RuntimeError(f"the desk needs SQLite 3.35 or later (RETURNING), this "
                               f"Python has {sqlite3.sqlite_version}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect(busy_timeout_s)
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("PRAGMA synchronous=FULL")
        writer.execute("PRAGMA foreign_keys=ON")
        reader = self._connect(busy_timeout_s)
        reader.execute("PRAGMA query_only=ON")
        self._writer = _ConnectionThread("desk-db-write", lambda: writer,
                                         "BEGIN IMMEDIATE", group=group_commit)
        self._reader = _ConnectionThread("desk-db-read", lambda: reader, "BEGIN")
        self.write_sync(schema.apply)

    def _connect(self, busy_timeout_s: float) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), timeout=busy_timeout_s,
                               isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    async def write(self, fn: Work, *args: Any) -> Any:
        return await asyncio.wrap_future(self._writer.submit(fn, args))

    async def read(self, fn: Work, *args: Any) -> Any:
        return await asyncio.wrap_future(self._reader.submit(fn, args))

    def write_sync(self, fn: Work, *args: Any) -> Any:
        return self._writer.submit(fn, args).result()

    def read_sync(self, fn: Work, *args: Any) -> Any:
        return self._reader.submit(fn, args).result()

    def close(self) -> None:
        self._reader.close()
        self._writer.close()
