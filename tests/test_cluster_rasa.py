"""Rasa across machines (bot/tracker_store.py, bot/runner.py): two Rasa servers'
tracker stores on one PostgreSQL database continue each other's conversations, checked
against Rasa's own SQLTrackerStore; in cluster mode (`SHOPASSIST_REDIS_URL`) even a
SQLite store reads through instead of answering from its cache; the endpoints name
Rasa's RedisLockStore, which Rasa builds from them and which two servers share."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import read_endpoint_config

from bot.runner import write_endpoints
from bot.settings import ROOT, get_settings
from bot.tracker_store import ShopTrackerStore
from tests.test_tracker_store import as_dicts, converse, rasa_reads, session_start, turn


@pytest.fixture(scope="module")
def domain():
    return Domain.load(str(ROOT / "domain.yml"))


def alternate(url, domain) -> list:
    """Four shopper messages answered by servers A, A, B, A (each reading the
    conversation back first, as Rasa does); returns what A read last."""
    a, b = ShopTrackerStore(domain, url=url), ShopTrackerStore(domain, url=url)
    t = 1_700_000_000.0
    turns = [session_start(t) + turn("疾风跑鞋有货吗", "check_stock", "P001", t + 1),
             turn("42码", "inform", None, t + 2),
             turn("how long to Shanghai?", "ask_shipping", None, t + 3),
             turn("好的，谢谢", "thank", None, t + 4)]
    last = None
    for server, evs in zip((a, a, b, a), turns):
        last = asyncio.run(converse(server, domain, "s1", [evs]))
    return as_dicts(last)


def test_two_servers_continue_each_others_conversations_on_postgres(pg_url, domain):
    seen = alternate(pg_url, domain)
    # hand-counted: the session start less action_session_start, then 5 + 4 + 4 + 4
    assert len(seen) == 2 + 5 + 4 + 4 + 4
    assert seen == rasa_reads(pg_url, domain, "s1")
    assert [e.get("text") for e in seen if e["event"] == "user"] == \
        ["疾风跑鞋有货吗", "42码", "how long to Shanghai?", "好的，谢谢"]


def test_in_cluster_mode_sqlite_reads_through(tmp_path, domain, monkeypatch, redis_url):
    monkeypatch.setenv("SHOPASSIST_REDIS_URL", redis_url)
    url = f"sqlite:///{tmp_path / 'trackers.db'}"
    seen = alternate(url, domain)
    assert len(seen) == 2 + 5 + 4 + 4 + 4
    assert seen == rasa_reads(url, domain, "s1")


def test_the_endpoints_give_rasa_a_shared_redis_lock_store(tmp_path, redis_url):
    settings = replace(get_settings(), redis_url=redis_url)
    path = write_endpoints(settings, tmp_path)
    config = read_endpoint_config(str(path), "lock_store")
    one, two = LockStore.create(config), LockStore.create(config)   # two Rasa servers
    assert isinstance(one, RedisLockStore) and isinstance(two, RedisLockStore)
    # one queue of turns per conversation across servers: tickets are numbered in turn
    first = one.issue_ticket("会话-1")
    second = two.issue_ticket("会话-1")
    assert second == first + 1
    assert two.get_lock("会话-1").is_locked(second)           # waits for the first
    one.cleanup("会话-1", first)
    assert not two.get_lock("会话-1").is_locked(second)
    # without Redis: no lock store in the endpoints (Rasa's in-memory default)
    plain = write_endpoints(replace(settings, redis_url=None), tmp_path / "plain")
    assert read_endpoint_config(str(plain), "lock_store") is None
