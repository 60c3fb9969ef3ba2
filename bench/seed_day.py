"""A seeded day at the desk: many shoppers and agents played through the desk's API over
a simulated shop day, the clock pinned and advanced event by event, leaving the record the
supervisors' figures come from (GET /api/agent/metrics, its CSV exports, the console's
Metrics panel).

The desk runs in this process on a copy of the catalog (orders placed after the
conversations and cross-sell clicks are written into that copy), with tests/fake_rasa.py
for the bot (or the real bot with --real-rasa URL: then the bot's own clock is not the
simulation's). Shoppers arrive through the day (more at lunch and in the evening), ask
the bot, some ask for a person (or complain), wait in the queue (where the assistant
answers routine questions), and talk to an agent; agents work in two shifts, answer after
a human delay that grows with their load (drafts sent as they are, edited, or skipped),
resolve, and are rated by some shoppers. Everything is seeded: the same arguments give
the same day.

    .venv/bin/python bench/seed_day.py [--shoppers 1500] [--agents 6] [--day 2026-11-20]
        [--seed 7] [--out var/seed-day]

It prints the day's main figures and writes `desk.db`, `catalog.db`, `metrics.json` and
one CSV per table into --out. To look at the day in the console:

    SHOPASSIST_NOW=2026-11-20T22:30:00+08:00 SHOPASSIST_CATALOG=var/seed-day/catalog.db \\
        .venv/bin/python -m desk --db var/seed-day/desk.db     # log in as boss / demo-boss
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import math
import random
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Awaitable, Callable, Optional

from common import ROOT, machine  # noqa: E402 - puts the project on sys.path

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from bot.settings import get_settings  # noqa: E402
from bot.shop_identity import sign_customer  # noqa: E402
from catalog.tracking import CrosssellEvent, record_events  # noqa: E402
from desk.app import SERVICE, create_app  # noqa: E402
from desk.metrics import CSV_TABLES, to_csv  # noqa: E402
from desk.store import DeskStore  # noqa: E402
from tests.fake_rasa import FakeRasa  # noqa: E402

# what shoppers write, by language (the fake bot understands each)
BOT_QUESTIONS = {"zh": ["42码有货吗", "多少钱", "发杭州几天到", "能退吗", "有货吗"],
                 "en": ["is it in stock?", "how much is it?", "when does it ship?",
                        "can I return it?"]}
ASK_PERSON = {"zh": ["转人工", "我要投诉"], "en": ["human please", "I want to complain"]}
QUEUED_QUESTIONS = {"zh": ["发杭州几天到", "多少钱", "还要等多久"],
                    "en": ["how much is it?", "how long do I wait?"]}
FOR_AGENTS = {"zh": ["能便宜点吗", "42码黑色还有吗", "多少钱", "有搭配推荐吗", "今天能发吗",
                     "好的谢谢"],
              "en": ["can you do a better price?", "is it in stock?", "how much is it?",
                     "any recommendation?", "thanks"]}
AGENT_WORDS = {"zh": ["亲，在的，请问有什么可以帮您？", "亲，这款很多顾客回购哦",
                      "好的亲，马上安排"],
               "en": ["Hi, I'm here. How can I help?", "Happy to help with that.",
                      "Sure, I'll sort it out."]}
NAMES = ["小美", "阿杰", "小雨", "小林", "小周", "小陈", "小吴", "小郑", "小何", "小唐"]
# shoppers arriving per hour of the day, relative (lunch and evening peaks)
ARRIVALS = {8: 1, 9: 4, 10: 7, 11: 8, 12: 10, 13: 9, 14: 7, 15: 7, 16: 7, 17: 6, 18: 6,
            19: 8, 20: 10, 21: 8, 22: 1}


# the desk's timer in the simulated day; the agents' open consoles are seen at each tick,
# so presence lasts a little longer than a tick (a real console beats every 15 s)
TICK_S = 300
PRESENCE_GRACE_S = 400
# the storefront's signing secret in the simulated shop (signed-in shoppers' ids count
# only when signed with it)
SHOP_SECRET = "seed-day-shop-secret"


class Clock:
    def __init__(self, t: datetime):
        self.t = t

    def __call__(self) -> datetime:
        return self.t


@dataclass
class Shopper:
    cid: str
    auth: dict
    lang: str
    customer: Optional[str]
    page: dict
    questions_left: int
    state: str = "bot"
    owner: Optional[int] = None
    reply_planned: bool = False
    handoff_at: Optional[datetime] = None
    drafting: set = field(default_factory=set)     # messages sent while owned: drafted
    greeted: bool = False
    first_answer_s: Optional[float] = None         # handoff → the agent's first message


@dataclass
class Agent:
    agent_id: int
    username: str
    headers: dict
    languages: list
    shift: tuple                  # (start hour, end hour)
    speed: float                  # a multiplier on the response delay
    owned: set = field(default_factory=set)


def copy_sqlite(src: Path, dst: Path) -> None:
    source, target = sqlite3.connect(f"file:{src}?mode=ro", uri=True), sqlite3.connect(dst)
    with target:
        source.backup(target)
    source.close()
    target.close()


class Day:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.day = datetime.fromisoformat(f"{args.day}T00:00:00+08:00")
        self.clock = Clock(self.day.replace(hour=8))
        self.events: list = []
        self.order = itertools.count()
        self.shoppers: dict[str, Shopper] = {}
        self.agents: list[Agent] = []
        self.counts = {"shoppers": 0, "handed_off": 0, "ratings": 0, "contacts": 0}

    # -- the event queue -------------------------------------------------------------------
    def at(self, t: datetime, fn: Callable[[], Awaitable[None]]) -> None:
        heapq.heappush(self.events, (t, next(self.order), fn))

    def later(self, seconds: float, fn) -> None:
        self.at(self.clock.t + timedelta(seconds=seconds), fn)

    # -- set-up ----------------------------------------------------------------------------
    async def start(self) -> None:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("desk.db", "desk.db-wal", "desk.db-shm", "catalog.db"):
            (out / name).unlink(missing_ok=True)
        # the day is played on a memory file system when there is one (every desk commit
        # is fsynced: on a disk the day would take many times longer); copied out at the end
        shm = Path("/dev/shm")
        self.work = Path(tempfile.mkdtemp(prefix="seed-day-",
                                          dir=shm if shm.is_dir() else None))
        self.catalog_path = self.work / "catalog.db"
        copy_sqlite(Path(self.args.catalog), self.catalog_path)
        settings = replace(get_settings(), desk_db=self.work / "desk.db", desk_tick_s=0,
                           catalog_path=self.catalog_path, desk_demo_agents=False,
                           desk_rasa_timeout=30.0, desk_session_hours=24,
                           desk_presence_grace_s=PRESENCE_GRACE_S, shop_secret=SHOP_SECRET)
        if self.args.real_rasa:
            settings = replace(settings, rasa_url=self.args.real_rasa)
            self.fake_server = None
        else:
            fake = FakeRasa(self.catalog_path, clock=self.clock)
            self.fake_server = TestServer(fake.app())
            await self.fake_server.start_server()
            settings = replace(settings, rasa_url=str(self.fake_server.make_url("")).rstrip("/"))
        self.store = DeskStore.from_settings(settings, clock=self.clock)
        self.app = create_app(settings, store=self.store)
        self.client = TestClient(TestServer(self.app))
        await self.client.start_server()
        self.service = self.app[SERVICE]
        products = sqlite3.connect(self.catalog_path)
        self.products = [r[0] for r in products.execute(
            "SELECT product_id FROM products ORDER BY product_id")]
        self.customers = [r[0] for r in products.execute(
            "SELECT DISTINCT customer_id FROM orders ORDER BY customer_id")]
        self.skus = {pid: sku for pid, sku in products.execute(
            "SELECT product_id, MIN(sku) FROM variants GROUP BY product_id")}
        products.close()
        await self.hire_agents()
        self.plan_arrivals()
        t = self.day.replace(hour=8, minute=55)
        while t < self.day.replace(hour=23):
            self.at(t, self.tick)
            t += timedelta(seconds=TICK_S)

    async def login(self, username: str, password: str) -> tuple[dict, dict]:
        r = await self.client.post("/api/agent/login", json={"username": username,
                                                             "password": password})
        data = await r.json()
        sid = r.cookies["sa_session"].value
        self.client.session.cookie_jar.clear()
        return data["agent"], {"Cookie": f"sa_session={sid}",
                               "X-CSRF-Token": data["csrf_token"]}

    async def hire_agents(self) -> None:
        for i in range(self.args.agents):
            langs = ["zh", "en"] if i % 3 == 0 else ["zh"]
            name = f"agent{i + 1:02d}"
            display = NAMES[i % len(NAMES)] + (str(i // len(NAMES) + 1) if i >= len(NAMES)
                                               else "")
            await self.store.accounts.add_agent(name, f"pw-{name}", languages=langs,
                                                display_name=display)
            agent, headers = await self.login(name, f"pw-{name}")
            shift = (9, 17) if i % 2 == 0 else (13, 22)
            self.agents.append(Agent(agent["agent_id"], name, headers, langs, shift,
                                     speed=self.rng.uniform(0.7, 1.4)))
        for a in self.agents:
            self.at(self.day.replace(hour=a.shift[0]), self.go(a, "online"))
            self.at(self.day.replace(hour=a.shift[1]), self.go(a, "away"))
        await self.store.accounts.add_agent("boss", "demo-boss", role="supervisor",
                                            display_name="Boss")
        _, self.boss_headers = await self.login("boss", "demo-boss")

    def go(self, agent: Agent, status: str):
        async def run():
            await self.post("/api/agent/status", {"status": status}, agent.headers)
            await self.check_queue()
        return run

    def plan_arrivals(self) -> None:
        total = sum(ARRIVALS.values())
        for hour, weight in ARRIVALS.items():
            n = round(self.args.shoppers * weight / total)
            for _ in range(n):
                t = self.day.replace(hour=hour) + timedelta(seconds=self.rng.uniform(0, 3600))
                self.at(t, self.arrive)

    # -- API helpers -----------------------------------------------------------------------
    async def post(self, path: str, body: dict, headers: dict) -> tuple[int, object]:
        r = await self.client.post(path, json=body, headers=headers)
        try:
            return r.status, await r.json()
        except Exception:  # noqa: BLE001 - a non-JSON answer is reported by its status
            return r.status, None

    async def say(self, s: Shopper, text: str) -> list:
        r = await self.client.post(f"/api/conversations/{s.cid}/messages", headers=s.auth,
                                   json={"text": text, "metadata": {"page": s.page}})
        replies = await r.json()
        if s.state == "assigned":                  # owned when sent: drafted for the agent
            s.drafting.add(int(r.headers["X-Message-Id"]))
        s.state = r.headers.get("X-Conversation-State", s.state)
        return replies

    async def drafts_for(self, cid: str, message_id: int) -> list:
        for _ in range(200):                       # the drafts are made in the background
            found = [d for d in await self.store.suggestions.of_conversation(cid)
                     if d["message_id"] == message_id]
            if found:
                return found
            await asyncio.sleep(0.005)
        return []

    # -- shoppers --------------------------------------------------------------------------
    async def arrive(self) -> None:
        lang = "zh" if self.rng.random() < 0.8 else "en"
        customer = self.rng.choice(self.customers) if self.rng.random() < 0.6 else None
        page = {"product_id": self.rng.choice(self.products[:40])}
        signed_in = {"customer_id": customer,
                     "customer_sig": sign_customer(customer, SHOP_SECRET)} if customer else {}
        r = await self.client.post("/api/conversations", json={
            "locale": lang, "page": page, **signed_in})
        conv = await r.json()
        s = Shopper(conv["conversation_id"], {"Authorization": f"Bearer {conv['token']}"},
                    lang, customer, page, questions_left=self.rng.randint(1, 4))
        self.shoppers[s.cid] = s
        self.counts["shoppers"] += 1
        if customer and self.rng.random() < 0.3:
            self.crosssell(s)
        for i in range(self.rng.randint(1, 3)):
            self.later(15 + 25 * i, self.bot_question(s))
        if self.rng.random() < self.args.handoff_share:
            self.later(90, self.ask_person(s))

    def bot_question(self, s: Shopper):
        async def run():
            if s.state == "bot":
                await self.say(s, self.rng.choice(BOT_QUESTIONS[s.lang]))
        return run

    def ask_person(self, s: Shopper):
        async def run():
            replies = await self.say(s, self.rng.choice(ASK_PERSON[s.lang]))
            if s.state == "bot":                    # out of hours: the contact form
                if any((m.get("custom") or {}).get("contact_form") for m in replies) \
                        and self.rng.random() < 0.5:
                    await self.client.post(f"/api/conversations/{s.cid}/contact",
                                           headers=s.auth, json={"contact": "138 0000 0000",
                                                                 "text": "请上班后联系我"})
                    self.counts["contacts"] += 1
                    s.state = "queued"
                else:
                    return
            self.counts["handed_off"] += 1
            s.handoff_at = self.clock.t
            await self.now_owned(s)
            if s.state == "queued" and self.rng.random() < 0.5:
                self.later(self.rng.uniform(20, 60), self.queued_question(s))
        return run

    def queued_question(self, s: Shopper):
        async def run():
            if s.state == "queued":
                await self.say(s, self.rng.choice(QUEUED_QUESTIONS[s.lang]))
                await self.now_owned(s)
        return run

    def ask_agent(self, s: Shopper):
        async def run():
            if s.state != "assigned":
                return
            await self.say(s, self.rng.choice(FOR_AGENTS[s.lang]))
            s.questions_left -= 1
            self.plan_reply(s)
        return run

    def rate(self, s: Shopper, waited_s: float):
        """Shoppers answered quickly rate higher (`waited_s`: until the first answer)."""
        async def run():
            score = 5 if waited_s < 30 else 4 if waited_s < 120 else self.rng.choice([2, 3, 4])
            if self.rng.random() < 0.2:
                score = max(1, score - 1)
            r = await self.client.post(f"/api/conversations/{s.cid}/rating", headers=s.auth,
                                       json={"score": score})
            if r.status == 201:
                self.counts["ratings"] += 1
        return run

    # -- agents ----------------------------------------------------------------------------
    async def now_owned(self, s: Shopper) -> None:
        """Learn who owns a conversation now; a new owner plans their reply."""
        conv = await self.store.conversations.get(s.cid)
        s.state = conv["state"]
        if conv["state"] == "assigned" and conv["agent_id"] != s.owner:
            if s.owner is not None:
                self.agent(s.owner).owned.discard(s.cid)
            s.owner = conv["agent_id"]
            self.agent(s.owner).owned.add(s.cid)
            s.reply_planned = False
            self.plan_reply(s)

    async def check_queue(self) -> None:
        for s in list(self.shoppers.values()):
            if s.state == "queued":
                await self.now_owned(s)

    def agent(self, agent_id: int) -> Agent:
        return next(a for a in self.agents if a.agent_id == agent_id)

    def plan_reply(self, s: Shopper) -> None:
        if s.reply_planned or s.owner is None:
            return
        a = self.agent(s.owner)
        # about 12 s at p50 for an agent with a few chats, slower as the load grows
        delay = self.rng.lognormvariate(math.log(12), 0.7) * a.speed * \
            (1 + max(0, len(a.owned) - 4) * 0.15)
        s.reply_planned = True
        self.later(delay, self.reply(s))

    def reply(self, s: Shopper):
        async def run():
            s.reply_planned = False
            if s.state != "assigned" or s.owner is None:
                return
            a = self.agent(s.owner)
            pending = await self.store.conversations.unanswered(s.cid)
            if not pending:
                return
            url = f"/api/agent/conversations/{s.cid}/messages"
            if not s.greeted and self.rng.random() < 0.5:     # a greeting first, as many do
                await self.post(url, {"text": AGENT_WORDS[s.lang][0]}, a.headers)
            s.greeted = True
            if s.first_answer_s is None and s.handoff_at:
                s.first_answer_s = (self.clock.t - s.handoff_at).total_seconds()
            last = pending[-1]["id"]
            drafts = [d for d in await self.drafts_for(s.cid, last)
                      if d["outcome"] is None and d["text"]] if last in s.drafting else []
            roll = self.rng.random()
            if drafts and roll < 0.55:
                status, _ = await self.post(url, {"suggestion_id": drafts[0]["id"]},
                                            a.headers)
                if status == 409:
                    await self.post(url, {"suggestion_id": drafts[0]["id"],
                                          "confirm": True}, a.headers)
            elif drafts and roll < 0.8:
                await self.post(url, {"suggestion_id": drafts[0]["id"], "confirm": True,
                                      "text": drafts[0]["text"] + "～"}, a.headers)
            else:
                if drafts:
                    await self.post(f"/api/agent/suggestions/{drafts[0]['id']}/skip", {},
                                    a.headers)
                await self.post(url, {"text": self.rng.choice(AGENT_WORDS[s.lang])},
                                a.headers)
            if s.questions_left > 0:
                self.later(self.rng.uniform(25, 90), self.ask_agent(s))
            else:
                self.later(self.rng.uniform(20, 60), self.resolve(s, s.first_answer_s or 0))
        return run

    def resolve(self, s: Shopper, waited_s: float):
        async def run():
            if s.state != "assigned" or s.owner is None:
                return
            a = self.agent(s.owner)
            status, _ = await self.post(f"/api/agent/conversations/{s.cid}/resolve", {},
                                        a.headers)
            if status == 409:                       # a question came in meanwhile
                self.plan_reply(s)
                return
            a.owned.discard(s.cid)
            s.state = "resolved"
            if self.rng.random() < 0.6:
                self.later(self.rng.uniform(5, 40), self.rate(s, waited_s))
            await self.check_queue()
        return run

    async def tick(self) -> None:
        """A minute of the day: the consoles of agents on their shift (and just after it)
        are open; the desk's timer runs."""
        hour = self.clock.t.hour + self.clock.t.minute / 60
        open_ = [a.agent_id for a in self.agents
                 if a.shift[0] <= hour < a.shift[1] + 0.5 or a.owned]
        await self.store.accounts.seen(open_)
        await self.service.tick()
        await self.check_queue()

    # -- what the catalog records afterwards ---------------------------------------------------
    def crosssell(self, s: Shopper) -> None:
        """The bot offered two items with the page's product; some clicked and added."""
        offered = self.rng.sample([p for p in self.products if p != s.page["product_id"]], 2)
        at = self.clock.t
        events = [CrosssellEvent(s.cid, s.customer, p, s.page["product_id"], "shown")
                  for p in offered]
        if self.rng.random() < 0.3:
            events.append(CrosssellEvent(s.cid, s.customer, offered[0],
                                         s.page["product_id"], "clicked"))
            if self.rng.random() < 0.4:
                events.append(CrosssellEvent(s.cid, s.customer, offered[0],
                                             s.page["product_id"], "added_to_cart"))
                s.page = {**s.page, "bought": offered[0]}
        record_events(self.catalog_path, events, at + timedelta(seconds=20))

    def place_orders(self) -> None:
        """Some handed-off customers order afterwards (some within 3 days, some later), and
        most who added a cross-sell to their cart buy it."""
        conn = sqlite3.connect(self.catalog_path)
        with conn:
            for n, s in enumerate(self.shoppers.values()):
                if not s.customer:
                    continue
                if s.handoff_at and self.rng.random() < 0.35:
                    when = s.handoff_at + timedelta(hours=self.rng.uniform(0.2, 100))
                elif s.page.get("bought") and self.rng.random() < 0.6:
                    when = self.day.replace(hour=23) + timedelta(hours=self.rng.uniform(0, 40))
                else:
                    continue
                product = s.page.get("bought") or s.page["product_id"]
                oid = f"SEED{self.args.day.replace('-', '')}{n:06d}"
                conn.execute("INSERT INTO orders (order_id, customer_id, created_at, status,"
                             " total) VALUES (?, ?, ?, 'paid', 199)",
                             (oid, s.customer,
                              when.replace(tzinfo=None, microsecond=0).isoformat()))
                conn.execute("INSERT INTO order_items (order_id, sku, quantity, price)"
                             " VALUES (?, ?, 1, 199)", (oid, self.skus[product]))
        conn.close()

    # -- the day ---------------------------------------------------------------------------
    async def run(self) -> dict:
        await self.start()
        started = time.monotonic()
        try:
            while self.events:
                t, _, fn = heapq.heappop(self.events)
                if t > self.clock.t:
                    self.clock.t = t
                await fn()
            await asyncio.sleep(0.2)                # the last drafts
            self.place_orders()
            self.clock.t = self.day.replace(hour=23, minute=30)
            r = await self.client.get(f"/api/agent/metrics?day={self.args.day}",
                                      headers=self.boss_headers)
            figures = await r.json()
            if r.status != 200:
                raise RuntimeError(f"metrics: {r.status} {figures}")
            out = Path(self.args.out)
            (out / "metrics.json").write_text(json.dumps(figures, ensure_ascii=False,
                                                         indent=1))
            for table in CSV_TABLES:
                (out / f"{table}.csv").write_text(to_csv(figures, table), encoding="utf-8")
            figures["_seconds"] = round(time.monotonic() - started, 1)
            return figures
        finally:
            await self.client.close()
            if self.fake_server is not None:
                await self.fake_server.close()
            out = Path(self.args.out)
            for name in ("desk.db", "catalog.db"):
                if (self.work / name).exists():
                    copy_sqlite(self.work / name, out / name)
            shutil.rmtree(self.work, ignore_errors=True)


def report(figures: dict, counts: dict) -> str:
    def s(x):
        return "-" if x is None else x

    lines = [f"day {figures['day']}: {counts['shoppers']} shoppers, "
             f"{figures['conversations']['handed_off']} handed off "
             f"({figures['handoffs']['total']} handoffs, {counts['contacts']} contact forms), "
             f"bot resolution {s(figures['conversations']['bot_resolution_rate'])}",
             f"response to each question: n={figures['response']['count']} "
             f"avg {s(figures['response']['avg_s'])} s, p90 {s(figures['response']['p90_s'])} s,"
             f" over 30 s {s(figures['response']['over_30s_share'])}, "
             f"unanswered {figures['response']['unanswered']}, answered by the assistant "
             f"while queued {figures['response']['bot_answered']}",
             f"first response p50 {s(figures['first_response']['p50_s'])} s, queue wait p90 "
             f"{s(figures['queue_wait']['p90_s'])} s, Q&A ratio "
             f"{s(figures['messages']['qa_ratio'])}, conversion "
             f"{figures['conversion']['ordered']}/{figures['conversion']['customers']}, "
             f"satisfaction {s(figures['satisfaction']['average'])} "
             f"(n={figures['satisfaction']['count']}), suggestions accepted "
             f"{s(figures['suggestions']['accepted_rate'])}, cross-sell "
             f"{figures['crosssell']['shown']}→{figures['crosssell']['clicked']}→"
             f"{figures['crosssell']['added_to_cart']}→{figures['crosssell']['bought']}"]
    for a in figures["agents"]:
        lines.append(f"  {a['display_name']}: {a['received']} received ({a['load_band']}), "
                     f"{a['messages_sent']} sent, Q&A {s(a['qa_ratio'])}, response p50 "
                     f"{s(a['response']['p50_s'])} s")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="bench/seed_day.py", description=__doc__.split("\n")[0])
    p.add_argument("--shoppers", type=int, default=1500)
    p.add_argument("--agents", type=int, default=6)
    p.add_argument("--handoff-share", type=float, default=0.45)
    p.add_argument("--day", default="2026-11-20")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=str(ROOT / "var" / "seed-day"))
    p.add_argument("--catalog", default=str(get_settings().catalog_path))
    p.add_argument("--real-rasa", default=None, metavar="URL")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    day = Day(args)
    figures = asyncio.run(day.run())
    print(machine())
    print(report(figures, day.counts))
    print(f"{figures['_seconds']} s; the record and the figures are in {args.out}")


if __name__ == "__main__":
    main()
