"""The catalog facts a bot answer rests on, and their re-check at send time.

A suggestion keeps `facts`: {key: value} drawn from its `custom` payload when drafted,
e.g. {"stock:P001-BLK-42": 12, "price:P001": 359.0, "ship_date:P001:P001-BLK-42:1:":
"2026-11-20"}. Only complete facts are drafted: a key with every part known and a value
(a shipping answer with no ship date, or for no product, gives none), and a payload's
delivery window is kept only whole (`complete_payload`), so the console never shows
"hangzhou: null – null".

Before the agent sends a suggestion, `changes` looks every key up again in the catalog;
any difference is reported. `explain` says a change in the agent's language from
desk/texts.yml ("黑色42码库存现在是0（起草时是3）" / "Stock of black EU 42 is now 0 (was
3)"), and `redraft` re-renders the draft with the new figures where that can be done
safely (each old figure found exactly once in the words; a stock that is now 0 cannot be
re-worded), returning None otherwise.
"""

from __future__ import annotations

import copy
import re
from datetime import date, datetime
from typing import Any, Optional

from bot.settings import ROOT
from bot.texts import Texts
from bot.texts import money as bot_money
from catalog.queries import Catalog

from .texts import TEXTS

# dates in the words the bot writes them with (read from its word file, not its code)
BOT_TEXTS = Texts(ROOT / "actions" / "texts.yml")

_DELIVERY_KEYS = ("city", "city_name", "delivery_earliest", "delivery_latest")


def _parts(key: str) -> tuple[str, list[str]]:
    kind, _, rest = key.partition(":")
    return kind, rest.split(":")


def complete_payload(custom: Optional[dict]) -> Optional[dict]:
    """A bot payload without the parts it lacks: a shipping answer's delivery window (and
    its city) only when both its dates are known."""
    if not isinstance(custom, dict) or not custom:
        return custom
    if custom.get("type") == "shipping" and custom.get("city") and not (
            custom.get("delivery_earliest") and custom.get("delivery_latest")):
        return {k: v for k, v in custom.items() if k not in _DELIVERY_KEYS}
    return custom


def facts_of(custom: Optional[dict]) -> dict[str, Any]:
    """The checkable, complete facts in a bot payload (its `custom`: stock, price,
    shipping, recommendations; docs/actions.md)."""
    if not isinstance(custom, dict):
        return {}
    t = custom.get("type")
    out: dict[str, Any] = {}
    if t == "stock":
        for v in custom.get("variants") or []:
            if isinstance(v, dict) and v.get("sku") and v.get("available") is not None:
                out[f"stock:{v['sku']}"] = v["available"]
    elif t in ("price", "discount", "product_details"):
        if custom.get("product_id") and custom.get("price") is not None:
            out[f"price:{custom['product_id']}"] = custom["price"]
    elif t == "shipping":
        if custom.get("product_id") and custom.get("sku") and custom.get("ship_date"):
            key = ":".join(str(custom.get(k) or "") for k in
                           ("product_id", "sku", "quantity", "city"))
            out[f"ship_date:{key}"] = custom["ship_date"]
    elif t == "recommendations":
        for item in custom.get("items") or []:
            if isinstance(item, dict) and item.get("product_id") and \
                    item.get("price") is not None:
                out[f"price:{item['product_id']}"] = item["price"]
    return out


def current_value(catalog: Catalog, key: str, now: datetime) -> Any:
    kind, parts = _parts(key)
    if kind == "stock":
        v = catalog.sku_stock(parts[0])
        return v.available if v else None
    if kind == "price":
        p = catalog.price(parts[0])
        return p["price"] if p else None
    if kind == "ship_date":
        product_id, sku, quantity, city = (parts + ["", "", "", ""])[:4]
        ans = catalog.ship_date(now, product_id=product_id or None, sku=sku or None,
                                quantity=int(quantity or 1), city=city or None)
        return ans.ship_date.isoformat() if ans and ans.ship_date else None
    return None


def _same(old: Any, new: Any) -> bool:
    if isinstance(old, (int, float)) and isinstance(new, (int, float)):
        return abs(float(old) - float(new)) < 1e-9
    return old == new


def changes(catalog: Catalog, facts: dict[str, Any], now: datetime) -> list[dict]:
    """[{"field", "kind", "old", "new"}] for every fact that is no longer true (`kind`:
    stock, price, ship_date)."""
    out = []
    for key, old in (facts or {}).items():
        new = current_value(catalog, key, now)
        if not _same(old, new):
            out.append({"field": key, "kind": _parts(key)[0], "old": old, "new": new})
    return out


# -- in words --------------------------------------------------------------------------------
def money(value: Any) -> str:
    """A price as the bot writes it: "359", "359.50"."""
    return bot_money(float(value))


def variant_words(catalog: Catalog, sku: str, lang: str) -> str:
    """A SKU as a shopper names it: "黑色42码" / "black EU 42" (the SKU when unknown)."""
    v = catalog.sku_stock(sku)
    if v is None:
        return sku
    return TEXTS.render("fact_variant", lang,
                        color=catalog.color_name(v.color, lang) if v.color else "",
                        size=catalog.size_name(v.size, lang) if v.size else "")


def _date_words(value: Any, lang: str) -> str:
    try:
        return BOT_TEXTS.short_date(date.fromisoformat(str(value)), lang)
    except ValueError:
        return str(value)


def explain(catalog: Catalog, change: dict, lang: str) -> str:
    """One change in the agent's language (desk/texts.yml `fact_*`)."""
    kind, parts = _parts(change["field"])
    old, new = change["old"], change["new"]
    if kind == "stock":
        what = variant_words(catalog, parts[0], lang)
        if new is None:
            return TEXTS.render("fact_gone", lang, what=what, old=old)
        return TEXTS.render("fact_stock_changed", lang, variant=what, old=old, new=new)
    if kind == "price":
        product = catalog.product(parts[0])
        what = product.name(lang) if product else parts[0]
        if new is None:
            return TEXTS.render("fact_gone", lang, what=what, old=f"¥{money(old)}")
        return TEXTS.render("fact_price_changed", lang, product=what, old=money(old),
                            new=money(new))
    if kind == "ship_date":
        sku = parts[1] if len(parts) > 1 else ""
        what = variant_words(catalog, sku, lang) if sku else parts[0]
        if new is None:
            return TEXTS.render("fact_ship_date_gone", lang, variant=what,
                                old=_date_words(old, lang))
        return TEXTS.render("fact_ship_date_changed", lang, variant=what,
                            old=_date_words(old, lang), new=_date_words(new, lang))
    return TEXTS.render("fact_gone", lang, what=change["field"], old=old)


# -- the draft with the new figures ----------------------------------------------------------
def _number(value: str) -> re.Pattern:
    """`value` as a whole number in a text (not part of a longer number)."""
    return re.compile(rf"(?<![\d.]){re.escape(value)}(?![\d]|\.\d)")


def _replace_once(text: str, pattern: re.Pattern, new: str) -> Optional[str]:
    """`text` with the one match of `pattern` replaced; the text itself when there is
    none; None when there are several (which one is meant is not known)."""
    found = pattern.findall(text)
    if len(found) > 1:
        return None
    return pattern.sub(lambda m: new, text) if found else text


def _date_phrases(day: date, today: date, lang: str) -> list[str]:
    return [BOT_TEXTS.day_phrase(day, today, lang), BOT_TEXTS.short_date(day, lang)]


def redraft(catalog: Catalog, suggestion: dict, changes_: list[dict], lang: str,
            now: datetime) -> Optional[dict]:
    """The draft with the catalog's new figures: {"text", "custom", "facts"}, or None
    when it cannot be re-worded safely (a figure that is gone or now 0, or found more
    than once in the words, a ship date written in none of the bot's ways). `lang` is the
    draft's language (the conversation's)."""
    text = suggestion.get("text") or ""
    custom = copy.deepcopy(suggestion.get("custom")) or {}
    drafted = datetime.fromisoformat(suggestion["created_at"]).date() \
        if suggestion.get("created_at") else now.date()
    for ch in changes_:
        kind, parts = _parts(ch["field"])
        old, new = ch["old"], ch["new"]
        if new is None or old is None:
            return None
        if kind == "stock":
            if new <= 0:
                return None
            text = _replace_once(text, _number(str(old)), str(new))
            for v in custom.get("variants") or []:
                if v.get("sku") == parts[0]:
                    v["available"] = new
        elif kind == "price":
            text = _replace_once(text, _number(money(old)), money(new))
            if custom.get("product_id") == parts[0] and "price" in custom:
                custom["price"] = new
            for item in custom.get("items") or []:
                if item.get("product_id") == parts[0]:
                    item["price"] = new
        elif kind == "ship_date":
            old_day, new_day = date.fromisoformat(old), date.fromisoformat(new)
            olds = _date_phrases(old_day, drafted, lang)
            news = _date_phrases(new_day, now.date(), lang)
            for before, after in zip(olds, news):
                replaced = _replace_once(text, re.compile(re.escape(before)), after)
                if replaced is not None and replaced != text:
                    text = replaced
                    break
            else:
                return None
            custom["ship_date"] = new
            for k in ("delivery_earliest", "delivery_latest"):
                custom.pop(k, None)
            custom = complete_payload(custom)
        else:
            return None
        if text is None:
            return None
    return {"text": text, "custom": custom, "facts": facts_of(custom)}
