"""Stock questions: "有货吗", "do you have it in XL?", "黑色42码还有吗".

A form makes sure the product is known and, when the shopper named neither a size nor a
colour of a product that comes in several, asks for one, showing what is in stock while it
asks (so the question itself answers "what do you have?"). Only a stock answer ("42码",
"the black one", "有L码吗") answers the form's question: anything else (a request for a
person, a complaint, another question, "no", a message not understood) is rejected by the
form, so that its own rule answers it (data/rules/). The answer lists the matching
variants and carries them in `custom` (type `stock`); when something is in stock, up to 3
cross-sells follow as a second message (type `recommendations`, once per product).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from catalog.queries import Catalog, Product, StockAnswer

from .base import (CONTEXT_SLOTS, LOW_STOCK, MAX_LISTED, TEXTS, Context, ProductAction,
                   ShopAction, ask_which_product, asks, context_of, day_phrase, get_catalog,
                   in_stock_summary, join_list, latest_entities, latest_intent, now, say,
                   variant_label)
from .crosssell import offer_crosssells
from .service import follow_up_of

# the intents of a message that answers the stock form's question; a "no" or a message not
# understood answers it too when it names a product, size or colour ("不是，要42码")
FORM_ANSWERS = ("check_stock", "inform")
ANSWERS_WHEN_NAMING = ("deny", "nlu_fallback", "out_of_scope")


def stock_card(catalog: Catalog, answer: StockAnswer, lang: str) -> dict:
    payload = answer.as_payload()
    payload.update(name=answer.product.name(lang), price=answer.product.price,
                   currency=catalog.currency, available=answer.available)
    return payload


def size_buttons(catalog: Catalog, answer: StockAnswer, lang: str, by: str) -> list:
    buttons, seen = [], set()
    order = list(dict.fromkeys(v.size if by == "size" else v.color for v in answer.variants))
    for v in sorted(answer.variants, key=lambda v: order.index(v.size if by == "size"
                                                             else v.color)):
        key = v.size if by == "size" else v.color
        if v.available <= 0 or key in seen:
            continue
        seen.add(key)
        title = catalog.size_name(key, lang) if by == "size" else catalog.color_name(key, lang)
        buttons.append({"title": title, "payload": f'/inform{{"{by}": "{key}"}}'})
    return buttons[:MAX_LISTED]


class ValidateStockForm(FormValidationAction):
    """Decides what the stock form still needs: the product, then a size or colour."""

    def name(self) -> Text:
        return "validate_stock_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        ctx = context_of(tracker)
        if answers_something_else(tracker):
            # the shopper asked for a person, complained or asked something else: the
            # form steps aside and the rules answer (the form closes after the answer)
            return [ActionExecutionRejected("stock_form")]
        # the form decides with the context of this message (product from the page...)
        tracker.slots.update({k: getattr(ctx, k) for k in CONTEXT_SLOTS})
        events = await super().run(dispatcher, tracker, domain)
        named = {e.get("name") for e in events if e.get("event") == "slot"}
        return [e for e in ctx.slot_events() if e["name"] not in named] + events

    async def get_validation_events(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                                    domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        """The form's validation, but the context decides the slots it keeps: when the form
        starts, Rasa hands it every slot already set as if just said ("44" asked about
        another product), and those the context dropped stay dropped."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        return [e for e in events if not (e.get("event") == "slot"
                                          and e.get("name") in CONTEXT_SLOTS
                                          and e.get("value") != tracker.slots.get(e["name"]))]

    async def required_slots(self, domain_slots: List[Text], dispatcher: CollectingDispatcher,
                             tracker: Tracker, domain: Dict[Text, Any]) -> List[Text]:
        if asks_about_a_place(tracker, context_of(tracker)):
            return []                     # nothing to ask: the stock action passes it on
        catalog = get_catalog()
        product = catalog.product(tracker.get_slot("product"))
        if product is None:
            return ["product"]
        if tracker.get_slot("size") or tracker.get_slot("color"):
            return []
        answer = catalog.stock(product.product_id)
        if answer is None or answer.available == 0:
            return []
        if len({v.size for v in answer.variants}) > 1:
            return ["size"]
        if len({v.color for v in answer.variants}) > 1:
            return ["color"]
        return []

    def validate_product(self, value: Any, dispatcher: CollectingDispatcher,
                         tracker: Tracker, domain: Dict[Text, Any]) -> Dict[Text, Any]:
        return {"product": value if get_catalog().product(value) else None}


def answers_something_else(tracker: Tracker) -> bool:
    """Whether the open stock form is validating a new shopper message that does not
    answer its question. (Rasa runs the validation with the form's own run as the latest
    action: the one before it tells whether the shopper has just written, or the form
    comes back after another action answered.)"""
    if tracker.active_loop_name != "stock_form":
        return False
    actions = [e.get("name") for e in tracker.events or [] if e.get("event") == "action"]
    just_wrote = len(actions) >= 2 and actions[-1] == "stock_form" \
        and actions[-2] == "action_listen"
    intent = latest_intent(tracker)
    names = any(latest_entities(tracker, name) for name in ("product", "size", "color"))
    if latest_entities(tracker, "order_id") and not names:
        return just_wrote                 # an order number: that order (data/rules)
    return just_wrote and not (intent in FORM_ANSWERS
                               or intent in ANSWERS_WHEN_NAMING and names)


def asks_about_a_place(tracker: Tracker, ctx: Context) -> bool:
    """Whether the latest message, whatever the classifier read, asks how the thing gets
    to a place: it names a place and no product, colour or size, right after a stock,
    shipping or price answer ("what about taiwan", "那台湾呢" after a delivery answer)."""
    if any(latest_entities(tracker, name) for name in ("product", "color", "size")):
        return False
    return follow_up_of(tracker, ctx) == "action_shipping"


class ActionAskProduct(ShopAction):
    """Asks which product, offering the category's items or the closest names."""

    keeps_open_form = True

    def name(self) -> Text:
        return "action_ask_product"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        return ask_which_product(dispatcher, tracker, ctx)


class _AskVariant:
    """Shared by the size and colour questions (not an action itself)."""

    by = "size"
    keeps_open_form = True

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        answer = catalog.stock(ctx.product or "")
        if answer is None:
            say(dispatcher, ctx.language, f"ask_{self.by}")
            return [asks(self.by)]
        in_stock, _ = in_stock_summary(catalog, answer, lang, by=self.by)
        say(dispatcher, lang, f"ask_{self.by}_with_stock", product=answer.product.name(lang),
            in_stock=in_stock, buttons=size_buttons(catalog, answer, lang, self.by),
            custom=stock_card(catalog, answer, lang))
        return [asks(self.by)]


class ActionAskSize(_AskVariant, ShopAction):
    """Asks for the size, listing the sizes in stock as buttons."""

    by = "size"

    def name(self) -> Text:
        return "action_ask_size"


class ActionAskColor(_AskVariant, ShopAction):
    """Asks for the colour, listing the colours in stock as buttons."""

    by = "color"

    def name(self) -> Text:
        return "action_ask_color"


class ActionCheckStock(ProductAction):
    """Answers a stock question from the catalog, for the variant(s) asked about."""

    def name(self) -> Text:
        return "action_check_stock"

    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: Context) -> List[Dict[Text, Any]]:
        if asks_about_a_place(tracker, ctx):
            return await ShopAction.named("action_shipping").answer(dispatcher, tracker, ctx)
        return await super().answer(dispatcher, tracker, ctx)

    async def answer_for(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                         ctx: Context, product: Product) -> List[Dict[Text, Any]]:
        catalog, lang = get_catalog(), ctx.language
        color, size = ctx.color, ctx.size
        answer = catalog.stock(product.product_id, color=color, size=size)
        name = product.name(lang)
        card = stock_card(catalog, answer, lang)
        wanted = variant_label(catalog, answer.color, answer.size, lang)

        if not answer.variants:                       # no such colour/size for it
            full = catalog.stock(product.product_id)
            colors = {v.color for v in full.variants}
            sizes = {v.size for v in full.variants}
            events: list = []
            if answer.color and answer.color not in colors:
                # the colour is what it lacks: name it alone, offer its colours, and
                # forget it so the next question is not about a variant that cannot be
                missing = catalog.color_name(answer.color, lang)
                options = self._options(catalog, full, lang, by_size=False)
                events.append(SlotSet("color", None))
            elif answer.size and answer.size not in sizes:
                missing = catalog.size_name(answer.size, lang)
                options = self._options(catalog, full, lang, by_size=True)
                events.append(SlotSet("size", None))
            else:                                     # both exist, not together
                missing = wanted
                options = self._options(catalog, catalog.stock(product.product_id,
                                                               color=answer.color),
                                        lang, by_size=True)
            say(dispatcher, lang, "stock_no_such_variant", product=name,
                variant=missing, options=options,
                custom=stock_card(catalog, full, lang))
            return events

        if color and size and len(answer.variants) == 1:
            v = answer.variants[0]
            if v.available > 0:
                plan = catalog.ship_date(now(), sku=v.sku)
                ship = day_phrase(plan.ship_date, now().date(), lang) if plan and \
                    plan.ship_date else ""
                key = "stock_variant_low" if v.available <= LOW_STOCK else \
                    "stock_variant_in"
                say(dispatcher, lang, key, product=name, variant=wanted,
                    available=v.available, ship_phrase=ship,
                    custom=card)
                return offer_crosssells(dispatcher, tracker, ctx, product)
            else:
                alternatives = self._alternatives(catalog, product.product_id, v.color,
                                                  v.size, lang)
                say(dispatcher, lang, "stock_variant_out", product=name,
                    variant=wanted, alternatives=alternatives,
                    custom=card)
            return []

        if answer.available == 0:
            full = catalog.stock(product.product_id)
            if full.available == 0:
                say(dispatcher, lang, "stock_all_out", product=name,
                    custom=card)
            else:
                say(dispatcher, lang, "stock_variant_out", product=name, variant=wanted,
                    alternatives=self._alternatives(catalog, product.product_id,
                    answer.color, answer.size, lang),
                    custom=card)
            return []

        in_stock, sold_out = in_stock_summary(catalog, answer, lang)
        if color or size:
            say(dispatcher, lang, "stock_filtered", product=name,
                filter=wanted, in_stock=in_stock, sold_out=sold_out,
                custom=card)
        else:
            say(dispatcher, lang, "stock_overview", product=name,
                in_stock=in_stock, sold_out=sold_out,
                custom=card)
        return offer_crosssells(dispatcher, tracker, ctx, product)

    @staticmethod
    def _options(catalog: Catalog, full: StockAnswer, lang: str, by_size: bool) -> str:
        if by_size:
            keys = dict.fromkeys(catalog.size_name(v.size, lang) for v in full.variants)
        else:
            keys = dict.fromkeys(catalog.color_name(v.color, lang) for v in full.variants)
        return join_list(list(keys), lang)

    @staticmethod
    def _alternatives(catalog: Catalog, product_id: str, color: Optional[str],
                      size: Optional[str], lang: str) -> str:
        """Same size in other colours, or the colour in other sizes, that are in stock."""
        if size:
            same = catalog.stock(product_id, size=size)
            others = [catalog.color_name(v.color, lang) for v in same.variants
                      if v.available > 0 and v.color != color]
            if others:
                return TEXTS.render("stock_alternative_colors", lang,
                                    options=join_list(others, lang))
        if color:
            same = catalog.stock(product_id, color=color)
            others = [catalog.size_name(v.size, lang) for v in same.variants
                      if v.available > 0 and v.size != size]
            if others:
                return TEXTS.render("stock_alternative_sizes", lang,
                                    options=join_list(others, lang))
        return TEXTS.render("stock_restock_notice", lang)
