"""How the bot writes dates and word lists ("11月20日" / "20 Nov", "明天" / "tomorrow",
"周五" / "Fri"), from the bot's own texts (actions/texts.yml). Shared by the actions, which
write them, and the desk (desk/facts.py), which finds and re-words them in a drafted reply
and must write a date exactly as the bot did; the desk imports no action code, so the
phrasing lives here, one layer below both.
"""

from __future__ import annotations

import functools
import re
from datetime import date

from bot.settings import ROOT
from bot.texts import Texts

_LIST_ITEM_SEPARATOR = re.compile(r"\s*[、,]\s*")


@functools.lru_cache(maxsize=1)
def bot_texts() -> Texts:
    """The bot's replies (actions/texts.yml)."""
    return Texts(ROOT / "actions" / "texts.yml")


def words(key: str, lang: str) -> list[str]:
    """A word list of actions/texts.yml ("一、二、三" / "Mon, Tue, Wed") as a list."""
    return _LIST_ITEM_SEPARATOR.split(bot_texts().template(key, lang).strip())


def short_date(day: date, lang: str) -> str:
    """"11月20日" / "20 Nov"."""
    return bot_texts().render("date", lang, month=words("months", lang)[day.month - 1],
                              day=day.day)


def day_phrase(day: date, today: date, lang: str) -> str:
    """"today"/"今天", "tomorrow"/"明天" (and "后天"), else the date with its weekday."""
    delta = (day - today).days
    relative = words("relative_days", lang)
    if 0 <= delta < len(relative):
        return relative[delta]
    return bot_texts().render("date_with_weekday", lang,
                              month=words("months", lang)[day.month - 1], day=day.day,
                              weekday=words("weekdays", lang)[day.weekday()])
