"""What every action shares: the catalog (opened lazily, never at import), the shopper's
language, page context, bilingual formatting of dates and lists, and a guard that turns
any failure into a polite handoff instead of an exception.
"""

from __future__ import annotations

import abc
import functools
import logging
import re
import string
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Optional

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.settings import get_settings
from catalog.queries import Catalog

if TYPE_CHECKING:
    from .context import Context

logger = logging.getLogger(__name__)

_catalogs: dict[str, Catalog] = {}
WEEKDAYS_ZH = "一二三四五六日"
MONTHS_EN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
             "Dec"]
LOW_STOCK = 3


def get_catalog() -> Catalog:
    """The catalog named by the settings, opened on first use (one per path)."""
    path = str(get_settings().catalog_path)
    if path not in _catalogs:
        _catalogs[path] = Catalog(path)
    return _catalogs[path]


def now() -> datetime:
    return get_settings().now()


# -- language --------------------------------------------------------------------------------
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
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


def latest_entities(tracker: Tracker, name: str) -> list[Any]:
    return [e.get("value") for e in (tracker.latest_message or {}).get("entities") or []
            if e.get("entity") == name]


def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "")


def latest_intent(tracker: Tracker) -> str:
    return str(((tracker.latest_message or {}).get("intent") or {}).get("name") or "")


# -- formatting ------------------------------------------------------------------------------
def join_list(items: Iterable[str], lang: str) -> str:
    items = [i for i in items if i]
    if lang == "zh":
        return "、".join(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def day_phrase(day: date, today: date, lang: str) -> str:
    """"today"/"今天", "tomorrow"/"明天", else the date with its weekday."""
    delta = (day - today).days
    if lang == "zh":
        if delta == 0:
            return "今天"
        if delta == 1:
            return "明天"
        if delta == 2:
            return "后天"
        return f"{day.month}月{day.day}日（周{WEEKDAYS_ZH[day.weekday()]}）"
    if delta == 0:
        return "today"
    if delta == 1:
        return "tomorrow"
    return f"on {day.strftime('%a')} {day.day} {MONTHS_EN[day.month - 1]}"


def short_date(day: date, lang: str) -> str:
    if lang == "zh":
        return f"{day.month}月{day.day}日"
    return f"{day.day} {MONTHS_EN[day.month - 1]}"


def money(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def variant_label(catalog: Catalog, color: Optional[str], size: Optional[str],
                  lang: str) -> str:
    parts = []
    if color:
        parts.append(catalog.color_name(color, lang))
    if size:
        parts.append(catalog.size_name(size, lang))
    return " ".join(parts) if lang == "en" else "".join(parts)


def free_shipping_phrase(catalog: Catalog, lang: str) -> str:
    threshold = catalog.free_shipping_threshold
    if threshold is None:
        return ""
    if lang == "zh":
        return f"全店满{money(threshold)}元包邮～"
    return f"Free shipping on orders over ¥{money(threshold)}."


# -- texts -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def texts() -> dict:
    """The bilingual texts of actions/texts.yml."""
    with open(Path(__file__).with_name("texts.yml"), encoding="utf-8") as f:
        return yaml.safe_load(f)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(key: str, lang: str, **fields: Any) -> str:
    """The text `key` in the shopper's language with its {fields} filled."""
    entry = texts()[key]
    template = entry.get(lang) or entry["en"]
    text = string.Formatter().vformat(template, (), _Blank(fields))
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def say(dispatcher: CollectingDispatcher, lang: str, key: str, *,
        custom: Optional[dict] = None, buttons: Optional[list] = None, **fields: Any) -> None:
    """Send text `key` (with its default buttons) and the facts behind it in `custom`."""
    if buttons is None:
        buttons = [{"title": b.get(lang) or b["en"], "payload": b["payload"]}
                   for b in texts()[key].get("buttons", [])]
    dispatcher.utter_message(text=render(key, lang, **fields), buttons=buttons or [],
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


# -- the base of every shop action --------------------------------------------------------------
class ShopAction(Action, abc.ABC):
    """An action that knows the conversation's context and never raises.

    `run` computes the context (language, product, ...; see actions/context.py), calls
    `answer`, and returns the context's slot events with the answer's. Any exception
    becomes a polite reply and a handoff (`action_failure`).
    """

    @abc.abstractmethod
    async def answer(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                     ctx: "Context") -> list:
        """Send the reply; return extra events."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict) -> list:
        from .context import context_of

        ctx = None
        try:
            ctx = context_of(tracker)
            events = await self.answer(dispatcher, tracker, ctx) or []
            return ctx.slot_events() + list(events)
        except Exception:  # noqa: BLE001 - the shopper must always get an answer
            logger.exception("action %s failed", self.name())
            dispatcher.messages.clear()
            say(dispatcher, ctx.language if ctx else language_of(tracker), "action_failed",
                custom=handoff_payload("action_failure", action=self.name()))
            return ctx.slot_events() if ctx else []
