"""`shopassist run` heals itself, and conversations survive it.

One stack (`python -m bot.cli run`, two Rasa workers behind the router, the action
server, the desk), on spare ports with its own tracker store, token and desk database:

- while 20 conversations talk through the REST channel, a Rasa worker, then the router,
  then the action server are SIGKILLed in turn: each comes back by itself (a Rasa worker
  with its model within `WORKER_BACK_WITHIN_S`), the router answers the dead worker's
  conversations with a quick 503 and keeps serving the other worker's, every conversation
  gets every answer (checked against the catalog) once the process is back, and the
  runner's log says what died and what it restarted;
- the thread survives a restart, in both languages: a product asked about (and a stock
  form left open) before both workers are SIGKILLed is still the one "什么时候发货" /
  "when does it ship?" is answered for after they are back;
- Ctrl-C during a restart's back-off stops everything: no process left, ports free.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from bot.rasa_router import worker_for
from bot.settings import ROOT, get_settings
from bot.training import model_path
from tests.conftest import PINNED_NOW, free_ports

pytestmark = pytest.mark.e2e

WORKER_BACK_WITHIN_S = 60.0
WARMED_UP = "model loaded and warmed up"     # bot/rasa_server.py, before the port opens
CONVERSATIONS = 20
MESSAGE_DEADLINE_S = 180.0   # one message, retried through an outage


class Runner:
    """`shopassist run` in a subprocess; its output collected line by line."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "run"], cwd=ROOT,
                                     env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def text(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 240.0) -> re.Match:
        """The first line from `after` on matching `pattern` (waiting for it)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines[after:]:
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self.reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r}:\n" + "\n".join(
                        self.lines[-60:]))
                self.changed.wait(min(left, 1.0))

    async def wait(self, pattern: str, after: int = 0, timeout: float = 240.0) -> re.Match:
        """`wait_for` without blocking the event loop (the conversations go on)."""
        return await asyncio.to_thread(self.wait_for, pattern, after, timeout)

    def mark(self) -> int:
        with self.changed:
            return len(self.lines)

    def pids(self) -> dict[str, int]:
        """The current pid of each process, from the runner's own lines."""
        out: dict[str, int] = {}
        for line in self.text().splitlines():
            m = re.search(r"(?:starting|restarted) (.+?) \(pid (\d+)", line)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def all_pids(self) -> set[int]:
        return {int(p) for p in re.findall(r"(?:starting|restarted) .+? \(pid (\d+)",
                                           self.text())}


def alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)           # anyone left in its process group
        return True
    except ProcessLookupError:
        return False


def port_open(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def stack(demo_db, tmp_path_factory):
    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    tmp = tmp_path_factory.mktemp("self-healing")
    rasa, w1, w2, action, desk = free_ports(5)
    env = {**os.environ, "SHOPASSIST_CATALOG": str(demo_db), "SHOPASSIST_NOW": PINNED_NOW,
           "SHOPASSIST_RASA_PORT": str(rasa), "SHOPASSIST_RASA_WORKERS": "2",
           "SHOPASSIST_ACTION_PORT": str(action), "SHOPASSIST_DESK_PORT": str(desk),
           "SHOPASSIST_DESK_DB": str(tmp / "desk.db"),
           "SHOPASSIST_TRACKER_STORE_URL": f"sqlite:///{tmp / 'trackers.db'}",
           "SHOPASSIST_RASA_TOKEN_FILE": str(tmp / "token")}
    env.pop("SHOPASSIST_RASA_TOKEN", None)
    runner = Runner(env)
    runner.wait_for(r"^\s+try:", timeout=300)
    runner.ports = {"Rasa router": rasa, "Rasa worker 1": w1, "Rasa worker 2": w2,
                    "action server": action, "desk": desk}
    runner.url = f"http://127.0.0.1:{rasa}/webhooks/rest/webhook"
    yield runner
    if runner.proc.poll() is None:
        runner.proc.send_signal(signal.SIGTERM)
        runner.proc.wait(timeout=120)


class Expectations:
    """What the catalog says the answers must be."""

    def __init__(self, sql, catalog):
        p = sql("SELECT * FROM products WHERE name_zh = '疾风跑鞋'")[0]
        self.product_id, self.name_en, self.price = p["product_id"], p["name_en"], p["price"]
        self.black_42 = [(r["sku"], r["q"]) for r in sql(
            "SELECT v.sku, SUM(s.quantity) q FROM variants v JOIN stock s ON s.sku = v.sku"
            " WHERE v.product_id = ? AND v.color = 'black' AND v.size = '42'"
            " GROUP BY v.sku", self.product_id)]
        ship = catalog.ship_date(get_settings().now(), product_id=self.product_id,
                                 city="chengdu")
        self.chengdu = (ship.ship_date.isoformat(), ship.delivery_earliest.isoformat(),
                        ship.delivery_latest.isoformat())

    def questions(self):
        """(message, check of the replies), Chinese and English."""
        def stock(replies):
            card = card_of(replies, "stock")
            assert card["product_id"] == self.product_id
            assert [(v["sku"], v["available"]) for v in card["variants"]] == self.black_42

        def price(replies):
            assert card_of(replies, "price")["price"] == self.price

        def shipping(replies):
            card = card_of(replies, "shipping")
            assert card["product_id"] == self.product_id
            assert (card["ship_date"], card["delivery_earliest"],
                    card["delivery_latest"]) == self.chengdu

        return [("疾风跑鞋黑色42码有货吗", stock),
                (f"how much is the {self.name_en.lower()}", price),
                ("疾风跑鞋发成都几天能到", shipping),
                (f"do you have the {self.name_en} in black, size 42?", stock)]


def card_of(replies: list, type_: str) -> dict:
    cards = [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == type_]
    assert cards, f"no {type_} card in {replies}"
    return cards[0]


class Traffic:
    """Conversations talking without pause; each message retried until answered."""

    def __init__(self, url: str, questions):
        self.url = url
        self.questions = questions
        self.answered: list[tuple[str, float]] = []      # (sender, time)
        self.refusals: list[tuple[str, int, float]] = []  # (sender, status, seconds)
        self.unreachable = 0
        self.stop = asyncio.Event()

    async def ask(self, session, sender: str, text: str) -> list:
        deadline = time.monotonic() + MESSAGE_DEADLINE_S
        while True:
            assert time.monotonic() < deadline, f"{sender}: {text!r} never answered"
            t0 = time.monotonic()
            try:
                async with session.post(self.url, json={"sender": sender,
                                                        "message": text}) as resp:
                    body = await resp.read()
                    if resp.status == 200:
                        return json.loads(body)
                    assert resp.status == 503, (resp.status, body[:300])
                    assert json.loads(body)["error"]
                    self.refusals.append((sender, resp.status, time.monotonic() - t0))
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError):
                self.unreachable += 1        # the router itself is down: no one listens
            await asyncio.sleep(0.3)

    async def conversation(self, session, n: int) -> None:
        sender = f"heal-{n}-{uuid.uuid4().hex[:8]}"
        turn = 0
        while not self.stop.is_set():
            text, check = self.questions[(n + turn) % len(self.questions)]
            check(await self.ask(session, sender, text))
            self.answered.append((sender, time.monotonic()))
            turn += 1

    def senders_answered_since(self, t: float) -> set[str]:
        return {s for s, at in self.answered if at >= t}


async def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_killed_processes_come_back_and_every_conversation_is_answered(
        stack, sql, catalog):
    traffic = Traffic(stack.url, Expectations(sql, catalog).questions())
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
        talks = [asyncio.create_task(traffic.conversation(session, n))
                 for n in range(CONVERSATIONS)]

        def everyone(since: float) -> bool:
            for task in talks:              # a conversation that failed fails the test now
                if task.done():
                    task.result()
            return len(traffic.senders_answered_since(since)) == CONVERSATIONS

        try:
            await wait_until(lambda: everyone(0), 240, "every conversation's first answer")
            for name in ("Rasa worker 1", "Rasa router", "action server"):
                old = stack.pids()[name]
                log_path = Path(stack.wait_for(rf"starting {name} \(pid \d+, log (.+)\)"
                                               ).group(1))
                warm_before = log_path.read_text(errors="replace").count(WARMED_UP)
                mark = stack.mark()
                refusals_before = len(traffic.refusals)
                killed_at = time.monotonic()
                os.kill(old, signal.SIGKILL)
                await stack.wait(rf"{name} \(pid {old}\) died: killed by SIGKILL; "
                                 r"restarting in 1 s", after=mark, timeout=30)
                new = int((await stack.wait(rf"restarted {name} \(pid (\d+)", after=mark,
                                            timeout=30)).group(1))
                assert new != old
                await stack.wait(rf"{name} is back \(pid {new},", after=mark, timeout=240)
                back_at = time.monotonic()
                everyone(0)
                if name.startswith("Rasa worker"):
                    # it opened its port only once its model was loaded and warm
                    assert log_path.read_text(errors="replace").count(WARMED_UP) == \
                        warm_before + 1
                    assert back_at - killed_at <= WORKER_BACK_WITHIN_S, \
                        f"{name} back after {back_at - killed_at:.0f} s"
                    # meanwhile: quick 503s for its conversations, answers for the others'
                    refused = traffic.refusals[refusals_before:]
                    assert refused, ("no conversation of the dead worker was refused; "
                                     f"back after {back_at - killed_at:.1f} s\n"
                                     + stack.text()[-3000:])
                    assert all(worker_for(s, 2) == 0 for s, _, _ in refused)
                    # refused at once, not held until the worker is back (tens of
                    # seconds) or a timeout: the bound leaves room for a loaded machine
                    # (2.4 s seen with the CPU shared four ways), timings are the benchmarks'
                    assert max(sec for _, _, sec in refused) < 10.0
                    others = {s for s, at in traffic.answered
                              if killed_at < at < back_at and worker_for(s, 2) == 1}
                    assert others, "the other worker's conversations were not served"
                await wait_until(lambda back_at=back_at: everyone(back_at), 240,
                                 f"every conversation answered after {name} came back")
                assert stack.pids()[name] == new
        finally:
            traffic.stop.set()
            results = await asyncio.gather(*talks, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[0]
    print("\n".join(line for line in stack.text().splitlines()       # shown with -s
                    if re.search(r"died:|restarted|is back", line)))
    assert traffic.unreachable > 0       # the router really was down for a while
    log = stack.text()
    for name in ("Rasa worker 1", "Rasa router", "action server"):
        assert re.search(rf"{name} \(pid \d+\) died: killed by SIGKILL", log)
        assert re.search(rf"restarted {name} \(pid \d+, restart 1\)", log)


def senders_on_each_worker() -> tuple[str, str]:
    """A sender whose conversation worker 1 holds and one for worker 2."""
    zh = next(s for s in (f"keep-zh-{uuid.uuid4().hex}" for _ in range(100))
              if worker_for(s, 2) == 0)
    en = next(s for s in (f"keep-en-{uuid.uuid4().hex}" for _ in range(100))
              if worker_for(s, 2) == 1)
    return zh, en


async def test_a_restart_keeps_the_thread_in_both_languages(stack, sql):
    product = sql("SELECT product_id, name_en FROM products WHERE name_zh = '疾风跑鞋'")[0]
    zh, en = senders_on_each_worker()
    traffic = Traffic(stack.url, [])
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=90)) as session:
        first_zh = await traffic.ask(session, zh, "疾风跑鞋黑色42码有货吗")
        assert card_of(first_zh, "stock")["product_id"] == product["product_id"]
        # English: no size named, so the stock form stays open, asking for one
        first_en = await traffic.ask(session, en, f"is the {product['name_en']} in stock?")
        assert any(r.get("buttons") for r in first_en), first_en
        assert card_of(first_en, "stock")["size"] is None      # no size chosen yet

        mark = stack.mark()
        pids = stack.pids()
        for name in ("Rasa worker 1", "Rasa worker 2"):
            os.kill(pids[name], signal.SIGKILL)
        for name in ("Rasa worker 1", "Rasa worker 2"):
            await stack.wait(rf"{name} is back \(pid", after=mark, timeout=240)
        new = stack.pids()
        assert all(new[n] != pids[n] for n in ("Rasa worker 1", "Rasa worker 2"))

        # a fresh process: what it knows of these conversations it read back from SQL
        shipping_zh = await traffic.ask(session, zh, "什么时候发货")
        card = card_of(shipping_zh, "shipping")
        assert card["product_id"] == product["product_id"]
        text_zh = " ".join(r.get("text") or "" for r in shipping_zh)
        assert "疾风跑鞋" in text_zh

        sized = await traffic.ask(session, en, "size 42")          # the form resumes
        card = card_of(sized, "stock")
        assert (card["product_id"], card["size"]) == (product["product_id"], "42")
        shipping_en = await traffic.ask(session, en, "when does it ship?")
        card = card_of(shipping_en, "shipping")
        assert card["product_id"] == product["product_id"]
        text_en = " ".join(r.get("text") or "" for r in shipping_en)
        assert product["name_en"] in text_en
        assert not any("\u4e00" <= ch <= "\u9fff" for ch in text_en)


def test_ctrl_c_during_a_restart_backoff_stops_everything(stack):
    """Kill the action server as soon as it is restarted, until a death in a row makes
    the runner wait 4 s or more; Ctrl-C then must stop the stack at once, without that
    restart."""
    pids_seen = stack.all_pids()
    waits = []
    while not waits or waits[-1] < 4:
        assert len(waits) < 5, waits
        mark = stack.mark()
        pid = stack.pids()["action server"]
        os.kill(pid, signal.SIGKILL)
        waits.append(int(stack.wait_for(
            rf"action server \(pid {pid}\) died: killed by SIGKILL; restarting in (\d+) s",
            after=mark, timeout=30).group(1)))
        if waits[-1] < 4:
            stack.wait_for(r"restarted action server \(pid", after=mark, timeout=30)
    assert waits == sorted(waits) and len(set(waits)) == len(waits)   # 1, 2, 4 ... or on
    mark = stack.mark()
    interrupted = time.monotonic()
    stack.proc.send_signal(signal.SIGINT)
    rc = stack.proc.wait(timeout=60)
    took = time.monotonic() - interrupted
    stack.reader.join(10)
    after = stack.lines[mark:]
    assert rc == 0, stack.text()[-3000:]
    assert any("stopped." in line for line in after)
    assert not any("restarted action server" in line for line in after), after
    assert took < 30
    for pid in pids_seen | stack.all_pids():
        assert not alive(pid), f"process group {pid} still has processes"
    for name, port in stack.ports.items():
        assert not port_open(port), f"{name}'s port {port} still open"
