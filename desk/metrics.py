"""The figures a shop's desk is managed by (DOMAIN.md), for one shop-local day, computed
from the desk's own record: `GET /api/agent/metrics?day=YYYY-MM-DD` (supervisors).

Definitions (docs/desk.md "Metrics"):

- conversations started: conversations created that day. Of those, *handed off* = left
  the bot at least once (any day), *bot only* = never; `bot_resolution_rate` = bot only /
  started.
- handoffs: every time a conversation left the bot that day (`handoffs` table), by reason.
- queue wait: handoff → first assignment (assign or reassign) after it.
- first response: handoff → the first agent message after it.
- resolution time: for each resolution that day, the latest handoff before it → resolve.
- per agent: conversations received that day (assign + reassign, as the daily cap counts
  them) with the load band of an 8-hour day (under 80 idle, 80–120 healthy, over 120 add
  people), active now (assigned to them at this moment) and messages sent that day.
- suggestions: drafted that day with a text (a facts-only draft travels with the text
  before it), and how many were accepted (sent as drafted), edited and rejected
  (skipped); rates are over the drafts shown.
- Q&A ratio: agent + bot messages per shopper message, that day.

Percentiles are nearest-rank (p50 of 1, 2, 3, 4 is 2); durations are in seconds; a
figure with nothing to measure is null.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Optional

LOAD_IDLE_BELOW = 80        # DOMAIN.md: under 60–80 a day is idle
LOAD_HEALTHY_UPTO = 120     # 80–120 healthy, above: add people


def percentile(values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[k - 1], 3)


def _spread(values: list[float]) -> dict:
    return {"count": len(values), "p50_s": percentile(values, 50),
            "p90_s": percentile(values, 90)}


def _rate(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def load_band(received: int) -> str:
    if received < LOAD_IDLE_BELOW:
        return "idle"
    if received <= LOAD_HEALTHY_UPTO:
        return "healthy"
    return "add_people"


def _secs(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def day_metrics(store, day: str) -> dict:
    """The KPIs of one shop-local day (`day` = "YYYY-MM-DD") from a DeskStore."""
    q = store._all
    on_day = "substr({}, 1, 10) = ?"

    started = q("SELECT conversation_id FROM conversations WHERE "
                + on_day.format("created_at"), (day,))
    started_ids = [r[0] for r in started]
    handed = {r[0] for r in q(
        "SELECT DISTINCT h.conversation_id FROM handoffs h JOIN conversations c"
        " ON c.conversation_id = h.conversation_id WHERE " + on_day.format("c.created_at"),
        (day,))}
    bot_only = len(started_ids) - len(handed)

    handoffs = q("SELECT id, conversation_id, reason, queued_at FROM handoffs"
                 " WHERE day = ? ORDER BY id", (day,))
    by_reason: dict[str, int] = {}
    waits, first_responses = [], []
    for h in handoffs:
        by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
        nxt = q("SELECT MIN(queued_at) FROM handoffs WHERE conversation_id = ? AND id > ?",
                (h["conversation_id"], h["id"]))[0][0]
        bound = " AND created_at < ?" if nxt else ""
        args = (h["conversation_id"], h["queued_at"]) + ((nxt,) if nxt else ())
        assigned = q("SELECT MIN(created_at) FROM assignments WHERE conversation_id = ?"
                     " AND kind IN ('assign', 'reassign') AND created_at >= ?" + bound,
                     args)[0][0]
        if assigned:
            waits.append(_secs(assigned, h["queued_at"]))
        answered = q("SELECT MIN(created_at) FROM messages WHERE conversation_id = ?"
                     " AND sender = 'agent' AND created_at >= ?" + bound, args)[0][0]
        if answered:
            first_responses.append(_secs(answered, h["queued_at"]))

    resolutions = []
    for r in q("SELECT conversation_id, created_at FROM assignments WHERE kind = 'resolve'"
               " AND day = ? ORDER BY id", (day,)):
        since = q("SELECT MAX(queued_at) FROM handoffs WHERE conversation_id = ? AND"
                  " queued_at <= ?", (r["conversation_id"], r["created_at"]))[0][0]
        if since:
            resolutions.append(_secs(r["created_at"], since))

    agents = []
    for a in q("SELECT agent_id, display_name, role, status FROM agents WHERE enabled = 1"
               " ORDER BY agent_id"):
        received = q("SELECT COUNT(*) FROM assignments WHERE agent_id = ? AND day = ? AND"
                     " kind IN ('assign', 'reassign')", (a["agent_id"], day))[0][0]
        active = q("SELECT COUNT(*) FROM conversations WHERE agent_id = ? AND"
                   " state = 'assigned'", (a["agent_id"],))[0][0]
        sent = q("SELECT COUNT(*) FROM messages WHERE agent_id = ? AND sender = 'agent' AND "
                 + on_day.format("created_at"), (a["agent_id"], day))[0][0]
        if a["role"] == "supervisor" and not (received or active or sent):
            continue
        agents.append({"agent_id": a["agent_id"], "display_name": a["display_name"],
                       "role": a["role"], "status": a["status"], "received": received,
                       "load_band": load_band(received), "active_now": active,
                       "messages_sent": sent})

    outcomes = dict.fromkeys(("accepted", "edited", "rejected"), 0)
    shown = 0
    for s in q("SELECT outcome FROM suggestions WHERE text != '' AND "
               + on_day.format("created_at"), (day,)):
        shown += 1
        if s["outcome"] in outcomes:
            outcomes[s["outcome"]] += 1

    senders = dict(q("SELECT sender, COUNT(*) FROM messages WHERE "
                     + on_day.format("created_at") + " GROUP BY sender", (day,)))
    shopper_msgs = senders.get("shopper", 0)
    replies = senders.get("agent", 0) + senders.get("bot", 0)

    return {
        "day": day,
        "conversations": {"started": len(started_ids), "bot_only": bot_only,
                          "handed_off": len(handed),
                          "bot_resolution_rate": _rate(bot_only, len(started_ids))},
        "handoffs": {"total": len(handoffs), "by_reason": by_reason},
        "queue_wait": _spread(waits),
        "first_response": _spread(first_responses),
        "resolution": _spread(resolutions),
        "agents": agents,
        "suggestions": {"shown": shown, **outcomes,
                        "undecided": shown - sum(outcomes.values()),
                        **{f"{k}_rate": _rate(v, shown) for k, v in outcomes.items()}},
        "messages": {"shopper": shopper_msgs, "bot": senders.get("bot", 0),
                     "agent": senders.get("agent", 0), "system": senders.get("system", 0),
                     "qa_ratio": _rate(replies, shopper_msgs)},
        "load_bands": {"idle_below": LOAD_IDLE_BELOW, "healthy_upto": LOAD_HEALTHY_UPTO},
    }
