"""The console and the widget as agents and shoppers use them, in a real browser (Debian's
Chromium through Playwright) against the trained bot and the desk, in both languages, at a
desktop (1280×800) and a phone (390×844) size:

- the widget: a new message below the visible part of the log shows a "new messages" sign
  with the count (on a phone), the log follows the conversation from each message's start;
  "add to cart" says "added" only when the storefront's cart has the item (and says a
  refusal); the satisfaction rating after resolve;
- the console with eight chats: rows sorted by the shopper's wait with live timers (amber
  at 20 s, red at 30 s, read against the desk's record), previews of the shopper's words,
  unread counts of shopper messages; the keyboard flow; notices never over the
  suggestions; a changed fact explained in words; the resolve warning; the dashboard;
- WCAG contrast of every visible text, on every page, in both languages and both sizes.

Screenshots go to var/screenshots/ (docs/screenshots/ with SHOPASSIST_UPDATE_SCREENSHOTS=1).
The desk here runs on the real clock and is always open, so waits are real seconds.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

import pytest

from tests.browser_support import (DESKTOP, PHONE, SHOTS, WAIT, AgentAPI, ShopperAPI,
                                   chromium, desk_process, leave, new_page, open_console,
                                   open_widget, query_db, rasa_servers, say)
from tests.conftest import free_ports

pytestmark = pytest.mark.e2e

# a Rasa server with workers also takes the ports after its own: room between them
_PORTS = free_ports(8)
RASA_PORT, ACTION_PORT, DESK_PORT = _PORTS[0], _PORTS[4], _PORTS[6]
CONTRAST_JS = (Path(__file__).with_name("wcag_contrast.js")).read_text(encoding="utf-8")
# the widget's words the tests look for, per language
W = {"zh": {"new": "条新消息", "adding": "正在加入购物车", "added": "已加入购物车",
            "failed": "没能加入购物车", "add": "加入购物车", "joined": "已加入对话"},
     "en": {"new": "new message", "adding": "Adding to your cart", "added": "Added to your cart",
            "failed": "Couldn't add it to your cart", "add": "Add to cart",
            "joined": "has joined"}}
AGENT = {"zh": "lily", "en": "tom"}


@pytest.fixture(scope="module")
def rasa(demo_db, tmp_path_factory):
    # the real clock here (ship dates too), like the desk below
    with rasa_servers(demo_db, tmp_path_factory.mktemp("ux-logs"), RASA_PORT, ACTION_PORT, ""):
        yield


@pytest.fixture(scope="module")
def desk(rasa, demo_db, tmp_path_factory):
    with desk_process(demo_db, tmp_path_factory.mktemp("ux-desk"), DESK_PORT, "00:00-24:00",
                      {"SHOPASSIST_NOW": "",
                       "SHOPASSIST_RASA_URL": f"http://127.0.0.1:{RASA_PORT}"}) as d:
        yield d


@pytest.fixture(scope="module")
def browser(rasa):
    with chromium() as b:
        yield b


@pytest.fixture(autouse=True)
def _desk_left_clean(desk):
    """After each test, whatever it did or failed to do: every agent away with nothing
    open and the usual cap, so the next test's agent gets its chats."""
    yield
    boss = AgentAPI.of(desk.url, "boss")
    for user in ("lily", "tom", "wang"):
        api = AgentAPI.of(desk.url, user)
        api.call("POST", "/api/agent/status", {"status": "away"})
        _, lists, _ = api.call("GET", "/api/agent/conversations")
        for c in lists["mine"]:
            api.call("POST", f"/api/agent/conversations/{c['conversation_id']}/resolve",
                     {"confirm": True})
        [me] = sql_desk(desk, "SELECT agent_id FROM agents WHERE username = ?", user)
        boss.call("POST", f"/api/agent/agents/{me['agent_id']}/caps", {"cap": 8})


@pytest.fixture()
def errors():
    """Script errors of every page a test opens: none allowed."""
    found: list = []
    yield found
    assert not found, found


def _contrast(page) -> dict:
    return page.evaluate(CONTRAST_JS)


def _in_view(page, selector: str, container: str) -> list:
    """For each element matching `selector`: whether its top edge is inside the visible
    part of `container`."""
    return page.evaluate("""([sel, box]) => {
        const b = document.querySelector(box).getBoundingClientRect();
        return [...document.querySelectorAll(sel)].map(e => {
            const r = e.getBoundingClientRect();
            return r.top >= b.top - 1 && r.top < b.bottom - 1;
        });
    }""", [selector, container])


# -- the widget -------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_add_to_cart_says_added_only_when_the_cart_has_it(desk, browser, lang, errors, sql):
    ctx, shop = open_widget(browser, desk.url, f"/p/P001?lang={lang}", lang, errors, DESKTOP)
    w = W[lang]
    # the storefront's cart is empty; its hook is held until the test lets it go, so the
    # widget's words while the cart has not answered can be read
    assert shop.inner_text("#cart-n") == "0"
    shop.evaluate("""() => {
        const real = window.shopassistAddToCart;
        window.__release = null;
        window.shopassistAddToCart = (...a) => new Promise((ok, no) => {
            window.__release = () => real(...a).then(ok, no);
        });
    }""")
    # the recommendation card's button asks the bot, which first asks for what it needs
    say(shop, "这款42码还有货吗" if lang == "zh" else "is this in stock in size 42?")
    shop.wait_for_selector(".sa-card-recommendations", timeout=WAIT)
    item = shop.locator(".sa-rec").first
    name = item.locator("b").inner_text()
    bots = shop.locator(".sa-msg.sa-bot").count()
    item.locator("button", has_text=w["add"]).click()
    assert w["added"] not in shop.inner_text(".sa-log")
    # the bot asks for a size or colour (buttons) until one variant is left, then requests
    # the add; the widget carries it out on the cart
    for _ in range(3):
        shop.wait_for_function(
            "n => document.querySelectorAll('.sa-msg.sa-bot').length > n"
            " && !document.querySelector('.sa-typing:not([hidden])')", arg=bots, timeout=WAIT)
        if shop.locator(".sa-cartst").count():
            break
        choices = shop.locator(".sa-msg.sa-bot").last.locator(".sa-qr button")
        assert choices.count(), shop.locator(".sa-msg.sa-bot").last.inner_text()
        bots = shop.locator(".sa-msg.sa-bot").count()
        choices.first.click()
    shop.wait_for_selector(f".sa-cartst:has-text('{w['adding']}')", timeout=WAIT)
    assert w["added"] not in shop.inner_text(".sa-log")         # the cart has not answered
    assert shop.inner_text("#cart-n") == "0"
    shop.evaluate("window.__release()")
    shop.wait_for_selector(".sa-cartst.sa-ok", timeout=WAIT)
    done = shop.inner_text(".sa-cartst.sa-ok")
    assert w["added"] in done and name in done, done
    # the cart really changed: one line, a SKU of that product in stock in the catalog
    cart = shop.evaluate("JSON.parse(localStorage.getItem('shopassist-demo-cart'))")
    assert shop.inner_text("#cart-n") == "1" and len(cart) == 1
    assert shop.evaluate("window.shopassistCart.length") == 1
    sku = cart[0]["sku"]
    [row] = sql("SELECT v.product_id, SUM(MAX(s.quantity, 0)) AS n FROM variants v JOIN stock s"
                " ON s.sku = v.sku WHERE v.sku = ? GROUP BY v.sku", sku)
    assert row["n"] > 0
    assert row["product_id"] == cart[0]["product_id"]
    # a reload shows the outcome and never adds again
    shop.reload()
    shop.wait_for_selector(".sa-cartst.sa-ok", timeout=WAIT)
    assert shop.inner_text("#cart-n") == "1"

    # a cart that refuses: the shopper is told, nothing is claimed
    shop.evaluate("""() => { window.shopassistAddToCart =
        () => Promise.reject(new Error('__refused__')); }""")
    rec = shop.locator(".sa-rec").first
    bots = shop.locator(".sa-msg.sa-bot").count()
    rec.locator("button", has_text=w["add"]).click()
    for _ in range(3):
        shop.wait_for_function(
            "n => document.querySelectorAll('.sa-cartst').length > 1"
            " || (document.querySelectorAll('.sa-msg.sa-bot').length > n"
            " && !document.querySelector('.sa-typing:not([hidden])'))", arg=bots, timeout=WAIT)
        if shop.locator(".sa-cartst").count() > 1:
            break
        bots = shop.locator(".sa-msg.sa-bot").count()
        shop.locator(".sa-msg.sa-bot").last.locator(".sa-qr button").first.click()
    shop.wait_for_selector(".sa-cartst.sa-bad", timeout=WAIT)
    bad = shop.inner_text(".sa-cartst.sa-bad")
    assert w["failed"] in bad and "__refused__" in bad and w["added"] not in bad
    assert shop.inner_text("#cart-n") == "1"
    ctx.close()


def _agent_reply(console, text: str) -> None:
    console.fill("#reply", text)
    console.keyboard.press("Control+Enter")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_new_messages_below_the_fold_on_a_phone(desk, browser, lang, errors):
    """On a phone the agent's long answers land below the visible part of the log while the
    shopper reads further up: the sign says how many, and takes them there; at the bottom,
    the log follows from each new message's start."""
    w = W[lang]
    actx, console = open_console(browser, desk.url, AGENT[lang], lang, errors)
    ctx, shop = open_widget(browser, desk.url, f"/p/P002?lang={lang}", lang, errors, PHONE)
    say(shop, "这款43码有货吗" if lang == "zh" else "is this in stock in size 43?")
    shop.wait_for_selector(".sa-card-stock", timeout=WAIT)
    say(shop, "转人工" if lang == "zh" else "I want to talk to a person")
    shop.wait_for_selector(f".sa-note:has-text('{w['joined']}')", timeout=WAIT)
    console.wait_for_selector("#mine .conv", timeout=WAIT)
    console.locator("#mine .conv").first.click()
    console.wait_for_selector("#transcript .msg.shopper", timeout=WAIT)

    long = ("亲，这款鞋子偏小半码，平时穿42码的亲建议拍43码哦～鞋面是工程网眼，透气性很好，"
            "夏天跑步也不闷脚。中底是EVA缓震材料，长距离跑步也很舒服。" * 3) if lang == "zh" else \
        ("This shoe runs half a size small, so if you usually wear 42 we suggest 43. The "
         "engineered mesh upper breathes well, and the EVA midsole cushions long runs. " * 3)
    # the shopper scrolls up to read the stock card again
    shop.locator(".sa-log").evaluate("n => n.scrollTop = 0")
    shop.wait_for_timeout(200)
    assert shop.is_hidden(".sa-new")
    _agent_reply(console, long)
    shop.wait_for_selector(".sa-msg.sa-agent", timeout=WAIT)
    _agent_reply(console, long[:40])
    shop.wait_for_function(
        "() => document.querySelectorAll('.sa-msg.sa-agent').length === 2", timeout=WAIT)
    sign = shop.locator(".sa-new")
    sign.wait_for(state="visible", timeout=WAIT)
    assert sign.inner_text() == ("↓ 2条新消息" if lang == "zh" else "↓ 2 new messages")
    shop.screenshot(path=str(SHOTS / f"widget-phone-{lang}.png"))
    assert _in_view(shop, ".sa-msg.sa-agent", ".sa-log") == [False, False]
    # the log is a polite live region: screen readers hear the new messages
    assert shop.get_attribute(".sa-log", "role") == "log"
    assert shop.get_attribute(".sa-log", "aria-live") == "polite"
    # from the keyboard: the sign is a button; it takes the shopper to the first new one
    sign.focus()
    shop.keyboard.press("Enter")
    shop.wait_for_timeout(200)
    assert _in_view(shop, ".sa-msg.sa-agent", ".sa-log")[0]
    first = shop.locator(".sa-msg.sa-agent").first
    assert first.evaluate("n => document.activeElement === n")
    # the second's start is in view now too (it is short) or the sign counts it
    if _in_view(shop, ".sa-msg.sa-agent", ".sa-log")[1]:
        assert shop.is_hidden(".sa-new")
    else:
        assert sign.inner_text() == ("↓ 1条新消息" if lang == "zh" else "↓ 1 new message")
    # at the bottom, a long message is followed from its start, with no sign
    shop.locator(".sa-log").evaluate("n => n.scrollTop = n.scrollHeight")
    shop.wait_for_timeout(200)
    assert shop.is_hidden(".sa-new")
    _agent_reply(console, long + long)
    shop.wait_for_function(
        "() => document.querySelectorAll('.sa-msg.sa-agent').length === 3", timeout=WAIT)
    shop.wait_for_timeout(200)
    assert _in_view(shop, ".sa-msg.sa-agent", ".sa-log")[2]
    assert shop.is_hidden(".sa-new")

    # resolved: the shopper is asked to rate it (1-5, from the keyboard) and may comment
    console.click("#resolve")
    shop.wait_for_selector(".sa-rate", timeout=WAIT)
    assert _in_view(shop, ".sa-rate", ".sa-log") == [True]       # followed into view
    shop.locator(".sa-stars button").first.focus()
    shop.keyboard.press("ArrowRight")          # 1 -> 2
    shop.keyboard.press("ArrowRight")          # 2 -> 3
    shop.keyboard.press("ArrowRight")          # 3 -> 4
    assert shop.eval_on_selector_all(".sa-stars button[aria-checked=true]",
                                     "b => b.map(x => x.textContent)") == ["4"]
    comment = "回复很快，谢谢" if lang == "zh" else "Quick answers, thanks"
    shop.fill(".sa-rate textarea", comment)
    shop.click(".sa-rate button[type=submit]")
    shop.wait_for_selector(".sa-note:has-text('%s')" % ("感谢您的评价" if lang == "zh"
                                                       else "Thank you for your rating"),
                           timeout=WAIT)
    cid = shop.evaluate("window.ShopAssist.conversationId")
    assert query_db(desk.db, "SELECT score, comment FROM ratings WHERE conversation_id = ?",
                cid) == [{"score": 4, "comment": comment}]
    shop.reload()
    shop.wait_for_selector(".sa-msg.sa-agent", timeout=WAIT)
    shop.wait_for_timeout(500)
    assert shop.locator(".sa-rate").count() == 0                # asked once
    leave(console)
    ctx.close()
    actx.close()


# -- contrast ---------------------------------------------------------------------------------

def _no_failures(where: str, found: dict, at_least: int) -> None:
    assert found["checked"] >= at_least, (where, found["checked"])
    assert not found["failures"], (where, found["failures"])
    assert not found["unknown"], (where, found["unknown"])


def test_the_contrast_checker_sees_a_low_contrast_text(desk, browser, errors):
    """The checker itself: the former accent (white on #e4572e, 3.7:1) and the former
    sold-out grey (2.4:1) are caught; a large bold heading at 3.7:1 passes as WCAG says."""
    ctx, page = new_page(browser, "zh", DESKTOP, errors)
    page.goto(f"{desk.url}/p/P001?lang=zh")
    page.evaluate("""() => {
        const add = (html) => { const d = document.createElement('div');
            d.innerHTML = html; document.body.appendChild(d); };
        add('<p id="t1" style="background:#e4572e;color:#fff;font-size:14px">白字</p>');
        add('<p id="t2" style="background:#f9fafb;color:#9ca3af;font-size:13px">售罄</p>');
        add('<h1 id="t3" style="background:#e4572e;color:#fff;font-size:24px">大字</h1>');
        add('<div style="opacity:.5;background:#fff">'
            + '<p id="t4" style="color:#595959">半透明</p></div>');
    }""")
    found = {f["where"].split(" > ")[-1]: f["ratio"] for f in _contrast(page)["failures"]}
    # by hand: t4 is #595959 on white at half opacity over the page's #f7f7f8, seen as
    # #a8a8a8 on #fbfbfb: (0.9647 + 0.05) / (0.3915 + 0.05) = 2.30
    assert found == {"p#t1": 3.68, "p#t2": 2.43, "p#t4": 2.3}, found
    ctx.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_contrast_of_every_visible_text(desk, browser, lang, viewport, errors):
    """Storefront (list, product page with the cart open), the widget with a stock card and
    recommendations, the console (log-in, a conversation, the help), at 4.5:1 or more."""
    ctx, page = new_page(browser, lang, viewport, errors)
    page.goto(f"{desk.url}/?lang={lang}")
    _no_failures("storefront", _contrast(page), 40)
    page.goto(f"{desk.url}/p/P003?lang={lang}")
    page.locator("button.add").first.click()
    page.click("#cart summary")
    _no_failures("product page and cart", _contrast(page), 30)
    page.click(".sa-launch")
    say(page, "这款有货吗" if lang == "zh" else "is this in stock?")
    page.wait_for_selector(".sa-msg.sa-bot", timeout=WAIT)
    page.wait_for_timeout(500)
    _no_failures("widget", _contrast(page), 20)
    ctx.close()

    ctx, console = new_page(browser, lang, viewport, errors)
    console.add_init_script(f"localStorage.setItem('shopassist-console-lang', '{lang}')")
    console.goto(f"{desk.url}/console")
    _no_failures("console log-in", _contrast(console), 4)
    console.fill("#login-user", "boss")
    console.fill("#login-pass", "demo-boss")
    console.click("#login-form button[type=submit]")
    console.wait_for_selector("#app:not([hidden])")
    console.wait_for_timeout(500)
    _no_failures("console", _contrast(console), 10)
    console.keyboard.press("?")
    _no_failures("console help", _contrast(console), 15)
    ctx.close()


# -- the console: eight chats ---------------------------------------------------------------------

ASK = {"zh": "这款42码有货吗", "en": "is this in stock in size 42?"}
HUMAN = {"zh": "转人工", "en": "I want to talk to a person"}
HELLO = {"zh": "亲，您好～我来帮您看看", "en": "Hi, let me check that for you."}
# the order in which the eight shoppers ask their waiting question (an index into the
# conversations as they were opened); the fourth in that order asks twice
ASK_ORDER = [3, 0, 6, 1, 7, 2, 5, 4]
TWICE = 7


def _rows(console) -> list[dict]:
    return console.eval_on_selector_all("#mine .conv", """bs => bs.map(b => ({
        cid: b.dataset.cid, text: b.innerText,
        label: b.querySelector('.conv-name').textContent,
        where: b.querySelector('.conv-where').textContent,
        last: b.querySelector('.conv-last').textContent,
        timer: b.querySelector('.timer').hidden ? null : b.querySelector('.timer').textContent,
        slow: b.querySelector('.timer').classList.contains('slow'),
        late: b.querySelector('.timer').classList.contains('late'),
        unread: b.querySelector('.badge') ? +b.querySelector('.badge').textContent : 0}))""")


def _secs(timer: str) -> int:
    parts = [int(x) for x in timer.split(":")]
    return parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) > 2 else 0)


def _overlaps(page, a: str, b: str) -> list:
    """Pairs of elements matching `a` and `b` whose boxes overlap (visible ones)."""
    return page.evaluate("""([a, b]) => {
        const box = e => e.getBoundingClientRect();
        const shown = e => { const r = box(e); return r.width > 0 && r.height > 0; };
        const out = [];
        for (const x of [...document.querySelectorAll(a)].filter(shown))
            for (const y of [...document.querySelectorAll(b)].filter(shown)) {
                const p = box(x), q = box(y);
                if (p.left < q.right && q.left < p.right && p.top < q.bottom && q.top < p.bottom)
                    out.push([x.textContent.slice(0, 30), y.id || y.className]);
            }
        return out;
    }""", [a, b])


WORK = "#suggestions, aside.side, #transcript, #composer, .conv-head"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_eight_chats_sorted_by_wait_and_the_keyboard_flow(desk, browser, lang, errors, sql):
    agent = AGENT[lang]
    # the agent's console on a desktop (its clock can be moved: the timers) and on a phone
    ctx, console = open_console(browser, desk.url, agent, lang, errors, DESKTOP, clock=True)
    pctx, phone = open_console(browser, desk.url, agent, lang, errors, viewport=PHONE, online=False)

    # eight shoppers on eight products ask, then ask for a person: all eight are the agent's
    products = sql("SELECT product_id, name_zh, name_en FROM products WHERE category ="
                   " 'running_shoes' ORDER BY product_id LIMIT 8")
    shoppers = []
    for p in products:
        s = ShopperAPI(desk.url, lang, p["product_id"], p[f"name_{lang}"])
        s.say(ASK[lang])
        s.say(HUMAN[lang])
        shoppers.append(s)
    console.wait_for_function(
        "() => document.querySelectorAll('#mine .conv').length === 8", timeout=WAIT)
    # the notices stack in their corner: never over the work area, at most three
    console.wait_for_selector("#toasts .toast", timeout=WAIT)
    assert console.locator("#toasts .toast").count() <= 3
    assert _overlaps(console, "#toasts .toast", WORK) == []
    phone.wait_for_selector("#toasts .toast", timeout=WAIT)
    assert _overlaps(phone, "#toasts .toast", WORK) == []
    assert phone.locator("#toasts .toast").count() <= 3
    pctx.close()
    owners = sql_desk(desk, "SELECT DISTINCT a.username FROM conversations c JOIN agents a"
                      " ON a.agent_id = c.agent_id WHERE c.conversation_id IN (%s)"
                      % ",".join("?" * 8), *[s.id for s in shoppers])
    assert owners == [{"username": agent}]

    # the agent answers each once; then they ask again, one by one, a second apart
    api = AgentAPI.of(desk.url, agent)
    for s in shoppers:
        status, body, _ = api.call("POST", f"/api/agent/conversations/{s.id}/messages",
                                   {"text": HELLO[lang]})
        assert status == 200, body
    for i in ASK_ORDER:
        shoppers[i].say(ASK[lang])
        if i == TWICE:
            shoppers[i].say(ASK[lang] + ("？" if lang == "zh" else " please"))
        time.sleep(1.1)
    order = [shoppers[i].id for i in ASK_ORDER]
    console.wait_for_function(
        "() => [...document.querySelectorAll('#mine .timer')]"
        ".filter(t => !t.hidden).length === 8",
        timeout=WAIT)

    # longest waiting first; previews are the shopper's words; unread counts only theirs
    rows = _rows(console)
    assert [r["cid"] for r in rows] == order
    opened = console.get_attribute("#mine .conv[aria-current=true]", "data-cid")
    for r in rows:
        s = next(x for x in shoppers if x.id == r["cid"])
        assert r["last"] == s.said[-1]
        # the open conversation (the first assigned, opened by itself) is read as it comes
        assert r["unread"] == (0 if s.id == opened else 2 if s is shoppers[TWICE] else 1), r
        assert r["where"].startswith(s.title), r          # the product's name, not its id
    assert len({(r["label"], r["where"]) for r in rows}) == 8          # told apart
    # the timers are the desk's waits: from the waiting message's time in the desk's record
    top = rows[0]
    [w] = sql_desk(desk, "SELECT m.created_at FROM messages m WHERE m.conversation_id = ?"
                   " AND m.sender = 'shopper' ORDER BY m.id DESC LIMIT 1", top["cid"])
    from datetime import datetime
    waited = (datetime.now().astimezone()
              - datetime.fromisoformat(w["created_at"])).total_seconds()
    assert abs(_secs(_rows(console)[0]["timer"]) - waited) <= 3, (top, waited)
    console.screenshot(path=str(SHOTS / f"console-8-chats-{lang}.png"))
    # amber from 20 s, red from 30 s (this page's clock moved on; the order stays)
    for target, flag in ((21, "slow"), (31, "late")):
        now = _secs(_rows(console)[-1]["timer"])
        if now < target:
            console.clock.fast_forward((target - now) * 1000)
        console.wait_for_timeout(1100)
        rows = _rows(console)
        assert [r["cid"] for r in rows] == order
        for r in rows:
            n = _secs(r["timer"])
            assert (r["slow"], r["late"]) == (20 <= n < 30, n >= 30), r
        assert rows[-1][flag]

    # the keyboard: n opens the longest waiting chat, s sends its first suggestion
    console.locator("#transcript").focus()
    console.keyboard.press("n")
    console.wait_for_selector(f"#mine .conv[aria-current=true][data-cid='{order[0]}']")
    sid = _first_sid(console)
    agent_msgs = console.locator("#transcript .msg.agent").count()
    console.keyboard.press("s")
    console.wait_for_function(
        "n => document.querySelectorAll('#transcript .msg.agent').length > n",
        arg=agent_msgs, timeout=WAIT)
    [drafted] = sql_desk(desk, "SELECT text, outcome FROM suggestions WHERE id = ?", sid)
    assert drafted["outcome"] == "accepted"
    assert shoppers[ASK_ORDER[0]].history()[-1]["text"] == drafted["text"]
    # answered: its timer is gone and it moved below the seven still waiting
    console.wait_for_function(
        "cid => [...document.querySelectorAll('#mine .conv')].pop().dataset.cid === cid",
        arg=order[0], timeout=WAIT)
    assert _rows(console)[-1]["timer"] is None
    assert _overlaps(console, "#toasts .toast", WORK) == []

    # n: the next; its draft's stock changes before it is sent: explained in words
    console.locator("#transcript").focus()
    console.keyboard.press("n")
    console.wait_for_selector(f"#mine .conv[aria-current=true][data-cid='{order[1]}']")
    sid = _first_sid(console)
    [d] = sql_desk(desk, "SELECT text, facts FROM suggestions WHERE id = ?", sid)
    facts = json.loads(d["facts"])
    sku, old = next((k[6:], v) for k, v in facts.items() if k.startswith("stock:") and v)
    new = old + 5
    [(color, size)] = _catalog(desk, f"SELECT c.name_{lang}, v.size FROM variants v JOIN"
                               " colors c ON c.color = v.color WHERE v.sku = ?", sku)
    words = (f"{color}{size}码库存现在是{new}（起草时是{old}）" if lang == "zh"
             else f"Stock of {color} EU {size} is now {new} (was {old})")
    with _stock_set(desk.catalog, sku, new):
        sent_before = len(shoppers[ASK_ORDER[1]].history())
        console.locator("#transcript").focus()
        console.keyboard.press("s")
        console.wait_for_selector("#warn:not([hidden])", timeout=WAIT)
        warning = console.inner_text("#warn")
        assert words in warning, (words, warning)
        assert "stock:" not in warning
        choices = console.eval_on_selector_all("#warn button",
                                               "b => b.map(x => x.dataset.choice)")
        # the old figure at most once in the draft's words: it can be redone with the new
        # one (a figure written twice could be either; one not written leaves the words)
        once = len(re.findall(rf"(?<!\d){old}(?!\d)", d["text"])) <= 1
        assert choices == (["send_anyway", "use_new", "cancel"] if once
                           else ["send_anyway", "cancel"])
        console.click("#warn button[data-choice=cancel]")
        assert console.is_hidden("#warn")
        assert len(shoppers[ASK_ORDER[1]].history()) == sent_before      # nothing sent
        console.locator("#transcript").focus()
        console.keyboard.press("s")
        console.wait_for_selector("#warn:not([hidden])", timeout=WAIT)
        console.click("#warn button[data-choice=%s]" % ("use_new" if once else "send_anyway"))
        console.wait_for_selector("#warn", state="hidden", timeout=WAIT)
        console.wait_for_function(
            "n => document.querySelectorAll('#transcript .msg.agent').length > n",
            arg=agent_msgs, timeout=WAIT)
        sent = shoppers[ASK_ORDER[1]].history()[-1]
        assert sent["sender"] == "agent"
        assert sent["text"] == (re.sub(rf"(?<!\d){old}(?!\d)", str(new), d["text"]) if once
                                else d["text"])

    # n, then e: the draft in the composer, edited and sent
    console.locator("#transcript").focus()
    console.keyboard.press("n")
    console.wait_for_selector(f"#mine .conv[aria-current=true][data-cid='{order[2]}']")
    sid = _first_sid(console)
    console.keyboard.press("e")
    assert console.evaluate("document.activeElement.id") == "reply"
    assert console.is_visible("#editing")
    [d] = sql_desk(desk, "SELECT text FROM suggestions WHERE id = ?", sid)
    assert console.input_value("#reply") == d["text"]
    console.keyboard.type("～" if lang == "zh" else " :)")
    console.keyboard.press("Control+Enter")
    console.wait_for_function("() => document.getElementById('reply').value === ''")
    [d2] = sql_desk(desk, "SELECT outcome, final_text FROM suggestions WHERE id = ?", sid)
    assert d2 == {"outcome": "edited", "final_text": d["text"] + ("～" if lang == "zh" else " :)")}

    # n, then x: skipped (every draft of that card), nothing sent
    console.locator("#transcript").focus()
    console.keyboard.press("n")
    skipped = order[3]
    console.wait_for_selector(f"#mine .conv[aria-current=true][data-cid='{skipped}']")
    sid = _first_sid(console)
    history_len = len(shoppers[ASK_ORDER[3]].history())
    console.keyboard.press("x")
    console.wait_for_selector(f"#suggestions .sug[data-sid='{sid}']", state="detached",
                              timeout=WAIT)
    [d] = sql_desk(desk, "SELECT outcome FROM suggestions WHERE id = ?", sid)
    assert d["outcome"] == "rejected"
    assert len(shoppers[ASK_ORDER[3]].history()) == history_len

    # /: canned replies searched by title and text, in both languages
    console.keyboard.press("/")
    console.wait_for_selector("#canned-search:not([hidden])")
    assert console.evaluate("document.activeElement.id") == "canned-q"
    other = "Greeting" if lang == "zh" else "问候"
    console.keyboard.type(other)
    console.wait_for_function(
        "t => [...document.querySelectorAll('#canned-results .canned-hit b')]"
        ".map(x => x.firstChild.textContent).join('|') === t", arg=other, timeout=WAIT)
    console.keyboard.press("Enter")
    assert console.is_hidden("#canned-search")
    filled = console.input_value("#reply")
    me = "Lily" if agent == "lily" else "Tom"
    assert me in filled and "{{" not in filled, filled
    console.fill("#reply", "")

    # ?: the help names every key; Escape closes it
    console.locator("#transcript").focus()
    console.keyboard.press("?")
    console.wait_for_selector("#help:not([hidden])")
    keys = console.inner_text("#help-keys")
    for k in ("N", "S", "E", "X", "/", "R", "?", "Ctrl+Enter"):
        assert k in keys
    console.keyboard.press("Escape")
    assert console.is_hidden("#help")

    # private notes and labels: kept by the desk, never shown to the shopper
    note = "顾客很着急，今天要发货" if lang == "zh" else "In a hurry: needs it shipped today"
    console.fill("#label-in", "VIP")
    console.press("#label-in", "Enter")
    console.wait_for_selector(f"#mine .conv[data-cid='{skipped}'] .label:has-text('VIP')",
                              timeout=WAIT)
    console.fill("#note-in", note)
    console.click("#note-form button[type=submit]")
    console.wait_for_selector(f"#notes .note-item:has-text('{note[:6]}')", timeout=WAIT)
    assert sql_desk(desk, "SELECT label FROM conversation_labels WHERE conversation_id = ?",
                    skipped) == [{"label": "VIP"}]
    assert sql_desk(desk, "SELECT text FROM notes WHERE conversation_id = ?", skipped) == \
        [{"text": note}]
    assert all(note not in (m["text"] or "") for m in shoppers[ASK_ORDER[3]].history())

    # r on a chat whose last question has no answer: the desk's words, then a choice
    console.locator("#transcript").focus()
    console.keyboard.press("r")
    console.wait_for_selector("#resolve-warn:not([hidden])", timeout=WAIT)
    said = shoppers[ASK_ORDER[3]].said[-1]
    assert said in console.inner_text("#resolve-warn")
    console.click("#resolve-warn button:not(.danger)")
    assert console.is_hidden("#resolve-warn")
    assert sql_desk(desk, "SELECT state FROM conversations WHERE conversation_id = ?",
                    skipped) == [{"state": "assigned"}]
    console.locator("#transcript").focus()
    console.keyboard.press("r")
    console.wait_for_selector("#resolve-warn:not([hidden])", timeout=WAIT)
    console.click("#resolve-warn button.danger")
    console.wait_for_selector("#resolve-warn", state="hidden", timeout=WAIT)
    console.wait_for_function(
        "() => document.getElementById('conv-state').classList.contains('st-resolved')",
        timeout=WAIT)
    assert sql_desk(desk, "SELECT state FROM conversations WHERE conversation_id = ?",
                    skipped) == [{"state": "resolved"}]

    # the rest resolved (so the next test's agent has places), the agent goes away
    for s in shoppers:
        api.call("POST", f"/api/agent/conversations/{s.id}/resolve", {"confirm": True})
    leave(console)
    ctx.close()


def _first_sid(console) -> int:
    """The first suggestion card's id, once the drafts have stopped arriving."""
    console.wait_for_selector("#suggestions .sug", timeout=WAIT)
    last = None
    for _ in range(40):
        now = console.eval_on_selector_all("#suggestions .sug", "s => s.map(x => x.dataset.sid)")
        if now == last:
            return int(now[0])
        last = now
        console.wait_for_timeout(500)
    raise AssertionError("the suggestions kept changing")


def sql_desk(desk, query: str, *params) -> list:
    return query_db(desk.db, query, *params)


def _catalog(desk, query: str, *params) -> list:
    return [tuple(r.values()) for r in query_db(desk.catalog, query, *params)]


class _stock_set:
    """A SKU's stock set to `n` in the desk's catalog (all in its first warehouse), then
    put back."""

    def __init__(self, catalog: Path, sku: str, n: int):
        self.catalog, self.sku, self.n = catalog, sku, n

    def __enter__(self):
        conn = sqlite3.connect(self.catalog)
        self.before = conn.execute("SELECT warehouse_id, quantity FROM stock WHERE sku = ?"
                                   " ORDER BY warehouse_id", (self.sku,)).fetchall()
        with conn:
            conn.execute("UPDATE stock SET quantity = 0 WHERE sku = ?", (self.sku,))
            conn.execute("UPDATE stock SET quantity = ? WHERE sku = ? AND warehouse_id = ?",
                         (self.n, self.sku, self.before[0][0]))
        conn.close()

    def __exit__(self, *exc):
        conn = sqlite3.connect(self.catalog)
        with conn:
            conn.executemany("UPDATE stock SET quantity = ? WHERE sku = ? AND"
                             " warehouse_id = ?", [(q, self.sku, w) for w, q in self.before])
        conn.close()


# -- the supervisor's dashboard -------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["zh", "en"])
def test_dashboard(desk, browser, lang, errors):
    """The day's figures as charts and headline numbers, each with its CSV; an agent at
    their cap is shown full (not idle); the conversations by hour add up to the desk's
    record of the day."""
    agent = AGENT[lang]
    boss = AgentAPI.of(desk.url, "boss")
    [me] = sql_desk(desk, "SELECT agent_id FROM agents WHERE username = ?", agent)
    # one place only, and one chat: the agent is at their cap
    assert boss.call("POST", f"/api/agent/agents/{me['agent_id']}/caps", {"cap": 1})[0] == 200
    actx, console = open_console(browser, desk.url, agent, lang, errors)
    shopper = ShopperAPI(desk.url, lang, "P009", "P009")
    shopper.say(HUMAN[lang])
    console.wait_for_selector("#mine .conv", timeout=WAIT)

    ctx, page = open_console(browser, desk.url, "boss", lang, errors, online=False)
    page.click("#dash-toggle")
    page.wait_for_selector("#dash-body svg[role=img]", timeout=WAIT)
    status, figures, _ = boss.call("GET", "/api/agent/metrics")
    assert status == 200
    assert len(page.locator("#dash-body .figure").all()) == 8
    assert len(page.locator("#dash-body svg[role=img]").all()) == 5
    # the Q&A ratio with two digits; the bot resolution rate as a percentage
    qa = page.inner_text("[data-figure=qa] .value")
    assert qa == ("—" if figures["messages"]["qa_ratio"] is None
                  else f"{figures['messages']['qa_ratio']:.2f}"), qa
    assert re.fullmatch(r"\d+(\.\d)?%", page.inner_text("[data-figure=bot] .value"))
    # conversations by hour: every bar's figure, adding up to the day's conversations
    label = page.get_attribute("[data-chart=hours] svg", "aria-label")
    counts = [float(x) for x in re.findall(r"(?:^|, )\d+ (\d+(?:\.\d)?)", label.split(": ", 1)[1])]
    assert len(counts) == 24
    [n] = sql_desk(desk, "SELECT COUNT(*) AS n FROM conversations WHERE substr(created_at, 1,"
                   " 10) = ?", figures["day"])
    assert sum(counts) == n["n"] > 0
    # the response-time distribution with the 20 s and 30 s marks
    dist = page.text_content("[data-chart=distribution] svg")
    assert "20 s" in dist and "30 s" in dist
    # at 1 of 1 the agent is full, whatever the day's load band says
    row = page.locator("#dash-body table.agents tr", has_text="Lily" if agent == "lily"
                       else "Tom")
    assert ("1/1 · 已满" if lang == "zh" else "1/1 · full") in row.inner_text()
    # each CSV link answers a CSV table
    hrefs = page.eval_on_selector_all("#dash-body a.csv", "a => a.map(x => x.href)")
    assert len(hrefs) == 6
    for href in set(hrefs):
        r = page.request.get(href)
        assert r.status == 200 and r.headers["content-type"].startswith("text/csv"), href
        assert "," in r.text().splitlines()[0]
    _no_failures("dashboard", _contrast(page), 40)
    page.set_viewport_size({"width": 1280, "height": 1400})     # the whole dashboard
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"dashboard-{lang}.png"))
    ctx.close()

    api = AgentAPI.of(desk.url, agent)
    api.call("POST", f"/api/agent/conversations/{shopper.id}/resolve", {"confirm": True})
    assert boss.call("POST", f"/api/agent/agents/{me['agent_id']}/caps", {"cap": 8})[0] == 200
    leave(console)
    actx.close()
