"""The conversation suite: real shoppers' conversations, written as data, run through
Rasa's REST channel and through the desk's shopper API (the desk with the real bot behind
it), every turn checked against the catalog database.

The conversations are the YAML files of this folder (all but `known_failures.yml`):

    conversations:
    - id: zh-stock-colour-change          # unique
      lang: zh                            # the language every reply must be in
      page: P001                          # optional: the product page the widget is on
      customer: C001234                   # optional: signed in (the runner signs the id)
      claim: C001234                      # optional: a bare, unsigned claim of an id
      turns:
      - say: 这双黑色42码有货吗
        expect: {stock: {product: P001, color: black, size: "42"}}

Expectations (one per turn; `expect` may be a name or a mapping of one name to its
argument), each checked against the database, never against the bot's own code:

- `greet`, `thank`, `goodbye`, `ok`, `decline`: the reply of actions/texts.yml;
- `fallback`: "didn't get that" or "can't help with that" (no handoff yet);
- `asks`: `product`, `size`, `color` or `order_id`: the bot asks for it;
- `stock`: {product, color?, size?}: the stock card holds exactly the variants of the
  stock table that match, with their units (summed over warehouses);
- `shipping`: {product?, color?, size?, quantity?, city?}: ship date, warehouse, courier
  and delivery window as worked out here from the warehouse rows, stock and routes;
- `not_served`: a region key: the honest "we don't deliver there" (shipping_regions);
- `price`: a product: its price; `discount`: the policy text; `return_policy`;
- `details`: a product; `size_advice`: {product, size} (the size worked out by hand
  from the size chart);
- `recommend`: cross-sells in stock, of other categories;
- `order`: an order id: its status and tracking number when it is the signed-in
  shopper's, else the same not-found answer; an anonymous shopper is told to sign in;
- `order_refused`: told to sign in, nothing about any order;
- `handoff`: a reason: handed to a person, and nothing of the bot's after the notice;
- `silent`: after a handoff: through the desk, nothing of the bot's reaches the shopper
  (through the REST channel the bot keeps drafting for the agent: not checked).

Every turn without a `handoff` must hand nobody over, every reply must be in the
conversation's language (or the turn's `lang`).

A conversation passes when every turn is right. One that fails must be listed in
`known_failures.yml` (conversation id, channel `rest`, `desk` or `both`, the reason), else
the test fails; a listed one that passes fails too (the list, and the README's figure,
must stay true).

`python -m tests.conversations.runner` starts the stack on free ports, runs the whole
suite through both channels and prints the success rate per channel (README).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import sqlite3
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Iterator, Optional

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KNOWN_FAILURES = HERE / "known_failures.yml"
CHANNELS = ("rest", "desk")
PINNED_NOW = "2026-11-20T10:00:00+08:00"         # a Friday, 10:00 shop time
TODAY = date(2026, 11, 20)
SHOP_SECRET = "conversation-suite-secret"
# When an order placed at the pinned clock leaves each warehouse, worked out by hand from
# the warehouse rows (`Oracle.check_warehouses` checks them): Shanghai's cut-off is 16:00
# with no handling day (the same Friday); Chengdu's 14:00 with one handling day, resting
# on Sunday only (Saturday); Guangzhou's 15:00 with one handling day, resting Saturday and
# Sunday (Monday)
SHIP_DATE_BY_HAND = {"WH-SH": date(2026, 11, 20), "WH-CD": date(2026, 11, 21),
                     "WH-GZ": date(2026, 11, 23)}
WAREHOUSE_ROWS = {"WH-SH": ("16:00", 0, "6"), "WH-CD": ("14:00", 1, "6"),
                  "WH-GZ": ("15:00", 1, "5,6")}
CJK = re.compile(r"[\u3400-\u9fff]")
KINDS = {"greet", "thank", "goodbye", "ok", "decline", "fallback", "asks", "stock",
         "shipping", "not_served", "price", "discount", "return_policy", "details",
         "size_advice", "recommend", "order", "order_refused", "handoff", "silent"}
TEXT_OF = {"greet": "greet", "thank": "thank", "goodbye": "goodbye", "ok": "ok",
           "decline": "decline_ack"}


# -- the conversations --------------------------------------------------------------------------
@dataclass
class Turn:
    say: str
    kind: str
    arg: Any = None
    lang: Optional[str] = None
    page: Optional[str] = None


@dataclass
class Conversation:
    id: str
    lang: str
    turns: list[Turn]
    page: Optional[str] = None
    customer: Optional[str] = None      # signed in
    claim: Optional[str] = None         # claimed without a signature
    source: str = ""


def load_conversations(folder: Path = HERE) -> list[Conversation]:
    out, seen = [], set()
    for path in sorted(folder.glob("*.yml")):
        if path == KNOWN_FAILURES:
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in data.get("conversations") or []:
            conv = _conversation(raw, path.name)
            if conv.id in seen:
                raise ValueError(f"{path.name}: conversation id {conv.id!r} twice")
            seen.add(conv.id)
            out.append(conv)
    return out


def _conversation(raw: dict, source: str) -> Conversation:
    where = f"{source}: {raw.get('id')!r}"
    if raw.get("lang") not in ("zh", "en") or not raw.get("turns"):
        raise ValueError(f"{where}: needs lang zh|en and turns")
    turns = []
    handed_off = False
    for t in raw["turns"]:
        expect = t.get("expect")
        kind, arg = (expect, None) if isinstance(expect, str) else \
            next(iter((expect or {}).items()), (None, None))
        if kind not in KINDS or (isinstance(expect, dict) and len(expect) != 1):
            raise ValueError(f"{where}: turn {t.get('say')!r}: one expectation of {KINDS}")
        if handed_off and kind != "silent":
            raise ValueError(f"{where}: after a handoff every turn is `silent`")
        handed_off = handed_off or kind == "handoff"
        turns.append(Turn(str(t["say"]), kind, arg, t.get("lang"), t.get("page")))
    return Conversation(str(raw["id"]), raw["lang"], turns, raw.get("page"),
                        raw.get("customer"), raw.get("claim"), source)


def load_known_failures(path: Path = KNOWN_FAILURES) -> dict[tuple[str, str], str]:
    """{(conversation id, channel): reason}."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else None
    out = {}
    for item in (data or {}).get("known_failures") or []:
        channels = CHANNELS if item["channel"] == "both" else (item["channel"],)
        for ch in channels:
            if ch not in CHANNELS or not str(item.get("reason") or "").strip():
                raise ValueError(f"known failure {item!r}: channel rest|desk|both and a"
                                 " reason")
            out[(item["conversation"], ch)] = item["reason"]
    return out


def signature(customer_id: str) -> str:
    """What a storefront sends beside its customer id (docs/actions.md)."""
    return hmac.new(SHOP_SECRET.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


# -- the truth: the catalog database ------------------------------------------------------------
class Oracle:
    """Expected facts read from the catalog database with plain SQL."""

    def __init__(self, db_path: Path):
        self.conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True,
                                    check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        texts = yaml.safe_load((ROOT / "actions" / "texts.yml").read_text(encoding="utf-8"))
        self.texts = texts

    def rows(self, sql: str, *params) -> list[dict]:
        return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def one(self, sql: str, *params) -> Optional[dict]:
        rows = self.rows(sql, *params)
        return rows[0] if rows else None

    def check_warehouses(self) -> None:
        rows = {r["warehouse_id"]: (r["cutoff"], r["handling_days"], r["rest_weekdays"])
                for r in self.rows("SELECT * FROM warehouses")}
        assert rows == WAREHOUSE_ROWS, f"the hand-worked ship dates assume {WAREHOUSE_ROWS}"
        assert not self.rows("SELECT 1 FROM holidays WHERE date BETWEEN '2026-11-20' AND"
                             " '2026-11-30'")

    def template(self, key: str, lang: str) -> str:
        return str(self.texts[key][lang])

    def name(self, table: str, key_col: str, key: str, lang: str) -> str:
        row = self.one(f"SELECT name_en, name_zh FROM {table} WHERE {key_col} = ?", key)
        assert row, f"no {key} in {table}"
        return row["name_zh" if lang == "zh" else "name_en"]

    def stock(self, product: str, color: Optional[str], size: Optional[str]) -> dict:
        sql = ("SELECT v.sku, COALESCE(SUM(MAX(s.quantity, 0)), 0) q FROM variants v"
               " LEFT JOIN stock s ON s.sku = v.sku WHERE v.product_id = ?")
        params: list = [product]
        if color:
            sql += " AND v.color = ?"
            params.append(color)
        if size:
            sql += " AND v.size = ?"
            params.append(str(size))
        return {r["sku"]: r["q"] for r in self.rows(sql + " GROUP BY v.sku", *params)}

    def route(self, warehouse: str, city: str) -> tuple[str, int, int]:
        r = self.one("SELECT carrier_id, transit_min, transit_max FROM shipping_routes"
                     " WHERE warehouse_id = ? AND city = ?", warehouse, city)
        assert r, f"no route {warehouse} -> {city}"
        return r["carrier_id"], r["transit_min"], r["transit_max"]

    def shipping(self, product: str, color=None, size=None, quantity=1, city=None):
        """The best plans (all tied): [(sku, warehouse, carrier, ship, earliest, latest)]
        by what arrives first (a city) or ships first, one warehouse before a split."""
        plans = []
        for sku in self.stock(product, color, size):
            held = {r["warehouse_id"]: r["quantity"] for r in self.rows(
                "SELECT warehouse_id, quantity FROM stock WHERE sku = ? AND quantity > 0",
                sku)}
            if sum(held.values()) < quantity:
                continue
            options = []
            for wh, qty in held.items():
                ship = SHIP_DATE_BY_HAND[wh]
                carrier, tmin, tmax = self.route(wh, city) if city else \
                    (self.one("SELECT default_carrier c FROM warehouses WHERE"
                              " warehouse_id = ?", wh)["c"], 0, 0)
                options.append((ship + timedelta(days=tmax), ship, wh, qty, carrier, tmin,
                                tmax))
            options.sort()
            single = [o for o in options if o[3] >= quantity]
            parcels = [single[0]] if single else []
            need = quantity
            for o in ([] if single else options):
                parcels.append(o)
                need -= min(o[3], need)
                if need == 0:
                    break
            ship = max(p[1] for p in parcels)
            last = max(parcels, key=lambda p: p[1])
            early = max(p[1] + timedelta(days=p[5]) for p in parcels) if city else None
            late = max(p[1] + timedelta(days=p[6]) for p in parcels) if city else None
            plans.append(((late or ship, ship, len(parcels) > 1),
                          (sku, last[2], last[4], ship, early, late)))
        if not plans:
            return []
        best = min(key for key, _ in plans)
        return [plan for key, plan in plans if key == best]


# -- talking to the bot ---------------------------------------------------------------------------
def _post(url: str, body: dict, headers: Optional[dict] = None) -> tuple[Any, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read()), dict(resp.headers)


def metadata_for(conv: Conversation, turn: Turn) -> dict:
    meta: dict = {"locale": conv.lang}
    page = turn.page or conv.page
    if page:
        meta["page"] = {"product_id": page}
    if conv.customer:
        meta.update(customer_id=conv.customer, customer_sig=signature(conv.customer))
    elif conv.claim:
        meta["customer_id"] = conv.claim
    return meta


class RestChannel:
    """Rasa's REST channel; each conversation a new sender. A message's text and its
    `custom` come back as two replies: they are put together again."""

    name = "rest"

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def open(self, conv: Conversation) -> dict:
        return {"sender": f"{conv.id}-{uuid.uuid4().hex[:8]}"}

    def send(self, state: dict, conv: Conversation, turn: Turn) -> list[dict]:
        replies, _ = _post(f"{self.url}/webhooks/rest/webhook",
                           {"sender": state["sender"], "message": turn.say,
                            "metadata": metadata_for(conv, turn)})
        state["understood"] = self.understood(state["sender"])
        out: list[dict] = []
        for r in replies:
            if r.get("custom") is not None and not r.get("text") and out \
                    and out[-1].get("custom") is None:
                out[-1]["custom"] = r["custom"]
            else:
                out.append({"sender": "bot", **r})
        return out


    def understood(self, sender: str) -> str:
        """What the NLU made of the latest message (for the report): "intent {entities}".
        (Read from the latest user event: the tracker's `latest_message` can lag behind
        after a form's turn.)"""
        url = f"{self.url}/conversations/{sender}/tracker"
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                events = json.loads(resp.read()).get("events") or []
        except (urllib.error.URLError, OSError, ValueError):
            return "?"
        latest = next((e.get("parse_data") or {} for e in reversed(events)
                       if e.get("event") == "user"), {})
        ents = {e.get("entity"): e.get("value") for e in latest.get("entities") or []}
        return f"{(latest.get('intent') or {}).get('name')} {ents or ''}".strip()


class DeskChannel:
    """The desk's shopper API, as the storefront widget uses it."""

    name = "desk"

    def __init__(self, url: str):
        self.url = url.rstrip("/")

    def open(self, conv: Conversation) -> dict:
        body: dict = {"locale": conv.lang, "page": {"product_id": conv.page} if conv.page
                      else {}}
        if conv.customer:
            body.update(customer_id=conv.customer, customer_sig=signature(conv.customer))
        elif conv.claim:
            body["customer_id"] = conv.claim
        created, _ = _post(f"{self.url}/api/conversations", body)
        return {"id": created["conversation_id"], "token": created["token"]}

    def send(self, state: dict, conv: Conversation, turn: Turn) -> list[dict]:
        replies, _ = _post(f"{self.url}/api/conversations/{state['id']}/messages",
                           {"text": turn.say, "client_id": uuid.uuid4().hex,
                            "metadata": metadata_for(conv, turn)},
                           {"Authorization": f"Bearer {state['token']}"})
        return replies


# -- checking a turn ------------------------------------------------------------------------------
def customs(replies: list[dict], type_: str) -> list[dict]:
    return [r["custom"] for r in replies if (r.get("custom") or {}).get("type") == type_]


def bot_text(replies: list[dict]) -> str:
    return " ".join(r.get("text") or "" for r in replies if r.get("sender") == "bot")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@dataclass
class TurnResult:
    say: str
    expect: str
    replies: list[dict]
    problems: list[str] = field(default_factory=list)
    understood: str = ""            # the NLU's intent and entities (REST channel)


@dataclass
class Result:
    conversation: str
    channel: str
    turns: list[TurnResult]

    @property
    def ok(self) -> bool:
        return all(not t.problems for t in self.turns)

    def report(self) -> str:
        lines = [f"{self.conversation} through {self.channel}:"]
        for t in self.turns:
            mark = "ok " if not t.problems else "BAD"
            nlu = f", understood {t.understood}" if t.understood else ""
            lines.append(f"  {mark} shopper: {t.say}   (expect {t.expect}{nlu})")
            for r in t.replies:
                custom = r.get("custom")
                lines.append(f"        {r.get('sender', 'bot')}: {r.get('text') or ''}"
                             + (f"  {json.dumps(custom, ensure_ascii=False)}" if custom
                                else ""))
            lines += [f"        ! {p}" for p in t.problems]
        return "\n".join(lines)


class Checker:
    """The problems of one turn's replies, against the database."""

    def __init__(self, oracle: Oracle):
        self.o = oracle

    def check(self, conv: Conversation, turn: Turn, replies: list[dict],
              channel: str) -> list[str]:
        lang = turn.lang or conv.lang
        bot = [r for r in replies if r.get("sender") == "bot"]
        if turn.kind == "silent":
            if channel == "rest":       # the bot drafts for the agent: the desk holds it back
                return []
            return [f"the bot spoke after the handoff: {bot_text(bot)!r}"] if bot else []
        problems = []
        if not any((r.get("text") or "").strip() for r in bot):
            return ["no reply"]
        for r in bot:
            text = r.get("text") or ""
            if text and (bool(CJK.search(text)) != (lang == "zh")):
                problems.append(f"not in {lang}: {text!r}")
        handoffs = [i for i, r in enumerate(bot)
                    if (r.get("custom") or {}).get("type") == "handoff"]
        if turn.kind != "handoff" and handoffs:
            problems.append(f"handed off: {bot[handoffs[0]]['custom']}")
        check = getattr(self, f"expect_{turn.kind}", None)
        if check is not None:
            problems += check(turn.arg, bot, lang, conv)
        else:
            problems += self.expect_text(TEXT_OF[turn.kind], bot, lang)
        return problems

    # fixed replies
    def expect_text(self, key: str, bot, lang) -> list[str]:
        want = squash(self.o.template(key, lang))
        return [] if any(squash(r.get("text") or "") == want for r in bot) else \
            [f"expected the {key!r} reply, got {bot_text(bot)!r}"]

    def expect_fallback(self, _arg, bot, lang, _conv) -> list[str]:
        wants = [squash(self.o.template(k, lang)) for k in ("fallback", "out_of_scope")]
        return [] if any(squash(r.get("text") or "") in wants for r in bot) else \
            [f"expected 'not understood', got {bot_text(bot)!r}"]

    def expect_asks(self, what, bot, lang, _conv) -> list[str]:
        payloads = " ".join(b.get("payload") or "" for r in bot for b in r.get("buttons")
                            or [])
        text = squash(bot_text(bot))
        if what in ("size", "color"):
            ok = f'/inform{{"{what}"' in payloads
        elif what == "product":
            ok = '/inform{"product"' in payloads or squash(
                self.o.template("ask_product", lang)) in text
        else:
            ok = squash(self.o.template("ask_order_id", lang)) in text
        return [] if ok else [f"expected a question for the {what}, got {bot_text(bot)!r}"]

    def expect_stock(self, arg, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "stock")
        if not cards:
            return [f"no stock card in {bot_text(bot)!r}"]
        card, problems = cards[0], []
        product = arg["product"]
        want = self.o.stock(product, arg.get("color"), arg.get("size"))
        got = {v["sku"]: v["available"] for v in card.get("variants") or []}
        if card.get("product_id") != product:
            problems.append(f"stock of {card.get('product_id')}, not {product}")
        elif got != want:
            problems.append(f"variants {got} != the stock table's {want}")
        name = self.o.name("products", "product_id", product, lang)
        if name not in bot_text(bot):
            problems.append(f"the reply does not name {name!r}")
        if len(want) == 1 and list(want.values())[0] > 0 and arg.get("color") \
                and arg.get("size") and str(list(want.values())[0]) not in bot_text(bot):
            problems.append(f"the reply does not say how many ({list(want.values())[0]})")
        return problems

    def expect_shipping(self, arg, bot, lang, _conv) -> list[str]:
        arg = arg or {}
        cards = customs(bot, "shipping")
        if not cards:
            return [f"no shipping card in {bot_text(bot)!r}"]
        card, problems = cards[0], []
        if card.get("served") is False:
            return [f"said it does not deliver: {bot_text(bot)!r}"]
        city = arg.get("city")
        if "product" not in arg:
            ships = {wh: SHIP_DATE_BY_HAND[wh] for wh in SHIP_DATE_BY_HAND}
            if city:
                arrive = {wh: d + timedelta(days=self.o.route(wh, city)[2])
                          for wh, d in ships.items()}
                best = min((arrive[w], ships[w]) for w in ships)[1]
            else:
                best = min(ships.values())
            if card.get("ship_date") != best.isoformat():
                problems.append(f"ship date {card.get('ship_date')} != {best}")
        else:
            plans = self.o.shipping(arg["product"], arg.get("color"), arg.get("size"),
                                    int(arg.get("quantity", 1)), city)
            if not plans:
                if card.get("ship_date") is not None:
                    problems.append(f"nothing in stock to ship, yet {card.get('ship_date')}")
            else:
                got = (card.get("sku"), card.get("warehouse_id"), card.get("carrier"),
                       card.get("ship_date"), card.get("delivery_earliest"),
                       card.get("delivery_latest"))
                allowed = [(s, w, c, d.isoformat(), e and e.isoformat(),
                            l_ and l_.isoformat()) for s, w, c, d, e, l_ in plans]
                if got not in allowed:
                    problems.append(f"plan {got} is not the best: {allowed}")
            name = self.o.name("products", "product_id", arg["product"], lang)
            if name not in bot_text(bot):
                problems.append(f"the reply does not name {name!r}")
        if city:
            if card.get("city") != city:
                problems.append(f"to {card.get('city')}, not {city}")
            cname = self.o.name("cities", "city", city, lang)
            if cname not in bot_text(bot):
                problems.append(f"the reply does not name {cname!r}")
        elif card.get("city"):
            problems.append(f"a city nobody asked about now: {card.get('city')}")
        return problems

    def expect_not_served(self, region, bot, lang, _conv) -> list[str]:
        row = self.o.one("SELECT * FROM shipping_regions WHERE region = ?", region)
        assert row and row["served"] == 0, f"{region} is not an unserved region"
        cards = [c for c in customs(bot, "shipping") if c.get("served") is False]
        if not cards:
            return [f"no 'we don't deliver there' answer: {bot_text(bot)!r}"]
        problems = []
        if cards[0].get("region") != region or cards[0].get("ship_date") is not None:
            problems.append(f"answer for {cards[0]}")
        if row["name_zh" if lang == "zh" else "name_en"] not in bot_text(bot):
            problems.append("the reply does not name the place")
        if any(c.get("ship_date") for c in customs(bot, "shipping")):
            problems.append("a dispatch date for a place not served")
        return problems

    def expect_price(self, product, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "price")
        price = self.o.one("SELECT price FROM products WHERE product_id = ?", product)["price"]
        if not cards or cards[0].get("product_id") != product or cards[0]["price"] != price:
            return [f"expected {product} at {price}: {cards}"]
        shown = f"¥{price:.0f}" if float(price).is_integer() else f"¥{price:.2f}"
        return [] if shown in bot_text(bot) else [f"the reply does not say {shown}"]

    def expect_discount(self, _arg, bot, lang, _conv) -> list[str]:
        policy = self.o.one("SELECT value FROM policies WHERE key = ?",
                            f"discount_policy_{lang}")["value"]
        return [] if customs(bot, "discount") and squash(policy) in squash(bot_text(bot)) \
            else [f"expected the discount policy, got {bot_text(bot)!r}"]

    def expect_return_policy(self, order_id, bot, lang, conv) -> list[str]:
        days = int(self.o.one("SELECT value FROM policies WHERE key = 'return_days'")["value"])
        cards = customs(bot, "return_policy")
        if not cards or cards[0].get("return_days") != days:
            return [f"expected the return policy ({days} days): {cards}"]
        if order_id is None:
            return []
        card, order_id = cards[0], str(order_id)
        row = self.o.one("SELECT * FROM orders WHERE order_id = ?", order_id)
        if not conv.customer:
            return [] if card.get("order_status") == "sign_in_required" and \
                "returnable" not in card else [f"an anonymous shopper was told {card}"]
        if row is None or row["customer_id"] != conv.customer:
            return [] if card.get("order_status") == "not_found" and \
                "returnable" not in card else [f"another's or no order, answered {card}"]
        if row["status"] == "delivered":
            last = date.fromisoformat(row["delivered_at"][:10]) + timedelta(days=days)
            want = TODAY <= last
            if card.get("returnable") is not want or card.get("return_until") != \
                    last.isoformat():
                return [f"returnable {card.get('returnable')} until"
                        f" {card.get('return_until')}, not {want} until {last}"]
        return [] if card.get("order_id") == order_id else [f"not about {order_id}: {card}"]

    def expect_details(self, product, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "product_details")
        if not cards or cards[0].get("product_id") != product:
            return [f"expected the details of {product}: {cards}"]
        material = self.o.one(f"SELECT material_{lang} m FROM products WHERE product_id = ?",
                              product)["m"]
        return [] if cards[0].get("material") == material else ["wrong material"]

    def expect_size_advice(self, arg, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "product_details")
        if not cards or cards[0].get("product_id") != arg["product"]:
            return [f"expected size advice for {arg['product']}: {cards}"]
        if cards[0].get("recommended_size") != str(arg["size"]):
            return [f"recommended {cards[0].get('recommended_size')}, not {arg['size']}"]
        return []

    def expect_recommend(self, _arg, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "recommendations")
        if not cards or not cards[0].get("items"):
            return [f"no recommendations: {bot_text(bot)!r}"]
        problems = []
        for_cat = self.o.one("SELECT category FROM products WHERE product_id = ?",
                             cards[0]["for_product_id"])["category"]
        for item in cards[0]["items"]:
            if sum(self.o.stock(item["product_id"], None, None).values()) <= 0:
                problems.append(f"{item['product_id']} is sold out")
            cat = self.o.one("SELECT category FROM products WHERE product_id = ?",
                             item["product_id"])["category"]
            if cat == for_cat:
                problems.append(f"{item['product_id']} is of the same category")
        return problems

    def expect_order(self, order_id, bot, lang, conv) -> list[str]:
        order_id = str(order_id)
        if not conv.customer:
            return self.expect_order_refused(None, bot, lang, conv)
        cards = customs(bot, "order_status")
        if not cards:
            return [f"no order answer: {bot_text(bot)!r}"]
        card = cards[0]
        row = self.o.one("SELECT * FROM orders WHERE order_id = ?", order_id)
        if row is None or row["customer_id"] != conv.customer:
            ok = card == {"type": "order_status", "order_id": order_id, "status": "not_found"}
            leaked = row and row["tracking_no"] and row["tracking_no"] in bot_text(bot)
            return [] if ok and not leaked else [f"another's or no order, answered {card}"]
        problems = []
        if (card.get("order_id"), card.get("status")) != (order_id, row["status"]):
            problems.append(f"{card} is not {order_id} {row['status']}")
        if row["status"] in ("shipped", "delivered") and (
                card.get("tracking_no") != row["tracking_no"]
                or row["tracking_no"] not in bot_text(bot)):
            problems.append(f"tracking number {row['tracking_no']} missing")
        return problems

    def expect_order_refused(self, _arg, bot, lang, _conv) -> list[str]:
        cards = customs(bot, "order_status")
        if cards != [{"type": "order_status", "status": "sign_in_required"}]:
            return [f"expected 'please sign in', got {cards}"]
        return [] if squash(self.o.template("order_sign_in", lang)) in squash(bot_text(bot)) \
            else [f"expected 'please sign in', got {bot_text(bot)!r}"]

    def expect_handoff(self, reason, bot, lang, _conv) -> list[str]:
        found = [i for i, r in enumerate(bot) if (r.get("custom") or {}).get("type")
                 == "handoff"]
        if not found:
            return [f"no handoff: {bot_text(bot)!r}"]
        problems = []
        if bot[found[0]]["custom"].get("reason") != reason:
            problems.append(f"handoff for {bot[found[0]]['custom'].get('reason')}, not"
                            f" {reason}")
        if found[0] != len(bot) - 1:
            problems.append("the bot spoke after its handoff notice: "
                            + repr(bot_text(bot[found[0] + 1:])))
        return problems


# -- running ------------------------------------------------------------------------------------
def run_conversation(channel, conv: Conversation, checker: Checker) -> Result:
    state = channel.open(conv)
    results = []
    for turn in conv.turns:
        try:
            replies = channel.send(state, conv, turn)
            problems = checker.check(conv, turn, replies, channel.name)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            replies, problems = [], [f"request failed: {exc}"]
        results.append(TurnResult(turn.say, f"{turn.kind} {turn.arg or ''}".strip(), replies,
                                  problems, state.pop("understood", "")))
    return Result(conv.id, channel.name, results)


def run_all(channels: list, conversations: list[Conversation], oracle: Oracle,
            parallel: int = 4) -> dict[tuple[str, str], Result]:
    """Every conversation through every channel, a few at a time (each its own sender)."""
    checker = Checker(oracle)
    jobs = [(ch, conv) for ch in channels for conv in conversations]
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = list(pool.map(lambda job: run_conversation(job[0], job[1], checker), jobs))
    return {(r.conversation, r.channel): r for r in results}


def summary(results: dict[tuple[str, str], Result]) -> dict[str, tuple[int, int]]:
    """{channel: (conversations with every turn right, conversations)}."""
    out = {}
    for ch in CHANNELS:
        mine = [r for (_c, c), r in results.items() if c == ch]
        out[ch] = (sum(r.ok for r in mine), len(mine))
    return out


@contextlib.contextmanager
def stack(catalog_db: Path, work_dir: Path) -> Iterator[tuple[str, str]]:
    """Rasa (two workers behind the router), the action server and the desk on free
    ports, on `catalog_db`, the clock pinned; yields (Rasa URL, desk URL)."""
    from bot.runner import Supervisor
    from bot.settings import get_settings
    from bot.training import model_path
    from tests.conftest import free_ports

    if not model_path().exists():
        raise RuntimeError("no trained model: run `make train` (make test does it)")
    rasa_port, _w1, _w2, action_port, desk_port = free_ports(5)
    settings = replace(get_settings(), rasa_port=rasa_port, action_port=action_port,
                       desk_port=desk_port, rasa_workers=2, desk_host="127.0.0.1")
    sup = Supervisor(settings, log_dir=work_dir / "logs", with_desk=True)
    sup.start(env={"SHOPASSIST_CATALOG": str(catalog_db), "SHOPASSIST_NOW": PINNED_NOW,
                   "SHOPASSIST_SHOP_SECRET": SHOP_SECRET,
                   "SHOPASSIST_DESK_DB": str(work_dir / "desk.db"),
                   "SHOPASSIST_DESK_HOURS": "00:00-23:59",
                   "SHOPASSIST_DESK_DEMO_AGENTS": "0"})
    try:
        yield f"http://127.0.0.1:{rasa_port}", f"http://127.0.0.1:{desk_port}"
    finally:
        sup.stop()


def main(argv: Optional[list[str]] = None) -> int:
    """Build the demo catalog in a temporary folder, start the stack, run the suite
    through both channels, print each failure (`-v`: every conversation) and the success
    rate per channel."""
    from catalog.crosssell import mine_catalog
    from catalog.demo import build_demo

    conversations = load_conversations()
    known = load_known_failures()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        db = work / "catalog.db"
        build_demo(db)
        mine_catalog(db)
        oracle = Oracle(db)
        oracle.check_warehouses()
        with stack(db, work) as (rasa_url, desk_url):
            results = run_all([RestChannel(rasa_url), DeskChannel(desk_url)], conversations,
                              oracle)
    verbose = "-v" in (argv or [])
    for key, r in sorted(results.items()):
        if verbose or not r.ok:
            print(r.report() + (f"\n  (known: {known[key]})" if key in known else
                                "\n  (NOT in known_failures.yml)") + "\n")
    langs = {c.id: c.lang for c in conversations}
    counts = [list(langs.values()).count(lang) for lang in ("zh", "en")]
    print(f"{len(conversations)} conversations ({counts[0]} Chinese, {counts[1]} English), "
          f"{sum(len(c.turns) for c in conversations)} turns, "
          f"{time.monotonic() - started:.0f} s")
    for ch, (ok, n) in summary(results).items():
        by_lang = {lang: (sum(r.ok for (c, k), r in results.items() if k == ch
                              and langs[c] == lang),
                          sum(1 for (c, k) in results if k == ch and langs[c] == lang))
                   for lang in ("zh", "en")}
        print(f"{ch:5s}: {ok}/{n} conversations with every turn right ({100 * ok / n:.1f}%)"
              f"; zh {by_lang['zh'][0]}/{by_lang['zh'][1]}, en {by_lang['en'][0]}/"
              f"{by_lang['en'][1]}")
    unexpected = [k for k, r in results.items() if r.ok == (k in known)]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
