"""Routing (desk/routing.py): caps, language, returning shoppers, FIFO queue and
waits, business hours, supervisor-only reassignment, and races: 200 simultaneous handoffs
over 5 agents from threads and from processes never give a conversation two owners or an
agent more than the cap."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta

import pytest

from desk.routing import BusinessHours, choose_agent, AgentLoad
from desk.store import Conflict, DeskError, DeskStore, Forbidden

from tests.conftest import NOW, Clock  # noqa: F401 - the shared pinned clock


@pytest.fixture()
def store(tmp_path, clock):
    s = DeskStore(tmp_path / "desk.db", clock=clock)
    yield s
    s.close()


def add(store, name, langs=("zh", "en"), cap=8, daily_cap=120, online=True):
    a = store.add_agent(name, "pw-" + name, languages=langs, cap=cap, daily_cap=daily_cap)
    if online:
        store.set_status(a["agent_id"], "online")
    return a["agent_id"]


def handoff(store, locale="zh", customer_id=None):
    conv, _ = store.create_conversation(locale, customer_id=customer_id)
    res = store.handoff(conv["conversation_id"], "requested")
    return conv["conversation_id"], res["assigned"]


def owner(store, cid):
    return store.conversation(cid)["agent_id"]


def test_fewest_active_first(store):
    a, b = add(store, "a"), add(store, "b")
    owners = [owner(store, handoff(store)[0]) for _ in range(4)]
    assert owners == [a, b, a, b]


def test_concurrent_cap_and_queue(store):
    a = add(store, "a", cap=2)
    cids = [handoff(store)[0] for _ in range(3)]
    assert [owner(store, c) for c in cids] == [a, a, None]
    assert store.conversation(cids[2])["state"] == "queued"
    assert store.agent(a)["active"] == 2
    assert store.resolve(cids[0], store.agent(a)) == [(cids[2], a)]   # frees a place


def test_daily_cap(store):
    a = add(store, "a", cap=5, daily_cap=2)
    cids = [handoff(store)[0] for _ in range(3)]
    for c in cids[:2]:
        store.resolve(c, store.agent(a))
    assert store.conversation(cids[2])["state"] == "queued"
    assert store.agent(a)["today"] == 2


def test_language(store):
    wang, tom = add(store, "wang", ("zh",)), add(store, "tom", ("en",))
    assert owner(store, handoff(store, "en")[0]) == tom
    assert owner(store, handoff(store, "zh")[0]) == wang
    assert owner(store, handoff(store, "en")[0]) == tom       # never wang, whatever his load


def test_queue_does_not_block_other_languages(store):
    add(store, "wang", ("zh",), cap=1)
    first = handoff(store, "zh")[0]
    waiting_zh = handoff(store, "zh")[0]
    tom = add(store, "tom", ("en",))
    en = handoff(store, "en")[0]
    assert owner(store, first) and owner(store, waiting_zh) is None and owner(store, en) == tom


def test_returning_shopper_gets_their_previous_agent(store):
    a, b = add(store, "a"), add(store, "b")
    first, _ = handoff(store, customer_id="C7")
    assert owner(store, first) == a
    store.resolve(first, store.agent(a))
    handoff(store)                                  # a now has one more than b
    again, _ = handoff(store, customer_id="C7")
    assert owner(store, again) == a
    # ... unless a cannot take it
    store.set_status(a, "away")
    third, _ = handoff(store, customer_id="C7")
    assert owner(store, third) == b


def test_queue_is_fifo_with_positions_and_waits(store, clock):
    cids = []
    for _ in range(3):
        cids.append(handoff(store, "zh")[0])
        clock.advance(seconds=1)
    en = handoff(store, "en")[0]
    est = store.queue_estimates()
    assert [est[c]["position"] for c in cids] == [1, 2, 3]
    assert est[en]["position"] == 1                 # its own language's queue
    # nobody online: one agent's slots assumed, default handling time 300 s / 8 slots
    assert [est[c]["estimated_wait_s"] for c in cids] == [38, 75, 113]
    a = add(store, "a", ("zh",), cap=1)
    assert owner(store, cids[0]) == a                 # going online takes the oldest
    est = store.queue_estimates()
    assert [est[c]["position"] for c in cids[1:]] == [1, 2]
    assert est[cids[1]]["estimated_wait_s"] == 300       # 1 agent × cap 1


def test_waits_follow_measured_handling_time(store, clock):
    a = add(store, "a", ("zh",), cap=1)
    cid = handoff(store)[0]
    clock.advance(seconds=120)
    store.resolve(cid, store.agent(a))
    handoff(store)
    waiting = handoff(store)[0]
    assert store.queue_estimates()[waiting]["estimated_wait_s"] == 120


def test_supervisor_reassigns_with_a_reason(store):
    a, b = add(store, "a"), add(store, "b", cap=1)
    boss = store.add_agent("boss", "pw", role="supervisor")
    cid = handoff(store)[0]
    assert owner(store, cid) == a
    with pytest.raises(Forbidden):
        store.reassign(cid, b, "because", store.agent(a))
    with pytest.raises(DeskError):
        store.reassign(cid, b, " ", boss)
    store.reassign(cid, b, "speaks Cantonese", boss)
    assert owner(store, cid) == b
    log = store.ownership_log(cid)[-1]
    assert (log["kind"], log["from_agent_id"], log["agent_id"], log["reason"],
            log["by_agent_id"]) == ("reassign", a, b, "speaks Cantonese", boss["agent_id"])
    other = handoff(store)[0]
    assert owner(store, other) == a
    with pytest.raises(Conflict):                    # b is at the cap of 1
        store.reassign(other, b, "try", boss)


def test_supervisors_are_not_auto_assigned(store):
    boss = store.add_agent("boss", "pw", role="supervisor")
    store.set_status(boss["agent_id"], "online")
    cid = handoff(store)[0]
    assert store.conversation(cid)["state"] == "queued"


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
    s = DeskStore(path, clock=lambda: NOW)
    ids = [s.add_agent(f"agent{i}", "pw", languages=["zh", "en"], cap=CAP)["agent_id"]
           for i in range(N_AGENTS)]
    for i in ids:
        s.set_status(i, "online")
    s.close()
    return ids


def _handoff_worker(path, n, barrier=None):
    s = DeskStore(path, clock=lambda: NOW)
    if barrier is not None:
        barrier.wait()
    for _ in range(n):
        conv, _ = s.create_conversation("zh")
        s.handoff(conv["conversation_id"], "requested")
    s.close()


def _agent_worker(path, agent_id, total, barrier=None, deadline_s=120):
    """Resolve own conversations as they come, until all `total` are resolved."""
    s = DeskStore(path, clock=lambda: NOW)
    if barrier is not None:
        barrier.wait()
    me = s.agent(agent_id)
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        mine = s.conversations_of(agent_id)
        for c in mine:
            s.resolve(c["conversation_id"], me)
        done = s._one("SELECT COUNT(*) FROM conversations WHERE state = 'resolved'")[0]
        if done >= total:
            break
        if not mine:
            time.sleep(0.005)
    s.close()


def check_log(path, agent_ids):
    s = DeskStore(path, clock=lambda: NOW)
    log = s.ownership_log()
    convs = s._all("SELECT conversation_id, state, agent_id FROM conversations")
    s.close()
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


def test_race_threads_200_handoffs_over_5_agents(tmp_path):
    path = tmp_path / "race.db"
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
    assert max(peak.values()) == CAP               # the caps were really reached


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
    check_log(path, agents)
