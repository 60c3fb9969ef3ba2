"""The figures a shop's desk is managed by, for one shop-local day, computed from the
desk's own record: `GET /api/agent/metrics?day=YYYY-MM-DD` (supervisors). The records
come from the store (desk/store/metrics.py, one snapshot); this module computes.

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

from .store.metrics import DayRecords

LOAD_IDLE_BELOW = 80        # an agent with fewer conversations a day is idle
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


def day_metrics(records: DayRecords) -> dict:
    """The KPIs of one shop-local day from its records."""
    by_reason: dict[str, int] = {}
    waits, first_responses = [], []
    for h in records.handoffs:
        by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
        if h["assigned_at"]:
            waits.append(_secs(h["assigned_at"], h["queued_at"]))
        if h["answered_at"]:
            first_responses.append(_secs(h["answered_at"], h["queued_at"]))
    resolutions = [_secs(r["resolved_at"], r["since"]) for r in records.resolutions
                   if r["since"]]

    agents = []
    for a in records.agents:
        if a["role"] == "supervisor" and not (a["received"] or a["active"] or a["sent"]):
            continue
        agents.append({"agent_id": a["agent_id"], "display_name": a["display_name"],
                       "role": a["role"], "status": a["status"], "received": a["received"],
                       "load_band": load_band(a["received"]), "active_now": a["active"],
                       "messages_sent": a["sent"]})

    outcomes = dict.fromkeys(("accepted", "edited", "rejected"), 0)
    for outcome in records.suggestion_outcomes:
        if outcome in outcomes:
            outcomes[outcome] += 1
    shown = len(records.suggestion_outcomes)

    senders = records.messages_by_sender
    shopper_msgs = senders.get("shopper", 0)
    replies = senders.get("agent", 0) + senders.get("bot", 0)
    started, handed = records.started, records.handed_off
    return {
        "day": records.day,
        "conversations": {"started": started, "bot_only": started - handed,
                          "handed_off": handed,
                          "bot_resolution_rate": _rate(started - handed, started)},
        "handoffs": {"total": len(records.handoffs), "by_reason": by_reason},
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
