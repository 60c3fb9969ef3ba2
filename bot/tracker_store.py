"""Where Rasa keeps conversations: a SQL tracker store that survives restarts.

`endpoints.yml` names `bot.tracker_store.ShopTrackerStore`; it is Rasa's own
`SQLTrackerStore` at the URL of the settings (`SHOPASSIST_TRACKER_STORE_URL`): by default
a SQLite file, `var/trackers.db`, or a PostgreSQL URL (`postgresql://user:pw@host/db`,
Rasa 3.6 ships SQLAlchemy 1.4 and psycopg2-binary). A restarted Rasa server reads every
conversation back from it: product, language, slots, an open form.

SQLite, shared by the Rasa workers of one machine: the file is put in WAL mode (readers
never wait for the writer; one writer at a time, each commit a few small rows), every
connection waits up to `SQLITE_BUSY_TIMEOUT_S` for the write lock instead of failing, and
commits are `synchronous=NORMAL` (in WAL mode a process crash loses nothing committed;
only a power cut can lose the last commits).

A storage failure is an error, never a silent fallback: Rasa wraps tracker stores in
`FailSafeTrackerStore`, which on an error keeps the conversation in the worker's memory
(lost at the next restart) or starts it afresh; `bot/rasa_server.py` removes that wrapper
and answers the REST channel with 503 when `failed_in_this_request()` says the
conversation could not be read or written, so the client retries instead of getting an
answer that was never stored.
"""

from __future__ import annotations

import contextvars
import logging
from pathlib import Path
from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore

from bot.settings import get_settings

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0

# the storage errors met while this request was handled (None outside a request)
_failures: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "shopassist_tracker_store_failures", default=None)


def watch_this_request() -> None:
    """From now on (in this request's task) remember storage failures."""
    _failures.set([])


def failed_in_this_request() -> bool:
    failures = _failures.get()
    return bool(failures)


def _record_failure(exc: BaseException) -> None:
    failures = _failures.get()
    if failures is not None:
        failures.append(exc)


def _sqlite_path(url: Any) -> Optional[Path]:
    if url.get_backend_name() != "sqlite" or not url.database or \
            url.database == ":memory:":
        return None
    return Path(url.database)


def _tune_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.close()


class ShopTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore at `settings.tracker_store_url` (or `url=` from
    endpoints.yml), tuned for SQLite, failing loudly."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None,
                 url: Optional[str] = None, **kwargs: Any) -> None:
        import sqlalchemy as sa
        from sqlalchemy.engine import make_url

        url_text = url or get_settings().tracker_store_url
        parsed = make_url(url_text)
        path = _sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # SQLTrackerStore takes a whole URL in `host`
        super().__init__(domain=domain, host=url_text, event_broker=event_broker, **kwargs)
        if path is not None:
            # one connection kept open (SQLAlchemy 1.4 opens a new one per session for
            # SQLite files), tuned on connect; Rasa uses it from its event loop only
            self.engine.dispose()
            self.engine = sa.create_engine(
                parsed, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S,
                              "check_same_thread": False})
            sa.event.listen(self.engine, "connect", _tune_sqlite_connection)
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        logger.info("conversations kept in %s", parsed.render_as_string(hide_password=True))

    async def retrieve(self, sender_id: str):
        try:
            return await super().retrieve(sender_id)
        except Exception as exc:
            _record_failure(exc)
            raise

    async def save(self, tracker) -> None:
        try:
            await super().save(tracker)
        except Exception as exc:
            _record_failure(exc)
            raise
