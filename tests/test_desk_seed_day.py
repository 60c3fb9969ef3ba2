"""The seeded day (bench/seed_day.py) on a small scale: it plays shoppers and agents
through the API, and the figures it reports agree with counts read from the record it
leaves (SQL of the test's own); the same seed gives the same day."""

from __future__ import annotations

import asyncio
import csv
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import seed_day  # noqa: E402

DAY = "2026-11-20"


def rows(db, sql, *params):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def play(out, demo_db, seed=3):
    args = seed_day.parse_args(["--shoppers", "40", "--agents", "3", "--seed", str(seed),
                                "--out", str(out), "--catalog", str(demo_db)])
    day = seed_day.Day(args)
    figures = asyncio.run(day.run())
    figures.pop("_seconds")
    return figures, day.counts


def test_a_small_seeded_day_agrees_with_its_record(tmp_path, demo_db):
    out = tmp_path / "day"
    figures, counts = play(out, demo_db)
    desk, catalog = out / "desk.db", out / "catalog.db"
    on_day = "substr(created_at, 1, 10) = ?"

    assert figures["conversations"]["started"] == counts["shoppers"] == rows(
        desk, f"SELECT COUNT(*) FROM conversations WHERE {on_day}", DAY)[0][0]
    assert figures["handoffs"]["total"] == rows(
        desk, "SELECT COUNT(*) FROM handoffs WHERE day = ?", DAY)[0][0] > 0
    assert figures["messages"]["agent"] == rows(
        desk, f"SELECT COUNT(*) FROM messages WHERE sender = 'agent' AND {on_day}",
        DAY)[0][0] > 0
    received = dict(rows(desk, "SELECT a.display_name, COUNT(*) FROM assignments s JOIN"
                               " agents a ON a.agent_id = s.agent_id WHERE s.day = ? AND"
                               " s.kind IN ('assign', 'reassign') GROUP BY a.agent_id", DAY))
    assert {a["display_name"]: a["received"] for a in figures["agents"]
            if a["received"]} == received
    scores = [r[0] for r in rows(desk, "SELECT score FROM ratings WHERE day = ?", DAY)]
    assert figures["satisfaction"]["count"] == len(scores) == counts["ratings"] > 0
    assert figures["satisfaction"]["average"] == round(sum(scores) / len(scores), 2)
    customers = {r[0] for r in rows(desk, "SELECT DISTINCT c.customer_id FROM handoffs h"
                                          " JOIN conversations c ON c.conversation_id ="
                                          " h.conversation_id WHERE h.day = ? AND"
                                          " c.customer_id IS NOT NULL", DAY)}
    assert figures["conversion"]["customers"] == len(customers)
    shown = rows(catalog, "SELECT COUNT(*) FROM (SELECT DISTINCT conversation_id, product_id"
                          " FROM crosssell_events WHERE event = 'shown' AND"
                          f" {on_day})", DAY)[0][0]
    assert figures["crosssell"]["shown"] == shown > 0
    # every question an agent answered has its response time
    assert figures["response"]["count"] > 0 and figures["response"]["p90_s"] is not None
    # the exports are there, with their header
    for table in ("summary", "agents", "hours", "days", "response_distribution"):
        with open(out / f"{table}.csv", encoding="utf-8") as f:
            assert next(csv.reader(f)), table

    # the same seed, the same day
    again, _ = play(tmp_path / "again", demo_db)
    assert again == figures
