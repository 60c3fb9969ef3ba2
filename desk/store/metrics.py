"""The records the day's figures are computed from (desk/metrics.py computes them): one
read transaction, so every figure of a day comes from the same snapshot. Times are the
stored ISO strings; the day is the shop-local date they begin with."""

from __future__ import annotations

from dataclasses import dataclass

from .db import Database


@dataclass
class DayRecords:
    """What happened on one shop-local day, as stored."""

    day: str
    started: int                    # conversations created that day
    handed_off: int                 # of those, the ones that ever left the bot
    # every handoff that day: {"reason", "queued_at", "assigned_at", "answered_at"}: its
    # first assignment and its owner's first message before the next handoff (or None)
    handoffs: list[dict]
    # every resolution that day: {"resolved_at", "since": the latest handoff before it}
    resolutions: list[dict]
    # every agent: {"agent_id", "display_name", "role", "status", "received" (assign +
    # reassign that day), "active" (now), "sent" (messages that day)}
    agents: list[dict]
    suggestion_outcomes: list       # outcome (or None) of each draft with a text that day
    messages_by_sender: dict        # {sender: messages that day}


_ON_DAY = "substr({}, 1, 10) = ?"


def _day_records(c, day: str) -> DayRecords:
    def one(sql, params):
        return c.execute(sql, params).fetchone()[0]

    started = one("SELECT COUNT(*) FROM conversations WHERE "
                  + _ON_DAY.format("created_at"), (day,))
    handed_off = one(
        "SELECT COUNT(DISTINCT h.conversation_id) FROM handoffs h JOIN conversations c"
        " ON c.conversation_id = h.conversation_id WHERE " + _ON_DAY.format("c.created_at"),
        (day,))

    handoffs = []
    for h in c.execute("SELECT id, conversation_id, reason, queued_at FROM handoffs"
                       " WHERE day = ? ORDER BY id", (day,)).fetchall():
        nxt = one("SELECT MIN(queued_at) FROM handoffs WHERE conversation_id = ? AND id > ?",
                  (h["conversation_id"], h["id"]))
        bound = " AND created_at < ?" if nxt else ""
        args = (h["conversation_id"], h["queued_at"]) + ((nxt,) if nxt else ())
        handoffs.append({
            "reason": h["reason"], "queued_at": h["queued_at"],
            "assigned_at": one("SELECT MIN(created_at) FROM assignments WHERE"
                               " conversation_id = ? AND kind IN ('assign', 'reassign')"
                               " AND created_at >= ?" + bound, args),
            "answered_at": one("SELECT MIN(created_at) FROM messages WHERE"
                               " conversation_id = ? AND sender = 'agent'"
                               " AND created_at >= ?" + bound, args)})

    resolutions = [
        {"resolved_at": r["created_at"],
         "since": one("SELECT MAX(queued_at) FROM handoffs WHERE conversation_id = ? AND"
                      " queued_at <= ?", (r["conversation_id"], r["created_at"]))}
        for r in c.execute("SELECT conversation_id, created_at FROM assignments"
                           " WHERE kind = 'resolve' AND day = ? ORDER BY id",
                           (day,)).fetchall()]

    agents = []
    for a in c.execute("SELECT agent_id, display_name, role, status FROM agents"
                       " WHERE enabled = 1 ORDER BY agent_id").fetchall():
        agents.append({
            **dict(a),
            "received": one("SELECT COUNT(*) FROM assignments WHERE agent_id = ? AND"
                            " day = ? AND kind IN ('assign', 'reassign')",
                            (a["agent_id"], day)),
            "active": one("SELECT COUNT(*) FROM conversations WHERE agent_id = ? AND"
                          " state = 'assigned'", (a["agent_id"],)),
            "sent": one("SELECT COUNT(*) FROM messages WHERE agent_id = ? AND"
                        " sender = 'agent' AND " + _ON_DAY.format("created_at"),
                        (a["agent_id"], day))})

    outcomes = [r[0] for r in c.execute(
        "SELECT outcome FROM suggestions WHERE text != '' AND "
        + _ON_DAY.format("created_at"), (day,))]
    by_sender = {r[0]: r[1] for r in c.execute(
        "SELECT sender, COUNT(*) FROM messages WHERE " + _ON_DAY.format("created_at")
        + " GROUP BY sender", (day,))}
    return DayRecords(day, started, handed_off, handoffs, resolutions, agents, outcomes,
                      by_sender)


class MetricsQueries:
    """The metrics' SQL (see the module docstring)."""

    def __init__(self, db: Database):
        self.db = db

    async def day(self, day: str) -> DayRecords:
        """The records of one shop-local day ("YYYY-MM-DD")."""
        return await self.db.read(_day_records, day)
