"""Desk benchmark: shopper message → reply through the desk (POST, reply watched on the
shopper WebSocket) at 10, 50 and 200 concurrent shoppers, and suggestion latency (POST of
a handed-off shopper → `suggestions` event on the owner's WebSocket) at 50 shoppers.

The desk runs as its own process (`python -m desk`, temp database) with the shipped caps
(8 conversations at once and 120 a day per agent, SHOPASSIST_DESK_AGENT_CAP and _DAILY_CAP
when set) and as many agents online as the handed-off shoppers need (50 shoppers / 8 = 7
agents, each logged in with its own console WebSocket). Every suggestion that never
arrives is counted and printed; the run exits with status 1 when there is any.

Rasa is the fake (tests/fake_rasa.py, fixed latency) unless --real-rasa is given: a URL
of a running Rasa server, or `start` to start the trained model (models/) with the
action server on free ports, as `make run` does.

    .venv/bin/python bench/bench_desk.py [--rasa-latency-ms 100] [--messages 5]
        [--levels 10,50,200] [--real-rasa start|http://127.0.0.1:5005]
        [--suggest-shoppers 50] [--rasa-concurrency N] [--writer]

`SHOPASSIST_DESK_GROUP_COMMIT=0` in the environment measures the desk without group
commit (one fsync per write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, cpu_seconds, load_average, machine, rss_mb, summary_ms  # noqa: E402

import aiohttp  # noqa: E402

from tests.conftest import free_ports  # noqa: E402

QUESTIONS = ["42码有货吗", "多少钱", "有搭配推荐吗", "is it in stock?", "how much is it?"]
AGENT_PASSWORD = "bench-agent-password"


async def add_agents(db: Path, n: int) -> list[str]:
    """`n` agents speaking both languages, with the caps the desk will run with (its
    settings, read from the environment like the desk process reads them)."""
    from bot.settings import get_settings
    from desk.store import DeskStore

    settings = replace(get_settings(), desk_db=db)
    store = DeskStore.from_settings(settings)
    try:
        return [(await store.accounts.add_agent(f"bench{i:02d}", AGENT_PASSWORD,
                                                languages=("zh", "en")))["username"]
                for i in range(n)]
    finally:
        store.close()


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
                  latencies: list, post_latencies: list, i: int, waited: list,
                  handoffs: list) -> None:
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
                ev = await ws.receive_json(timeout=120)
                if ev["type"] != "message" or \
                        ev["message"]["sender"] not in ("bot", "system"):
                    continue
                custom = ev["message"]["custom"] or {}
                if custom.get("type") == "waiting":   # "one moment": not the answer
                    waited.append(1)
                    continue
                if custom.get("type") == "handoff":
                    handoffs.append(custom.get("reason"))
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
    waited: list[int] = []
    handoffs: list[str] = []
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(shopper(session, base, n_messages, latencies, posts, i,
                                       waited, handoffs) for i in range(n)))
        wall = time.perf_counter() - t0
    return {"shoppers": n, "messages": len(latencies),
            "reply_ws": summary_ms(latencies), "post": summary_ms(posts),
            "messages_per_s": round(len(latencies) / wall, 1),
            "waited": len(waited), "handoffs": len(handoffs)}


async def agent_online(base: str, username: str) -> tuple[aiohttp.ClientSession, object]:
    """An agent's console: logged in (its own cookie), online, its WebSocket open."""
    jar = aiohttp.CookieJar(unsafe=True)          # keep the session cookie for 127.0.0.1
    session = aiohttp.ClientSession(cookie_jar=jar)
    async with session.post(f"{base}/api/agent/login",
                            json={"username": username, "password": AGENT_PASSWORD}) as r:
        assert r.status == 200, await r.text()
        login = await r.json()
    async with session.post(f"{base}/api/agent/status", json={"status": "online"},
                            headers={"X-CSRF-Token": login["csrf_token"]}) as r:
        assert r.status == 200, await r.text()
    return session, await session.ws_connect(f"{base}/api/agent/ws")


async def run_suggestions(base: str, n: int, n_messages: int, agents: list[str],
                          wait_s: float = 30) -> dict:
    """n shoppers hand off (one agent each, within the caps), then send n_messages each;
    the time from each POST to its `suggestions` event on the owner's console."""
    consoles = [await agent_online(base, a) for a in agents]
    arrived: dict[int, float] = {}
    owner_of: dict[int, str] = {}
    got_all = asyncio.Event()
    expected = n * n_messages

    async def listen(username, ws):
        async for msg in ws:
            ev = json.loads(msg.data)
            if ev["type"] == "suggestions":
                arrived.setdefault(ev["message_id"], time.perf_counter())
                owner_of.setdefault(ev["message_id"], username)
                if len(arrived) >= expected:
                    got_all.set()

    listeners = [asyncio.ensure_future(listen(a, ws))
                 for a, (_s, ws) in zip(agents, consoles)]
    sent: dict[int, float] = {}
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:

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
            await asyncio.wait_for(got_all.wait(), wait_s)
        except asyncio.TimeoutError:
            pass
    for listener in listeners:
        listener.cancel()
    for s, ws in consoles:
        await ws.close()
        await s.close()
    lat = [arrived[m] - t for m, t in sent.items() if m in arrived]
    per_agent = {a: sum(1 for m in sent if owner_of.get(m) == a) for a in agents}
    return {"shoppers": n, "agents": len(agents), "sent": len(sent), "suggested": len(lat),
            "never_arrived": len(sent) - len(lat), "waited_s": wait_s,
            "suggestions_per_agent": per_agent, "suggestion_latency": summary_ms(lat)}


async def run_writer(writers: int, writes_each: int, group_commit: bool) -> dict:
    """The store's writer alone, in this process: `writers` tasks each storing
    `writes_each` shopper messages one after the other (as many shoppers do), on a fresh
    file; writes per second and COMMITs (each one an fsync) per write."""
    from desk.store import DeskStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-writer-"))
    store = DeskStore(tmp / "desk.db", group_commit=group_commit)
    commits: list[str] = []
    try:
        convs = [(await store.conversations.create("zh"))[0]["conversation_id"]
                 for _ in range(writers)]
        await store.db.write(lambda c: c.set_trace_callback(
            lambda sql: commits.append(sql) if sql == "COMMIT" else None))

        async def writer(cid):
            for k in range(writes_each):
                await store.conversations.add_shopper_message(cid, f"多少钱 {k}")

        t0 = time.perf_counter()
        await asyncio.gather(*(writer(c) for c in convs))
        wall = time.perf_counter() - t0
    finally:
        store.close()
    n = writers * writes_each
    return {"writes_per_s": round(n / wall), "commits_per_write": round(len(commits) / n, 3)}


def start_real_rasa(log_dir: Path):
    """The trained model (models/) with the action server, on free ports, as `make run`
    starts them (one Rasa worker per core behind the router)."""
    from bot.runner import Supervisor
    from bot.settings import get_settings

    settings = get_settings()
    ports = free_ports(settings.rasa_workers + 2)
    settings = replace(settings, rasa_port=ports[0], action_port=ports[-1])
    sup = Supervisor(settings, log_dir=log_dir)
    sup.start()
    return sup, f"http://127.0.0.1:{settings.rasa_port}"


async def main_async(args) -> int:
    from bot.settings import get_settings

    tmp = Path(tempfile.mkdtemp(prefix="bench-desk-"))
    procs = []
    supervisor = None
    # the shipped caps (or the environment's); no demo agents: the benchmark's own below
    env = {**os.environ, "SHOPASSIST_DESK_HOURS": "00:00-24:00",
           "SHOPASSIST_DESK_DEMO_AGENTS": "0",
           "SHOPASSIST_DESK_HANDOFF_CART_ABOVE": "0", "SHOPASSIST_DESK_RASA_TIMEOUT": "10"}
    env.pop("SHOPASSIST_NOW", None)
    # the fake's latency is a sleep, with nothing to protect from overload: the gate of
    # calls in flight to Rasa is opened wide so that these figures are the desk's own
    # cost; against the real bot (--real-rasa) the desk keeps its default
    if args.rasa_concurrency or not args.real_rasa:
        env["SHOPASSIST_DESK_RASA_CONCURRENCY"] = str(args.rasa_concurrency or 10000)
    cap = get_settings().desk_agent_cap
    agents = await add_agents(tmp / "desk.db", math.ceil(args.suggest_shoppers / cap))
    missing = 0
    try:
        if args.real_rasa == "start":
            supervisor, rasa_url = start_real_rasa(tmp / "rasa-logs")
        elif args.real_rasa:
            rasa_url = args.real_rasa.rstrip("/")
        else:
            (rport,) = free_ports(1)
            rasa_url = f"http://127.0.0.1:{rport}"
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "tests.fake_rasa", "--port", str(rport),
                 "--latency-ms", str(args.rasa_latency_ms)], cwd=ROOT, env=env))
            await wait_healthy(f"{rasa_url}/status", procs[-1])
        (port,) = free_ports(1)
        base = f"http://127.0.0.1:{port}"
        desk = subprocess.Popen([sys.executable, "-m", "desk", "--port", str(port),
                                 "--db", str(tmp / "desk.db"), "--rasa-url", rasa_url],
                                cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        procs.append(desk)
        await wait_healthy(f"{base}/health", desk)
        print(f"machine: {machine()}; {load_average()}")
        if args.writer:
            for writers in (10, 50, 200):
                for group in (False, True):
                    w = await run_writer(writers, 20, group)
                    print(f"store writer, {writers} writers x 20 messages, group commit "
                          f"{'on ' if group else 'off'}: {w['writes_per_s']} writes/s, "
                          f"{w['commits_per_write']} COMMITs (fsyncs) per write", flush=True)
        fake = f"fake, {args.rasa_latency_ms:g} ms fixed latency"
        print(f"rasa: {'real ' + rasa_url if args.real_rasa else fake}"
              f"; desk RSS at start {rss_mb(desk.pid)} MB", flush=True)
        for n in [int(x) for x in args.levels.split(",") if x]:
            res = await run_level(base, n, args.messages)
            print(f"{n:4d} shoppers x {args.messages} msgs: reply via WS p50 "
                  f"{res['reply_ws']['p50_ms']} ms, p95 {res['reply_ws']['p95_ms']} ms; "
                  f"POST p50 {res['post']['p50_ms']} ms, p95 {res['post']['p95_ms']} ms; "
                  f"{res['messages_per_s']} msg/s; {res['waited']} 'one moment' notices, "
                  f"{res['handoffs']} handoffs; desk RSS {rss_mb(desk.pid)} MB, "
                  f"desk CPU so far {cpu_seconds(desk.pid):.1f} s", flush=True)
        if not args.suggest_shoppers:
            return 0
        res = await run_suggestions(base, args.suggest_shoppers, 3, agents)
        s = res["suggestion_latency"]
        missing = res["never_arrived"]
        print(f"suggestions, {res['shoppers']} handed-off shoppers over {res['agents']} agents "
              f"online (cap {cap} each): {res['suggested']}/{res['sent']} messages got "
              f"suggestions, {missing} never arrived (waited {res['waited_s']:g} s); "
              f"shopper POST → suggestions event p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms;"
              f" desk RSS {rss_mb(desk.pid)} MB; {load_average()}")
        print(json.dumps(res))
        if missing:
            print(f"WARNING: {missing} suggestions never arrived: the latency figures leave "
                  f"them out", file=sys.stderr)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if supervisor is not None:
            supervisor.stop()
    return 1 if missing else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rasa-latency-ms", type=float, default=100.0)
    parser.add_argument("--messages", type=int, default=5, help="per shopper and level")
    parser.add_argument("--levels", default="10,50,200")
    parser.add_argument("--suggest-shoppers", type=int, default=50,
                        help="handed-off shoppers for the suggestions figure (0: skip it)")
    parser.add_argument("--real-rasa", default=None, metavar="start|URL",
                        help="the real bot: `start` it here, or the URL of a running one")
    parser.add_argument("--writer", action="store_true",
                        help="also time the store's writer alone, group commit off and on")
    parser.add_argument("--rasa-concurrency", type=int, default=0,
                        help="the desk's calls in flight to Rasa (default: unbounded with "
                             "the fake, the desk's own setting with --real-rasa)")
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
