"""The desk's queue, presence and drafts as people see them, in real browsers (Debian's
Chromium through Playwright) against the trained bot and the desk: a shopper's widget page
and the agents' and the supervisor's consoles, each in a browser context of its own, in
Chinese and English, the widget at a desktop (1280×800) and a phone (390×844) size.

1. A queued shopper (every agent for their language full) asks a routine stock question:
   the widget shows the assistant's answer, its figures those of the catalog, and a
   reminder of their place (the place the desk's API gives).
2. An agent closes their console: within the grace period (4 s here, with the desk's
   timer every second: bot/settings.py through the environment) the supervisor's console
   shows them away, and a new handoff goes to the other agent online.
3. The supervisor cannot give a conversation to an away agent: the console's choice turns
   unavailable when the agent's console closes, the API refuses (409, `away`), and the
   console says so in words when the choice is forced.
4. The queue drains when a place frees: the agent resolves a conversation in the console,
   or the supervisor raises the agent's cap; the queued shopper's widget says the agent
   joined and the console shows the conversation, with no reload.
5. After the bot cross-sells other items on a product page, a stock question that names no
   product is about the page's product: the agent's draft and its facts name it, with the
   units the catalog has. And a message and its draft that come over the socket while
   the agent's click on a chat is still reading it are shown, not lost.

Every expected value is read from the catalog, the desk's record or its API. Screenshots
go to var/screenshots/. The desk runs on the real clock (presence is measured in real
seconds), is always open, and lets every test log its people in afresh."""

from __future__ import annotations

import json
import time

import pytest

from tests.browser_support import (DESKTOP, PHONE, SHOTS, WAIT, AgentAPI, ShopperAPI,
                                   chromium, desk_process, http, open_console, open_widget,
                                   query_db, rasa_servers, say, widget_history)
from tests.conftest import free_ports

pytestmark = pytest.mark.e2e

# a Rasa server with workers also takes the ports after its own: room between them
_PORTS = free_ports(8)
RASA_PORT, ACTION_PORT, DESK_PORT = _PORTS[0], _PORTS[4], _PORTS[6]
GRACE_S, TICK_S = 4, 1           # an unseen console is away after 4 s; the timer every 1 s
SIZES = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
LANGS = pytest.mark.parametrize("lang", ["zh", "en"])
# the one agent who speaks only that language; Lily speaks both
AGENT = {"zh": "wang", "en": "tom"}
HUMAN = {"zh": "转人工", "en": "I want to talk to a person"}
# the widget's and the desk's words the tests look for (desk/static/widget.js,
# desk/texts.yml, desk/static/console.js), per language
WORDS = {
    "zh": {"joined": "{name}已加入对话", "queued": "已为您排队",
           "assistant": "以上是智能助手的自动回复", "next": "您是下一位", "units": "{n}件",
           "away": "离开", "why_away": "不在线", "refused": "不能转给{agent}：不在线",
           "nobody": "现在没有可转派的客服"},
    "en": {"joined": "{name} has joined", "queued": "You're in the queue",
           "assistant": "That answer came from our automated assistant",
           "next": "you are next", "units": "{n} left", "away": "Away", "why_away": "away",
           "refused": "Can't reassign to {agent}: away", "nobody": "Nobody can take it now"},
}


@pytest.fixture(scope="module")
def rasa(demo_db, tmp_path_factory):
    with rasa_servers(demo_db, tmp_path_factory.mktemp("queue-logs"), RASA_PORT, ACTION_PORT,
                      ""):
        yield


@pytest.fixture(scope="module")
def desk(rasa, demo_db, tmp_path_factory):
    with desk_process(demo_db, tmp_path_factory.mktemp("queue-desk"), DESK_PORT, "00:00-24:00",
                      {"SHOPASSIST_NOW": "",
                       "SHOPASSIST_RASA_URL": f"http://127.0.0.1:{RASA_PORT}",
                       "SHOPASSIST_DESK_PRESENCE_GRACE_S": str(GRACE_S),
                       # every test logs its people in afresh, as they would: more log-ins
                       # a minute than the desk's throttle lets through by default
                       "SHOPASSIST_DESK_LOGIN_PER_MINUTE": "600",
                       "SHOPASSIST_DESK_LOGIN_ACCOUNT_PER_MINUTE": "600",
                       "SHOPASSIST_DESK_TICK_S": str(TICK_S)}) as d:
        yield d


@pytest.fixture(scope="module")
def browser(rasa):
    with chromium() as b:
        yield b


@pytest.fixture()
def errors():
    """Script errors of every page a test opens: none allowed."""
    found: list = []
    yield found
    assert not found, found


@pytest.fixture(autouse=True)
def _desk_left_clean(desk):
    """After each test, whatever it did or failed to do: nothing queued or open, every
    agent away with the usual cap. Lily (both languages, a large cap) goes online to take
    what is still queued; then everything is resolved."""
    yield
    boss = AgentAPI.of(desk.url, "boss")
    users = ("lily", "wang", "tom")
    for user in users:
        boss.call("POST", f"/api/agent/agents/{agent_row(desk, user)['agent_id']}/caps",
                  {"cap": 8})
    lily = AgentAPI.of(desk.url, "lily")
    for _ in range(10):
        lily.call("POST", "/api/agent/status", {"status": "online"})   # drains the queue
        for user in users:
            api = AgentAPI.of(desk.url, user)
            for c in api.call("GET", "/api/agent/conversations")[1]["mine"]:
                api.call("POST", f"/api/agent/conversations/{c['conversation_id']}/resolve",
                         {"confirm": True})
        if not query_db(desk.db, "SELECT 1 FROM conversations WHERE state IN"
                        " ('queued', 'assigned')"):
            break
    for user in users:
        AgentAPI.of(desk.url, user).call("POST", "/api/agent/status", {"status": "away"})
    assert not query_db(desk.db, "SELECT conversation_id, state FROM conversations WHERE"
                        " state IN ('queued', 'assigned')")


def has_text(selector: str, text: str) -> str:
    """`selector` narrowed to the elements that contain `text` (any quotes in it)."""
    return "%s:has-text(%s)" % (selector, json.dumps(text, ensure_ascii=False))


def note(text: str) -> str:
    """The widget's system note that contains `text`."""
    return has_text(".sa-note", text)


def agent_row(desk, username: str) -> dict:
    [row] = query_db(desk.db, "SELECT agent_id, display_name, status FROM agents WHERE"
                     " username = ?", username)
    return row


def owner_of(desk, cid: str) -> dict:
    [row] = query_db(desk.db, "SELECT c.state, a.username FROM conversations c LEFT JOIN"
                     " agents a ON a.agent_id = c.agent_id WHERE c.conversation_id = ?", cid)
    return row


def set_cap(desk, username: str, cap: int) -> None:
    boss = AgentAPI.of(desk.url, "boss")
    status, body, _ = boss.call(
        "POST", f"/api/agent/agents/{agent_row(desk, username)['agent_id']}/caps", {"cap": cap})
    assert status == 200, body


def widget_conversation(shop) -> dict:
    """The widget's conversation as the shopper API gives it (state, queue place), read
    with the widget's own id and token."""
    cid, token = shop.evaluate("""() => {
        const k = Object.keys(localStorage).find(k => k.startsWith('shopassist:'));
        const s = JSON.parse(localStorage.getItem(k));
        return [s.id, s.token];
    }""")
    status, body, _ = http(shop.url.split("/p/")[0], "GET", f"/api/conversations/{cid}",
                           headers={"Authorization": f"Bearer {token}"})
    assert status == 200, body
    return {**body, "conversation_id": cid, "token": token}


def place_words(lang: str, position: int) -> str:
    """How the desk says a queue place (desk/texts.yml queue_place_*)."""
    if position == 1:
        return WORDS[lang]["next"]
    if lang == "zh":
        return f"您前面还有{position - 1}位"
    return ("there is 1 person ahead of you" if position == 2
            else f"there are {position - 1} people ahead of you")


def in_stock_variant(desk, product_id: str) -> dict:
    """A variant of the product in stock in the desk's catalog, with its units (the sum
    over warehouses, none below 0) and its colour's names."""
    rows = query_db(desk.catalog,
                    "SELECT v.sku, v.color, v.size, c.name_zh, c.name_en,"
                    " SUM(MAX(s.quantity, 0)) AS units FROM variants v JOIN stock s ON"
                    " s.sku = v.sku JOIN colors c ON c.color = v.color WHERE v.product_id = ?"
                    " GROUP BY v.sku HAVING units > 0 ORDER BY units DESC, v.sku", product_id)
    assert rows, product_id
    return rows[0]


def product(desk, product_id: str) -> dict:
    [row] = query_db(desk.catalog, "SELECT product_id, name_zh, name_en FROM products WHERE"
                     " product_id = ?", product_id)
    return row


def stock_question(lang: str, v: dict) -> str:
    """A stock question about a colour and a size, naming no product."""
    return (f"还有{v['size']}码{v['name_zh']}的吗" if lang == "zh"
            else f"do you have it in {v['name_en']} in size {v['size']}?")


def full_agent(desk, browser, lang: str, errors: list):
    """The language's agent at their console, online, with one place taken by a shopper
    of the API: every agent for that language is full (Lily stays away)."""
    set_cap(desk, AGENT[lang], 1)
    ctx, console = open_console(browser, desk.url, AGENT[lang], lang, errors)
    taken = ShopperAPI(desk.url, lang, "P002", product(desk, "P002")[f"name_{lang}"])
    taken.say(HUMAN[lang])
    assert owner_of(desk, taken.id) == {"state": "assigned", "username": AGENT[lang]}
    console.wait_for_selector(f"#mine .conv[data-cid='{taken.id}']", timeout=WAIT)
    return ctx, console, taken


def bot_replies_settled(shop, before: int) -> None:
    """Wait until the widget shows more than `before` bot messages and nobody is typing."""
    shop.wait_for_function(
        "n => document.querySelectorAll('.sa-msg.sa-bot').length > n"
        " && !document.querySelector('.sa-typing:not([hidden])')", arg=before, timeout=WAIT)


# -- 1. a queued shopper is answered -------------------------------------------------------------

@SIZES
@LANGS
def test_a_queued_shopper_gets_the_assistants_answer_and_their_place(desk, browser, lang,
                                                                     viewport, errors):
    w = WORDS[lang]
    actx, console, _ = full_agent(desk, browser, lang, errors)
    ahead = ShopperAPI(desk.url, lang, "P003", product(desk, "P003")[f"name_{lang}"])
    ahead.say(HUMAN[lang])
    assert owner_of(desk, ahead.id) == {"state": "queued", "username": None}

    page = product(desk, "P001")
    ctx, shop = open_widget(browser, desk.url, f"/p/P001?lang={lang}", lang, errors, viewport)
    say(shop, HUMAN[lang])
    shop.wait_for_selector(note(w['queued']), timeout=WAIT)
    conv = widget_conversation(shop)
    assert conv["state"] == "queued"
    position = conv["queue"]["position"]
    assert position == 2                                  # behind the one queued first
    shop.wait_for_selector(note(place_words(lang, position)), timeout=WAIT)
    # the agent's console lists both in the queue, this one last
    console.wait_for_function(
        "cid => [...document.querySelectorAll('#queue .conv')].map(b => b.dataset.cid)"
        ".includes(cid)", arg=conv["conversation_id"], timeout=WAIT)

    # a routine stock question (a colour and size of the page's product, from the catalog)
    v = in_stock_variant(desk, "P001")
    notes = shop.locator(".sa-note").count()
    say(shop, stock_question(lang, v))
    shop.wait_for_selector(".sa-card-stock", timeout=WAIT)
    shop.wait_for_function("n => document.querySelectorAll('.sa-note').length > n",
                           arg=notes, timeout=WAIT)
    card = shop.inner_text(".sa-card-stock")
    assert page[f"name_{lang}"] in card, card
    assert w["units"].format(n=v["units"]) in card, (v, card)
    reminder = shop.locator(".sa-note").last.inner_text()
    assert w["assistant"] in reminder, reminder
    position = widget_conversation(shop)["queue"]["position"]
    assert place_words(lang, position) in reminder, (position, reminder)
    # what the widget drew is the stored answer: the bot's, with the catalog's figure
    assert widget_conversation(shop)["state"] == "queued"
    [answer] = [m for m in widget_history(shop) if (m.get("custom") or {}).get("type") == "stock"]
    assert answer["sender"] == "bot" and answer["custom"]["product_id"] == "P001"
    shown = {x["sku"]: x["available"] for x in answer["custom"]["variants"]}
    assert shown.get(v["sku"]) == v["units"], (v, shown)
    shop.wait_for_timeout(300)
    name = "desktop" if viewport is DESKTOP else "phone"
    shop.screenshot(path=str(SHOTS / f"queue-answered-{name}-{lang}.png"))
    ctx.close()
    actx.close()


# -- 2. a closed console makes its agent away ---------------------------------------------------

@LANGS
def test_a_closed_console_is_away_and_gets_no_new_chat(desk, browser, lang, errors):
    w = WORDS[lang]
    lily_ctx, _ = open_console(browser, desk.url, "lily", lang, errors)
    hers = ShopperAPI(desk.url, lang, "P004", product(desk, "P004")[f"name_{lang}"])
    hers.say(HUMAN[lang])
    assert owner_of(desk, hers.id) == {"state": "assigned", "username": "lily"}
    other_ctx, _ = open_console(browser, desk.url, AGENT[lang], lang, errors)
    boss_ctx, boss = open_console(browser, desk.url, "boss", lang, errors, online=False)
    lily = agent_row(desk, "lily")
    row = f"#mine .conv[data-cid='{hers.id}'] .conv-agent"
    boss.wait_for_selector(row, timeout=WAIT)
    assert boss.inner_text(row) == lily["display_name"]           # online: the name alone

    # Lily closes her console: away within the grace period (and the timer's period)
    closed = time.monotonic()
    lily_ctx.close()
    boss.wait_for_selector(f"{row}.away", timeout=(GRACE_S + 2 * TICK_S + 5) * 1000)
    seen_away = time.monotonic() - closed
    assert boss.inner_text(row) == f"{lily['display_name']} · {w['away']}"
    assert agent_row(desk, "lily")["status"] == "away"
    assert seen_away >= GRACE_S - 1, seen_away               # not before the grace period
    boss.screenshot(path=str(SHOTS / f"presence-away-{lang}.png"))

    # a new handoff goes to the other agent online, not to her
    other = agent_row(desk, AGENT[lang])
    ctx, shop = open_widget(browser, desk.url, f"/p/P005?lang={lang}", lang, errors)
    say(shop, HUMAN[lang])
    shop.wait_for_selector(
        note(w['joined'].format(name=other['display_name'])), timeout=WAIT)
    assert owner_of(desk, widget_conversation(shop)["conversation_id"]) == \
        {"state": "assigned", "username": AGENT[lang]}
    assert owner_of(desk, hers.id) == {"state": "assigned", "username": "lily"}  # still hers
    for c in (ctx, other_ctx, boss_ctx):
        c.close()


# -- 3. no reassignment to an away agent ---------------------------------------------------------

@LANGS
def test_reassignment_to_an_away_agent_is_refused_in_words(desk, browser, lang, errors):
    w = WORDS[lang]
    other_ctx, _ = open_console(browser, desk.url, AGENT[lang], lang, errors)
    shopper = ShopperAPI(desk.url, lang, "P006", product(desk, "P006")[f"name_{lang}"])
    shopper.say(HUMAN[lang])
    assert owner_of(desk, shopper.id) == {"state": "assigned", "username": AGENT[lang]}
    lily_ctx, _ = open_console(browser, desk.url, "lily", lang, errors)
    boss_ctx, boss = open_console(browser, desk.url, "boss", lang, errors, online=False)
    lily = agent_row(desk, "lily")
    boss.wait_for_selector(f"#mine .conv[data-cid='{shopper.id}']", timeout=WAIT)
    boss.click(f"#mine .conv[data-cid='{shopper.id}']")
    option = f"#ra-agent option[value='{lily['agent_id']}']"
    boss.wait_for_selector(f"{option}:not([disabled])", state="attached", timeout=WAIT)

    # her console closes: the choice turns unavailable on the open page, saying why
    lily_ctx.close()
    boss.wait_for_selector(f"{option}[disabled]", state="attached",
                           timeout=(GRACE_S + 2 * TICK_S + 5) * 1000)
    assert w["why_away"] in boss.text_content(option)
    offered = boss.eval_on_selector_all("#ra-agent option:not([disabled])",
                                        "o => o.map(x => +x.value)")
    assert lily["agent_id"] not in offered

    # the API refuses it with the reason
    api = AgentAPI.of(desk.url, "boss")
    status, body, _ = api.call("POST", f"/api/agent/conversations/{shopper.id}/reassign",
                               {"agent_id": lily["agent_id"], "reason": "test"})
    assert status == 409 and body["reason"] == "away", body
    assert body["agent"]["agent_id"] == lily["agent_id"]
    # forced through the console (the choice enabled by hand): the refusal in words
    submit = "#reassign button[type=submit]"
    assert boss.inner_text("#ra-agent option[value='']") == w["nobody"]   # none can
    assert boss.is_disabled(submit)
    boss.evaluate("([id, submit]) => { const o = document.querySelector("
                  "`#ra-agent option[value='${id}']`); o.disabled = false; o.selected = true;"
                  " document.querySelector(submit).disabled = false; }",
                  [lily["agent_id"], submit])
    boss.fill("#ra-reason", "换人" if lang == "zh" else "shift change")
    boss.click(submit)
    toast = boss.locator("#toasts .toast.bad").last
    toast.wait_for(timeout=WAIT)
    assert toast.inner_text() == w["refused"].format(agent=lily["display_name"])
    # the choice is asked again: disabled once more; nothing moved
    boss.wait_for_selector(f"{option}[disabled]", state="attached", timeout=WAIT)
    assert owner_of(desk, shopper.id) == {"state": "assigned", "username": AGENT[lang]}
    boss.screenshot(path=str(SHOTS / f"reassign-refused-{lang}.png"))
    other_ctx.close()
    boss_ctx.close()


# -- 4. the queue drains when a place frees ------------------------------------------------------

@pytest.mark.parametrize("how", ["resolve", "cap"])
@SIZES
@LANGS
def test_the_queue_drains_into_a_freed_place(desk, browser, lang, viewport, how, errors):
    w = WORDS[lang]
    actx, console, taken = full_agent(desk, browser, lang, errors)
    ctx, shop = open_widget(browser, desk.url, f"/p/P007?lang={lang}", lang, errors, viewport)
    say(shop, HUMAN[lang])
    shop.wait_for_selector(note(place_words(lang, 1)), timeout=WAIT)
    cid = widget_conversation(shop)["conversation_id"]
    assert owner_of(desk, cid) == {"state": "queued", "username": None}
    # neither page is reloaded from here on
    for page in (shop, console):
        page.evaluate("window.__same_page = true")

    if how == "resolve":
        # the agent resolves the conversation they have: its question has no answer, so
        # the console asks first
        console.click(f"#mine .conv[data-cid='{taken.id}']")
        console.wait_for_selector("#transcript .msg.shopper", timeout=WAIT)
        console.click("#resolve")
        console.wait_for_selector("#resolve-warn:not([hidden])", timeout=WAIT)
        console.click("#resolve-warn button.danger")
    else:
        set_cap(desk, AGENT[lang], 2)                      # the supervisor raises the cap

    agent = agent_row(desk, AGENT[lang])
    shop.wait_for_selector(
        note(w['joined'].format(name=agent['display_name'])), timeout=WAIT)
    console.wait_for_selector(f"#mine .conv[data-cid='{cid}']", timeout=WAIT)
    assert owner_of(desk, cid) == {"state": "assigned", "username": AGENT[lang]}
    assert owner_of(desk, taken.id)["state"] == ("resolved" if how == "resolve" else "assigned")
    assert console.locator(f"#queue .conv[data-cid='{cid}']").count() == 0
    for page in (shop, console):
        assert page.evaluate("window.__same_page") is True
    name = "desktop" if viewport is DESKTOP else "phone"
    shop.screenshot(path=str(SHOTS / f"queue-drained-{how}-{name}-{lang}.png"))
    ctx.close()
    actx.close()


# -- 5. the draft after a cross-sell is about the page's product -----------------------------------

@SIZES
@LANGS
def test_the_draft_after_a_cross_sell_is_about_the_pages_product(desk, browser, lang,
                                                                  viewport, errors):
    actx, console = open_console(browser, desk.url, AGENT[lang], lang, errors)
    page = product(desk, "P001")
    ctx, shop = open_widget(browser, desk.url, f"/p/P001?lang={lang}", lang, errors, viewport)
    # a stock answer; the bot offers other items with it
    v = in_stock_variant(desk, "P001")
    say(shop, f"这款{v['size']}码有货吗" if lang == "zh"
        else f"is this in stock in size {v['size']}?")
    shop.wait_for_selector(".sa-card-recommendations", timeout=WAIT)
    offered = [item["product_id"] for m in widget_history(shop)
               if (m.get("custom") or {}).get("type") == "recommendations"
               for item in m["custom"]["items"]]
    assert offered and "P001" not in offered
    # a person, please; then a colour and size, naming no product
    say(shop, HUMAN[lang])
    agent = agent_row(desk, AGENT[lang])
    shop.wait_for_selector(
        note(WORDS[lang]['joined'].format(name=agent['display_name'])),
        timeout=WAIT)
    cid = widget_conversation(shop)["conversation_id"]
    console.wait_for_selector(f"#mine .conv[data-cid='{cid}']", timeout=WAIT)
    console.click(f"#mine .conv[data-cid='{cid}']")
    asked = stock_question(lang, v)
    say(shop, asked)
    console.wait_for_selector(has_text("#transcript .msg.shopper", asked), timeout=WAIT)
    card = console.locator("#suggestions .sug", has=console.locator(".facts"))
    card.first.wait_for(timeout=WAIT)

    # the drafts for that message, as the desk stored them: every stock fact is about a
    # SKU of the page's product, with the catalog's units
    [message] = query_db(desk.db, "SELECT id FROM messages WHERE conversation_id = ? AND"
                         " sender = 'shopper' AND text = ?", cid, asked)
    drafts = query_db(desk.db, "SELECT id, text, facts FROM suggestions WHERE message_id = ?",
                      message["id"])
    facts = {k: val for d in drafts for k, val in json.loads(d["facts"] or "{}").items()}
    stock = {k[6:]: val for k, val in facts.items() if k.startswith("stock:")}
    assert stock, drafts
    skus = query_db(desk.catalog, "SELECT sku, product_id FROM variants WHERE sku IN (%s)"
                    % ",".join("?" * len(stock)), *stock)
    assert {r["product_id"] for r in skus} == {"P001"}, (stock, skus)
    assert stock.get(v["sku"]) == v["units"], (v, stock)
    # what the agent sees: the draft names the page's product; its facts the figure
    shown = card.first.inner_text()
    assert page[f"name_{lang}"] in shown, shown
    colour = v["name_zh"] if lang == "zh" else v["color"]
    assert f"{colour}/{v['size']} → {v['units']}" in shown, shown
    for other in offered:
        assert product(desk, other)[f"name_{lang}"] not in shown, (other, shown)
    name = "desktop" if viewport is DESKTOP else "phone"
    console.screenshot(path=str(SHOTS / f"draft-after-crosssell-{name}-{lang}.png"))
    ctx.close()
    actx.close()



@LANGS
def test_a_message_and_draft_that_come_while_a_chat_opens_are_shown(desk, browser, lang,
                                                                    errors):
    """Found writing these tests: the agent opens a chat; the desk reads it; before that
    read reaches the console, the shopper's next message and its draft come over the
    socket. They went into the chat still on screen and were gone once the read replaced
    it (the draft never showed). Here the read is held until the draft is stored."""
    actx, console = open_console(browser, desk.url, AGENT[lang], lang, errors)
    first = ShopperAPI(desk.url, lang, "P008", product(desk, "P008")[f"name_{lang}"])
    first.say(HUMAN[lang])
    # the console opens the first chat by itself
    console.wait_for_selector(f"#mine .conv[data-cid='{first.id}'][aria-current=true]",
                              timeout=WAIT)
    second = ShopperAPI(desk.url, lang, "P001", product(desk, "P001")[f"name_{lang}"])
    second.say(HUMAN[lang])
    assert owner_of(desk, second.id) == {"state": "assigned", "username": AGENT[lang]}
    console.wait_for_selector(f"#mine .conv[data-cid='{second.id}']", timeout=WAIT)
    v = in_stock_variant(desk, "P001")
    asked = stock_question(lang, v)

    held: dict = {}

    def hold(route):
        held["response"] = route.fetch()          # the desk's read, before the message
        held["route"] = route

    console.route(f"**/api/agent/conversations/{second.id}", hold, times=1)
    console.click(f"#mine .conv[data-cid='{second.id}']")
    while "route" not in held:
        console.wait_for_timeout(50)
    # the read is held; the shopper writes, and the draft is stored and pushed meanwhile
    second.say(asked)
    deadline = time.monotonic() + WAIT / 1000
    while not query_db(desk.db, "SELECT 1 FROM suggestions s JOIN messages m ON"
                       " m.id = s.message_id WHERE m.conversation_id = ? AND m.text = ?"
                       " AND s.facts IS NOT NULL", second.id, asked):
        assert time.monotonic() < deadline, "no draft stored"
        console.wait_for_timeout(100)
    console.wait_for_timeout(500)                 # the socket's events reach the page
    # nothing of it in the first chat, still on screen
    assert asked not in console.inner_text("#transcript")
    held["route"].fulfill(response=held["response"])
    console.wait_for_selector(has_text("#transcript .msg.shopper", asked), timeout=WAIT)
    card = console.locator("#suggestions .sug", has=console.locator(".facts")).first
    card.wait_for(timeout=WAIT)
    colour = v["name_zh"] if lang == "zh" else v["color"]
    assert f"{colour}/{v['size']} → {v['units']}" in card.inner_text()
    actx.close()
