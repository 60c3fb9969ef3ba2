"""Shopper messages across desk replicas that die and come back (desk/service.py
`take_up`, `sweep`; desk/coordination.py's conversation leases), on the shared
PostgreSQL and Redis with a stand-in Rasa that takes 300 ms per answer, so that many
messages are in flight when a replica dies or starts:

- a replica SIGKILLed under load and started again while the other serves the same
  conversations: every shopper message stored ends up with exactly one bot answer (its
  recovery on start never answers what the other is answering live);
- a replica SIGKILLed for good: the other answers the messages it had stored but not
  answered within the lease time and a sweep period.

Both languages; "exactly one answer" is read from the database: the stand-in answers a
price question with one reply, so each shopper message must have exactly one bot message
replying to it."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import aiohttp
import pytest

from tests.cluster_support import fetch
from tests.test_cluster import Replica, new_conversation, start_replicas
from tests.test_desk_api import start_fake_rasa

pytestmark = pytest.mark.e2e

LEASE_S = 2.0
TICK_S = 0.5
N_SHOPPERS = 12


def answers_per_message(pg_url) -> dict[int, int]:
    """Each shopper message's id -> how many bot messages reply to it."""
    return {mid: n for mid, n in fetch(
        pg_url, "SELECT m.id, (SELECT COUNT(*) FROM messages r WHERE r.reply_to = m.id"
                " AND r.sender = 'bot') FROM messages m WHERE m.sender = 'shopper'")}


class Load:
    """Shoppers (both languages) asking the price, each on its home replica, moving to
    the other one when theirs does not answer (as HAProxy would send them)."""

    def __init__(self, s, replicas, convs):
        self.s, self.replicas, self.convs = s, replicas, convs
        self.home = {i: replicas[i % len(replicas)] for i in range(len(convs))}
        self.acked: dict[str, int] = {}
        self.stop = asyncio.Event()

    async def shopper(self, i):
        cid, auth = self.convs[i]
        k = 0
        while not self.stop.is_set():
            client_id = f"s{i}-{k}"
            text = ("多少钱" if i % 2 == 0 else "how much?") + f" #{k}"
            replica = self.home[i]
            try:
                async with self.s.post(f"{replica.base}/api/conversations/{cid}/messages",
                                       headers=auth, json={"text": text,
                                                           "client_id": client_id}) as r:
                    assert r.status == 200, await r.text()
                    self.acked[client_id] = int(r.headers["X-Message-Id"])
                k += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                # its replica died: the same message again through the other, if any
                others = [x for x in self.replicas if x is not replica]
                if not others:
                    return
                self.home[i] = others[0]

    def start(self) -> list[asyncio.Future]:
        return [asyncio.ensure_future(self.shopper(i)) for i in range(len(self.convs))]


async def all_answered(pg_url, within_s: float) -> dict[int, int]:
    """Waits until every stored shopper message has a bot answer (or the time is up);
    returns the counts."""
    end = time.monotonic() + within_s
    while True:
        counts = answers_per_message(pg_url)
        if all(counts.values()) or time.monotonic() > end:
            return counts
        await asyncio.sleep(0.2)


@pytest.fixture()
async def two_replicas(tmp_path, pg_url, redis_url, demo_db):
    fake = await start_fake_rasa(demo_db, latency_s=0.3)
    replicas = await start_replicas(tmp_path, pg_url, redis_url, fake.url, demo_db,
                                    desk_tick_s=TICK_S, desk_lease_s=LEASE_S)
    try:
        yield replicas, pg_url
    finally:
        for r in replicas:
            r.stop()
        await fake.server.close()


def shoppers_session() -> aiohttp.ClientSession:
    """The shoppers' HTTP client: as many connections as they want, 30 s a request."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                 connector=aiohttp.TCPConnector(limit=0))


async def conversations(s: aiohttp.ClientSession, replicas) -> list:
    """N_SHOPPERS new conversations, started on the replicas in turn, zh and en in turn."""
    return [await new_conversation(s, replicas[i % 2], ("zh", "en")[i % 2])
            for i in range(N_SHOPPERS)]


async def test_a_replica_restarted_under_load_answers_nothing_twice(two_replicas,
                                                                     tmp_path):
    (a, b), pg_url = two_replicas
    async with shoppers_session() as s:
        load = Load(s, [a, b], await conversations(s, (a, b)))
        shoppers = load.start()
        await asyncio.sleep(2)
        os.killpg(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        await asyncio.sleep(1.5)
        # A again, on its port, while B serves every conversation (A's as well)
        again = Replica(a.port, a.env, tmp_path / "desk0-again.log")
        try:
            await again.wait_healthy()
            await asyncio.sleep(3)
            load.stop.set()
            await asyncio.gather(*shoppers)
            counts = await all_answered(pg_url, LEASE_S + TICK_S + 10)
        finally:
            again.stop()
    assert len(load.acked) > 50
    assert set(load.acked.values()) <= set(counts)
    twice = {mid: n for mid, n in counts.items() if n != 1}
    assert not twice, f"answered other than once: {twice}"


async def test_a_dead_replicas_unanswered_messages_are_answered_by_the_other(
        two_replicas):
    (a, b), pg_url = two_replicas
    async with shoppers_session() as s:
        # every shopper on A, which then dies
        load = Load(s, [a], await conversations(s, (a, b)))
        shoppers = load.start()
        await asyncio.sleep(2)
        os.killpg(a.proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        a.proc.wait(10)
        load.stop.set()
        await asyncio.gather(*shoppers)
    stranded = [mid for mid, n in answers_per_message(pg_url).items() if n == 0]
    assert stranded, "nothing was in flight when A died: the test proves nothing"
    counts = await all_answered(pg_url, LEASE_S + TICK_S + 3)
    took = time.monotonic() - killed
    assert all(counts[mid] == 1 for mid in stranded), \
        {mid: counts[mid] for mid in stranded}
    assert all(n == 1 for n in counts.values()), counts
    assert took <= LEASE_S + TICK_S + 3
