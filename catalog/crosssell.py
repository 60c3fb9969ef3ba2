"""Cross-sells: which products to offer beside the ones a shopper looks at or has in the cart.

Mining (`mine_catalog`, `count_baskets`, `derive_pairs`) turns the order history into the
`crosssell` table: for every pair of products bought together in at least `min_together`
orders, the count, support, confidence, lift and the ranking score. It works at product
level (an order's SKUs are mapped to their products first), so variants of one product never
recommend each other. Products with little history also get rows from the category
complement rules (`COMPLEMENT_RULES`, source 'rule'), and serving falls back to the same
rules for products mined before they existed.

The ranking score is confidence shrunk toward popularity:

    score(A -> B) = (together(A, B) + alpha * orders(B) / orders) / (orders(A) + alpha)

chosen by measurement (docs/crosssell.md, bench/bench_crosssell.py): lift ranks rare items
first and loses even to "most popular"; plain confidence is noisy for products with few
orders; the shrinkage keeps the co-purchase signal where there is evidence and falls back
to popularity where there is none.

Serving (`recommend`) returns up to k items in stock, not the products asked about, at most
one per category, each with a reason in the shopper's language.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .queries import Catalog, Product
from .schema import create_crosssell_tables

# -- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MiningParams:
    """What `derive_pairs` keeps and how it ranks.

    score: "shrunk" (the default, see the module docstring), "confidence", "lift" or
    "together" (raw co-count); the others exist so the evaluation can compare them.
    """

    min_together: int = 2          # orders holding both products
    min_support: float = 0.0       # fraction of all orders holding both
    alpha: float = 30.0            # shrinkage toward popularity, in orders (measured)
    top_per_product: int = 30      # rows kept per product (by score)
    min_history: int = 20          # products in fewer orders also get rule rows
    max_basket: int = 100          # larger baskets (B2B, resellers) count only their first
    score: str = "shrunk"


DEFAULT_PARAMS = MiningParams()

SCORES = ("shrunk", "confidence", "lift", "together")

# Category complements for products with little history: a merchandiser's "what goes with
# what", keyed by the demo shop's categories (a shop with other categories edits this).
COMPLEMENT_RULES: dict[str, tuple[str, ...]] = {
    "running_shoes": ("socks", "insoles", "caps"),
    "hiking_shoes": ("socks", "insoles", "trekking_poles"),
    "shell_jackets": ("base_layers", "pants", "backpacks"),
    "down_jackets": ("base_layers", "caps", "pants"),
    "base_layers": ("shell_jackets", "pants", "socks"),
    "tshirts": ("caps", "pants", "socks"),
    "pants": ("base_layers", "hiking_shoes", "socks"),
    "backpacks": ("trekking_poles", "caps", "base_layers"),
    "trekking_poles": ("backpacks", "hiking_shoes", "socks"),
    "socks": ("insoles", "running_shoes"),
    "insoles": ("socks", "running_shoes"),
    "caps": ("tshirts", "socks"),
}
RULE_PRODUCTS_PER_CATEGORY = 3

REASONS = {
    "mined": {"zh": "经常一起购买", "en": "often bought together"},
    "rule": {"zh": "搭配成套", "en": "completes the outfit"},
    "popular": {"zh": "店铺热销", "en": "a best seller"},
}


def pair_score(together: int, orders_a: int, orders_b: int, n_orders: int,
               params: MiningParams = DEFAULT_PARAMS) -> float:
    """The ranking score of B as a cross-sell for A (see the module docstring)."""
    if params.score == "confidence":
        return together / orders_a if orders_a else 0.0
    if params.score == "lift":
        return together * n_orders / (orders_a * orders_b) if orders_a and orders_b else 0.0
    if params.score == "together":
        return float(together)
    pop_b = orders_b / n_orders if n_orders else 0.0
    return (together + params.alpha * pop_b) / (orders_a + params.alpha)


# -- mining -------------------------------------------------------------------------------------


@dataclass
class BasketCounts:
    """Orders per item and per unordered item pair, over `n_orders` baskets."""

    items: list[str]                 # index -> item
    item_orders: list[int]           # index -> orders holding it
    pairs: dict[int, int]            # (i << 32 | j) with i < j -> orders holding both
    n_orders: int


def count_baskets(baskets: Iterable[Iterable[str]], *, max_basket: int = 100,
                  progress: Callable[[int], None] | None = None) -> BasketCounts:
    """Count orders per item and per item pair, one basket at a time (streaming).

    A basket is the items of one order; repeated items count once. Memory grows with the
    distinct items and pairs, not with the orders.
    """
    index: dict[str, int] = {}
    items: list[str] = []
    item_orders: list[int] = []
    pairs: dict[int, int] = defaultdict(int)
    n_orders = 0
    for basket in baskets:
        ids = set()
        for item in basket:
            i = index.get(item)
            if i is None:
                i = index[item] = len(items)
                items.append(item)
                item_orders.append(0)
            ids.add(i)
        if not ids:
            continue
        n_orders += 1
        if len(ids) > max_basket:
            ids = set(sorted(ids)[:max_basket])
        for i in ids:
            item_orders[i] += 1
        if len(ids) > 1:
            for i, j in itertools.combinations(sorted(ids), 2):
                pairs[i << 32 | j] += 1
        if progress and n_orders % 100_000 == 0:
            progress(n_orders)
    return BasketCounts(items, item_orders, dict(pairs), n_orders)


@dataclass(frozen=True)
class PairRow:
    product_id: str
    related_id: str
    together: int
    support: float
    confidence: float
    lift: float
    score: float
    source: str = "mined"

    def as_tuple(self) -> tuple:
        return (self.product_id, self.related_id, self.together, self.support,
                self.confidence, self.lift, self.score, self.source)


def pair_row(a: str, b: str, together: int, n_a: int, n_b: int, n: int,
             params: MiningParams, source: str = "mined") -> PairRow:
    return PairRow(a, b, together, together / n if n else 0.0,
                   together / n_a if n_a else 0.0,
                   together * n / (n_a * n_b) if n_a and n_b else 0.0,
                   pair_score(together, n_a, n_b, n, params), source)


def derive_pairs(counts: BasketCounts,
                 params: MiningParams = DEFAULT_PARAMS) -> dict[str, list[PairRow]]:
    """For every item, its related items (both directions of each kept pair), best first.

    Keeps pairs bought together in at least `min_together` orders and `min_support` of all
    orders; at most `top_per_product` per item.
    """
    n = counts.n_orders
    min_count = max(params.min_together, 1, int(params.min_support * n + 0.999999))
    by_item: dict[int, list[tuple[int, int]]] = defaultdict(list)
    mask = (1 << 32) - 1
    for key, together in counts.pairs.items():
        if together < min_count:
            continue
        i, j = key >> 32, key & mask
        by_item[i].append((j, together))
        by_item[j].append((i, together))
    out: dict[str, list[PairRow]] = {}
    names, orders = counts.items, counts.item_orders
    for i, related in by_item.items():
        rows = [pair_row(names[i], names[j], c, orders[i], orders[j], n, params)
                for j, c in related]
        rows.sort(key=lambda r: (-r.score, -r.together, r.related_id))
        out[names[i]] = rows[:params.top_per_product]
    return out


def popular_items(counts: BasketCounts, limit: int | None = None) -> list[str]:
    """Items by the number of orders holding them, most first."""
    order = sorted(range(len(counts.items)),
                   key=lambda i: (-counts.item_orders[i], counts.items[i]))
    return [counts.items[i] for i in order[:limit]]


def rank_related(item: str, pairs: dict[str, list[PairRow]], popular: Sequence[str],
                 k: int, exclude: Iterable[str] = ()) -> list[str]:
    """Up to k items for `item`: its mined pairs by score, then the most popular items.

    The recommender without a catalog (no stock, no categories): what the evaluation
    measures. Never returns `item` itself or anything in `exclude`.
    """
    skip = {item, *exclude}
    out: list[str] = []
    for candidate in itertools.chain((r.related_id for r in pairs.get(item, ())), popular):
        if candidate not in skip:
            skip.add(candidate)
            out.append(candidate)
            if len(out) == k:
                break
    return out


@dataclass(frozen=True)
class MiningReport:
    order_lines: int
    orders: int
    products: int
    pairs: int            # distinct product pairs bought together at least once
    mined_rows: int
    rule_rows: int
    seconds: float


def _catalog_baskets(conn: sqlite3.Connection, lines: Callable[[int], None] | None,
                     ) -> Iterator[Iterator[str]]:
    """Each order's products, streamed from the database sorted by order id."""
    cur = conn.execute("SELECT oi.order_id, v.product_id FROM order_items oi"
                       " JOIN variants v ON v.sku = oi.sku ORDER BY oi.order_id")
    seen = [0]

    def rows() -> Iterator[tuple]:
        while batch := cur.fetchmany(10_000):
            yield from batch
            seen[0] += len(batch)
            if lines:
                lines(seen[0])

    for _order, group in itertools.groupby(rows(), key=lambda r: r[0]):
        yield (r[1] for r in group)


def mine_catalog(path: str | Path, params: MiningParams = DEFAULT_PARAMS, *,
                 progress: Callable[[int, int], None] | None = None) -> MiningReport:
    """Rebuild the `crosssell` and `crosssell_items` tables of a catalog from its orders.

    `progress(done, total)` is called with order lines read so far. The old rows stay
    visible to readers until the new ones are committed (one transaction).
    """
    t0 = time.perf_counter()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"catalog database not found: {path}")
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-200000")
        create_crosssell_tables(conn)
        total = conn.execute("SELECT COUNT(*) FROM order_items").fetchone()[0]
        tick = (lambda done: progress(done, total)) if progress else None
        counts = count_baskets(_catalog_baskets(conn, tick), max_basket=params.max_basket)
        pairs = derive_pairs(counts, params)
        categories = dict(conn.execute("SELECT product_id, category FROM products"))
        rules = _rule_rows(counts, pairs, categories, params)
        with conn:
            conn.execute("DELETE FROM crosssell")
            conn.execute("DELETE FROM crosssell_items")
            conn.executemany(
                "INSERT INTO crosssell_items (product_id, category, orders) VALUES (?,?,?)",
                ((p, categories.get(p), n)
                 for p, n in zip(counts.items, counts.item_orders)))
            conn.executemany(
                "INSERT INTO crosssell (product_id, related_id, together, support,"
                " confidence, lift, score, source) VALUES (?,?,?,?,?,?,?,?)",
                (r.as_tuple() for rows in itertools.chain(pairs.values(), rules)
                 for r in rows))
        conn.execute("ANALYZE crosssell")
        return MiningReport(total, counts.n_orders, len(counts.items), len(counts.pairs),
                            sum(len(v) for v in pairs.values()),
                            sum(len(v) for v in rules), time.perf_counter() - t0)
    finally:
        conn.close()


def _rule_rows(counts: BasketCounts, pairs: dict[str, list[PairRow]],
               categories: dict[str, str], params: MiningParams) -> list[list[PairRow]]:
    """Rule rows for the products with fewer than `min_history` orders (new products).

    Each gets the most popular products of its category's complement categories.
    """
    by_cat: dict[str, list[str]] = defaultdict(list)
    for item in popular_items(counts):
        cat = categories.get(item)
        if cat and len(by_cat[cat]) < RULE_PRODUCTS_PER_CATEGORY:
            by_cat[cat].append(item)
    orders = dict(zip(counts.items, counts.item_orders))
    index = {item: i for i, item in enumerate(counts.items)}
    n = counts.n_orders
    out = []
    for product, cat in categories.items():
        n_a = orders.get(product, 0)
        if n_a >= params.min_history:
            continue
        mined = {r.related_id for r in pairs.get(product, ())}
        rows = []
        for comp in COMPLEMENT_RULES.get(cat, ()):
            for other in by_cat.get(comp, ()):
                if other in mined or other == product:
                    continue
                together = 0
                if product in index:
                    i, j = sorted((index[product], index[other]))
                    together = counts.pairs.get(i << 32 | j, 0)
                rows.append(pair_row(product, other, together, n_a, orders.get(other, 0),
                                     n, params, source="rule"))
        if rows:
            out.append(rows)
    return out


# -- serving ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    name_en: str
    name_zh: str
    price: float
    category: str
    together: int                 # orders that held both (0 for rule and popular picks)
    source: str = "mined"         # "mined", "rule" or "popular"
    score: float = 0.0

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def reason(self, lang: str) -> str:
        texts = REASONS.get(self.source, REASONS["mined"])
        return texts["zh"] if lang == "zh" else texts["en"]

    def as_item(self, lang: str) -> dict:
        """The item of a `recommendations` payload (docs/crosssell.md)."""
        return {"product_id": self.product_id, "name": self.name(lang), "price": self.price,
                "reason": self.reason(lang)}


def _has_table(catalog: Catalog, name: str) -> bool:
    return catalog._one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (name,)) is not None


def _base_products(catalog: Catalog, product_ids: Iterable[str]) -> list[Product]:
    """The products asked about; a SKU (from a cart) stands for its product."""
    out: dict[str, Product] = {}
    for pid in product_ids:
        p = catalog.product(pid)
        if p is None:
            row = catalog._one("SELECT product_id FROM variants WHERE sku = ?", (pid,))
            p = catalog.product(row["product_id"]) if row else None
        if p is not None:
            out.setdefault(p.product_id, p)
    return list(out.values())


def _candidates(catalog: Catalog, bases: list[Product]) -> Iterator[tuple[str, str, int, float]]:
    """(product_id, source, together, score), best first: mined pairs, the category rules,
    then the best sellers. Lazy: serving stops as soon as it has k items."""
    ids = [b.product_id for b in bases]
    marks = ",".join("?" * len(ids))
    mined = _has_table(catalog, "crosssell")
    if mined:
        rows = catalog._all(
            f"SELECT related_id, MIN(source) AS source, SUM(together) AS together,"
            f" SUM(score) AS score FROM crosssell WHERE product_id IN ({marks})"
            f" GROUP BY related_id ORDER BY MIN(source), SUM(score) DESC LIMIT 100", ids)
    else:   # not mined yet: co-purchase counts read live (fine for a small shop)
        rows = catalog._all(
            f"SELECT v2.product_id AS related_id, 'mined' AS source,"
            f" COUNT(DISTINCT oi.order_id) AS together, 0.0 AS score"
            f" FROM variants v JOIN order_items oi ON oi.sku = v.sku"
            f" JOIN order_items oi2 ON oi2.order_id = oi.order_id"
            f" JOIN variants v2 ON v2.sku = oi2.sku WHERE v.product_id IN ({marks})"
            f" GROUP BY v2.product_id ORDER BY together DESC LIMIT 100", ids)
    for r in rows:
        yield r["related_id"], r["source"], int(r["together"]), float(r["score"])
    popularity = _has_table(catalog, "crosssell_items")
    for cat in dict.fromkeys(c for b in bases for c in COMPLEMENT_RULES.get(b.category, ())):
        if popularity:
            rule = catalog._all("SELECT product_id FROM crosssell_items WHERE category = ?"
                                " ORDER BY orders DESC LIMIT 10", (cat,))
        else:
            rule = catalog._all("SELECT product_id FROM products WHERE category = ?"
                                " ORDER BY product_id LIMIT 10", (cat,))
        for r in rule:
            yield r["product_id"], "rule", 0, 0.0
    if popularity:
        for r in catalog._all("SELECT product_id FROM crosssell_items"
                              " ORDER BY orders DESC LIMIT 100"):
            yield r["product_id"], "popular", 0, 0.0


def recommend(catalog: Catalog, product_ids: str | Iterable[str], lang: str = "zh", *,
              k: int = 3, exclude: Iterable[str] = ()) -> list[Recommendation]:
    """Up to `k` cross-sells for the product(s) in view or in the cart.

    Each is in stock, none is one of `product_ids` (product ids or SKUs) or in `exclude`
    (already offered), at most one per category and none of the categories asked about.
    Mined pairs come first, then the category rules, then best sellers; each carries a
    reason in `lang` ("often bought together" / "经常一起购买", ...).
    """
    if isinstance(product_ids, str):
        product_ids = [product_ids]
    bases = _base_products(catalog, product_ids)
    if not bases or k <= 0:
        return []
    skip = {b.product_id for b in bases} | set(exclude)
    used_categories = {b.category for b in bases}
    out: list[Recommendation] = []
    for pid, source, together, score in _candidates(catalog, bases):
        if pid in skip:
            continue
        skip.add(pid)
        p = catalog.product(pid)
        if p is None or p.category in used_categories:
            continue
        stock = catalog.stock(pid)
        if stock is None or stock.available <= 0:
            continue
        used_categories.add(p.category)
        out.append(Recommendation(p.product_id, p.name_en, p.name_zh, p.price, p.category,
                                  together, source, score))
        if len(out) == k:
            break
    return out


def related_products(catalog: Catalog, product_id: str, *, k: int = 3,
                     exclude: set[str] | frozenset[str] = frozenset()) -> list[Recommendation]:
    """Up to `k` in-stock cross-sells for one product (`recommend` without a language)."""
    return recommend(catalog, [product_id], "en", k=k, exclude=exclude)
