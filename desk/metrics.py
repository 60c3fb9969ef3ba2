"""The figures a shop's desk is run on, for one shop-local day or a range of days, per
agent and for the desk, computed from the desk's own record (desk/store/metrics.py, one
snapshot) and, for what happened after a conversation, the catalog's (orders, cross-sell
tracking): `GET /api/agent/metrics` and its CSV exports (supervisors).

Definitions (docs/desk.md "Metrics"):

- conversations started in the period; *handed off* = left the bot at least once (any
  day), *bot only* = never; `bot_resolution_rate` = bot only / started.
- handoffs: every time a conversation left the bot, by reason.
- queue wait: handoff → first assignment; first response: handoff → the first agent
  message after it; resolution: for each resolution, the latest handoff before it →
  resolve.
- response: for every shopper question (a message that needed a person,
  desk/store/metrics.py), the time until an agent answered it (the first agent message
  after it); questions the assistant answered while the shopper was queued are not the
  agents' and are left out; `unanswered` counts the questions no agent has answered.
  Each time figure: count, average, p50, p90 and the share over 30 s (shops: answer within
  about 20 s; past 30 s shoppers buy less). The distribution has those two marks.
- load: conversations received per day (assign + reassign, as the daily cap counts them;
  over a range, the average per day) against the bands: under 60 idle, 60–79 normal,
  80–99 full, 100–120 strained, over 120 hire; and now, active conversations against
  the cap: away, full (at the cap) or available.
- Q&A ratio (答问比): agent answers (messages) per shopper question, ≥ 0, two digits.
- inquiry conversion: of the handed-off shoppers with a customer id (distinct customers,
  from their first handoff in the period), the share who ordered within 3 days.
- suggestions: drafts with a text made in the period, and how many were accepted (sent as
  drafted), edited and rejected (skipped).
- satisfaction: the shoppers' ratings (1–5) given in the period.
- cross-sell funnel: offers first shown in the period → clicked → added to cart →
  bought within 3 days (catalog/tracking.py).

Percentiles are nearest-rank (p50 of 1, 2, 3, 4 is 2); durations are in seconds; rates
are fractions with 4 digits; a figure with nothing to measure is null.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterable, Optional

from catalog.queries import Catalog, CatalogError

from .store.metrics import PeriodRecords

# conversations an agent receives a day: (band, from, below); "strained" includes 120,
# "hire" is anything over 120
LOAD_BANDS = [("idle", 0, 60), ("normal", 60, 80), ("full", 80, 100),
              ("strained", 100, 120), ("hire", 120, None)]
GOOD_RESPONSE_S = 20          # the shops' target for answering a shopper message
SLOW_RESPONSE_S = 30          # past this, conversion drops
RESPONSE_BUCKETS = [0, 10, 20, 30, 60, 120, 300]      # seconds; the last bucket is open
CONVERSION_DAYS = 3
CSV_TABLES = ("summary", "agents", "hours", "days", "response_distribution")


def percentile(values: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    k = max(1, math.ceil(p / 100 * len(ordered)))
    return round(ordered[k - 1], 3)


def spread(values: list[float]) -> dict:
    """count, average, p50, p90 and the share over 30 s of durations in seconds."""
    return {"count": len(values),
            "avg_s": round(sum(values) / len(values), 1) if values else None,
            "p50_s": percentile(values, 50), "p90_s": percentile(values, 90),
            "over_30s_share": rate(sum(1 for v in values if v > SLOW_RESPONSE_S),
                                   len(values))}


def rate(part: int, whole: int) -> Optional[float]:
    return round(part / whole, 4) if whole else None


def load_band(per_day: float) -> str:
    """The band of conversations received per day: under 60 idle, 60–79 normal, 80–99
    full, 100–120 strained, over 120 hire (LOAD_BANDS)."""
    if per_day > 120:
        return "hire"
    for name, _lower, below in LOAD_BANDS[:-1]:
        if per_day < below or (name == "strained" and per_day <= below):
            return name
    return "hire"


def capacity_now(agent: dict) -> str:
    """away (console not connected), full (at the cap) or available."""
    if agent["status"] != "online":
        return "away"
    return "full" if agent["active"] >= agent["cap"] else "available"


def _secs(later: str, earlier: str) -> float:
    return (datetime.fromisoformat(later) - datetime.fromisoformat(earlier)).total_seconds()


def _hour(ts: str) -> int:
    return int(ts[11:13])


def distribution(values: list[float]) -> dict:
    """Response times in buckets (0–10 s, 10–20 s, …, 300 s and more) with the 20 s and
    30 s marks."""
    buckets = []
    for i, lo in enumerate(RESPONSE_BUCKETS):
        hi = RESPONSE_BUCKETS[i + 1] if i + 1 < len(RESPONSE_BUCKETS) else None
        n = sum(1 for v in values if v >= lo and (hi is None or v < hi))
        buckets.append({"from_s": lo, "to_s": hi, "count": n, "share": rate(n, len(values))})
    return {"count": len(values), "buckets": buckets,
            "marks_s": [GOOD_RESPONSE_S, SLOW_RESPONSE_S],
            "within_20s_share": rate(sum(1 for v in values if v <= GOOD_RESPONSE_S),
                                     len(values)),
            "within_30s_share": rate(sum(1 for v in values if v <= SLOW_RESPONSE_S),
                                     len(values))}


# -- what the catalog says happened after ----------------------------------------------------
@dataclass
class CatalogOutcomes:
    """Orders by handed-off customers and the cross-sell funnel (from the catalog)."""

    # customer_id -> (first handoff in the period, its owner, the order time or None)
    customers: dict = field(default_factory=dict)
    crosssell: dict = field(default_factory=dict)
    available: bool = True


def _local(ts: str) -> str:
    """A desk time as the catalog writes times: shop-local, to the second, no offset."""
    return datetime.fromisoformat(ts).replace(tzinfo=None, microsecond=0).isoformat()


def catalog_outcomes(catalog: Catalog, records: PeriodRecords) -> CatalogOutcomes:
    """For every handed-off customer (their first handoff in the period), whether they
    ordered within CONVERSION_DAYS; the period's cross-sell funnel. Blocking (the
    service runs it off the event loop)."""
    # imported here: catalog.tracking brings the catalog's build tools (sqlite-utils),
    # about 19 MB the desk need not hold until a supervisor asks for the figures
    from catalog.tracking import attribution

    out = CatalogOutcomes()
    try:
        for h in sorted(records.handoffs, key=lambda h: h["queued_at"]):
            customer = h["customer_id"]
            if not customer or customer in out.customers:
                continue
            start = _local(h["queued_at"])
            end = (datetime.fromisoformat(start) + timedelta(days=CONVERSION_DAYS)).isoformat()
            out.customers[customer] = (h["queued_at"], h["owner_id"],
                                       catalog.first_order_between(customer, start, end))
        out.crosssell = attribution(catalog, days=CONVERSION_DAYS,
                                    shown_from=records.first, shown_until=records.last)
    except CatalogError:
        out.available = False
    return out


def _conversion(customers: Iterable[tuple], now: str) -> dict:
    rows = list(customers)
    ordered = sum(1 for _, _, order in rows if order)
    still_open = sum(1 for since, _, order in rows if not order and
                     _secs(now, since) < CONVERSION_DAYS * 86400)
    return {"customers": len(rows), "ordered": ordered, "rate": rate(ordered, len(rows)),
            "window_open": still_open, "days": CONVERSION_DAYS}


def _satisfaction(scores: list[int]) -> dict:
    return {"count": len(scores),
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            "distribution": {str(k): scores.count(k) for k in range(1, 6)}}


def _funnel(f: dict) -> dict:
    shown = f.get("shown", 0)
    return {"shown": shown, "clicked": f.get("clicked", 0),
            "added_to_cart": f.get("added_to_cart", 0), "bought": f.get("bought", 0),
            "shown_to_customers": f.get("shown_to_customers", 0),
            "click_rate": rate(f.get("clicked", 0), shown),
            "cart_rate": rate(f.get("added_to_cart", 0), shown),
            "buy_rate": rate(f.get("bought", 0), f.get("shown_to_customers", 0))}


def compute(records: PeriodRecords, outcomes: CatalogOutcomes) -> dict:
    """The figures of a period from its records (see the module docstring)."""
    n_days = len(records.days)
    by_reason: dict[str, int] = {}
    waits, firsts, first_by_agent = [], [], {}
    for h in records.handoffs:
        by_reason[h["reason"]] = by_reason.get(h["reason"], 0) + 1
        if h["assigned_at"]:
            waits.append(_secs(h["assigned_at"], h["queued_at"]))
        if h["answered_at"]:
            t = _secs(h["answered_at"], h["queued_at"])
            firsts.append(t)
            first_by_agent.setdefault(h["answered_by"], []).append(t)
    resolutions = [_secs(r["resolved_at"], r["since"]) for r in records.resolutions
                   if r["since"]]

    # every question an agent had to answer, its response time and to whom it counts
    asked = [q for q in records.questions if not q["bot_answered"]]
    responses, by_agent_resp, questions_of = [], {}, {}
    by_hour_resp: dict[int, list[float]] = {}
    by_day_resp: dict[str, list[float]] = {}
    for q in asked:
        whose = q["owner_id"] or q["answered_by"]
        if whose is not None:
            questions_of[whose] = questions_of.get(whose, 0) + 1
        if q["answered_at"]:
            t = _secs(q["answered_at"], q["created_at"])
            responses.append(t)
            by_agent_resp.setdefault(q["answered_by"], []).append(t)
            by_hour_resp.setdefault(_hour(q["created_at"]), []).append(t)
            by_day_resp.setdefault(q["created_at"][:10], []).append(t)
    unanswered = sum(1 for q in asked if not q["answered_at"])

    customers = outcomes.customers
    ratings_of: dict[Optional[int], list[int]] = {}
    for r in records.ratings:
        ratings_of.setdefault(r["agent_id"], []).append(r["score"])

    agents = []
    for a in records.agents:
        received = sum(a["received"].values())
        if a["role"] == "supervisor" and not (received or a["active"] or a["sent"]):
            continue
        per_day = received / n_days if n_days else 0.0
        questions = questions_of.get(a["agent_id"], 0)
        agents.append({
            "agent_id": a["agent_id"], "display_name": a["display_name"], "role": a["role"],
            "status": a["status"], "received": received, "per_day": round(per_day, 1),
            "load_band": load_band(per_day), "active_now": a["active"], "cap": a["cap"],
            "capacity_now": capacity_now(a), "messages_sent": a["sent"],
            "questions": questions,
            "qa_ratio": round(a["sent"] / questions, 2) if questions else None,
            "response": spread(by_agent_resp.get(a["agent_id"], [])),
            "first_response": spread(first_by_agent.get(a["agent_id"], [])),
            "conversion": _conversion((c for c in customers.values()
                                       if c[1] == a["agent_id"]), records.now),
            "satisfaction": _satisfaction(ratings_of.get(a["agent_id"], [])),
            "received_by_day": {d: a["received"].get(d, 0) for d in records.days}})

    outcomes_ = dict.fromkeys(("accepted", "edited", "rejected"), 0)
    for outcome in records.suggestion_outcomes:
        if outcome in outcomes_:
            outcomes_[outcome] += 1
    shown = len(records.suggestion_outcomes)

    senders = records.messages_by_sender
    agent_msgs = senders.get("agent", 0)
    started = len(records.conversations)
    handed = sum(1 for c in records.conversations if c["handed_off"])

    hours = []
    for h in range(24):
        hours.append({
            "hour": h,
            "conversations": sum(1 for c in records.conversations
                                 if _hour(c["created_at"]) == h),
            "handoffs": sum(1 for x in records.handoffs if _hour(x["queued_at"]) == h),
            "questions": sum(1 for q in asked if _hour(q["created_at"]) == h),
            "response": spread(by_hour_resp.get(h, []))})
    days = [{"day": d,
             "conversations": sum(1 for c in records.conversations
                                  if c["created_at"][:10] == d),
             "handoffs": sum(1 for x in records.handoffs if x["queued_at"][:10] == d),
             "questions": sum(1 for q in asked if q["created_at"][:10] == d),
             "response": spread(by_day_resp.get(d, []))} for d in records.days]

    return {
        "day": records.first if records.first == records.last else None,
        "period": {"from": records.first, "to": records.last, "days": n_days},
        "conversations": {"started": started, "bot_only": started - handed,
                          "handed_off": handed,
                          "bot_resolution_rate": rate(started - handed, started)},
        "handoffs": {"total": len(records.handoffs), "by_reason": by_reason},
        "queue_wait": spread(waits),
        "first_response": spread(firsts),
        "response": {**spread(responses), "unanswered": unanswered,
                     "bot_answered": sum(1 for q in records.questions if q["bot_answered"])},
        "response_distribution": distribution(responses),
        "resolution": spread(resolutions),
        "agents": agents,
        "load_bands": [{"band": name, "from_per_day": lower, "below_per_day": below}
                       for name, lower, below in LOAD_BANDS],
        "suggestions": {"shown": shown, **outcomes_,
                        "undecided": shown - sum(outcomes_.values()),
                        **{f"{k}_rate": rate(v, shown) for k, v in outcomes_.items()}},
        "messages": {"shopper": senders.get("shopper", 0), "bot": senders.get("bot", 0),
                     "agent": agent_msgs, "system": senders.get("system", 0),
                     "questions": len(asked),
                     "qa_ratio": round(agent_msgs / len(asked), 2) if asked else None},
        "conversion": {**_conversion(customers.values(), records.now),
                       "available": outcomes.available},
        "satisfaction": _satisfaction([r["score"] for r in records.ratings]),
        "crosssell": {**_funnel(outcomes.crosssell), "available": outcomes.available},
        "hours": hours,
        "days": days,
    }


# -- CSV -------------------------------------------------------------------------------------
def _flat(prefix: str, value) -> dict:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            out.update(_flat(f"{prefix}.{k}" if prefix else str(k), v))
        return out
    return {prefix: value}


def to_csv(figures: dict, table: str) -> str:
    """One table of the figures as CSV (a header line, then rows): `summary` (one row per
    desk figure: figure, value), `agents`, `hours`, `days`, `response_distribution`."""
    if table not in CSV_TABLES:
        raise ValueError(f"no table {table!r} (one of {', '.join(CSV_TABLES)})")
    buf = io.StringIO()
    if table == "summary":
        rows = [{"figure": k, "value": v} for k, v in _flat("", {
            k: figures[k] for k in ("period", "conversations", "handoffs", "queue_wait",
                                    "first_response", "response", "resolution",
                                    "suggestions", "messages", "conversion",
                                    "satisfaction", "crosssell")}).items()]
    elif table == "response_distribution":
        rows = figures["response_distribution"]["buckets"]
    else:
        rows = [_flat("", {k: v for k, v in row.items() if k != "received_by_day"})
                for row in figures[table]]
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()
