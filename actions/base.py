"""What every action shares, and the action base classes.

- the catalog (opened lazily, never at import) and the shop's clock;
- the shopper's language, the latest message, the page they are on;
- who the shopper is (`customer_of`): the storefront's customer id counts only with its
  signature (bot/shop_identity.py), checked here from the message metadata, because
  Rasa's REST channel is public;
- the conversation's context (`Context`, `context_of`): the language they write in, the
  product they are talking about (named, or the product page they are on), its size,
  colour, quantity and destination, a place the shop does not deliver to, and the
  question the bot asked last turn. A new question replaces what it restates; what it
  does not restate is carried over only while the shopper stays on the same product (on
  a product page, a size or colour the product talked of does not come in but the page's
  does is about the page's product).
  Every action computes the context itself (a pure function of the conversation so far
  and the latest message) and returns it as slot events, so no extra round trip to the
  action server is needed per message; all actions of one turn compute the same context;
- the texts of actions/texts.yml (`TEXTS`, `say`) and the bilingual formatting of dates,
  lists, prices and stock lists built from them;
- `ShopAction` (never raises: a failure becomes a polite handoff; a handoff or an answer
  to another question closes an open form, so that nothing the bot says follows a
  handoff), `ProductAction` (asks which product first when none is known) and
  `FixedReply`.

The modules of the concerns (stock, products, pricing, shipping, orders, service) and
cross-selling (crosssell.py) build on this one; it imports none of them.
"""

from __future__ import annotations

import abc
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings
from bot.shop_identity import verified_customer
from bot.texts import Texts, money
from catalog.queries import Catalog, Product, Region, StockAnswer

logger = logging.getLogger(__name__)

TEXTS = Texts(Path(__file__).with_name("texts.yml"))
LOW_STOCK = 3           # "only 3 left" at or below this
MAX_LISTED = 12         # variants named in one answer

_catalogs: dict[str, Catalog] = {}


def get_catalog() -> Catalog:
    """The catalog named by the settings, opened on first use (one per path)."""
    path = str(get_settings().catalog_path)
    if path not in _catalogs:
        _catalogs[path] = Catalog(path)
    return _catalogs[path]


def now() -> datetime:
    return get_settings().now()


# -- language and the latest message -------------------------------------------------------------
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
# words pointing at the product in view ("this jacket", "这件衣服")
_THIS_ONE = re.compile(r"\b(?:this|these)\b|这(?:个|款|件|双|条|顶|只|副|套)", re.I)
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def detect_language(text: str, entity_spans: Iterable[tuple[int, int]] = ()) -> Optional[str]:
    """"zh" or "en" from the words a shopper typed, or None when it cannot tell.

    Catalog names (product, city spans) are masked first, so "do you have 疾风跑鞋 in
    42" is English and "swift跑鞋多少钱" Chinese. Emoji, digits and punctuation alone say
    nothing, and neither does a button's payload ("/inform{\"size\": \"42\"}"): its
    words are intent and slot names, not the shopper's.
    """
    if not text or text.lstrip().startswith("/"):
        return None
    chars = list(text[:2000])
    for start, end in entity_spans:
        for i in range(max(start, 0), min(end, len(chars))):
            chars[i] = " "
    masked = "".join(chars)
    cjk = len(_CJK.findall(masked))
    latin = len(_LATIN_WORD.findall(masked))
    if cjk == 0 and latin == 0:
        return None
    return "zh" if cjk >= latin else "en"


def language_of(tracker: Tracker) -> str:
    lang = tracker.get_slot("language")
    return lang if lang in ("zh", "en") else get_settings().default_language


def metadata_of(tracker: Tracker) -> dict:
    meta = (tracker.latest_message or {}).get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def customer_of(tracker: Tracker) -> Optional[str]:
    """The signed-in shopper's customer id: metadata `customer_id` with its signature
    `customer_sig`, checked with the shop's secret; None (anonymous) for a bare claim, a
    wrong signature or none at all."""
    meta = metadata_of(tracker)
    return verified_customer(meta.get("customer_id"), meta.get("customer_sig"))


def latest_entities(tracker: Tracker, name: str) -> list[Any]:
    return [e.get("value") for e in (tracker.latest_message or {}).get("entities") or []
            if e.get("entity") == name]


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def latest_intent(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


def latest_confidence(tracker: Tracker) -> float:
    """The classifier's confidence in the latest message's intent (1.0 for a button's
    payload or when none is given)."""
    value = ((tracker.latest_message or {}).get("intent") or {}).get("confidence")
    try:
        return float(value) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


# -- texts and formatting ------------------------------------------------------------------------


def words(key: str, lang: str) -> list[str]:
    """A word list of actions/texts.yml ("一、二、三" / "Mon, Tue, Wed") as a list."""
    return TEXTS.words(key, lang)


def join_list(items: Iterable[str], lang: str, *, last: str = "list_last",
              next_: str = "list_next") -> str:
    """"a、b、c" / "a, b and c" (texts `list_next`, `list_last`); `last=next_="clause_next"`
    joins clauses ("a；b" / "a; b")."""
    items = [i for i in items if i]
    if not items:
        return ""
    out = items[0]
    for i, item in enumerate(items[1:], start=2):
        out = TEXTS.render(last if i == len(items) else next_, lang, items=out, item=item)
    return out


def join_clauses(items: Iterable[str], lang: str) -> str:
    return join_list(items, lang, last="clause_next", next_="clause_next")


def short_date(day: date, lang: str) -> str:
    """"11月20日" / "20 Nov"."""
    return TEXTS.short_date(day, lang)


def day_phrase(day: date, today: date, lang: str) -> str:
    """"today"/"今天", "tomorrow"/"明天" (and "后天"), else the date with its weekday."""
    return TEXTS.day_phrase(day, today, lang)


def date_range(first: date, last: date, lang: str) -> str:
    if first == last:
        return short_date(first, lang)
    return TEXTS.render("date_range", lang, first=short_date(first, lang),
                        last=short_date(last, lang))


def variant_label(catalog: Catalog, color: Optional[str], size: Optional[str],
                  lang: str) -> str:
    """"黑色42码" / "black EU 42" (either may be missing)."""
    return TEXTS.render("variant", lang,
                        color=catalog.color_name(color, lang) if color else "",
                        size=catalog.size_name(size, lang) if size else "")


def free_shipping_phrase(catalog: Catalog, lang: str) -> str:
    threshold = catalog.free_shipping_threshold
    if threshold is None:
        return ""
    return TEXTS.render("free_shipping", lang, threshold=money(threshold))


def in_stock_summary(catalog: Catalog, answer: StockAnswer, lang: str,
                     by: str = "auto") -> tuple[str, str]:
    """("in stock" list, "sold out" sentence) for the variants of an answer, grouped by
    size, colour or both ("auto": whatever tells the variants apart)."""
    colors = {v.color for v in answer.variants}
    sizes = {v.size for v in answer.variants}
    if by == "auto":
        by = "size" if len(sizes) > 1 and (len(colors) == 1 or answer.color) else (
            "color" if len(sizes) == 1 or answer.size else "both")

    def key(v):
        return v.size if by == "size" else v.color if by == "color" else v.sku

    def label(v) -> str:
        if by == "size":
            return catalog.size_name(v.size, lang)
        if by == "color":
            return catalog.color_name(v.color, lang)
        return variant_label(catalog, v.color, v.size, lang)

    groups: dict[str, list] = {}
    for v in answer.variants:
        groups.setdefault(key(v), []).append(v)

    def fmt(vs) -> str:
        n = sum(v.available for v in vs)
        if n <= LOW_STOCK:
            return TEXTS.render("stock_low_item", lang, item=label(vs[0]), available=n)
        return label(vs[0])

    seen_in = [vs for vs in groups.values() if sum(v.available for v in vs) > 0]
    seen_out = [vs for vs in groups.values() if sum(v.available for v in vs) == 0]
    listed = [fmt(vs) for vs in seen_in[:MAX_LISTED]]
    more = len(seen_in) - MAX_LISTED
    if more > 0:
        in_stock = TEXTS.render("stock_more_items", lang, more=more,
                                items=join_list(listed, lang, last="list_next"))
    else:
        in_stock = join_list(listed, lang)
    out_labels = [label(vs[0]) for vs in seen_out]
    sold_out = ""
    if out_labels and seen_in:
        sold_out = TEXTS.render("stock_sold_out", lang,
                                items=join_list(out_labels[:MAX_LISTED], lang))
    return in_stock, sold_out


def say(dispatcher: CollectingDispatcher, lang: str, key: str, *,
        custom: Optional[dict] = None, buttons: Optional[list] = None, **fields: Any) -> None:
    """Send text `key` (with its default buttons) and the facts behind it in `custom`."""
    if buttons is None:
        buttons = TEXTS.buttons(key, lang)
    dispatcher.utter_message(text=TEXTS.render(key, lang, **fields), buttons=buttons or [],
                             json_message=custom)


def with_display_names(payload: dict, catalog: Catalog, lang: str) -> dict:
    """Add the names a shopper reads (城市, courier, warehouse) in their language beside
    the ids the contract carries (`city`, `carrier`, `warehouse_id`)."""
    if payload.get("city"):
        payload["city_name"] = catalog.city_name(payload["city"], lang)
    if payload.get("carrier"):
        payload["carrier_name"] = catalog.carrier_name(payload["carrier"], lang)
    if payload.get("warehouse_id"):
        payload["warehouse_name"] = catalog.warehouse_name(payload["warehouse_id"], lang)
    return payload


def handoff_payload(reason: str, **extra: Any) -> dict:
    return {"type": "handoff", "reason": reason, **extra}


def handed_off(dispatcher: CollectingDispatcher) -> bool:
    """Whether the messages sent so far hand the shopper to a person."""
    return any((m.get("custom") or {}).get("type") == "handoff"
               for m in dispatcher.messages)


def product_buttons(products: Iterable[Product], lang: str) -> list:
    """One button per product, naming it (payload `/inform{"product": ...}`)."""
    return [{"title": p.name(lang), "payload": f'/inform{{"product": "{p.product_id}"}}'}
            for p in products]


# -- the conversation's context ------------------------------------------------------------------
# slots the context keeps up to date (returned as slot events when they change)
CONTEXT_SLOTS = ("language", "product", "page_product", "category", "size", "color", "city",
                 "quantity", "pending_question")
# what a new question restates, or else carries over while the product stays the same
RESTATED = ("size", "color", "city", "quantity")
# the clarifying question the bot asked last turn (slot `pending_question`: messages not
# understood right after it hand over sooner, actions/service.py): "product", "size",
# "color", "order_id", or "person" (a complaint the bot was not sure of: "is something
# wrong? shall I pass you to a person?"); every action clears it, the one asking again
# sets it again
PENDING = "pending_question"


def slot_before_latest_message(tracker: Tracker, name: str) -> Any:
    """A slot's value as it was before the latest shopper message."""
    return slot_before_message(tracker, name, 1)


def slot_before_message(tracker: Tracker, name: str, nth_last: int) -> Any:
    """A slot's value as it was before the `nth_last` shopper message from the end (1:
    the latest)."""
    events = tracker.events or []
    users = [i for i, e in enumerate(events) if e.get("event") == "user"]
    cut = users[-nth_last] if len(users) >= nth_last else (users[0] if users else len(events))
    value = None
    for e in events[:cut]:
        if e.get("event") == "slot" and e.get("name") == name:
            value = e.get("value")
        elif e.get("event") == "restart":
            value = None
    return value


def asks(what: str) -> SlotSet:
    """The event recording the clarifying question the bot is asking ("product", "size",
    "color", "order_id")."""
    return SlotSet(PENDING, what)


@dataclass
class Context:
    language: str
    product: Optional[str]
    page_product: Optional[str]
    category: Optional[str]
    size: Optional[str]
    color: Optional[str]
    city: Optional[str] = None
    quantity: Optional[str] = None
    pending_question: Optional[str] = None
    place: Optional[Region] = None        # a region this message names (catalog regions)
    customer: Optional[str] = None        # the signed-in shopper (customer_of), or None
    changed: dict = field(default_factory=dict)

    def slot_events(self) -> list:
        return [SlotSet(k, v) for k, v in self.changed.items()]


def page_product_of(tracker: Tracker) -> Optional[str]:
    page = metadata_of(tracker).get("page") or {}
    if isinstance(page, dict) and page.get("product_id"):
        return str(page["product_id"])
    return None


def _comes_in(catalog: Catalog, product_id: str, tracker: Tracker) -> bool:
    """Whether the product comes in every size and colour the latest message names (False
    when it names none: then nothing tells one product from another)."""
    asked = {name: set(latest_entities(tracker, name)) for name in ("size", "color")}
    if not any(asked.values()):
        return False
    variants = catalog.variants(product_id)
    return all(values <= {str(v[name]) for v in variants} for name, values in asked.items())


def context_of(tracker: Tracker) -> Context:
    """The conversation's context after the latest message (see the module docstring)."""
    msg = tracker.latest_message or {}
    entities = msg.get("entities") or []
    catalog = get_catalog()
    text = str(msg.get("text") or "")

    spans = [(e.get("start", 0), e.get("end", 0)) for e in entities
             if e.get("entity") in ("product", "city", "order_id", "size", "color")
             and e.get("start") is not None]
    lang = detect_language(text, spans)
    if lang is None:
        locale = str(metadata_of(tracker).get("locale") or "")[:2].lower()
        previous = slot_before_latest_message(tracker, "language")
        lang = previous or (locale if locale in ("zh", "en") else None) \
            or get_settings().default_language

    page = page_product_of(tracker)
    if page and catalog.product(page) is None:
        page = None
    prev_page = slot_before_latest_message(tracker, "page_product")
    prev_product = slot_before_latest_message(tracker, "product")
    named = [p for p in latest_entities(tracker, "product") if catalog.product(p)]
    categories = latest_entities(tracker, "category")
    product: Optional[str] = prev_product
    if named:
        product = named[-1]
    elif categories:
        # "do you have running shoes?": about the page's product if it is one (or the
        # message points at it: "what is this jacket made of" on a down jacket's page),
        # else about the category, not the product talked of before
        current = catalog.product(page or prev_product)
        product = current.product_id if current and (
            current.category in categories or _THIS_ONE.search(text)) else None
    elif page and page != prev_page:
        product = page          # the shopper moved to another product page
    elif page and prev_product and prev_product != page and \
            _comes_in(catalog, page, tracker) and not _comes_in(catalog, prev_product, tracker):
        # "42码黑色还有吗" on the shoe page after "tell me more" on the socks offered with
        # the shoes: the socks come in no 42 or black, the page's shoes do
        product = page
    elif not prev_product and page:
        product = page

    # the slots hold what this message restated (Rasa fills them from its entities);
    # the rest is what was said before, which no longer applies to another product
    restated = {name: tracker.get_slot(name) for name in RESTATED}
    if prev_product and product != prev_product:
        for name in RESTATED:
            if not latest_entities(tracker, name):
                restated[name] = None
    place = None if text.startswith("/") else catalog.place_in(text)
    if place is not None and not latest_entities(tracker, "city"):
        restated["city"] = None         # "and to London?": not the city asked about before
    category = categories[-1] if categories else tracker.get_slot("category")
    ctx = Context(lang, product, page or prev_page, category, restated["size"],
                  restated["color"], restated["city"], restated["quantity"], None, place,
                  customer_of(tracker))
    for name in CONTEXT_SLOTS:
        if getattr(ctx, name) != tracker.get_slot(name):
            ctx.changed[name] = getattr(ctx, name)
    return ctx


def keep_language_for_buttons(tracker: Tracker, ctx: Context) -> None:
    """A button's payload ("/add_to_cart{...}") is not the shopper's words: answer in the
    language of the conversation so far, not in the payload's English."""
    if not latest_text(tracker).startswith("/"):
        return
    before = tracker.get_slot("language")
    if before in ("zh", "en") and before != ctx.language:
        ctx.language = before
        ctx.changed.pop("language", None)


def ask_which_product(dispatcher: CollectingDispatcher, tracker: Tracker,
                      ctx: Context) -> list:
    """Ask which product, offering the category's items in stock or the closest names."""
    catalog, lang = get_catalog(), ctx.language
    if ctx.category:
        items = [p for p in catalog.products_in_category(ctx.category)
                 if catalog.stock(p.product_id).available > 0][:8]
        if items:
            say(dispatcher, lang, "category_overview",
                category=catalog.category_name(ctx.category, lang),
                items=join_list([p.name(lang) for p in items], lang),
                buttons=product_buttons(items, lang))
            return [asks("product")]
    text = latest_text(tracker)
    suggestions = catalog.suggest_products(text) if text.strip() else []
    if suggestions:
        say(dispatcher, lang, "ask_product_suggest",
            suggestions=join_list([p.name(lang) for p in suggestions], lang),
            buttons=product_buttons(suggestions, lang))
    else:
        say(dispatcher, lang, "ask_product")
    return [asks("product")]


# -- the base classes ----------------------------------------------------------------------------
class ShopAction(Action, abc.ABC):
    """An action that knows the conversation's context and never raises.

    `run` computes the context (`context_of`), calls `answer`, and returns the context's
    slot events with the answer's (the answer's win for the same slot). Any exception
    becomes a polite reply and a handoff (`action_failure`). An open form is closed when
    the action hands the shopper to a person (so the form does not ask its question after
    the handoff notice) and, unless `keeps_open_form`, when the action answers something
    else than the form's question (the form rejected the message: a new question wins).
    """

    # the form's own questions, and "not understood" (the form asks again), leave it open
    keeps_open_form = False

    @abc.abstractmethod
    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> list:
        """Send the reply; return extra events."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list:
        ctx = None
        try:
            ctx = context_of(tracker)
            events = list(await self.answer(dispatcher, tracker, ctx) or [])
        except Exception:  # noqa: BLE001 - the shopper must always get an answer
            logger.exception("action %s failed", self.name())
            dispatcher.messages.clear()
            say(dispatcher, ctx.language if ctx else language_of(tracker), "action_failed",
                custom=handoff_payload("action_failure", action=self.name()))
            events = []
        own = {e.get("name") for e in events if e.get("event") == "slot"}
        events = [e for e in (ctx.slot_events() if ctx else []) if e["name"] not in own] \
            + events
        if tracker.active_loop_name and (handed_off(dispatcher)
                                         or not self.keeps_open_form):
            events += [ActiveLoop(None), SlotSet("requested_slot", None)]
        return events

    @staticmethod
    def named(name: str) -> "ShopAction":
        """The shop action Rasa calls `name`, looked up the way rasa_sdk finds actions
        (among the loaded subclasses; actions/__init__.py loads every module), so that a
        concern can pass a question on to another ("催发货 20261118000123" is about an
        order) without importing it."""
        pending = list(ShopAction.__subclasses__())
        while pending:
            cls = pending.pop()
            pending.extend(cls.__subclasses__())
            if not getattr(cls, "__abstractmethods__", None) and cls().name() == name:
                return cls()
        raise LookupError(f"no shop action named {name!r}")


class ProductAction(ShopAction):
    """An action about one product: asks which product first when none is known."""

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> list:
        product = get_catalog().product(ctx.product)
        if product is None:
            return ask_which_product(dispatcher, tracker, ctx)
        return await self.answer_for(dispatcher, tracker, ctx, product)

    @abc.abstractmethod
    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> list:
        """Answer about `product`."""


class FixedReply(ShopAction):
    """A fixed reply in the shopper's language (greetings, thanks, out of scope): the text
    `text_key`, sent by the action `action_<text_key>`."""

    text_key = ""

    def name(self) -> str:
        return f"action_{self.text_key}"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> list:
        say(dispatcher, ctx.language, self.text_key)
        return []
