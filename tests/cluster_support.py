"""Fixtures for running the desk against PostgreSQL and Redis (a pytest plugin loaded by
tests/conftest.py): one PostgreSQL server and one Redis server per test session, started
on spare ports in temporary directories (bot/local_services.py) and stopped at the end;
a fresh database for every test that asks for one.

`desk_database` is parametrized: each test using it runs once on a SQLite file and once
on a PostgreSQL database. When PostgreSQL or Redis is not installed the PostgreSQL and
Redis cases are skipped with the Debian package to install, and fail instead under CI
(`CI` set, as .ci/run does): there they must run.

`fetch(target, sql, *params)` reads rows through a connection of the test's own (not
the store's), from a SQLite path or a PostgreSQL URL, as tuples.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
from pathlib import Path

import pytest

from bot.local_services import LocalPostgres, LocalRedis, MissingBinary

_names = itertools.count(1)


def unavailable(exc: Exception):
    """Skip (or under CI, fail) a test whose server cannot be started here."""
    message = f"{exc} (the PostgreSQL/Redis tests need it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server():
    try:
        server = LocalPostgres(durable=False)
        server.start()
    except MissingBinary as exc:
        unavailable(exc)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    try:
        server = LocalRedis()
        server.start()
    except MissingBinary as exc:
        unavailable(exc)
    yield server
    server.stop()


@pytest.fixture()
def pg_url(pg_server) -> str:
    """A new, empty PostgreSQL database's URL."""
    return pg_server.create_database(f"t{os.getpid()}_{next(_names)}")


@pytest.fixture()
def redis_url(redis_server) -> str:
    """The test Redis, emptied first."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(params=["sqlite", "postgres"])
def desk_database(request, tmp_path) -> str | Path:
    """Where a test's DeskStore keeps its record: a SQLite file, then a PostgreSQL URL."""
    if request.param == "sqlite":
        return tmp_path / "desk.db"
    return request.getfixturevalue("pg_url")


def is_postgres(target) -> bool:
    return isinstance(target, str) and target.startswith("postgresql://")


def fetch(target, sql: str, *params) -> list[tuple]:
    """Rows read through a new connection of the test's own: a SQLite path or a
    PostgreSQL URL; `?` placeholders either way."""
    if is_postgres(target):
        import psycopg2

        conn = psycopg2.connect(target)
        try:
            cur = conn.cursor()
            cur.execute(sql.replace("?", "%s"), params or None)
            return [tuple(r) for r in cur.fetchall()]
        finally:
            conn.close()
    conn = sqlite3.connect(target)
    try:
        return [tuple(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def table_names(target) -> set[str]:
    if is_postgres(target):
        return {r[0] for r in fetch(target, "SELECT table_name FROM information_schema.tables"
                                            " WHERE table_schema = 'public'")}
    return {r[0] for r in fetch(target, "SELECT name FROM sqlite_master WHERE type='table'")}
