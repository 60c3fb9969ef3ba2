"""The desk's figures (desk/metrics.py, GET /api/agent/metrics and its CSV exports): a
small day scripted by hand on a pinned clock, through the API, and every figure checked
against values worked out by hand below (not by the code under test)."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3
from datetime import datetime, timedelta

import pytest

from desk.app import SERVICE
from desk.metrics import load_band, percentile
from tests.conftest import copy_db
from tests.test_desk_api import (Clock, desk, fake_rasa, make_desk,  # noqa: F401 - fixtures
                                 signed, start_fake_rasa)

DAY = "2026-11-20"


def at(hhmm: str, day: str = DAY) -> datetime:
    if len(hhmm) == 5:
        hhmm += ":00"
    return datetime.fromisoformat(f"{day}T{hhmm}+08:00")


async def drafts(desk, cid, n):
    for _ in range(150):
        if len(await desk.suggestions(cid)) >= n:
            return await desk.suggestions(cid)
        await asyncio.sleep(0.02)
    raise AssertionError("no suggestions")


def test_percentile_is_nearest_rank_and_load_bands():
    assert percentile([], 50) is None
    assert percentile([4, 1, 3, 2], 50) == 2 and percentile([4, 1, 3, 2], 90) == 4
    assert percentile([7], 90) == 7
    # under 60 idle, 60–79 normal, 80–99 full, 100–120 strained, over 120 hire
    assert [load_band(n) for n in (0, 59, 60, 79, 80, 99, 100, 120, 120.5, 121)] == \
        ["idle", "idle", "normal", "normal", "full", "full", "strained", "strained",
         "hire", "hire"]


def seed_catalog(path) -> None:
    """What happened after the conversations, as the catalog records it: CX-B orders a
    P002 the next morning (within 3 days of their handoff), CX-C orders four days later
    (outside), CX-D never; cross-sell events of B's conversation that day, and one the
    day before (not in the day's funnel)."""
    conn = sqlite3.connect(path)
    with conn:
        sku = conn.execute("SELECT sku FROM variants WHERE product_id = 'P002' LIMIT 1"
                           ).fetchone()[0]
        conn.executemany("INSERT INTO orders (order_id, customer_id, created_at, status,"
                         " total) VALUES (?, ?, ?, 'paid', 100)", [
                             ("T-B-BEFORE", "CX-B", "2026-11-19T09:00:00"),
                             ("T-B", "CX-B", "2026-11-21T09:00:00"),
                             ("T-C", "CX-C", "2026-11-24T12:00:00")])
        conn.executemany("INSERT INTO order_items (order_id, sku, quantity, price)"
                         " VALUES (?, ?, 1, 100)", [("T-B", sku), ("T-C", sku)])
        conn.execute("CREATE TABLE IF NOT EXISTS crosssell_events (id INTEGER PRIMARY KEY,"
                     " conversation_id TEXT, customer_id TEXT, product_id TEXT NOT NULL,"
                     " for_product_id TEXT, event TEXT NOT NULL, created_at TEXT NOT NULL)")
        conn.execute("DELETE FROM crosssell_events")
        conn.executemany("INSERT INTO crosssell_events (conversation_id, customer_id,"
                         " product_id, for_product_id, event, created_at)"
                         " VALUES (?, ?, ?, 'P001', ?, ?)", [
                             ("conv-b", "CX-B", "P002", "shown", "2026-11-20T10:04:00"),
                             ("conv-b", "CX-B", "P003", "shown", "2026-11-20T10:04:00"),
                             ("conv-b", "CX-B", "P002", "clicked", "2026-11-20T10:05:00"),
                             ("conv-b", "CX-B", "P002", "added_to_cart",
                              "2026-11-20T10:06:00"),
                             ("conv-y", None, "P002", "shown", "2026-11-19T15:00:00")])
    conn.close()


@pytest.fixture()
async def day_desk(tmp_path, demo_db):
    db = copy_db(demo_db, tmp_path / "catalog.db")
    seed_catalog(db)
    fake = await start_fake_rasa(db)
    d = await make_desk(tmp_path, fake, db)
    yield d
    await d.client.close()
    await fake.server.close()


async def test_a_scripted_day_gives_the_figures_counted_by_hand(day_desk):
    desk = day_desk
    service = desk.app[SERVICE]

    async def clock_at(t):
        desk.clock.t = t
        await service.tick()            # lily's open console keeps her present

    # the evening before: not part of the day
    await clock_at(datetime.fromisoformat("2026-11-19T23:59:00+08:00"))
    old, old_auth = await desk.new()
    await desk.say(old, old_auth, "多少钱")

    await clock_at(at("10:00"))                    # A: the bot alone answers
    a, a_auth = await desk.new()
    await desk.say(a, a_auth, "多少钱")
    await clock_at(at("10:01"))                    # B, C: a person, nobody online yet
    b, b_auth = await desk.new(**signed("CX-B"))
    assert (await desk.say(b, b_auth, "转人工"))["state"] == "queued"
    await clock_at(at("10:02"))
    c, c_auth = await desk.new(**signed("CX-C"))
    await desk.say(c, c_auth, "转人工")
    await clock_at(at("10:02:30"))                 # B, queued: the assistant answers
    out = await desk.say(b, b_auth, "多少钱")
    assert [r["sender"] for r in out["replies"]] == ["bot", "system"]

    await clock_at(at("10:03"))                    # lily comes: both are hers
    lily = await desk.login("lily")
    console = await lily.ws()
    await lily.online()
    assert (await desk.conversation(b))["agent_id"] == lily.agent["agent_id"]
    assert (await desk.conversation(c))["agent_id"] == lily.agent["agent_id"]

    await clock_at(at("10:03:10"))
    await lily.post(f"/api/agent/conversations/{b}/messages", {"text": "亲，在的"})
    await clock_at(at("10:03:30"))
    await lily.post(f"/api/agent/conversations/{c}/messages", {"text": "亲，您好"})
    await clock_at(at("10:04"))                    # B: a draft sent as it is
    await desk.say(b, b_auth, "42码有货吗")
    (stock_b,) = await drafts(desk, b, 1)
    await clock_at(at("10:04:15"))
    await lily.post(f"/api/agent/conversations/{b}/messages",
                    {"suggestion_id": stock_b["id"]})
    await clock_at(at("10:05"))                    # C: one edited, one skipped
    await desk.say(c, c_auth, "多少钱")
    (price_c,) = await drafts(desk, c, 1)
    await clock_at(at("10:05:40"))
    await lily.post(f"/api/agent/conversations/{c}/messages",
                    {"text": "亲，这款现在有优惠哦", "suggestion_id": price_c["id"]})
    await clock_at(at("10:06"))
    await desk.say(c, c_auth, "有搭配推荐吗")
    cross = (await drafts(desk, c, 2))[1]
    await clock_at(at("10:06:05"))
    await lily.post(f"/api/agent/suggestions/{cross['id']}/skip")
    await clock_at(at("10:06:25"))
    await lily.post(f"/api/agent/conversations/{c}/messages", {"text": "好的亲，马上安排"})
    await clock_at(at("10:10"))
    await lily.post(f"/api/agent/conversations/{b}/resolve")
    await clock_at(at("10:10:30"))
    r = await desk.client.post(f"/api/conversations/{b}/rating", headers=b_auth,
                               json={"score": 5, "comment": "很满意"})
    assert r.status == 201
    await clock_at(at("10:20"))
    await lily.post(f"/api/agent/conversations/{c}/resolve")
    r = await desk.client.post(f"/api/conversations/{c}/rating", headers=c_auth,
                               json={"score": 3})
    assert r.status == 201

    await clock_at(at("10:30"))                    # D: lily is there, takes it at once
    d, d_auth = await desk.new("en", **signed("CX-D"))
    assert (await desk.say(d, d_auth, "human please"))["state"] == "assigned"
    await clock_at(at("10:31"))
    await desk.say(d, d_auth, "how much?")
    await drafts(desk, d, 1)
    await clock_at(at("10:32"))
    await lily.post(f"/api/agent/conversations/{d}/messages", {"text": "It's ¥359."})
    await clock_at(at("11:00"))                    # a last question nobody answered yet
    await desk.say(d, d_auth, "do you ship to Hangzhou?")
    await drafts(desk, d, 2)

    boss = await desk.login("boss")
    m = await boss.get(f"/api/agent/metrics?day={DAY}")
    assert m["day"] == DAY and m["period"] == {"from": DAY, "to": DAY, "days": 1}
    # A, B, C, D started; A never left the bot
    assert m["conversations"] == {"started": 4, "bot_only": 1, "handed_off": 3,
                                  "bot_resolution_rate": 0.25}
    assert m["handoffs"] == {"total": 3, "by_reason": {"requested": 3}}
    # queue wait: B 10:01→10:03 = 120, C 10:02→10:03 = 60, D 0
    assert m["queue_wait"] == {"count": 3, "avg_s": 60.0, "p50_s": 60.0, "p90_s": 120.0,
                               "over_30s_share": 0.6667}
    # first response: B 10:01→10:03:10 = 130, C 10:02→10:03:30 = 90, D 10:30→10:32 = 120
    assert m["first_response"] == {"count": 3, "avg_s": 113.3, "p50_s": 120.0,
                                   "p90_s": 130.0, "over_30s_share": 1.0}
    # every question a person answered: B "转人工" 130, "42码有货吗" 15; C "转人工" 90,
    # "多少钱" 40, "有搭配推荐吗" 25; D "human please" 120, "how much?" 60 (sum 480);
    # B's queued "多少钱" was the assistant's; D's last question is unanswered
    assert m["response"] == {"count": 7, "avg_s": 68.6, "p50_s": 60.0, "p90_s": 130.0,
                             "over_30s_share": 0.7143, "unanswered": 1, "bot_answered": 1}
    dist = m["response_distribution"]
    assert [(b_["from_s"], b_["count"]) for b_ in dist["buckets"]] == \
        [(0, 0), (10, 1), (20, 1), (30, 1), (60, 2), (120, 2), (300, 0)]
    assert dist["marks_s"] == [20, 30]
    assert (dist["within_20s_share"], dist["within_30s_share"]) == (0.1429, 0.2857)
    # B 10:01→10:10 = 540, C 10:02→10:20 = 1080
    assert m["resolution"] == {"count": 2, "avg_s": 810.0, "p50_s": 540.0, "p90_s": 1080.0,
                               "over_30s_share": 1.0}
    by_name = {x["display_name"]: x for x in m["agents"]}
    assert set(by_name) == {"Lily", "小王", "Tom"}            # Boss took no part
    lily_m = by_name["Lily"]
    # 3 received (B, C, D); 6 messages (B 2, C 3, D 1) for 8 questions (all but B's
    # queued one): Q&A 0.75
    assert {k: lily_m[k] for k in ("received", "per_day", "load_band", "active_now", "cap",
                                   "capacity_now", "messages_sent", "questions",
                                   "qa_ratio")} == \
        {"received": 3, "per_day": 3.0, "load_band": "idle", "active_now": 1, "cap": 8,
         "capacity_now": "available", "messages_sent": 6, "questions": 8, "qa_ratio": 0.75}
    assert lily_m["response"]["count"] == 7 and lily_m["response"]["p90_s"] == 130.0
    assert lily_m["first_response"]["count"] == 3
    assert lily_m["conversion"] == {"customers": 3, "ordered": 1, "rate": 0.3333,
                                    "window_open": 2, "days": 3}
    assert lily_m["satisfaction"] == {"count": 2, "average": 4.0, "distribution": {
        "1": 0, "2": 0, "3": 1, "4": 0, "5": 1}}
    assert by_name["小王"]["received"] == 0 and by_name["小王"]["capacity_now"] == "away"
    assert by_name["小王"]["qa_ratio"] is None
    # drafts with a text: B's stock (sent as is), C's price (edited), C's cross-sell
    # (skipped), D's two (undecided)
    assert m["suggestions"] == {"shown": 5, "accepted": 1, "edited": 1, "rejected": 1,
                                "undecided": 2, "accepted_rate": 0.2, "edited_rate": 0.2,
                                "rejected_rate": 0.2}
    # shopper: A 1, B 3, C 3, D 3; bot: A's price, three handoff answers, B's queued
    # answer; system: 2 queued, 1 reminder, 3 joined, 2 resolved; agent 6 for 8 questions
    assert m["messages"] == {"shopper": 10, "bot": 5, "agent": 6, "system": 8,
                             "questions": 8, "qa_ratio": 0.75}
    # CX-B ordered the next morning; CX-C four days later (outside 3 days), CX-D not
    assert m["conversion"] == {"customers": 3, "ordered": 1, "rate": 0.3333,
                               "window_open": 2, "days": 3, "available": True}
    assert m["satisfaction"]["average"] == 4.0 and m["satisfaction"]["count"] == 2
    assert m["crosssell"] == {"shown": 2, "clicked": 1, "added_to_cart": 1, "bought": 1,
                              "shown_to_customers": 2, "click_rate": 0.5, "cart_rate": 0.5,
                              "buy_rate": 0.5, "available": True}
    hours = {h["hour"]: h for h in m["hours"]}
    assert len(m["hours"]) == 24
    assert (hours[10]["conversations"], hours[10]["handoffs"], hours[10]["questions"],
            hours[10]["response"]["count"]) == (4, 3, 7, 7)
    assert (hours[11]["questions"], hours[11]["response"]["count"]) == (1, 0)
    assert hours[23]["conversations"] == 0

    # the CSV exports hold the same figures
    r = await desk.client.get(f"/api/agent/metrics/agents.csv?day={DAY}",
                              headers=boss.headers(False))
    assert r.status == 200 and r.content_type == "text/csv"
    rows = {row["display_name"]: row for row in csv.DictReader(io.StringIO(await r.text()))}
    assert rows["Lily"]["received"] == "3" and rows["Lily"]["qa_ratio"] == "0.75"
    assert rows["Lily"]["response.p90_s"] == "130.0"
    r = await desk.client.get(f"/api/agent/metrics/hours.csv?day={DAY}",
                              headers=boss.headers(False))
    hour_rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert len(hour_rows) == 24 and hour_rows[10]["questions"] == "7"
    r = await desk.client.get(f"/api/agent/metrics/response_distribution.csv?day={DAY}",
                              headers=boss.headers(False))
    assert [row["count"] for row in csv.DictReader(io.StringIO(await r.text()))] == \
        ["0", "1", "1", "1", "2", "2", "0"]
    r = await desk.client.get(f"/api/agent/metrics/summary.csv?day={DAY}",
                              headers=boss.headers(False))
    summary = {row["figure"]: row["value"] for row in
               csv.DictReader(io.StringIO(await r.text()))}
    assert summary["messages.qa_ratio"] == "0.75" and summary["conversion.ordered"] == "1"
    r = await desk.client.get(f"/api/agent/metrics/nope.csv?day={DAY}",
                              headers=boss.headers(False))
    assert r.status == 404

    # the evening before on its own; a range holds both days
    before = await boss.get("/api/agent/metrics?day=2026-11-19")
    assert before["conversations"]["started"] == 1 and before["handoffs"]["total"] == 0
    assert before["response"]["count"] == 0 and before["response"]["avg_s"] is None
    both = await boss.get("/api/agent/metrics?from=2026-11-19&to=2026-11-20")
    assert both["period"] == {"from": "2026-11-19", "to": "2026-11-20", "days": 2}
    assert both["day"] is None and both["conversations"]["started"] == 5
    assert [x["day"] for x in both["days"]] == ["2026-11-19", "2026-11-20"]
    assert [x["conversations"] for x in both["days"]] == [1, 4]
    lily_both = next(x for x in both["agents"] if x["display_name"] == "Lily")
    assert (lily_both["received"], lily_both["per_day"]) == (3, 1.5)
    # the cross-sell shown the day before counts in the range, to no customer
    assert (both["crosssell"]["shown"], both["crosssell"]["shown_to_customers"]) == (3, 2)
    # today by default (shop time)
    assert (await boss.get("/api/agent/metrics"))["day"] == DAY
    await console.close()


async def test_an_agent_at_the_cap_is_full_and_load_bands_count_the_day(desk):
    """8 of 8 is full, not idle; 60 received in a day is normal, 100 strained."""
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 2 WHERE username = 'lily'").rowcount)
    lily = await desk.login("lily")
    await lily.online()
    for _ in range(2):
        cid, auth = await desk.new()
        await desk.say(cid, auth, "转人工")
    boss = await desk.login("boss")
    m = await boss.get("/api/agent/metrics")
    row = next(x for x in m["agents"] if x["display_name"] == "Lily")
    assert (row["active_now"], row["cap"], row["capacity_now"]) == (2, 2, "full")
    assert row["load_band"] == "idle"                 # 2 received today
    assert m["load_bands"][0] == {"band": "idle", "from_per_day": 0, "below_per_day": 60}


async def test_handoffs_after_a_restart_and_out_of_hours_contact_count_again(desk):
    lily = await desk.login("lily")
    desk.clock.t = at("11:00")
    await lily.online()
    cid, auth = await desk.new()
    await desk.say(cid, auth, "转人工")
    await lily.post(f"/api/agent/conversations/{cid}/resolve", {"confirm": True})
    desk.clock.t += timedelta(hours=2)             # past the reopen window: the bot again
    await desk.say(cid, auth, "我要投诉")
    boss = await desk.login("boss")
    m = await boss.get(f"/api/agent/metrics?day={DAY}")
    assert m["handoffs"]["total"] == 2
    assert m["conversations"]["handed_off"] == 1 and m["conversations"]["started"] == 1
    # the second handoff waits: lily's console went quiet two hours ago (she is away)
    assert m["queue_wait"]["count"] == 1 and m["queue_wait"]["p90_s"] == 0.0
    assert m["response"]["unanswered"] == 2


async def test_metrics_are_for_supervisors_only(desk):
    lily = await desk.login("lily")
    await lily.get("/api/agent/metrics", status=403)
    await lily.get("/api/agent/metrics/agents.csv", status=403)
    r = await desk.client.get("/api/agent/metrics")
    assert r.status == 401
    boss = await desk.login("boss")
    for bad in ("2026-13-01", "yesterday", "2026-1-1", "'; DROP TABLE messages;--"):
        await boss.get(f"/api/agent/metrics?day={bad}", status=400)
    await boss.get("/api/agent/metrics?from=2026-11-20&to=2026-11-19", status=400)
    await boss.get("/api/agent/metrics?from=2026-01-01&to=2026-11-19", status=400)
