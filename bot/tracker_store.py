"""Where Rasa keeps conversations: a SQL tracker store that survives restarts.

`endpoints.yml` names `bot.tracker_store.ShopTrackerStore`: Rasa's own `SQLTrackerStore`
(the same `events` table, one row per event) at the URL of the settings
(`SHOPASSIST_TRACKER_STORE_URL`): by default a SQLite file, `var/trackers.db`, or a
PostgreSQL URL (`postgresql://user:pw@host/db`; Rasa 3.6 ships SQLAlchemy 1.4 and
psycopg2-binary). A restarted Rasa server reads every conversation back from it: product,
language, slots, an open form.

SQLite, shared by the Rasa workers of one machine: the file is in WAL mode (readers never
wait for the writer; one writer at a time, each commit a few small rows), a connection
waits up to `SQLITE_BUSY_TIMEOUT_S` for the write lock instead of failing, and commits
are `synchronous=NORMAL` (in WAL mode a crashed or killed process loses nothing that was
committed; a power cut can lose the last commits).

On SQLite, a write-through cache: each worker keeps the stored events of the
conversations it served lately (`CACHED_CONVERSATIONS`, least recently used dropped), so
reading a conversation back costs what Rasa's in-memory store costs, and a save writes
only the new events (no count query, no ORM), committed before the answer goes out: a
restart loses nothing acknowledged. The cache is right only because one worker serves a
conversation (the router's stable hash, `bot/rasa_router.py`): this is the single-machine
mode. With any other URL (PostgreSQL, several machines), and in cluster mode
(`SHOPASSIST_REDIS_URL` set: any Rasa server may answer any conversation, one at a time
under Rasa's RedisLockStore, bot/runner.py's endpoints) every read goes to the database,
as Rasa's SQLTrackerStore does, so a server always continues from what another one saved.

A storage failure is an error, never a silent fallback: Rasa wraps tracker stores in
`FailSafeTrackerStore`, which on an error keeps the conversation in the worker's memory
(lost at the next restart) or starts it afresh; `bot/rasa_server.py` removes that wrapper
and answers the REST channel with 503 when `failed_in_this_request()` says the
conversation could not be read or written, so the client retries instead of getting an
answer that was never stored.
"""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from bot.settings import get_settings

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
CACHED_CONVERSATIONS = 2000       # per worker; a miss costs one read from the database

# the storage errors met while this request was handled (None outside a request)
_failures: contextvars.ContextVar[Optional[list]] = contextvars.ContextVar(
    "shopassist_tracker_store_failures", default=None)


def watch_this_request() -> None:
    """From now on (in this request's task) remember storage failures."""
    _failures.set([])


def failed_in_this_request() -> bool:
    return bool(_failures.get())


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


@dataclass
class _Stored:
    """What the database holds of a conversation's latest session, as
    `SQLTrackerStore.retrieve` would read it: each event's JSON, in order."""
    session_start: Optional[float]     # timestamp of its SessionStarted, if any
    events: list


class ShopTrackerStore(SQLTrackerStore):
    """Rasa's SQLTrackerStore at `settings.tracker_store_url` (or `url=` from
    endpoints.yml); on SQLite tuned and with a write-through cache; failing loudly."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None,
                 url: Optional[str] = None, **kwargs: Any) -> None:
        from sqlalchemy.engine import make_url

        url_text = url or get_settings().tracker_store_url
        parsed = make_url(url_text)
        path = _sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # SQLTrackerStore takes a whole URL in `host`; it creates the table
        super().__init__(domain=domain, host=url_text, event_broker=event_broker, **kwargs)
        self._cache: Optional[OrderedDict] = None
        if path is not None:
            self._tune_sqlite(parsed)
        if path is not None and not get_settings().redis_url:
            self._cache = OrderedDict()        # one server per conversation: cache it
        self._insert = self.SQLEvent.__table__.insert()
        logger.info("conversations kept in %s%s",
                    parsed.render_as_string(hide_password=True),
                    " (write-through cache)" if self._cache is not None else "")

    def _tune_sqlite(self, parsed) -> None:
        """One connection kept open (SQLAlchemy 1.4 opens one per session for SQLite
        files), tuned on connect; Rasa uses the store from its event loop only."""
        import sqlalchemy as sa

        self.engine.dispose()
        self.engine = sa.create_engine(
            parsed, poolclass=sa.pool.QueuePool, pool_size=1, max_overflow=4,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})
        sa.event.listen(self.engine, "connect", _tune_sqlite_connection)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)

    # -- reading ---------------------------------------------------------------------
    def _stored(self, sender_id: str) -> _Stored:
        """The conversation's latest session as stored: from the cache, or read."""
        hit = self._cache.get(sender_id)
        if hit is not None:
            self._cache.move_to_end(sender_id)
            return hit
        with self.session_scope() as session:
            rows = self._event_query(session, sender_id,
                                     fetch_events_from_all_sessions=False).all()
        starts = [r.timestamp for r in rows if r.type_name == SessionStarted.type_name]
        stored = _Stored(max(starts) if starts else None, [r.data for r in rows])
        self._remember(sender_id, stored)
        return stored

    def _remember(self, sender_id: str, stored: _Stored) -> None:
        self._cache[sender_id] = stored
        self._cache.move_to_end(sender_id)
        while len(self._cache) > CACHED_CONVERSATIONS:
            self._cache.popitem(last=False)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        try:
            if self._cache is None:
                return await super().retrieve(sender_id)
            stored = self._stored(sender_id)
            if not stored.events or not self.domain:
                return None
            events = json.loads("[" + ",".join(stored.events) + "]")
            return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        except Exception as exc:
            _record_failure(exc)
            raise

    # -- writing ---------------------------------------------------------------------
    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            if self._cache is None:
                await super().save(tracker)
            else:
                await self.stream_events(tracker)
                self._write_through(tracker)
        except Exception as exc:
            _record_failure(exc)
            raise

    def _write_through(self, tracker: DialogueStateTracker) -> None:
        """Insert the events the database does not have yet (the same ones
        `SQLTrackerStore.save` would), commit, then update the cache."""
        sender_id = tracker.sender_id
        stored = self._stored(sender_id)
        rows, datas = [], []
        for event in itertools.islice(tracker.events, len(stored.events), None):
            data = event.as_dict()
            datas.append(json.dumps(data))
            rows.append({"sender_id": sender_id, "type_name": event.type_name,
                         "timestamp": data.get("timestamp"),
                         "intent_name": (data.get("parse_data") or {}).get(
                             "intent", {}).get(INTENT_NAME_KEY),
                         "action_name": data.get("name"), "data": datas[-1]})
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert, rows)
        # what a read from the database would now return: the new events too, unless
        # one of them starts a new session or predates the current one (then read anew)
        if any(r["type_name"] == SessionStarted.type_name or
               (stored.session_start is not None and
                (r["timestamp"] is None or r["timestamp"] < stored.session_start))
               for r in rows):
            self._cache.pop(sender_id, None)
        else:
            stored.events.extend(datas)
