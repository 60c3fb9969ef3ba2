"""Find catalog entities in shopper text: products, colours, sizes, cities, categories,
order ids and quantities, in Chinese, English or both mixed; and places outside the
cities (the catalog's shipping regions: Hong Kong, Tokyo, the UK...).

Phrase patterns are data (`{"label", "pattern", "id"}` dicts, JSONL on disk) matched with
a spaCy `PhraseMatcher` (attribute LOWER) over character-level docs: every non-space
character is a token, so matching ignores case and spacing ("Swift Running Shoes",
"swiftrunningshoes", "疾风 跑鞋") and works inside unsegmented Chinese. Latin-script
matches must sit on word boundaries ("red" never matches inside "ordered"). Order ids and
quantities are regular expressions.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable

import spacy
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc

LABELS = ("product", "category", "color", "size", "city", "order_id", "quantity", "place")
PRIORITY = {"product": 0, "order_id": 1, "city": 2, "category": 3, "color": 4, "size": 5,
            "quantity": 6, "place": 7}
# the region whose names are too common to mark a message as naming a place ("中国", "China",
# "国内" in "made in China", "国内现货"); every other region of the catalog is a place
HOME_REGION = "cn_mainland"

ORDER_ID_RE = re.compile(r"(?<![0-9A-Za-z])(?:[A-Za-z]{1,3}-?)?\d{10,20}(?![0-9A-Za-z])")
_NUM_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
              "eight": 8, "nine": 9, "ten": 10, "a couple of": 2, "a pair of": 1,
              "一": 1, "两": 2, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9, "十": 10, "俩": 2}
QUANTITY_RE = re.compile(
    r"(?P<n>\d{1,3}|一|两|二|三|四|五|六|七|八|九|十|俩)\s*(?:双|件|个|条|顶|副|套|只|把|份|包)"
    r"|(?<![A-Za-z])(?P<w>\d{1,3}|one|two|three|four|five|six|seven|eight|nine|ten|"
    r"a couple of)\s+(?:pairs?|pcs|pieces?|units?|items?|of (?:them|these|those|it))\b"
    r"|(?<![A-Za-z0-9])[x×]\s?(?P<x>\d{1,3})(?![0-9])",
    re.I)
_LATIN = re.compile(r"[0-9A-Za-z]")
_CJK = re.compile(r"[\u3400-\u9fff]")
# after a numeric size: these mean the number is something else (weight, price, date...)
_NOT_SIZE_AFTER = re.compile(r"^\s*(?:[\d.%:]|kg|cm|mm|g\b|元|块|斤|公斤|岁|天|件|双|个|月|日|"
                             r"号线|点|米|年|分|秒|折|人|次|单|w\b|rmb|yuan|km|min|h\b)", re.I)
_NOT_SIZE_BEFORE = re.compile(r"(?:[\d.¥$]|第|rmb\s?|no\.?\s?)$", re.I)
_CJK_SINGLE_OK_AFTER = set("的色款码号吗呢啊么嘛")


class CatalogMatcher:
    """Matches catalog patterns in text. Build with `from_catalog` or `from_patterns`."""

    def __init__(self, patterns: list[dict]):
        for p in patterns:
            if p.get("label") not in LABELS or not str(p.get("pattern", "")).strip():
                raise ValueError(f"pattern needs a label in {LABELS} and a non-empty "
                                 f"pattern, got {p!r}")
        self.patterns = patterns
        self.nlp = spacy.blank("zh")  # character segmenter: no model, no download
        self.matcher = PhraseMatcher(self.nlp.vocab, attr="LOWER")
        self._ids: dict[str, tuple[str, str]] = {}
        by_key: dict[str, list] = {}
        for p in patterns:
            key = f"{p['label']}|{p['id']}"
            self._ids[key] = (p["label"], str(p["id"]))
            by_key.setdefault(key, []).append(self._char_doc(str(p["pattern"]))[0])
        for key, docs in by_key.items():
            self.matcher.add(key, docs)

    def _char_doc(self, text: str) -> tuple[Doc, list[int]]:
        """A doc of one token per non-space character, and each token's offset in text."""
        offsets = [i for i, ch in enumerate(text) if not ch.isspace()]
        words = [text[i] for i in offsets]
        return Doc(self.nlp.vocab, words=words, spaces=[False] * len(words)), offsets

    # -- building -------------------------------------------------------------------------
    @classmethod
    def from_patterns(cls, patterns: Iterable[dict]) -> "CatalogMatcher":
        return cls(list(patterns))

    @classmethod
    def from_jsonl(cls, path: str | Path) -> "CatalogMatcher":
        with open(path, encoding="utf-8") as f:
            return cls([json.loads(line) for line in f if line.strip()])

    def to_jsonl(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as f:
            for p in self.patterns:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")

    @classmethod
    def from_catalog(cls, catalog_path: str | Path) -> "CatalogMatcher":
        return cls(patterns_from_catalog(catalog_path))

    # -- matching -------------------------------------------------------------------------
    def extract(self, text: str) -> list[dict]:
        """Entities in `text`: [{"entity", "start", "end", "value"}], in text order."""
        if not text or not text.strip():
            return []
        text = text[:2000]
        doc, offsets = self._char_doc(text)
        found = []
        for match_id, s, e in self.matcher(doc):
            label, value = self._ids[self.nlp.vocab.strings[match_id]]
            start, end = offsets[s], offsets[e - 1] + 1
            if self._acceptable(text, start, end, label):
                found.append((label, start, end, value))
        for m in ORDER_ID_RE.finditer(text):
            found.append(("order_id", m.start(), m.end(), re.sub(r"-", "", m.group(0))))
        for m in QUANTITY_RE.finditer(text):
            raw = (m.group("n") or m.group("w") or m.group("x") or "").lower()
            n = int(raw) if raw.isdigit() else _NUM_WORDS.get(raw)
            if n:
                found.append(("quantity", m.start(), m.end(), str(n)))
        # longest first, then by label priority; drop overlaps
        found.sort(key=lambda f: (-(f[2] - f[1]), PRIORITY[f[0]], f[1]))
        taken: list[tuple[int, int]] = []
        out = []
        for label, start, end, value in found:
            if any(start < te and ts < end for ts, te in taken):
                continue
            taken.append((start, end))
            out.append({"entity": label, "start": start, "end": end, "value": value,
                        "text": text[start:end]})
        out.sort(key=lambda e: e["start"])
        return out

    @staticmethod
    def _acceptable(text: str, start: int, end: int, label: str) -> bool:
        span = text[start:end]
        before, after = text[:start], text[end:]
        # latin word boundaries
        if _LATIN.match(span[0]) and before and (_LATIN.match(before[-1]) or before[-1] in "'’"):
            return False
        if _LATIN.match(span[-1]) and after and (_LATIN.match(after[0]) or after[0] in "'’"):
            return False
        if label == "size" and span.isdigit():
            if _NOT_SIZE_AFTER.match(after) or _NOT_SIZE_BEFORE.search(before):
                return False
        if label == "size" and span[0] in "大小中" and before.endswith(("多", "什么", "啥")):
            return False        # "穿多大码" asks for a size, it names none
        if len(span) == 1 and _CJK.match(span):
            if after and _CJK.match(after[0]) and after[0] not in _CJK_SINGLE_OK_AFTER:
                return False
            if label == "color" and before and before[-1] in "明网蓝加漂洗":
                return False
        return True


def patterns_from_catalog(catalog_path: str | Path) -> list[dict]:
    """Phrase patterns for every product, category, colour, size, city and place (shipping
    region other than the home one) in a catalog."""
    import sqlite3

    path = Path(catalog_path)
    if not path.exists():
        raise ValueError(f"catalog database not found at {path}: build it first "
                         "(`shopassist catalog demo` or `shopassist catalog import ...`)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        q = conn.execute
        pats: list[dict] = []
        seen: set[tuple[str, str]] = set()

        def add(label: str, pattern: str, id_: str) -> None:
            pattern = str(pattern or "").strip()
            key = (label, pattern.lower().replace(" ", ""))
            if pattern and key not in seen:
                seen.add(key)
                pats.append({"label": label, "pattern": pattern, "id": id_})

        for pid, en, zh in q("SELECT product_id, name_en, name_zh FROM products"):
            add("product", en, pid)
            add("product", zh, pid)
        for alias, pid in q("SELECT alias, product_id FROM product_aliases"):
            add("product", alias, pid)
        tables = {r[0] for r in q("SELECT name FROM sqlite_master WHERE type='table'")}
        for cat, en, zh in q("SELECT category, name_en, name_zh FROM categories"):
            add("category", en, cat)
            add("category", zh, cat)
        if "category_aliases" in tables:
            for alias, cat in q("SELECT alias, category FROM category_aliases"):
                add("category", alias, cat)
        for color, en, zh in q("SELECT color, name_en, name_zh FROM colors"):
            for p in (color, en, zh):
                add("color", p, color)
        for alias, color in q("SELECT alias, color FROM color_aliases"):
            add("color", alias, color)
        sizes = {r[0] for r in q("SELECT DISTINCT size FROM variants")}
        size_words = {s: s for s in sizes}
        for alias, size in q("SELECT alias, size FROM size_aliases"):
            if size in sizes:
                size_words[alias] = size
        for word, size in size_words.items():
            if word.lower() in ("one", "a", "i"):
                continue
            add("size", word, size)
            if not _CJK.search(word):
                for suffix in ("码", "号", "碼", "號"):
                    add("size", f"{word}{suffix}", size)
        for city, en, zh in q("SELECT city, name_en, name_zh FROM cities"):
            add("city", en, city)
            add("city", zh, city)
            add("city", f"{zh}市", city)
            if "'" in en:
                add("city", en.replace("'", ""), city)
        if "shipping_regions" in tables:
            for region, en, zh in q("SELECT region, name_en, name_zh FROM shipping_regions "
                                    "WHERE region != ?", (HOME_REGION,)):
                add("place", re.sub(r"^the ", "", en), region)
                add("place", zh, region)
        if "region_aliases" in tables:
            for alias, region in q("SELECT alias, region FROM region_aliases "
                                   "WHERE region != ?", (HOME_REGION,)):
                add("place", alias, region)
        return pats
    finally:
        conn.close()
