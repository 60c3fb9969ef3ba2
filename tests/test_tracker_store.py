"""Conversations in SQL (bot/tracker_store.py), checked against Rasa's own
SQLTrackerStore reading the same database: what a fresh process reads back is what was
saved, session by session; the write-through cache never answers differently from the
database; two processes (two Rasa workers) can write one SQLite file at once; a storage
failure is raised and noticed, never swallowed."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, BotUttered, SessionStarted,
                                     SlotSet, UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.settings import ROOT
from bot.tracker_store import (ShopTrackerStore, failed_in_this_request,
                               watch_this_request)


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


def turn(text: str, intent: str, product: str | None, t: float) -> list:
    """The events one shopper message leaves in a tracker (as Rasa writes them)."""
    evs = [UserUttered(text, {"name": intent, "confidence": 0.9}, [],
                       parse_data={"text": text, "intent": {"name": intent,
                                                            "confidence": 0.9}},
                       timestamp=t),
           ActionExecuted("action_check_stock", timestamp=t + 0.01)]
    if product:
        evs.append(SlotSet("product", product, timestamp=t + 0.02))
    evs += [BotUttered(f"answer to {text}", timestamp=t + 0.03),
            ActionExecuted("action_listen", timestamp=t + 0.04)]
    return evs


def session_start(t: float) -> list:
    return [ActionExecuted("action_session_start", timestamp=t),
            SessionStarted(timestamp=t + 0.001),
            ActionExecuted("action_listen", timestamp=t + 0.002)]


def as_dicts(tracker) -> list:
    return [e.as_dict() for e in tracker.events] if tracker else []


async def converse(store, domain, sender: str, turns: list) -> DialogueStateTracker:
    """Like Rasa per message: read the tracker back, add the turn, save."""
    tracker = None
    for evs in turns:
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender,
                                                                        domain.slots)
        for e in evs:
            tracker.update(e)
        await store.save(tracker)
    return tracker


def rasa_reads(url: str, domain, sender: str) -> list:
    """Rasa's own SQLTrackerStore, a separate reader of the same database."""
    return as_dicts(asyncio.run(SQLTrackerStore(domain, host=url).retrieve(sender)))


def test_a_fresh_process_reads_back_what_was_saved(tmp_path, domain):
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    t = 1_700_000_000.0
    turns = [session_start(t) + turn("疾风跑鞋有货吗", "check_stock", "P001", t + 1),
             turn("42码", "inform", None, t + 2),
             turn("what about shipping?", "ask_shipping", None, t + 3)]
    store = ShopTrackerStore(domain, url=url)
    saved = asyncio.run(converse(store, domain, "shopper-a", turns))
    fresh = ShopTrackerStore(domain, url=url)          # a restarted worker: empty cache
    back = asyncio.run(fresh.retrieve("shopper-a"))
    assert as_dicts(back) == as_dicts(saved)
    assert back.get_slot("product") == "P001"
    assert as_dicts(back) == rasa_reads(url, domain, "shopper-a")
    # hand-counted: the session start's 3 events less action_session_start (Rasa reads
    # from the SessionStarted on), then 5 + 4 + 4 for the three messages
    assert len(back.events) == 2 + 5 + 4 + 4
    conn = sqlite3.connect(tmp_path / "trackers.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT COUNT(*) FROM events WHERE sender_id = 'shopper-a'"
                        ).fetchone()[0] == 16


def test_the_cache_answers_like_the_database_across_sessions(tmp_path, domain):
    """A new session: both stores return only its events; saves in between agree."""
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    t = 1_700_000_000.0
    store = ShopTrackerStore(domain, url=url)
    first = [session_start(t) + turn("在吗", "greet", None, t + 1),
             turn("疾风跑鞋有货吗", "check_stock", "P001", t + 2)]
    asyncio.run(converse(store, domain, "s", first))
    later = t + 3 * 3600          # past the session expiry: Rasa starts a new session
    second = [session_start(later) + turn("hello again", "greet", None, later + 1),
              turn("price?", "ask_price", None, later + 2)]
    asyncio.run(converse(store, domain, "s", second))
    ours = as_dicts(asyncio.run(store.retrieve("s")))
    theirs = rasa_reads(url, domain, "s")
    assert ours == theirs
    # from the new SessionStarted on (Rasa reads by its timestamp): the old session and
    # the action_session_start just before it are not read
    assert [e["event"] for e in ours][:2] == ["session_started", "action"]
    assert ours[0]["timestamp"] == later + 0.001
    assert len(ours) == 2 + 4 + 4
    assert as_dicts(asyncio.run(ShopTrackerStore(domain, url=url).retrieve("s"))) == theirs


def test_an_evicted_conversation_is_read_back_from_the_database(tmp_path, domain,
                                                                 monkeypatch):
    import bot.tracker_store as ts

    monkeypatch.setattr(ts, "CACHED_CONVERSATIONS", 2)
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    store = ShopTrackerStore(domain, url=url)
    t = 1_700_000_000.0
    for n in range(5):
        asyncio.run(converse(store, domain, f"s{n}",
                             [session_start(t) + turn("hi", "greet", None, t + 1),
                              turn(f"question {n}", "check_stock", f"P00{n}", t + 2)]))
    assert len(store._cache) <= 2
    for n in range(5):
        assert as_dicts(asyncio.run(store.retrieve(f"s{n}"))) == \
            rasa_reads(url, domain, f"s{n}")
    # and a save after an eviction still writes exactly the missing events
    asyncio.run(converse(store, domain, "s0", [turn("more", "inform", None, t + 3)]))
    assert len(rasa_reads(url, domain, "s0")) == 2 + 4 + 5 + 4


WRITER = """
import asyncio, sys, time
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from tests.test_tracker_store import converse, session_start, turn
from bot.tracker_store import ShopTrackerStore
domain = Domain.load("domain.yml")
store = ShopTrackerStore(domain, url=sys.argv[1])
name, conversations, turns = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
start_at = float(sys.argv[5])
while time.time() < start_at:
    time.sleep(0.01)
async def main():
    t = 1_700_000_000.0
    for c in range(conversations):
        await converse(store, domain, f"{name}-{c}",
                       [session_start(t) + turn("hi", "greet", None, t + 1)] +
                       [turn(f"q{i}", "check_stock", "P001", t + 2 + i)
                        for i in range(turns - 1)])
asyncio.run(main())
print("ok")
"""


def test_two_workers_write_one_sqlite_file_at_once(tmp_path, domain):
    """Two processes (as two Rasa workers) save conversations as fast as they can into
    one file: no 'database is locked', nothing lost."""
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    ShopTrackerStore(domain, url=url)                 # the table, before the race
    conversations, turns = 40, 6
    start_at = time.time() + 8                        # both import Rasa first
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, name,
                               str(conversations), str(turns), str(start_at)],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
             for name in ("w1", "w2")]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and out.strip() == "ok", err[-2000:]
        assert "database is locked" not in err
    conn = sqlite3.connect(tmp_path / "trackers.db")
    per_sender = dict(conn.execute("SELECT sender_id, COUNT(*) FROM events GROUP BY 1"))
    # hand-computed: a session start (3 events), a greeting turn (4), then 5 per question
    expected = 3 + 4 + 5 * (turns - 1)
    assert per_sender == {f"{w}-{c}": expected for w in ("w1", "w2")
                          for c in range(conversations)}


def test_a_storage_failure_is_raised_and_noticed(tmp_path, domain):
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    store = ShopTrackerStore(domain, url=url)
    t = 1_700_000_000.0
    asyncio.run(converse(store, domain, "s", [session_start(t) + turn("hi", "greet",
                                                                       None, t + 1)]))
    asyncio.run(store.retrieve("s"))                      # now in the cache
    conn = sqlite3.connect(tmp_path / "trackers.db")
    conn.execute("ALTER TABLE events RENAME TO events_elsewhere")
    conn.commit()

    async def one_request(sender):
        watch_this_request()
        with pytest.raises(Exception):  # noqa: B017 - whatever the database raises
            await converse(store, domain, sender, [turn("42码", "inform", None, t + 2)])
        return failed_in_this_request()

    assert asyncio.run(one_request("s")) is True          # cached: the write fails
    assert asyncio.run(one_request("new")) is True        # not cached: the read fails

    async def untouched():
        watch_this_request()
        return failed_in_this_request()

    assert asyncio.run(untouched()) is False
    conn.execute("ALTER TABLE events_elsewhere RENAME TO events")
    conn.commit()
    # the failed save changed nothing: the conversation is as it was
    assert len(as_dicts(asyncio.run(store.retrieve("s")))) == 2 + 4


def test_rasa_uses_the_store_without_the_fallback_to_memory(monkeypatch):
    from rasa.core.agent import Agent

    from bot.rasa_server import fail_loudly_on_storage_errors

    monkeypatch.setattr(Agent, "_create_tracker_store", Agent._create_tracker_store)
    monkeypatch.setattr(Agent, "_shopassist_loud_store", False, raising=False)
    sentinel = object.__new__(ShopTrackerStore)
    fail_loudly_on_storage_errors()
    assert Agent._create_tracker_store(sentinel, Domain.empty()) is sentinel
