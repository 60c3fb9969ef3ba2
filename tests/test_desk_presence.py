"""Presence is real (desk/routing.py Presence, desk/store/accounts.py, desk/service.py):
an agent is online only while their console is seen (a heartbeat over the agent socket,
the socket itself) within the grace period, recorded in the store; away agents get
nothing new but keep what they own; reassignment goes only to agents who qualify, with
the reason otherwise; the queue drains whenever a place frees (resolve, reassignment, an
agent coming online, a raised cap)."""

from __future__ import annotations

import pytest

from desk.app import SERVICE
from desk.store import DeskStore
from tests.test_desk_api import desk, fake_rasa, next_event  # noqa: F401 - fixtures

GRACE_S = 45                                        # the default, bot/settings.py


async def ids(desk) -> dict:
    return {a["username"]: a["agent_id"] for a in await desk.store.accounts.agents()}


async def test_an_agent_whose_console_went_quiet_gets_nothing_new(desk):
    lily = await desk.login("lily")
    await lily.online()                            # no console socket
    boss = await desk.login("boss")
    watch = await boss.ws()
    await next_event(watch, "hello")
    first, a1 = await desk.new()
    assert (await desk.say(first, a1, "转人工"))["state"] == "assigned"
    desk.clock.advance(seconds=GRACE_S - 1)        # still within the grace period
    second, a2 = await desk.new()
    assert (await desk.say(second, a2, "转人工"))["state"] == "assigned"
    desk.clock.advance(seconds=2)                  # past it, no heartbeat
    third, a3 = await desk.new()
    assert (await desk.say(third, a3, "转人工"))["state"] == "queued"
    me = await lily.get("/api/agent/me")
    assert me["agent"]["status"] == "away" and me["agent"]["chosen_status"] == "online"
    # the sweep records it and tells the supervisor; what she owns stays hers
    await desk.app[SERVICE].tick()
    event = await next_event(watch, "presence")
    assert event["agent"]["username"] == "lily" and event["agent"]["status"] == "away"
    assert event["reason"] == "no_heartbeat"
    assert desk.sql("SELECT status FROM agents WHERE username = 'lily'") == \
        [{"status": "away"}]
    overview = await boss.get("/api/agent/conversations")
    owned = {s["conversation_id"]: s for s in overview["assigned"]}
    assert set(owned) == {first, second}
    assert {s["agent_status"] for s in owned.values()} == {"away"}
    assert {s["agent_id"] for s in owned.values()} == {lily.agent["agent_id"]}
    # back at her console she is away until she chooses online again
    console = await lily.ws()
    hello = await next_event(console, "hello")
    assert hello["agent"]["status"] == "away"
    await lily.online()
    assert (await desk.conversation(third))["agent_id"] == lily.agent["agent_id"]
    await console.close()
    await watch.close()


async def test_heartbeats_and_an_open_socket_keep_an_agent_present(desk):
    lily = await desk.login("lily")
    await lily.online()
    console = await lily.ws()
    await next_event(console, "hello")
    for _ in range(4):                             # three minutes of heartbeats
        desk.clock.advance(seconds=GRACE_S - 5)
        await console.send_json({"type": "heartbeat"})
        beat = await next_event(console, "heartbeat")
        assert beat["status"] == "online"
    cid, auth = await desk.new()
    assert (await desk.say(cid, auth, "转人工"))["state"] == "assigned"
    # the socket itself: the desk's timer counts an open console as seen
    desk.clock.advance(minutes=10)
    await desk.app[SERVICE].tick()
    cid, auth = await desk.new()
    assert (await desk.say(cid, auth, "转人工"))["state"] == "assigned"
    seen = desk.sql("SELECT last_seen_at FROM agents WHERE username = 'lily'")[0]
    assert seen["last_seen_at"] == desk.clock.t.isoformat(timespec="milliseconds")
    # closed: after the grace period she is away
    await console.close()
    desk.clock.advance(seconds=GRACE_S + 1)
    await desk.app[SERVICE].tick()
    assert (await lily.get("/api/agent/me"))["agent"]["status"] == "away"
    cid, auth = await desk.new()
    assert (await desk.say(cid, auth, "转人工"))["state"] == "queued"


async def test_presence_is_in_the_store_for_other_desk_processes(desk):
    lily = await desk.login("lily")
    await lily.online()
    other = DeskStore(desk.store.db.path, clock=desk.clock)   # another process's store
    try:
        found = next(a for a in await other.accounts.agents() if a["username"] == "lily")
        assert found["status"] == "online"
        desk.clock.advance(seconds=GRACE_S + 1)
        found = next(a for a in await other.accounts.agents() if a["username"] == "lily")
        assert found["status"] == "away"
    finally:
        other.close()


async def test_logging_out_is_going_away(desk):
    lily = await desk.login("lily")
    await lily.online()
    await lily.post("/api/agent/logout")
    assert desk.sql("SELECT status FROM agents WHERE username = 'lily'") == \
        [{"status": "away"}]
    cid, auth = await desk.new()
    assert (await desk.say(cid, auth, "转人工"))["state"] == "queued"


async def test_reassignment_only_to_an_agent_who_qualifies(desk):
    agent_ids = await ids(desk)
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 1 WHERE username IN ('lily', 'tom')").rowcount)
    lily, wang, tom, boss = [await desk.login(n) for n in ("lily", "wang", "tom", "boss")]
    await lily.online()
    cid, auth = await desk.new("zh")
    await desk.say(cid, auth, "转人工")                          # lily's, her one place
    url = f"/api/agent/conversations/{cid}/reassign"

    # wang is away, tom does not speak Chinese, and lily owns it
    listed = {a["username"]: a for a in
              await boss.get(f"/api/agent/agents?conversation_id={cid}")}
    assert (listed["wang"]["can_take"], listed["wang"]["why_not"]) == (False, "away")
    assert listed["tom"]["why_not"] in ("away", "language")
    assert listed["lily"]["why_not"] == "owner"
    refused = await boss.post(url, {"agent_id": agent_ids["wang"], "reason": "x"},
                              status=409)
    assert refused["reason"] == "away" and refused["agent"]["username"] == "wang"
    await tom.online()
    refused = await boss.post(url, {"agent_id": agent_ids["tom"], "reason": "x"},
                              status=409)
    assert refused["reason"] == "language"
    # at the cap: wang online with a cap of 1, busy
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 1 WHERE username = 'wang'").rowcount)
    await wang.online()
    busy, busy_auth = await desk.new("zh")
    await desk.say(busy, busy_auth, "转人工")                     # wang's
    assert (await desk.conversation(busy))["agent_id"] == agent_ids["wang"]
    refused = await boss.post(url, {"agent_id": agent_ids["wang"], "reason": "x"},
                              status=409)
    assert refused["reason"] == "at_cap" and "1 of 1" in refused["error"]
    listed = {a["username"]: a for a in
              await boss.get(f"/api/agent/agents?conversation_id={cid}")}
    assert listed["wang"]["why_not"] == "at_cap" and listed["wang"]["free"] == 0
    # a daily cap reached
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 5, daily_cap = 1 WHERE username = 'wang'").rowcount)
    refused = await boss.post(url, {"agent_id": agent_ids["wang"], "reason": "x"},
                              status=409)
    assert refused["reason"] == "daily_cap"
    # qualified: moved; lily's freed place takes the queue's next at once
    waiting, w_auth = await desk.new("zh")
    assert (await desk.say(waiting, w_auth, "转人工"))["state"] == "queued"
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 1, daily_cap = 120 WHERE username = 'wang'").rowcount)
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE conversations SET state = 'resolved' WHERE conversation_id = ?",
        (busy,)).rowcount)                         # wang's place is free again
    moved = await boss.post(url, {"agent_id": agent_ids["wang"], "reason": "小王熟悉这款"})
    assert moved["agent_id"] == agent_ids["wang"]
    assert (await desk.conversation(waiting))["agent_id"] == agent_ids["lily"]
    told = [m for m in await desk.history(waiting) if m["sender"] == "system"]
    assert told[-1]["custom"] == {"type": "agent_joined", "agent_name": "Lily"}


async def test_a_supervisor_raises_a_cap_and_the_queue_moves(desk):
    agent_ids = await ids(desk)
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 1 WHERE username = 'wang'").rowcount)
    wang, boss = await desk.login("wang"), await desk.login("boss")
    await wang.online()
    first, a1 = await desk.new("zh")
    await desk.say(first, a1, "转人工")
    second, a2 = await desk.new("zh")
    assert (await desk.say(second, a2, "转人工"))["state"] == "queued"
    url = f"/api/agent/agents/{agent_ids['wang']}/caps"
    await wang.post(url, {"cap": 2}, status=403)                  # supervisors only
    await boss.post(url, {}, status=400)
    await boss.post(url, {"cap": -1}, status=400)
    await boss.post(url, {"cap": "2"}, status=400)
    await boss.post("/api/agent/agents/999/caps", {"cap": 2}, status=404)
    agent = await boss.post(url, {"cap": 2, "daily_cap": 90})
    assert (agent["cap"], agent["daily_cap"], agent["active"]) == (2, 90, 2)
    assert (await desk.conversation(second))["agent_id"] == agent_ids["wang"]


async def test_an_agent_with_a_free_place_takes_from_the_queue_on_the_timer(desk):
    """A place that frees without an event of this process (another desk process, a
    cap raised in the database): the timer drains the queue."""
    agent_ids = await ids(desk)
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 1 WHERE username = 'wang'").rowcount)
    wang = await desk.login("wang")
    await wang.online()
    console = await wang.ws()
    first, a1 = await desk.new("zh")
    await desk.say(first, a1, "转人工")
    second, a2 = await desk.new("zh")
    await desk.say(second, a2, "转人工")
    await desk.store.db.write(lambda c: c.execute(
        "UPDATE agents SET cap = 8 WHERE username = 'wang'").rowcount)
    assert (await desk.conversation(second))["state"] == "queued"
    await desk.app[SERVICE].tick()
    assert (await desk.conversation(second))["agent_id"] == agent_ids["wang"]
    assert (await next_event(console, "assigned"))["conversation"]["conversation_id"] in \
        (first, second)
    await console.close()


@pytest.mark.parametrize("grace", [20])
def test_the_grace_period_is_a_setting(monkeypatch, tmp_path, grace):
    from bot.settings import get_settings

    monkeypatch.setenv("SHOPASSIST_DESK_PRESENCE_GRACE_S", str(grace))
    monkeypatch.setenv("SHOPASSIST_DESK_DB", str(tmp_path / "desk.db"))
    store = DeskStore.from_settings(get_settings(), clock=lambda: None)
    try:
        assert store.policy.presence_grace_s == grace
    finally:
        store.close()
