"""Routing: who is present, who owns a conversation, the queue, its waiting estimates,
business hours.

Every function that changes ownership takes the connection of a **write transaction**
(`Database.write`, desk/store/db.py; SQLite's `BEGIN IMMEDIATE`, PostgreSQL's
`pg_advisory_xact_lock` taken first, desk/store/postgres.py): the write lock is held
from the first read of an agent's load to the last write, so two desk processes (or
threads, or replicas on several machines) can never give one conversation two owners or
push an agent past a cap. The
functions that only read (the queue, its estimates) also run in a read snapshot.

Rules (docs/desk.md):

- **Presence**: an agent is present (online) when they chose `online` and their console
  was last seen (a heartbeat over the agent WebSocket, the socket itself, going online)
  no longer than the grace period ago. `Presence` carries that cut-off; every rule below
  uses it, so an agent whose console went quiet gets nothing new even before the desk's
  sweep marks them away.
- **Assignment**: one owner per conversation; a present agent (role `agent`) who speaks
  the conversation's language, below the concurrent cap and the daily cap; the
  conversation's preferred agent first (the customer's previous agent, or the owner of a
  reopened conversation) when that agent qualifies, else the fewest active conversations
  (then fewest today, then the lowest id). The queue is served first in, first out.
- **Waits** (`queue_estimates`): the queue is played forward over the places of the
  present agents: a free place now, a busy one when its conversation is expected to end
  (its time so far against the handling times measured over the latest resolutions), each
  new conversation holding its place for the average handling time.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional

OVERDUE_REMAINING_S = 30      # a conversation past every measured handling time: "soon"
HANDLING_SAMPLE = 50          # resolutions the handling time is measured over


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


def stamp(t: datetime) -> str:
    """A time as the desk's tables store it (ISO 8601, milliseconds, offset)."""
    return t.isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class Presence:
    """The moment a routing decision is made and who counts as present then: an agent
    whose status is `online` and whose console was seen at or after `seen_since`."""

    now: datetime
    grace_s: float

    @property
    def seen_since(self) -> str:
        return stamp(self.now - timedelta(seconds=self.grace_s))

    @property
    def day(self) -> str:
        return today_key(self.now)


# an agent row `a` is present (one parameter: Presence.seen_since)
PRESENT_SQL = "(a.status = 'online' AND a.last_seen_at IS NOT NULL AND a.last_seen_at >= ?)"


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


def online_agents(conn: sqlite3.Connection, presence: Presence) -> list[AgentLoad]:
    """Present agents (not supervisors) with their current load."""
    rows = conn.execute(
        "SELECT a.agent_id, a.languages, a.cap, a.daily_cap,"
        " (SELECT COUNT(*) FROM conversations c WHERE c.agent_id = a.agent_id"
        "   AND c.state = 'assigned') AS active,"
        " (SELECT COUNT(*) FROM assignments s WHERE s.agent_id = a.agent_id AND s.day = ?"
        "   AND s.kind IN ('assign', 'reassign')) AS today"
        " FROM agents a WHERE " + PRESENT_SQL + " AND a.role = 'agent' AND a.enabled = 1"
        " ORDER BY a.agent_id", (presence.day, presence.seen_since)).fetchall()
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


def why_not(agent: dict, language: Optional[str]) -> Optional[str]:
    """Why an agent cannot take one more conversation (in `language`, when given), or
    None when they can: `away`, `language`, `at_cap`, `daily_cap`. `agent` is the API's
    agent dict (status already the effective presence, active, today, cap, daily_cap)."""
    if agent["status"] != "online":
        return "away"
    if language and language not in agent["languages"]:
        return "language"
    if agent["active"] >= agent["cap"]:
        return "at_cap"
    if agent["today"] >= agent["daily_cap"]:
        return "daily_cap"
    return None


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
    ts = stamp(now)
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
         today_key(now), stamp(now)))


def drain(conn: sqlite3.Connection, presence: Presence) -> list[tuple[str, int]]:
    """Assign queued conversations, oldest first, while present agents can take them.

    A conversation nobody can take now (no agent present for its language) does not
    block the ones behind it. Returns [(conversation_id, agent_id)] in assignment order.
    Call inside a BEGIN IMMEDIATE transaction.
    """
    loads = online_agents(conn, presence)
    if not loads:
        return []
    done: list[tuple[str, int]] = []
    for row in queued(conn):
        agent = choose_agent(loads, row["locale"], row["preferred_agent_id"])
        if agent is None:
            if not any(a.active < a.cap and a.today < a.daily_cap for a in loads):
                break
            continue
        if assign(conn, row["conversation_id"], agent.agent_id, presence.now):
            agent.active += 1
            agent.today += 1
            done.append((row["conversation_id"], agent.agent_id))
    return done


# -- waiting estimates -------------------------------------------------------------------------
def handling_times(conn: sqlite3.Connection, default_s: float,
                   sample: int = HANDLING_SAMPLE) -> list[float]:
    """Assignment → resolution in seconds over the latest resolutions; [default_s] until
    one is measured."""
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
    return spans or [float(default_s)]


def average_handling_s(conn: sqlite3.Connection, default_s: float,
                       sample: int = HANDLING_SAMPLE) -> float:
    """Mean time from assignment to resolution over the latest resolutions."""
    spans = handling_times(conn, default_s, sample)
    return sum(spans) / len(spans)


def expected_remaining_s(elapsed_s: float, handling: list[float]) -> float:
    """How much longer a conversation that has lasted `elapsed_s` is expected to last:
    the mean of (h − elapsed) over the measured handling times h longer than it, and
    OVERDUE_REMAINING_S once it has outlasted them all."""
    longer = [h - elapsed_s for h in handling if h > elapsed_s]
    return sum(longer) / len(longer) if longer else float(OVERDUE_REMAINING_S)


def queue_estimates(conn: sqlite3.Connection, presence: Presence, default_handle_s: float,
                    extra_locale: Optional[str] = None) -> dict[str, dict]:
    """{conversation_id: {"position", "estimated_wait_s", "agents_online"}} for every
    queued conversation (and, with `extra_locale`, for a shopper joining the queue now
    in that language, under the key "").

    `position` counts the conversations in the same language up to this one (1 = next).
    `estimated_wait_s` plays the queue forward, first in first out, over the places of the
    present agents who speak its language and are below their daily cap: a free place
    serves at once; a busy place frees when its conversation is expected to end
    (`expected_remaining_s`); each conversation served holds its place for the average
    handling time. None when no present agent can serve that language.
    `agents_online` is how many present agents speak the language.
    """
    rows = [(r["conversation_id"], r["locale"]) for r in queued(conn)]
    if extra_locale:
        rows.append(("", extra_locale))
    if not rows:
        return {}
    now = presence.now
    handling = handling_times(conn, default_handle_s)
    avg = sum(handling) / len(handling)
    loads = online_agents(conn, presence)
    busy_since: dict[int, list[str]] = {}
    if loads:
        marks = ",".join("?" * len(loads))
        for agent_id, assigned_at in conn.execute(
                f"SELECT agent_id, assigned_at FROM conversations WHERE state = 'assigned'"
                f" AND agent_id IN ({marks})", [a.agent_id for a in loads]):
            busy_since.setdefault(agent_id, []).append(assigned_at)

    # each present agent's places, as the seconds from now until each is free
    places: dict[int, list[float]] = {}
    room_today: dict[int, int] = {}
    for a in loads:
        ends = sorted(expected_remaining_s(
            max(0.0, (now - datetime.fromisoformat(t)).total_seconds()), handling)
            for t in busy_since.get(a.agent_id, []) if t)
        frees = [0.0] * max(0, a.cap - len(ends)) + ends[max(0, len(ends) - a.cap):]
        places[a.agent_id] = frees[:a.cap] if a.cap > 0 else []
        room_today[a.agent_id] = a.daily_cap - a.today

    out: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for cid, lang in rows:
        seen[lang] = seen.get(lang, 0) + 1
        speakers = [a for a in loads if lang in a.languages]
        best: Optional[tuple[float, int, int]] = None      # (free in s, agent, place)
        for a in speakers:
            if room_today[a.agent_id] <= 0:
                continue
            for i, free_in in enumerate(places[a.agent_id]):
                if best is None or free_in < best[0]:
                    best = (free_in, a.agent_id, i)
        wait = None
        if best is not None:
            free_in, agent_id, i = best
            wait = int(math.ceil(free_in - 1e-6))
            places[agent_id][i] = free_in + avg
            room_today[agent_id] -= 1
        out[cid] = {"position": seen[lang], "estimated_wait_s": wait,
                    "agents_online": len(speakers)}
    return out
