"""PostgreSQL restarted under a running desk (desk/store/postgres.py, desk/store/db.py):
the tests' own server is stopped with `pg_ctl stop -m fast` while shoppers keep writing
in both languages, then started again. During the outage every request is answered at
once with a 503 JSON error (never a 500, never a hang); afterwards the desk serves again
by itself (its broken connections replaced), and every message it acknowledged is in
the database, once, with its text."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.cluster_support import fetch
from tests.test_cluster import new_conversation, start_replicas
from tests.test_desk_api import start_fake_rasa

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT_S = 10          # an answer slower than this would be a hang


async def test_the_desk_recovers_by_itself_from_a_postgresql_restart(
        tmp_path, pg_server, pg_url, redis_url, demo_db):
    fake = await start_fake_rasa(demo_db, latency_s=0.02)
    (desk,) = await start_replicas(tmp_path, pg_url, redis_url, fake.url, demo_db, n=1)
    loop = asyncio.get_running_loop()
    acked: dict[str, tuple[int, str]] = {}          # client_id -> (message id, text)
    answers: list[tuple[str, int, float]] = []      # (phase, status, seconds)
    phase = "before"
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as s:
            convs = [await new_conversation(s, desk, ("zh", "en")[i % 2]) for i in range(6)]

            async def shopper(i):
                cid, auth = convs[i]
                k = 0
                while not stop.is_set():
                    client_id, text = f"s{i}-{k}", ("多少钱" if i % 2 == 0 else
                                                    "how much?") + f" #{k}"
                    k += 1
                    began = loop.time()
                    async with s.post(f"{desk.base}/api/conversations/{cid}/messages",
                                      headers=auth, json={"text": text,
                                                          "client_id": client_id}) as r:
                        body = await r.json()
                        answers.append((phase, r.status, loop.time() - began))
                        if r.status == 200:
                            acked[client_id] = (int(r.headers["X-Message-Id"]), text)
                        else:
                            assert r.status == 503 and "error" in body, (r.status, body)
                            await asyncio.sleep(0.1)

            load = [asyncio.ensure_future(shopper(i)) for i in range(6)]
            await asyncio.sleep(2)
            phase = "down"
            await loop.run_in_executor(None, pg_server.stop_server, "fast")
            try:
                await asyncio.sleep(3)
                # a new conversation and the health check: 503 JSON too
                async with s.post(f"{desk.base}/api/conversations",
                                  json={"locale": "zh"}) as r:
                    assert r.status == 503 and "error" in await r.json()
                async with s.get(f"{desk.base}/health") as r:
                    assert r.status == 503 and "error" in await r.json()
            finally:
                phase = "restarting"
                await loop.run_in_executor(None, pg_server.start_server)
            back = loop.time()
            while not any(p == "restarting" and st == 200 for p, st, _ in answers):
                assert loop.time() - back < 10, "the desk did not recover within 10 s"
                await asyncio.sleep(0.1)
            phase = "after"
            await asyncio.sleep(2)
            stop.set()
            await asyncio.gather(*load)
            async with s.get(f"{desk.base}/health") as r:
                assert r.status == 200
    finally:
        desk.stop()
        await fake.server.close()

    down = [st for p, st, _ in answers if p == "down"]
    assert down and set(down) <= {200, 503} and 503 in down
    assert [st for p, st, _ in answers if p == "after"].count(200) >= 6
    assert all(st == 200 for p, st, _ in answers if p in ("before", "after"))
    # nothing acknowledged is lost: each one stored, once, with its text
    rows = fetch(pg_url, "SELECT client_id, id, text FROM messages WHERE sender ="
                         " 'shopper'")
    stored = {client_id: (mid, text) for client_id, mid, text in rows}
    assert len(stored) == len(rows)
    assert len(acked) > 20
    for client_id, (mid, text) in acked.items():
        assert stored[client_id] == (mid, text), client_id
