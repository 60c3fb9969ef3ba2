"""The desk's KPIs (desk/metrics.py, GET /api/agent/metrics): a small day scripted on a
pinned clock, and the exact figures it must give."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


from desk.metrics import load_band, percentile
from tests.test_desk_api import Clock, desk, fake_rasa, make_desk  # noqa: F401 - fixtures

DAY = "2026-11-20"


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"{DAY}T{hhmm}:00+08:00")


async def drafts(desk, cid, n):
    for _ in range(100):
        if len(await desk.suggestions(cid)) >= n:
            return await desk.suggestions(cid)
        await asyncio.sleep(0.02)
    raise AssertionError("no suggestions")


def test_percentile_is_nearest_rank_and_load_bands():
    assert percentile([], 50) is None
    assert percentile([4, 1, 3, 2], 50) == 2 and percentile([4, 1, 3, 2], 90) == 4
    assert percentile([7], 90) == 7
    assert [load_band(n) for n in (0, 79, 80, 120, 121)] == \
        ["idle", "idle", "healthy", "healthy", "add_people"]


async def test_a_scripted_day_gives_exact_figures(desk):
    clock = desk.clock
    # the evening before: not part of the day
    clock.t = datetime.fromisoformat("2026-11-19T23:59:00+08:00")
    old, old_auth = await desk.new()
    await desk.say(old, old_auth, "多少钱")

    clock.t = at("10:00")                          # A: the bot alone answers
    a, a_auth = await desk.new()
    await desk.say(a, a_auth, "多少钱")
    clock.t = at("10:01")                          # B, C: a human, nobody online yet
    b, b_auth = await desk.new()
    assert (await desk.say(b, b_auth, "转人工"))["state"] == "queued"
    clock.t = at("10:02")
    c, c_auth = await desk.new()
    await desk.say(c, c_auth, "转人工")
    clock.t = at("10:03")                          # lily comes: both are hers
    lily = await desk.login("lily")
    await lily.online()
    assert (await desk.conversation(b))["agent_id"] == lily.agent["agent_id"]

    clock.t = at("10:04")                          # B: a draft sent as it is
    await desk.say(b, b_auth, "多少钱")
    (price_b,) = await drafts(desk, b, 1)
    await lily.post(f"/api/agent/conversations/{b}/messages",
                    {"suggestion_id": price_b["id"]})
    clock.t = at("10:05")                          # C: one edited, one skipped
    await desk.say(c, c_auth, "多少钱")
    (price_c,) = await drafts(desk, c, 1)
    await desk.say(c, c_auth, "有搭配推荐吗")
    cross = (await drafts(desk, c, 2))[1]
    await lily.post(f"/api/agent/suggestions/{cross['id']}/skip")
    clock.t = at("10:06")
    await lily.post(f"/api/agent/conversations/{c}/messages",
                    {"text": "亲，这款现在有优惠哦", "suggestion_id": price_c["id"]})
    clock.t = at("10:10")
    await lily.post(f"/api/agent/conversations/{b}/resolve")
    clock.t = at("10:20")
    await lily.post(f"/api/agent/conversations/{c}/resolve")

    boss = await desk.login("boss")
    m = await boss.get(f"/api/agent/metrics?day={DAY}")
    assert m["day"] == DAY
    assert m["conversations"] == {"started": 3, "bot_only": 1, "handed_off": 2,
                                  "bot_resolution_rate": 0.3333}
    assert m["handoffs"] == {"total": 2, "by_reason": {"requested": 2}}
    assert m["queue_wait"] == {"count": 2, "p50_s": 60.0, "p90_s": 120.0}
    assert m["first_response"] == {"count": 2, "p50_s": 180.0, "p90_s": 240.0}
    assert m["resolution"] == {"count": 2, "p50_s": 540.0, "p90_s": 1080.0}
    by_name = {x["display_name"]: x for x in m["agents"]}
    assert "Boss" not in by_name
    assert by_name["Lily"] == {"agent_id": lily.agent["agent_id"], "display_name": "Lily",
                               "role": "agent", "status": "online", "received": 2,
                               "load_band": "idle", "active_now": 0, "messages_sent": 2}
    assert by_name["小王"]["received"] == 0 and by_name["小王"]["messages_sent"] == 0
    assert m["suggestions"] == {"shown": 3, "accepted": 1, "edited": 1, "rejected": 1,
                                "undecided": 0, "accepted_rate": 0.3333,
                                "edited_rate": 0.3333, "rejected_rate": 0.3333}
    # shopper: A 1, B 2, C 3; bot: A's price, B's and C's handoff answers; agent: 2
    assert m["messages"] == {"shopper": 6, "bot": 3, "agent": 2, "system": 6,
                             "qa_ratio": round(5 / 6, 4)}

    # today by default (shop time), the evening before on its own
    assert (await boss.get("/api/agent/metrics"))["day"] == DAY
    before = await boss.get("/api/agent/metrics?day=2026-11-19")
    assert before["conversations"]["started"] == 1 and before["handoffs"]["total"] == 0
    assert before["first_response"] == {"count": 0, "p50_s": None, "p90_s": None}
    assert before["messages"]["qa_ratio"] == 1.0


async def test_handoffs_after_a_restart_and_out_of_hours_contact_count_again(desk):
    lily = await desk.login("lily")
    await lily.online()
    desk.clock.t = at("11:00")
    cid, auth = await desk.new()
    await desk.say(cid, auth, "转人工")
    await lily.post(f"/api/agent/conversations/{cid}/resolve")
    desk.clock.t += timedelta(hours=2)             # past the reopen window: the bot again
    await desk.say(cid, auth, "我要投诉")
    boss = await desk.login("boss")
    m = await boss.get(f"/api/agent/metrics?day={DAY}")
    assert m["handoffs"]["total"] == 2
    assert m["conversations"]["handed_off"] == 1 and m["conversations"]["started"] == 1
    assert m["queue_wait"]["count"] == 2 and m["queue_wait"]["p90_s"] == 0.0


async def test_metrics_are_for_supervisors_only(desk):
    lily = await desk.login("lily")
    await lily.get("/api/agent/metrics", status=403)
    r = await desk.client.get("/api/agent/metrics")
    assert r.status == 401
    boss = await desk.login("boss")
    for bad in ("2026-13-01", "yesterday", "2026-1-1", "'; DROP TABLE messages;--"):
        await boss.get(f"/api/agent/metrics?day={bad}", status=400)
