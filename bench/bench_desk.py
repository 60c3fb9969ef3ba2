"""Desk benchmark: shopper message → reply through the desk (POST, reply watched on the
shopper WebSocket) at 10, 50 and 200 concurrent shoppers, and suggestion latency (POST of
a handed-off shopper → `suggestions` event on the owner's WebSocket) at 50 shoppers.

The desk runs as its own process (`python -m desk`, temp database); Rasa is the fake
(tests/fake_rasa.py, fixed latency) unless --real-rasa URL is given.

    .venv/bin/python bench/bench_desk.py [--rasa-latency-ms 100] [--messages 5]
        [--levels 10,50,200] [--real-rasa http://127.0.0.1:5005]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, rss_mb, summary_ms  # noqa: E402

import aiohttp  # noqa: E402

QUESTIONS = ["42码有货吗", "多少钱", "有搭配推荐吗", "is it in stock?", "how much is it?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args} exited")
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} not healthy")


async def shopper(session: aiohttp.ClientSession, base: str, n_messages: int,
                  latencies: list, post_latencies: list, i: int) -> None:
    async with session.post(f"{base}/api/conversations",
                            json={"locale": "zh", "page": {"product_id": "P001"}}) as r:
        conv = await r.json()
    cid, token = conv["conversation_id"], conv["token"]
    auth = {"Authorization": f"Bearer {token}"}
    ws = await session.ws_connect(f"{base}/api/conversations/{cid}/ws",
                                  params={"token": token})
    await ws.receive_json()                         # status
    try:
        for k in range(n_messages):
            text = QUESTIONS[(i + k) % len(QUESTIONS)]
            t0 = time.perf_counter()
            post = asyncio.ensure_future(session.post(
                f"{base}/api/conversations/{cid}/messages", headers=auth,
                json={"text": text, "client_id": f"{i}-{k}",
                      "metadata": {"page": {"product_id": "P001"}}}))
            while True:                              # the first bot reply on the socket
                ev = await ws.receive_json(timeout=30)
                if ev["type"] == "message" and ev["message"]["sender"] in ("bot", "system"):
                    latencies.append(time.perf_counter() - t0)
                    break
            resp = await post
            await resp.read()
            post_latencies.append(time.perf_counter() - t0)
    finally:
        await ws.close()


async def run_level(base: str, n: int, n_messages: int) -> dict:
    latencies: list[float] = []
    posts: list[float] = []
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(shopper(session, base, n_messages, latencies, posts, i)
                               for i in range(n)))
        wall = time.perf_counter() - t0
    return {"shoppers": n, "messages": len(latencies),
            "reply_ws": summary_ms(latencies), "post": summary_ms(posts),
            "messages_per_s": round(len(latencies) / wall, 1)}


async def run_suggestions(base: str, n: int, n_messages: int) -> dict:
    conn = aiohttp.TCPConnector(limit=0)
    jar = aiohttp.CookieJar(unsafe=True)          # keep the session cookie for 127.0.0.1
    async with aiohttp.ClientSession(connector=conn, cookie_jar=jar) as session:
        async with session.post(f"{base}/api/agent/login",
                                json={"username": "lily", "password": "demo-lily"}) as r:
            login = await r.json()
        headers = {"X-CSRF-Token": login["csrf_token"]}
        async with session.post(f"{base}/api/agent/status", json={"status": "online"},
                                headers=headers) as r:
            assert r.status == 200, await r.text()
        agent_ws = await session.ws_connect(f"{base}/api/agent/ws")
        arrived: dict[int, float] = {}
        got_all = asyncio.Event()
        expected = n * n_messages

        async def listen():
            async for msg in agent_ws:
                ev = json.loads(msg.data)
                if ev["type"] == "suggestions":
                    arrived.setdefault(ev["message_id"], time.perf_counter())
                    if len(arrived) >= expected:
                        got_all.set()

        listener = asyncio.ensure_future(listen())
        sent: dict[int, float] = {}

        async def one(i):
            async with session.post(f"{base}/api/conversations", json={"locale": "zh"}) as r:
                conv = await r.json()
            auth = {"Authorization": f"Bearer {conv['token']}"}
            url = f"{base}/api/conversations/{conv['conversation_id']}/messages"
            async with session.post(url, headers=auth, json={"text": "转人工"}) as r:
                await r.read()
                assert r.headers["X-Conversation-State"] == "assigned"
            for k in range(n_messages):
                t0 = time.perf_counter()
                async with session.post(url, headers=auth, json={
                        "text": QUESTIONS[(i + k) % 3],
                        "metadata": {"page": {"product_id": "P001"}}}) as r:
                    await r.read()              # the body is the list of replies (none now)
                sent[int(r.headers["X-Message-Id"])] = t0
                await asyncio.sleep(0.2)

        await asyncio.gather(*(one(i) for i in range(n)))
        try:
            await asyncio.wait_for(got_all.wait(), 30)
        except asyncio.TimeoutError:
            pass
        listener.cancel()
        await agent_ws.close()
    lat = [arrived[m] - t for m, t in sent.items() if m in arrived]
    return {"shoppers": n, "suggested": len(lat), "sent": len(sent),
            "suggestion_latency": summary_ms(lat)}


async def main_async(args) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    procs = []
    env = {**os.environ, "SHOPASSIST_DESK_HOURS": "00:00-24:00",
           "SHOPASSIST_DESK_AGENT_CAP": "1000", "SHOPASSIST_DESK_DAILY_CAP": "100000",
           "SHOPASSIST_DESK_HANDOFF_CART_ABOVE": "0", "SHOPASSIST_DESK_RASA_TIMEOUT": "10"}
    env.pop("SHOPASSIST_NOW", None)
    try:
        if args.real_rasa:
            rasa_url = args.real_rasa.rstrip("/")
        else:
            rport = free_port()
            rasa_url = f"http://127.0.0.1:{rport}"
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.fake_rasa", "--port", str(rport),
                 "--latency-ms", str(args.rasa_latency_ms)], cwd=ROOT, env=env))
            await wait_healthy(f"{rasa_url}/status", procs[-1])
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        desk = subprocess.Popen([sys.executable, "-m", "desk", "--port", str(port),
                                 "--db", str(tmp / "desk.db"), "--rasa-url", rasa_url],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        procs.append(desk)
        await wait_healthy(f"{base}/health", desk)
        print(f"machine: {machine()}")
        fake = f"fake, {args.rasa_latency_ms:g} ms fixed latency"
        print(f"rasa: {'real ' + rasa_url if args.real_rasa else fake}"
              f"; desk RSS at start {rss_mb(desk.pid)} MB", flush=True)
        for n in [int(x) for x in args.levels.split(",")]:
            res = await run_level(base, n, args.messages)
            print(f"{n:4d} shoppers x {args.messages} msgs: reply via WS p50 "
                  f"{res['reply_ws']['p50_ms']} ms, p95 {res['reply_ws']['p95_ms']} ms; "
                  f"POST p50 {res['post']['p50_ms']} ms, p95 {res['post']['p95_ms']} ms; "
                  f"{res['messages_per_s']} msg/s; desk RSS {rss_mb(desk.pid)} MB", flush=True)
        res = await run_suggestions(base, args.suggest_shoppers, 3)
        s = res["suggestion_latency"]
        print(f"suggestions, {res['shoppers']} handed-off shoppers: {res['suggested']}/"
              f"{res['sent']} messages got suggestions; shopper POST → suggestions event "
              f"p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms; desk RSS {rss_mb(desk.pid)} MB")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa-latency-ms", type=float, default=100.0)
    parser.add_argument("--messages", type=int, default=5, help="per shopper and level")
    parser.add_argument("--levels", default="10,50,200")
    parser.add_argument("--suggest-shoppers", type=int, default=50)
    parser.add_argument("--real-rasa", default=None, metavar="URL")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
