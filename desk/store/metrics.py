"""The records the desk's figures are computed from (desk/metrics.py computes them): one
read transaction, so every figure of a period comes from the same snapshot. Times are the
stored ISO strings; a record's day is the shop-local date its time begins with.

A shopper *question* is a shopper message that needed a person: stored while the
conversation was queued or owned (`messages.state`), or the message that brought a
handoff about (`handoffs.message_id`). A question the assistant answered itself while the
shopper was queued (a bot reply to it that is an answer, records.is_answer) is kept apart:
no agent had to answer it. A question's answer is the first agent message after it in its
conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Callable, Optional

from .. import routing
from .accounts import agents_in
from .db import Database
from .records import from_json, is_answer


@dataclass
class PeriodRecords:
    """What happened on the shop-local days first..last, as stored."""

    first: str
    last: str
    now: str                        # when the records were read (the conversion window)
    # conversations created in the period: {"conversation_id", "created_at", "handed_off"}
    conversations: list[dict]
    # every handoff in the period: {"conversation_id", "reason", "queued_at",
    # "assigned_at", "answered_at", "answered_by", "customer_id", "owner_id"}: its first
    # assignment and its first agent message before the next handoff (or None), the
    # owner it was first assigned to
    handoffs: list[dict]
    # every resolution in the period: {"resolved_at", "since" (the latest handoff before
    # it), "agent_id"}
    resolutions: list[dict]
    # every enabled agent: the API's agent (presence and load now) plus "received"
    # {day: assign + reassign that day} and "sent" (messages in the period)
    agents: list[dict]
    # every question asked in the period: {"id", "conversation_id", "created_at",
    # "owner_id", "bot_answered", "answered_at", "answered_by"}
    questions: list[dict]
    suggestion_outcomes: list       # outcome (or None) of each draft with a text
    messages_by_sender: dict        # {sender: messages in the period}
    ratings: list[dict]             # {"score", "agent_id", "created_at"}
    days: list[str] = field(default_factory=list)


_IN_PERIOD = "substr({}, 1, 10) BETWEEN ? AND ?"


def days_between(first: str, last: str) -> list[str]:
    d, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while d <= end:
        out.append(d.isoformat())
        d += timedelta(days=1)
    return out


def _records(c, first: str, last: str, presence: routing.Presence) -> PeriodRecords:
    period = (first, last)

    def one(sql, params):
        return c.execute(sql, params).fetchone()[0]

    handed = {r[0] for r in c.execute("SELECT DISTINCT conversation_id FROM handoffs")}
    conversations = [
        {"conversation_id": r[0], "created_at": r[1], "handed_off": r[0] in handed}
        for r in c.execute("SELECT conversation_id, created_at FROM conversations WHERE "
                           + _IN_PERIOD.format("created_at"), period)]

    handoffs = []
    for h in c.execute("SELECT h.id, h.conversation_id, h.reason, h.queued_at,"
                       " v.customer_id FROM handoffs h JOIN conversations v"
                       " ON v.conversation_id = h.conversation_id WHERE h.day BETWEEN ? AND ?"
                       " ORDER BY h.id", period).fetchall():
        nxt = one("SELECT MIN(queued_at) FROM handoffs WHERE conversation_id = ? AND id > ?",
                  (h["conversation_id"], h["id"]))
        bound = " AND created_at < ?" if nxt else ""
        args = (h["conversation_id"], h["queued_at"]) + ((nxt,) if nxt else ())
        assigned = c.execute("SELECT created_at, agent_id FROM assignments WHERE"
                             " conversation_id = ? AND kind IN ('assign', 'reassign')"
                             " AND created_at >= ?" + bound + " ORDER BY id LIMIT 1",
                             args).fetchone()
        answered = c.execute("SELECT created_at, agent_id FROM messages WHERE"
                             " conversation_id = ? AND sender = 'agent' AND created_at >= ?"
                             + bound + " ORDER BY id LIMIT 1", args).fetchone()
        handoffs.append({
            "conversation_id": h["conversation_id"], "reason": h["reason"],
            "queued_at": h["queued_at"], "customer_id": h["customer_id"],
            "assigned_at": assigned[0] if assigned else None,
            "owner_id": assigned[1] if assigned else None,
            "answered_at": answered[0] if answered else None,
            "answered_by": answered[1] if answered else None})

    resolutions = [
        {"resolved_at": r["created_at"], "agent_id": r["agent_id"],
         "since": one("SELECT MAX(queued_at) FROM handoffs WHERE conversation_id = ? AND"
                      " queued_at <= ?", (r["conversation_id"], r["created_at"]))}
        for r in c.execute("SELECT conversation_id, agent_id, created_at FROM assignments"
                           " WHERE kind = 'resolve' AND day BETWEEN ? AND ? ORDER BY id",
                           period).fetchall()]

    agents = []
    for a in agents_in(c, presence):
        received = {r[0]: r[1] for r in c.execute(
            "SELECT day, COUNT(*) FROM assignments WHERE agent_id = ? AND day BETWEEN ? AND ?"
            " AND kind IN ('assign', 'reassign') GROUP BY day", (a["agent_id"], *period))}
        sent = one("SELECT COUNT(*) FROM messages WHERE agent_id = ? AND sender = 'agent'"
                   " AND " + _IN_PERIOD.format("created_at"), (a["agent_id"], *period))
        agents.append({**a, "received": received, "sent": sent})

    triggers = {r[0] for r in c.execute("SELECT message_id FROM handoffs WHERE"
                                        " message_id IS NOT NULL")}
    questions = []
    for m in c.execute("SELECT id, conversation_id, created_at, state, owner_id FROM messages"
                       " WHERE sender = 'shopper' AND " + _IN_PERIOD.format("created_at")
                       + " ORDER BY id", period).fetchall():
        if m["state"] not in ("queued", "assigned") and m["id"] not in triggers:
            continue
        bot_answered = any(is_answer("bot", from_json(r[0])) for r in c.execute(
            "SELECT custom FROM messages WHERE reply_to = ? AND sender = 'bot'", (m["id"],)))
        answer = c.execute("SELECT created_at, agent_id FROM messages WHERE"
                           " conversation_id = ? AND sender = 'agent' AND id > ?"
                           " ORDER BY id LIMIT 1", (m["conversation_id"], m["id"])).fetchone()
        questions.append({"id": m["id"], "conversation_id": m["conversation_id"],
                          "created_at": m["created_at"], "owner_id": m["owner_id"],
                          "bot_answered": bot_answered,
                          "answered_at": answer[0] if answer else None,
                          "answered_by": answer[1] if answer else None})

    outcomes = [r[0] for r in c.execute(
        "SELECT outcome FROM suggestions WHERE text != '' AND "
        + _IN_PERIOD.format("created_at"), period)]
    by_sender = {r[0]: r[1] for r in c.execute(
        "SELECT sender, COUNT(*) FROM messages WHERE " + _IN_PERIOD.format("created_at")
        + " GROUP BY sender", period)}
    ratings = [dict(r) for r in c.execute(
        "SELECT score, agent_id, created_at FROM ratings WHERE day BETWEEN ? AND ?"
        " ORDER BY id", period)]
    return PeriodRecords(first, last, routing.stamp(presence.now), conversations, handoffs,
                         resolutions, agents, questions, outcomes, by_sender, ratings,
                         days_between(first, last))


class MetricsQueries:
    """The figures' SQL (see the module docstring)."""

    def __init__(self, db: Database, presence_of: Callable[[], routing.Presence]):
        self.db = db
        self.presence_of = presence_of

    async def records(self, first: str, last: Optional[str] = None) -> PeriodRecords:
        """The records of the shop-local days first..last ("YYYY-MM-DD", inclusive)."""
        return await self.db.read(_records, first, last or first, self.presence_of())
