"""Routing: who owns a conversation, the queue, its waiting estimates, business hours.

Every function that changes ownership takes the connection of a **write transaction**
(`Database.write`, desk/store/db.py; SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
`pg_advisory_xact_lock` taken first, desk/store/postgres.py): the write lock is held
from the first read of an agent's load to the last write, so two desk processes (or
threads, or replicas on several machines) can never give one conversation two owners or
push an agent past a cap. The
functions that only read (the queue, its estimates) also run in a read snapshot.

Rules (docs/desk.md): one owner per conversation; an online agent (role `agent`) who
speaks the conversation's language, below the concurrent cap and the daily cap; the
conversation's preferred agent first (the customer's previous agent, or the owner of a
reopened conversation) when that agent qualifies, else the fewest active conversations
(then fewest today, then the lowest id). The queue is served first in, first out.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, time


@dataclass(frozen=True)
class BusinessHours:
    """Opening hours in shop time, e.g. "09:00-22:00" (an overnight range such as
    "20:00-02:00" works too; "00:00-24:00" is always open)."""

    start: time
    end: time | None          # None: midnight at the end of the day
    text: str

    @classmethod
    def parse(cls, text: str) -> "BusinessHours":
        try:
            a, b = (part.strip() for part in text.split("-", 1))
            start = time.fromisoformat(a)
            end = None if b in ("24:00", "24:00:00") else time.fromisoformat(b)
        except ValueError as exc:
            raise ValueError(f"business hours must look like 09:00-22:00, got {text!r}") \
                from exc
        return cls(start, end, text)

    def is_open(self, now: datetime) -> bool:
        t = now.timetz().replace(tzinfo=None)
        if self.end is None:
            return t >= self.start
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end        # overnight


def today_key(now: datetime) -> str:
    return now.date().isoformat()


@dataclass
class AgentLoad:
    agent_id: int
    languages: tuple[str, ...]
    cap: int
    daily_cap: int
    active: int
    today: int

    def can_take(self, language: str) -> bool:
        return (language in self.languages and self.active < self.cap
                and self.today < self.daily_cap)


def online_agents(conn: sqlite3.Connection, day: str) -> list[AgentLoad]:
    """Online agents (not supervisors) with their current load."""
    rows = conn.execute(
        "SELECT a.agent_id, a.languages, a.cap, a.daily_cap,"
        " (SELECT COUNT(*) FROM conversations c WHERE c.agent_id = a.agent_id"
        "   AND c.state = 'assigned') AS active,"
        " (SELECT COUNT(*) FROM assignments s WHERE s.agent_id = a.agent_id AND s.day = ?"
        "   AND s.kind IN ('assign', 'reassign')) AS today"
        " FROM agents a WHERE a.status = 'online' AND a.role = 'agent' AND a.enabled = 1"
        " ORDER BY a.agent_id", (day,)).fetchall()
    return [AgentLoad(r[0], tuple(x for x in r[1].split(",") if x), r[2], r[3], r[4], r[5])
            for r in rows]


def choose_agent(loads: list[AgentLoad], language: str,
                 preferred: int | None = None) -> AgentLoad | None:
    """The agent to take a conversation in `language`, or None when nobody can."""
    able = [a for a in loads if a.can_take(language)]
    if not able:
        return None
    for a in able:
        if a.agent_id == preferred:
            return a
    return min(able, key=lambda a: (a.active, a.today, a.agent_id))


def queued(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Queued conversations, first in first out."""
    return conn.execute(
        "SELECT conversation_id, locale, preferred_agent_id, queued_at FROM conversations"
        " WHERE state = 'queued' ORDER BY queued_at, seq").fetchall()


def assign(conn: sqlite3.Connection, conversation_id: str, agent_id: int, now: datetime,
           *, kind: str = "assign", reason: str | None = None,
           by_agent_id: int | None = None) -> bool:
    """Make `agent_id` the owner of a queued, unowned conversation; False when it is not
    (any more) queued and unowned. Call inside a write transaction."""
    ts = now.isoformat(timespec="milliseconds")
    cur = conn.execute(
        "UPDATE conversations SET state = 'assigned', agent_id = ?, assigned_at = ?,"
        " preferred_agent_id = NULL, updated_at = ? WHERE conversation_id = ?"
        " AND state = 'queued' AND agent_id IS NULL", (agent_id, ts, ts, conversation_id))
    if cur.rowcount != 1:
        return False
    log(conn, conversation_id, agent_id, kind, now, reason=reason, by_agent_id=by_agent_id)
    return True


def log(conn: sqlite3.Connection, conversation_id: str, agent_id: int | None, kind: str,
        now: datetime, *, reason: str | None = None, from_agent_id: int | None = None,
        by_agent_id: int | None = None) -> None:
    """One line of the ownership log: assign, reopen, reassign, resolve."""
    conn.execute(
        "INSERT INTO assignments (conversation_id, agent_id, from_agent_id, kind, reason,"
        " by_agent_id, day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, agent_id, from_agent_id, kind, reason, by_agent_id,
         today_key(now), now.isoformat(timespec="milliseconds")))


def drain(conn: sqlite3.Connection, now: datetime) -> list[tuple[str, int]]:
    """Assign queued conversations, oldest first, while agents can take them.

    A conversation nobody can take now (no agent online for its language) does not block
    the ones behind it. Returns [(conversation_id, agent_id)] in assignment order.
    Call inside a BEGIN IMMEDIATE transaction.
    """
    day = today_key(now)
    loads = online_agents(conn, day)
    if not loads:
        return []
    done: list[tuple[str, int]] = []
    for row in queued(conn):
        agent = choose_agent(loads, row["locale"], row["preferred_agent_id"])
        if agent is None:
            if not any(a.active < a.cap and a.today < a.daily_cap for a in loads):
                break
            continue
        if assign(conn, row["conversation_id"], agent.agent_id, now):
            agent.active += 1
            agent.today += 1
            done.append((row["conversation_id"], agent.agent_id))
    return done


def average_handling_s(conn: sqlite3.Connection, default_s: int, sample: int = 50) -> float:
    """Mean time from assignment to resolution over the latest resolutions."""
    rows = conn.execute(
        "SELECT assigned_at, resolved_at FROM conversations WHERE resolved_at IS NOT NULL"
        " AND assigned_at IS NOT NULL ORDER BY resolved_at DESC LIMIT ?", (sample,)).fetchall()
    spans = []
    for a, r in rows:
        try:
            s = (datetime.fromisoformat(r) - datetime.fromisoformat(a)).total_seconds()
        except (TypeError, ValueError):
            continue
        if s > 0:
            spans.append(s)
    return sum(spans) / len(spans) if spans else float(default_s)


def queue_estimates(conn: sqlite3.Connection, now: datetime, default_handle_s: int,
                    default_cap: int) -> dict[str, dict]:
    """{conversation_id: {"position", "estimated_wait_s"}} for every queued conversation.

    Position counts the conversations ahead in the same language (each language is its
    own pool of agents). A place opens every (average handling time / online slots for
    that language) seconds, so the wait is position × that; with nobody online, one
    agent's slots are assumed (the shop opens, someone logs in).
    """
    rows = queued(conn)
    if not rows:
        return {}
    avg = average_handling_s(conn, default_handle_s)
    loads = online_agents(conn, today_key(now))
    out: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for row in rows:
        lang = row["locale"]
        seen[lang] = seen.get(lang, 0) + 1
        slots = sum(a.cap for a in loads if lang in a.languages) or default_cap
        out[row["conversation_id"]] = {
            "position": seen[lang],
            "estimated_wait_s": int(math.ceil(seen[lang] * avg / max(slots, 1)))}
    return out
