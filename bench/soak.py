"""Soak test of the running stack: N shoppers (default 200) talk to the desk for M minutes
(default 5) through the shopper API, as the widget does, with the real bot behind it
(`make run`'s ports by default, or the URLs given).

Each shopper opens a conversation (Chinese or English, on a product page), sends a
routine question (stock, size, shipping, price, returns, greetings: questions the bot
answers itself), waits for the answer (the POST's list of replies), thinks for a while
(uniform between --think-min and --think-max seconds) and asks the next; after 8
messages they start a new conversation. At the end it prints, with the machine it ran on:

- errors: requests that failed, answered non-2xx, or came back without a reply while the
  conversation was with the bot;
- reply time p50 / p95 / p99 (POST sent → the answer with the bot's reply), and how
  many answers carried a "one moment" notice first;
- handoffs by reason, as the shoppers were told (`custom.type == "handoff"`);
  `rasa_unavailable` is the one load can cause;
- resident memory of the desk and of Rasa (the router and its workers, found by their
  listening ports) at the start, the peak and the end, and their growth.

    .venv/bin/python bench/soak.py [--shoppers 200] [--minutes 5]
        [--desk http://127.0.0.1:8000] [--rasa http://127.0.0.1:5005]
        [--cluster [--infra-ports PG_PORT,REDIS_PORT]]

With --cluster the target is `shopassist cluster` (bot/cluster.py): the desk's and
Rasa's URLs are HAProxy's; the desk's memory is that of its replicas (on the desk's port
+ 101 and + 102), Rasa's that of its servers (Rasa's port + 1 …), and HAProxy's, with
PostgreSQL's and Redis's (the ports `shopassist cluster` printed), is shown apart.

Every request goes to the given URLs only (this machine's loopback by default); the run
stops by itself after --minutes (shoppers finish the message they are waiting for).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from common import machine, pct  # noqa: E402

import aiohttp  # noqa: E402

QUESTIONS = {
    "zh": ["42码有货吗", "这个XL还有吗", "发成都几天能到", "多少钱", "黑色的有吗", "亲 在吗",
           "今天能发货吗", "可以退货吗", "有什么颜色"],
    "en": ["is this in stock in M?", "how much is it", "when will it arrive in Beijing",
           "ship today?", "can i return it", "hi there", "what colours does it come in"],
}
PRODUCTS = ["P001", "P002", "P003", "P004", "P005", "P006", "P007", "P008"]
TURNS = 8                       # messages per conversation, then a new one


# -- processes and their memory -------------------------------------------------------------
def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def pids_listening(ports: list[int]) -> set[int]:
    """The processes with a listening socket on one of `ports` (Linux /proc)."""
    wanted = {f"socket:[{i}]" for p in ports for i in _listening_inodes(p)}
    found = set()
    if not wanted:
        return found
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if str(fd.readlink()) in wanted:
                    found.add(int(proc.name))
                    break
        except OSError:
            continue
    return found


def rss_mb(pids: set[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


class Memory:
    """RSS of a set of processes: at the start, the peak of the samples, and now."""

    def __init__(self, pids: set[int]):
        self.pids = pids
        self.start = self.peak = self.last = rss_mb(pids)

    def sample(self) -> None:
        self.last = rss_mb(self.pids)
        self.peak = max(self.peak, self.last)

    def line(self) -> str:
        return (f"{self.start:.0f} MB at the start, peak {self.peak:.0f} MB, "
                f"{self.last:.0f} MB at the end ({self.last - self.start:+.0f} MB; "
                f"{len(self.pids)} processes)")


# -- the shoppers ---------------------------------------------------------------------------
class Tally:
    def __init__(self) -> None:
        self.replies: list[float] = []
        self.errors: collections.Counter = collections.Counter()
        self.handoffs: collections.Counter = collections.Counter()
        self.waited = 0
        self.conversations = 0


async def shopper(session: aiohttp.ClientSession, desk: str, i: int, until: float,
                  think: tuple[float, float], tally: Tally) -> None:
    rng = random.Random(i)
    lang = ("zh", "en")[i % 2]
    while time.monotonic() < until:
        product = rng.choice(PRODUCTS)
        try:
            async with session.post(f"{desk}/api/conversations", json={
                    "locale": lang, "page": {"product_id": product}}) as r:
                if r.status != 201:
                    tally.errors[f"create {r.status}"] += 1
                    await asyncio.sleep(1)
                    continue
                conv = await r.json()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            tally.errors[f"create {type(exc).__name__}"] += 1
            await asyncio.sleep(1)
            continue
        tally.conversations += 1
        url = f"{desk}/api/conversations/{conv['conversation_id']}/messages"
        auth = {"Authorization": f"Bearer {conv['token']}"}
        for _ in range(TURNS):
            if time.monotonic() >= until:
                return
            body = {"text": rng.choice(QUESTIONS[lang]), "client_id": str(uuid.uuid4()),
                    "metadata": {"page": {"product_id": product}, "locale": lang}}
            t0 = time.perf_counter()
            try:
                async with session.post(url, headers=auth, json=body) as r:
                    replies = await r.json() if r.status == 200 else None
                    state = r.headers.get("X-Conversation-State")
                    if r.status != 200:
                        tally.errors[f"message {r.status}"] += 1
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                tally.errors[f"message {type(exc).__name__}"] += 1
                break
            elapsed = time.perf_counter() - t0
            kinds = [(m["sender"], (m.get("custom") or {}).get("type")) for m in replies]
            if ("system", "waiting") in kinds:
                tally.waited += 1
            handoff = next(((m.get("custom") or {}).get("reason") for m in replies
                            if (m.get("custom") or {}).get("type") == "handoff"), None)
            if handoff or state != "bot":
                tally.handoffs[handoff or f"state {state}"] += 1
                break                                   # a person has it now: next shopper
            if not any(s == "bot" for s, _ in kinds):
                tally.errors["no reply from the bot"] += 1
                break
            tally.replies.append(elapsed)
            await asyncio.sleep(rng.uniform(*think))


async def run(args) -> None:
    desk, rasa = args.desk.rstrip("/"), args.rasa.rstrip("/")
    desk_port, rasa_port = urlsplit(desk).port or 80, urlsplit(rasa).port or 80
    if args.cluster:
        desk_mem = Memory(pids_listening([desk_port + 101 + k for k in range(4)]))
        rasa_mem = Memory(pids_listening([rasa_port + k for k in range(1, 5)]))
        infra_ports = [desk_port] + [int(p) for p in args.infra_ports.split(",") if p]
        infra_mem = Memory(pids_listening(infra_ports)) if args.infra_ports else \
            Memory(pids_listening([desk_port]))
    else:
        desk_mem = Memory(pids_listening([desk_port]))
        rasa_mem = Memory(pids_listening([rasa_port + k for k in range(0, 5)]))
        infra_mem = None
    print(f"machine: {machine()}")
    print(f"soak: {args.shoppers} shoppers for {args.minutes:g} min against {desk} "
          f"(Rasa {rasa}), think time {args.think_min:g}-{args.think_max:g} s, "
          f"{TURNS} messages per conversation", flush=True)
    timeout = aiohttp.ClientTimeout(total=args.request_timeout)
    tally = Tally()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=timeout) as session:
        async with session.get(f"{desk}/health") as r:
            if r.status != 200:
                raise SystemExit(f"the desk at {desk} is not healthy ({r.status})")
        t0 = time.monotonic()
        until = t0 + args.minutes * 60
        tasks = []
        for i in range(args.shoppers):                  # arrive over the first 10 s
            tasks.append(asyncio.ensure_future(shopper(
                session, desk, i, until, (args.think_min, args.think_max), tally)))
            await asyncio.sleep(10 / args.shoppers)
        next_report = time.monotonic() + 30
        while not all(t.done() for t in tasks):
            await asyncio.sleep(1)
            if time.monotonic() >= next_report:
                desk_mem.sample()
                rasa_mem.sample()
                if infra_mem is not None:
                    infra_mem.sample()
                next_report += 30
                print(f"  {time.monotonic() - t0:5.0f} s: {len(tally.replies)} replies, "
                      f"p95 {pct(tally.replies, 95) * 1000:.0f} ms, "
                      f"{sum(tally.errors.values())} errors, "
                      f"{sum(tally.handoffs.values())} handoffs; desk {desk_mem.last:.0f} MB,"
                      f" Rasa {rasa_mem.last:.0f} MB", flush=True)
        for t in tasks:
            t.result()
        wall = time.monotonic() - t0
    desk_mem.sample()
    rasa_mem.sample()
    ms = [x * 1000 for x in tally.replies]
    print(f"messages answered: {len(ms)} in {wall:.0f} s ({len(ms) / wall:.1f}/s), "
          f"{tally.conversations} conversations")
    print(f"errors: {sum(tally.errors.values())}" +
          (f" ({dict(tally.errors)})" if tally.errors else ""))
    print(f"reply time: p50 {pct(ms, 50):.0f} ms, p95 {pct(ms, 95):.0f} ms, "
          f"p99 {pct(ms, 99):.0f} ms, max {max(ms, default=0):.0f} ms; "
          f"{tally.waited} answers came after a 'one moment' notice")
    print(f"handoffs: {sum(tally.handoffs.values())}" +
          (f" by reason {dict(tally.handoffs)}" if tally.handoffs else "") +
          f"; caused by load (rasa_unavailable): {tally.handoffs.get('rasa_unavailable', 0)}")
    print(f"desk memory{' (replicas)' if args.cluster else ''}: {desk_mem.line()}")
    print(f"Rasa memory ({'servers' if args.cluster else 'router and workers'}): "
          f"{rasa_mem.line()}")
    if infra_mem is not None:
        infra_mem.sample()
        print(f"HAProxy, PostgreSQL and Redis memory: {infra_mem.line()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shoppers", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--desk", default="http://127.0.0.1:8000")
    parser.add_argument("--rasa", default="http://127.0.0.1:5005",
                        help="only to find Rasa's processes (memory); the desk talks to it")
    parser.add_argument("--cluster", action="store_true",
                        help="the target is `shopassist cluster` (memory of its parts)")
    parser.add_argument("--infra-ports", default="",
                        help="with --cluster: PostgreSQL's and Redis's ports, comma-separated")
    parser.add_argument("--think-min", type=float, default=1.0)
    parser.add_argument("--think-max", type=float, default=5.0)
    parser.add_argument("--request-timeout", type=float, default=120.0,
                        help="a request not answered in this many seconds is an error")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
