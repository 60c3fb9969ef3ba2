"""Every sentence a shopper or an agent reads lives in one YAML file per component
(`actions/texts.yml` for the bot's replies, `desk/texts.yml` for the desk's notices,
pages and console): `key: {zh: ..., en: ...}`, with `{field}` placeholders. This module
loads such a file and renders a key the same way for every component, in the reader's
language, and tidies the result (no spaces inside Chinese sentences, no doubled
punctuation, no stray spaces before English punctuation).
"""

from __future__ import annotations

import functools
import re
import string
from datetime import date
from pathlib import Path
from typing import Any

import yaml

LANGUAGES = ("zh", "en")

_CJK = r"\u3400-\u9fff\uf900-\ufaff"
_ZH_PUNCT = r"，。！？：；、～（）《》“”‘’…·"
# a space (or several) with a Chinese character or full-width punctuation on either side
_ZH_SPACE = re.compile(rf"(?<=[{_CJK}{_ZH_PUNCT}])[ \t]+|[ \t]+(?=[{_CJK}{_ZH_PUNCT}])")
_ZH_DOUBLE = re.compile(r"([，。！？：；、])\1+")
_ZH_STOP_AFTER_STOP = re.compile(r"([。！？～])。")
_EN_SPACE_BEFORE = re.compile(r"[ \t]+([.,!?;:)])")
_EN_DOUBLE = re.compile(r"(?<!\.)([.!?,;:])\1(?!\.)")   # ".." or ",," but not "..."
_SPACES = re.compile(r"[ \t]{2,}")
_LIST_ITEM_SEPARATOR = re.compile(r"\s*[、,]\s*")


def tidy(text: str, lang: str) -> str:
    """Spacing and punctuation as a native reader expects them: "苔原冲锋衣 黑色L码 有现货。。"
    → "苔原冲锋衣黑色L码有现货。"; "in stock .. " → "in stock."."""
    text = _SPACES.sub(" ", text)
    if lang == "zh":
        text = _ZH_SPACE.sub("", text)
        text = _ZH_DOUBLE.sub(r"\1", text)
        text = _ZH_STOP_AFTER_STOP.sub(r"\1", text)
    else:
        text = _EN_SPACE_BEFORE.sub(r"\1", text)
        text = _EN_DOUBLE.sub(r"\1", text)
    return text.strip()


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


class Texts:
    """The texts of one component's YAML file (loaded once, on first use)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @functools.cached_property
    def entries(self) -> dict[str, dict]:
        with open(self.path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path}: expected a mapping of keys to texts")
        return data

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def entry(self, key: str) -> dict:
        try:
            return self.entries[key]
        except KeyError:
            raise KeyError(f"no text {key!r} in {self.path}") from None

    def template(self, key: str, lang: str) -> str:
        entry = self.entry(key)
        return str(entry.get(lang) or entry["en"])

    def render(self, key: str, lang: str, **fields: Any) -> str:
        """Text `key` in `lang` with its {fields} filled (a missing field is empty)."""
        text = string.Formatter().vformat(self.template(key, lang), (), _Blank(fields))
        return tidy(text, lang)

    def buttons(self, key: str, lang: str) -> list[dict]:
        """The entry's default buttons, titled in `lang`: [{"title", "payload"}]."""
        return [{"title": b.get(lang) or b["en"], "payload": b["payload"]}
                for b in self.entry(key).get("buttons") or []]

    def words(self, key: str, lang: str) -> list[str]:
        """A word list ("一、二、三" / "Mon, Tue, Wed") as a list."""
        return _LIST_ITEM_SEPARATOR.split(self.template(key, lang).strip())

    def short_date(self, day: date, lang: str) -> str:
        """"11月20日" / "20 Nov", from the file's `date` template and `months` words."""
        return self.render("date", lang, month=self.words("months", lang)[day.month - 1],
                           day=day.day)

    def day_phrase(self, day: date, today: date, lang: str) -> str:
        """"today"/"今天", "tomorrow"/"明天" (and "后天") from the `relative_days` words,
        else the date with its weekday."""
        delta = (day - today).days
        relative = self.words("relative_days", lang)
        if 0 <= delta < len(relative):
            return relative[delta]
        return self.render("date_with_weekday", lang,
                           month=self.words("months", lang)[day.month - 1], day=day.day,
                           weekday=self.words("weekdays", lang)[day.weekday()])

    def fields(self, key: str, lang: str) -> set[str]:
        """The {field} names the template of `key` in `lang` uses."""
        return {name for _, name, _, _ in string.Formatter().parse(self.template(key, lang))
                if name}


def money(value: float) -> str:
    """An amount as every component writes it: "359", "359.50"."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
