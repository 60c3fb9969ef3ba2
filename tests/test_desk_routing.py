"""Routing (desk/routing.py): caps, language, returning shoppers, FIFO queue and
waits, business hours, supervisor-only reassignment, and races: 200 simultaneous handoffs
over 5 agents from threads and from processes never give a conversation two owners or an
agent more than the cap. The rules and the race of threads run on SQLite and on
PostgreSQL (`desk_database`, tests/cluster_support.py); the race of processes on SQLite
(tests/test_cluster.py races two desk replicas on PostgreSQL)."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from desk.routing import BusinessHours, choose_agent, AgentLoad
from desk.store import Conflict, DeskError, DeskStore, Forbidden

from tests.cluster_support import fetch
from tests.conftest import NOW, Clock  # noqa: F401 - the shared pinned clock


@pytest.fixture()
async def store(desk_database, clock):
    s = DeskStore(desk_database, clock=clock)
    yield s
    s.close()


async def add(store, name, langs=("zh", "en"), cap=8, daily_cap=120, online=True,
              role="agent"):
    a = await store.accounts.add_agent(name, "pw-" + name, languages=langs, cap=cap,
                                       daily_cap=daily_cap, role=role)
    if online:
        await store.accounts.set_status(a["agent_id"], "online")
    return a["agent_id"]


async def handoff(store, locale="zh", customer_id=None):
    conv, _ = await store.conversations.create(locale, customer_id=customer_id)
    res = await store.conversations.handoff(conv["conversation_id"], "requested")
    return conv["conversation_id"], res["assigned"]


async def owner(store, cid):
    return (await store.conversations.get(cid))["agent_id"]


async def agent(store, agent_id):
    return await store.accounts.agent(agent_id)


async def test_fewest_active_first(store):
    a, b = await add(store, "a"), await add(store, "b")
    owners = [await owner(store, (await handoff(store))[0]) for _ in range(4)]
    assert owners == [a, b, a, b]


async def test_concurrent_cap_and_queue(store):
    a = await add(store, "a", cap=2)
    cids = [(await handoff(store))[0] for _ in range(3)]
    assert [await owner(store, c) for c in cids] == [a, a, None]
    assert (await store.conversations.get(cids[2]))["state"] == "queued"
    assert (await agent(store, a))["active"] == 2
    assert await store.conversations.resolve(cids[0], await agent(store, a)) == \
        [(cids[2], a)]                                              # frees a place


async def test_daily_cap(store):
    a = await add(store, "a", cap=5, daily_cap=2)
    cids = [(await handoff(store))[0] for _ in range(3)]
    for c in cids[:2]:
        await store.conversations.resolve(c, await agent(store, a))
    assert (await store.conversations.get(cids[2]))["state"] == "queued"
    assert (await agent(store, a))["today"] == 2


async def test_language(store):
    wang, tom = await add(store, "wang", ("zh",)), await add(store, "tom", ("en",))
    assert await owner(store, (await handoff(store, "en"))[0]) == tom
    assert await owner(store, (await handoff(store, "zh"))[0]) == wang
    # never wang, whatever his load
    assert await owner(store, (await handoff(store, "en"))[0]) == tom


async def test_queue_does_not_block_other_languages(store):
    await add(store, "wang", ("zh",), cap=1)
    first = (await handoff(store, "zh"))[0]
    waiting_zh = (await handoff(store, "zh"))[0]
    tom = await add(store, "tom", ("en",))
    en = (await handoff(store, "en"))[0]
    assert await owner(store, first) and await owner(store, waiting_zh) is None
    assert await owner(store, en) == tom


async def test_returning_shopper_gets_their_previous_agent(store):
    a, b = await add(store, "a"), await add(store, "b")
    first, _ = await handoff(store, customer_id="C7")
    assert await owner(store, first) == a
    await store.conversations.resolve(first, await agent(store, a))
    await handoff(store)                            # a now has one more than b
    again, _ = await handoff(store, customer_id="C7")
    assert await owner(store, again) == a
    # ... unless a cannot take it
    await store.accounts.set_status(a, "away")
    third, _ = await handoff(store, customer_id="C7")
    assert await owner(store, third) == b


async def test_queue_is_fifo_with_positions_and_waits(store, clock):
    cids = []
    for _ in range(3):
        cids.append((await handoff(store, "zh"))[0])
        clock.advance(seconds=1)
    en = (await handoff(store, "en"))[0]
    est = await store.conversations.queue_estimates()
    assert [est[c]["position"] for c in cids] == [1, 2, 3]
    assert est[en]["position"] == 1                 # its own language's queue
    # nobody present: no estimate, and the figures say so
    assert [(est[c]["estimated_wait_s"], est[c]["agents_online"]) for c in cids] == \
        [(None, 0)] * 3
    a = await add(store, "a", ("zh",), cap=1)
    assert await owner(store, cids[0]) == a           # going online takes the oldest
    est = await store.conversations.queue_estimates()
    assert [est[c]["position"] for c in cids[1:]] == [1, 2]
    # a's one place frees when cids[0] ends: nothing measured yet, 300 s by default;
    # the next holds it for the average (300 s) again
    assert [est[c]["estimated_wait_s"] for c in cids[1:]] == [300, 600]
    assert est[cids[1]]["agents_online"] == 1 and est[en]["agents_online"] == 0


async def test_waits_follow_measured_handling_time(store, clock):
    a = await add(store, "a", ("zh",), cap=1)
    cid = (await handoff(store))[0]
    clock.advance(seconds=120)
    await store.accounts.seen([a])                  # her console is open
    await store.conversations.resolve(cid, await agent(store, a))
    await handoff(store)
    waiting = (await handoff(store))[0]
    assert (await store.conversations.queue_estimates())[waiting]["estimated_wait_s"] == 120


async def test_supervisor_reassigns_with_a_reason(store):
    a, b = await add(store, "a"), await add(store, "b", cap=1)
    boss = await agent(store, await add(store, "boss", role="supervisor", online=False))
    reassign = store.conversations.reassign
    cid = (await handoff(store))[0]
    assert await owner(store, cid) == a
    with pytest.raises(Forbidden):
        await reassign(cid, b, "because", await agent(store, a))
    with pytest.raises(DeskError):
        await reassign(cid, b, " ", boss)
    await reassign(cid, b, "speaks Cantonese", boss)
    assert await owner(store, cid) == b
    log = (await store.conversations.ownership_log(cid))[-1]
    assert (log["kind"], log["from_agent_id"], log["agent_id"], log["reason"],
            log["by_agent_id"]) == ("reassign", a, b, "speaks Cantonese", boss["agent_id"])
    other = (await handoff(store))[0]
    assert await owner(store, other) == a
    with pytest.raises(Conflict):                    # b is at the cap of 1
        await reassign(other, b, "try", boss)


async def test_supervisors_are_not_auto_assigned(store):
    await add(store, "boss", role="supervisor")                 # online
    cid = (await handoff(store))[0]
    assert (await store.conversations.get(cid))["state"] == "queued"


@pytest.mark.parametrize("hours,at,open_", [
    ("09:00-22:00", "2026-11-20T09:00:00+08:00", True),
    ("09:00-22:00", "2026-11-20T21:59:59+08:00", True),
    ("09:00-22:00", "2026-11-20T22:00:00+08:00", False),
    ("09:00-22:00", "2026-11-20T08:59:00+08:00", False),
    ("20:00-02:00", "2026-11-20T01:00:00+08:00", True),
    ("20:00-02:00", "2026-11-20T12:00:00+08:00", False),
    ("00:00-24:00", "2026-11-20T23:59:00+08:00", True),
])
def test_business_hours(hours, at, open_):
    assert BusinessHours.parse(hours).is_open(datetime.fromisoformat(at)) is open_


def test_business_hours_rejects_nonsense():
    with pytest.raises(ValueError):
        BusinessHours.parse("nine to five")


def test_choose_agent_prefers_the_preferred_only_when_able():
    loads = [AgentLoad(1, ("zh",), 8, 120, 8, 10), AgentLoad(2, ("zh",), 8, 120, 3, 10),
             AgentLoad(3, ("zh",), 8, 120, 1, 10)]
    assert choose_agent(loads, "zh", preferred=2).agent_id == 2
    assert choose_agent(loads, "zh", preferred=1).agent_id == 3
    assert choose_agent(loads, "en") is None


# -- races ------------------------------------------------------------------------------------
N_CONV, N_AGENTS, CAP = 200, 5, 8


def _setup_agents(path) -> list[int]:
    async def setup():
        s = DeskStore(path, clock=lambda: NOW)
        ids = [(await s.accounts.add_agent(f"agent{i}", "pw", languages=["zh", "en"],
                                           cap=CAP))["agent_id"] for i in range(N_AGENTS)]
        for i in ids:
            await s.accounts.set_status(i, "online")
        s.close()
        return ids

    return asyncio.run(setup())


def _handoff_worker(path, n, barrier=None):
    """A desk of its own (its own writer connection and thread) handing off `n`."""
    async def work():
        s = DeskStore(path, clock=lambda: NOW)
        if barrier is not None:
            barrier.wait()
        for _ in range(n):
            conv, _ = await s.conversations.create("zh")
            await s.conversations.handoff(conv["conversation_id"], "requested")
        s.close()

    asyncio.run(work())


def _agent_worker(path, agent_id, total, barrier=None, deadline_s=120):
    """Resolve own conversations as they come, until all `total` are resolved. An agent
    resolves only once at the cap (or when every conversation has been handed off), so
    every agent's cap is reached while handoffs and resolutions race."""
    def counts(c):
        return c.execute("SELECT COUNT(*), SUM(CASE WHEN state = 'resolved' THEN 1"
                         " ELSE 0 END) FROM conversations").fetchone()

    async def work():
        s = DeskStore(path, clock=lambda: NOW)
        if barrier is not None:
            barrier.wait()
        me = await s.accounts.agent(agent_id)
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            mine = await s.conversations.mine(agent_id)
            created, resolved = await s.db.read(counts)
            if resolved and resolved >= total:
                break
            if mine and (len(mine) >= CAP or created >= total):
                for c in mine:
                    await s.conversations.resolve(c["conversation_id"], me)
            else:
                await asyncio.sleep(0.005)
        s.close()

    asyncio.run(work())


def check_log(path, agent_ids):
    """Replays the ownership log, read through a connection of the test's own (a SQLite
    path or a PostgreSQL URL)."""
    log = [dict(zip(("conversation_id", "agent_id", "kind"), r)) for r in fetch(
        path, "SELECT conversation_id, agent_id, kind FROM assignments ORDER BY id")]
    convs = [dict(zip(("conversation_id", "state", "agent_id"), r)) for r in fetch(
        path, "SELECT conversation_id, state, agent_id FROM conversations")]
    assert len(convs) == N_CONV
    assert all(c["state"] == "resolved" for c in convs), Counter(c["state"] for c in convs)
    assigns = Counter(e["conversation_id"] for e in log if e["kind"] == "assign")
    assert len(assigns) == N_CONV and set(assigns.values()) == {1}   # one owner each, once
    owner_of = {e["conversation_id"]: e["agent_id"] for e in log if e["kind"] == "assign"}
    assert all(owner_of[c["conversation_id"]] == c["agent_id"] for c in convs)
    active, peak = defaultdict(int), defaultdict(int)
    for e in log:                                   # replay in commit order
        if e["kind"] == "assign":
            active[e["agent_id"]] += 1
            peak[e["agent_id"]] = max(peak[e["agent_id"]], active[e["agent_id"]])
        elif e["kind"] == "resolve":
            active[e["agent_id"]] -= 1
    assert max(peak.values()) <= CAP
    assert set(peak) <= set(agent_ids)
    return peak


def test_race_threads_200_handoffs_over_5_agents(desk_database):
    path = desk_database
    agents = _setup_agents(path)
    barrier = threading.Barrier(4 + N_AGENTS)
    threads = [threading.Thread(target=_handoff_worker, args=(path, N_CONV // 4, barrier))
               for _ in range(4)]
    threads += [threading.Thread(target=_agent_worker, args=(path, a, N_CONV, barrier))
                for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    peak = check_log(path, agents)
    assert peak == {a: CAP for a in agents}        # every cap was really reached


def test_race_processes_200_handoffs_over_5_agents(tmp_path):
    path = tmp_path / "race.db"
    agents = _setup_agents(path)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4 + N_AGENTS)
    procs = [ctx.Process(target=_handoff_worker, args=(str(path), N_CONV // 4, barrier))
             for _ in range(4)]
    procs += [ctx.Process(target=_agent_worker, args=(str(path), a, N_CONV, barrier))
              for a in agents]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    assert check_log(path, agents) == {a: CAP for a in agents}
