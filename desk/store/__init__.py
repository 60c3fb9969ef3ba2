"""The desk's record, split by concern over one database seam.

    store = DeskStore("var/desk.db", clock=settings.now)
    conv, token = await store.conversations.create("zh")
    await store.conversations.handoff(conv["conversation_id"], "requested")

- `store.db` (desk/store/db.py): the `Database` that owns the connections and threads;
  `await db.write(fn, *args)` is one transaction, `await db.read(fn, *args)` one
  snapshot. SQLite by default (WAL, `synchronous=FULL`: committed means on disk);
  PostgreSQL (desk/store/postgres.py) when `SHOPASSIST_DATABASE_URL` is set, shared by
  several desk replicas.
- `store.accounts` (accounts.py): agents, passwords, log-in sessions, status and
  presence (last seen), caps, canned replies.
- `store.conversations` (conversations.py): conversations and messages, handoff,
  resolve, reassign, contact, the queue, the ownership log (routing rules in
  desk/routing.py).
- `store.suggestions` (suggestions.py): the bot's drafts and their outcomes.
- `store.reviews` (reviews.py): what the bot read in shopper messages, and the review
  list of the messages it may have misunderstood.
- `store.metrics` (metrics.py): the records desk/metrics.py computes a period's figures
  from.

Every method of the parts is a coroutine; nothing here runs SQL on the event loop's
thread. Add an agent from code with
`asyncio.run(DeskStore(path).accounts.add_agent("mei", "password", languages=["zh"]))`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Callable

from ..errors import Conflict, DeskError, Forbidden, NotFound
from .accounts import Accounts, hash_password, verify_password
from .conversations import Conversations
from .db import Database, SQLiteDatabase
from .metrics import MetricsQueries, PeriodRecords
from .records import DeskPolicy, token_hash
from .reviews import Reviews
from .suggestions import Suggestions

__all__ = ["Accounts", "Conflict", "Conversations", "Database", "DeskError",
           "DeskPolicy", "DeskStore", "Forbidden", "MetricsQueries", "NotFound",
           "PeriodRecords", "Reviews", "SQLiteDatabase", "Suggestions", "hash_password",
           "token_hash",
           "verify_password"]


class DeskStore:
    """The desk's record: one `Database` and the parts that use it."""

    def __init__(self, db: Database | str | Path, *,
                 clock: Callable[[], datetime] | None = None, agent_cap: int = 8,
                 daily_cap: int = 120, reopen_minutes: int = 30,
                 default_handle_s: int = 300, presence_grace_s: float = 45,
                 group_commit: bool = True):
        if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
            from .postgres import PostgresDatabase
            db = PostgresDatabase(db, group_commit=group_commit)
        self.db = db if isinstance(db, Database) else SQLiteDatabase(
            db, group_commit=group_commit)
        self.policy = DeskPolicy(clock or (lambda: datetime.now().astimezone()),
                                 agent_cap=agent_cap, daily_cap=daily_cap,
                                 reopen_minutes=reopen_minutes,
                                 default_handle_s=default_handle_s,
                                 presence_grace_s=presence_grace_s)
        self.accounts = Accounts(self.db, self.policy)
        self.conversations = Conversations(self.db, self.policy)
        self.suggestions = Suggestions(self.db, self.policy)
        self.reviews = Reviews(self.db, self.policy)
        self.metrics = MetricsQueries(self.db, self.policy.presence)

    @classmethod
    def from_settings(cls, settings, clock: Callable[[], datetime] | None = None) \
            -> "DeskStore":
        return cls(settings.database_url or settings.desk_db, clock=clock or settings.now,
                   agent_cap=settings.desk_agent_cap, daily_cap=settings.desk_daily_cap,
                   reopen_minutes=settings.desk_reopen_minutes,
                   default_handle_s=settings.desk_default_handle_s,
                   presence_grace_s=settings.desk_presence_grace_s,
                   group_commit=settings.desk_group_commit)

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.policy.clock

    async def check(self) -> None:
        """Raises when the database cannot be read (the desk's health check)."""
        await self.db.read(lambda c: c.execute("SELECT 1").fetchone())

    def close(self) -> None:
        self.accounts.close()
        self.db.close()
