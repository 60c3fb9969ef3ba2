"""What every browser test shares: starting the stack (Rasa and the action server through
the project's Supervisor, the desk as `python -m desk` on its own database and catalog
copy), Debian's Chromium through Playwright (never `playwright install`), a shopper's
widget page and an agent's console each in a browser context of its own, the shopper and
agent APIs as plain HTTP, and read-only SQL on the desk's record and catalog.

Used by tests/test_browser.py, tests/test_browser_ux.py, tests/test_browser_review.py and
tests/test_browser_queue.py; each of them starts one stack per module on free ports."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from bot.runner import _healthy
from bot.settings import get_settings
from bot.training import model_path
from tests.conftest import copy_db

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
# the README's screenshots are refreshed only when asked, so a test run leaves the tree clean
SHOTS = ROOT / ("docs" if os.environ.get("SHOPASSIST_UPDATE_SCREENSHOTS") == "1"
                else "var") / "screenshots"
WAIT = 30_000          # ms: one Rasa turn on a busy 2-core machine stays well below
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


# -- the stack --------------------------------------------------------------------------------

@contextmanager
def rasa_servers(demo_db, log_dir: Path, rasa_port: int, action_port: int, now: str):
    """Rasa + action server: the project's Supervisor on test ports, on the demo catalog,
    with the shop's clock pinned at `now` ("" for the real time)."""
    from bot.runner import Supervisor

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium "
                    "(apt-get install chromium; .ci/run does it)")
    if not model_path().exists():
        pytest.fail("no trained model: run `make train` (make test does it)")
    settings = replace(get_settings(), rasa_port=rasa_port, action_port=action_port,
                       rasa_workers=1)
    sup = Supervisor(settings, log_dir=log_dir)
    sup.start(env={"SHOPASSIST_CATALOG": str(demo_db), "SHOPASSIST_NOW": now})
    try:
        yield
    finally:
        sup.stop()


@dataclass
class Desk:
    url: str
    db: Path              # the desk's record
    catalog: Path         # the desk's own copy of the catalog (Rasa reads the demo's)


@contextmanager
def desk_process(demo_db, folder: Path, port: int, hours: str, env: dict):
    """`python -m desk` on its own temporary database and its own copy of the catalog
    (which a test may change behind the bot's back), with the demo agents; yields a Desk.
    `env` holds at least SHOPASSIST_RASA_URL and SHOPASSIST_NOW ("" for the real clock),
    and any other setting of bot/settings.py the module needs."""
    log_path = folder / f"desk-{port}.log"
    log = open(log_path, "ab")
    db, catalog = folder / f"desk-{port}.db", copy_db(demo_db, folder / f"catalog-{port}.db")
    proc = subprocess.Popen(
        [sys.executable, "-m", "desk", "--port", str(port), "--db", str(db)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "SHOPASSIST_DESK_DEMO_AGENTS": "1", **env,
             "SHOPASSIST_CATALOG": str(catalog), "SHOPASSIST_DESK_DB": str(db),
             "SHOPASSIST_DESK_HOURS": hours})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not _healthy(f"{url}/health"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("desk did not start:\n"
                                   + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.3)
        yield Desk(url, db, catalog)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@contextmanager
def chromium():
    """Debian's Chromium, launched once for a module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


# -- pages ------------------------------------------------------------------------------------

def watch(page, errors: list) -> None:
    """Script errors of `page` go to `errors` (the tests allow none)."""
    page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))


def new_page(browser, lang: str, viewport: dict, errors: list):
    """A browser context of its own (a person's browser) in that language and size."""
    ctx = browser.new_context(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-GB",
                              is_mobile=viewport is PHONE, has_touch=viewport is PHONE)
    page = ctx.new_page()
    watch(page, errors)
    return ctx, page


def open_widget(browser, base: str, path: str, lang: str, errors: list,
                viewport: dict = DESKTOP):
    """A shopper on a storefront page with the chat widget open."""
    ctx, page = new_page(browser, lang, viewport, errors)
    page.goto(f"{base}{path}")
    page.click(".sa-launch")
    page.wait_for_selector(".sa-panel[role=dialog]")
    return ctx, page


def open_console(browser, base: str, user: str, lang: str, errors: list,
                 viewport: dict = DESKTOP, online: bool = True, clock: bool = False):
    """An agent logged in to /console in `lang`, its socket connected, online when asked
    (`clock`: the page's clock installed first, so a test can move it)."""
    ctx, page = new_page(browser, lang, viewport, errors)
    if clock:
        page.clock.install()
    page.add_init_script(f"localStorage.setItem('shopassist-console-lang', '{lang}')")
    page.goto(f"{base}/console")
    page.fill("#login-user", user)
    page.fill("#login-pass", f"demo-{user}")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("#conn.ok")     # online shows only with the socket connected
    if online and page.get_attribute("#status-toggle", "aria-pressed") != "true":
        page.click("#status-toggle")
        page.wait_for_selector("#status-toggle[aria-pressed=true]")
    return ctx, page


def say(page, text: str) -> None:
    """The shopper types a message in the widget and presses Enter."""
    page.fill("#sa-input", text)
    page.keyboard.press("Enter")


def widget_history(page) -> list:
    """The conversation's stored messages, read with the widget's own id and token."""
    return page.evaluate("""async () => {
        const k = Object.keys(localStorage).find(k => k.startsWith('shopassist:'));
        const s = JSON.parse(localStorage.getItem(k));
        const r = await fetch('/api/conversations/' + s.id + '/messages',
                              {headers: {Authorization: 'Bearer ' + s.token}});
        return r.json();
    }""")


def leave(console) -> None:
    """The agent goes away from their console."""
    if console.get_attribute("#status-toggle", "aria-pressed") == "true":
        console.click("#status-toggle")
        console.wait_for_selector("#status-toggle[aria-pressed=false]")


def no_horizontal_overflow(page, selector: str) -> list:
    """Elements matching `selector` (and their descendants) wider than what shows them:
    scrollWidth > clientWidth, as [(what, scrollWidth, clientWidth)]."""
    return page.evaluate("""sel => {
        const out = [];
        for (const root of document.querySelectorAll(sel))
            for (const e of [root, ...root.querySelectorAll('*')]) {
                const s = getComputedStyle(e);
                if (s.display === 'none' || s.visibility === 'hidden' || !e.clientWidth) continue;
                if (e.scrollWidth > e.clientWidth)
                    out.push([e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                              + (e.className && typeof e.className === 'string'
                                 ? '.' + e.className.split(' ').join('.') : ''),
                              e.scrollWidth, e.clientWidth]);
            }
        const d = document.documentElement;
        if (d.scrollWidth > d.clientWidth) out.push(['html', d.scrollWidth, d.clientWidth]);
        return out;
    }""", selector)


def covered(page, selector: str) -> list:
    """The elements matching `selector` that something else is drawn over: each scrolled
    into view, the element at its centre and at its top-left corner (inside by 4 px) must
    be it or inside it. Returns the covered ones' first words and what covers them."""
    return page.evaluate("""sel => {
        const out = [];
        for (const e of document.querySelectorAll(sel)) {
            e.scrollIntoView({block: 'center'});
            const b = e.getBoundingClientRect();
            for (const [x, y] of [[b.left + b.width / 2, b.top + b.height / 2],
                                  [b.left + 4, b.top + 4]]) {
                const top = document.elementFromPoint(x, y);
                if (top && !e.contains(top)) {
                    out.push([e.textContent.slice(0, 30), top.tagName.toLowerCase()
                              + (top.id ? '#' + top.id : '') + ' ' + top.textContent.slice(0, 30)]);
                    break;
                }
            }
        }
        return out;
    }""", selector)


# -- the record -------------------------------------------------------------------------------

def query_db(db: Path, query: str, *params) -> list:
    """Rows of a read-only query on an SQLite file (the desk's record or a catalog), as
    dicts."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(query, params).fetchall()]
    finally:
        conn.close()


# -- the APIs ---------------------------------------------------------------------------------

def http(base: str, method: str, path: str, body=None, headers=None):
    """(status, parsed body, headers) of one request to the desk."""
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw, status, hdrs = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, dict(e.headers)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode()
    return status, parsed, hdrs


class ShopperAPI:
    """A shopper through the shopper API (docs/desk-api.md), as any storefront would."""

    def __init__(self, base: str, lang: str, product_id: str, title: str):
        self.base, self.product_id, self.title = base, product_id, title
        status, body, _ = http(base, "POST", "/api/conversations", {
            "locale": lang, "page": {"product_id": product_id, "title": title,
                                     "url": f"{base}/p/{product_id}?lang={lang}"}})
        assert status == 201, body
        self.id, self.token = body["conversation_id"], body["token"]
        self.said: list[str] = []

    def say(self, text: str) -> list:
        status, body, _ = http(self.base, "POST", f"/api/conversations/{self.id}/messages",
                               {"text": text,
                                "metadata": {"page": {"product_id": self.product_id,
                                                      "title": self.title}}},
                               {"Authorization": f"Bearer {self.token}"})
        assert status == 200, body
        self.said.append(text)
        return body

    def history(self) -> list:
        status, body, _ = http(self.base, "GET", f"/api/conversations/{self.id}/messages",
                               headers={"Authorization": f"Bearer {self.token}"})
        assert status == 200
        return body


class AgentAPI:
    """An agent's session through the agent API (cookie and CSRF token). `AgentAPI.of`
    logs each agent in once per desk and keeps the session, as a console does: the desk
    throttles log-ins (10 a minute from one address, 5 a minute for one account), and
    logging four agents in after every test would run into it."""

    _sessions: dict = {}

    @classmethod
    def of(cls, base: str, user: str) -> "AgentAPI":
        if (base, user) not in cls._sessions:
            cls._sessions[base, user] = cls(base, user)
        return cls._sessions[base, user]

    def __init__(self, base: str, user: str):
        self.base = base
        status, body, hdrs = http(base, "POST", "/api/agent/login",
                                  {"username": user, "password": f"demo-{user}"})
        assert status == 200, body
        self.cookie = hdrs["Set-Cookie"].split(";")[0]
        self.csrf = body["csrf_token"]

    def call(self, method: str, path: str, body=None):
        return http(self.base, method, path, body,
                    {"Cookie": self.cookie, "X-CSRF-Token": self.csrf})
