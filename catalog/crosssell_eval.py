"""An offline evaluation of the cross-sell recommender that any shop can run on its orders.

Input: a CSV `order_id,item[,created_at]` (without created_at the file's order is the time
order). The orders are split 80/20 by time; the recommender is mined on the older part with
the same code as `shopassist catalog mine` (catalog.crosssell.count_baskets/derive_pairs);
then for every item of every newer basket with at least two distinct items it is asked for
3 items given that one; a hit is any of them in the rest of the basket. Hit-rate@3 and MRR
(reciprocal rank of the first hit, 0 without one) are reported for the recommender and two
baselines: the most popular items, and the most popular items of the query's category
(when categories are known).

Two options make the figures honest about their uncertainty and their tuning:

- `bootstrap_difference`: a paired bootstrap over the newer baskets (each resample draws
  baskets with replacement, each with all its queries) of the hit-rate@3 difference
  recommender − most popular, with a percentile interval. It covers the sampling of the
  test baskets only: the mined model is held fixed (the older orders are not resampled).
- `choose_alpha`: the shrinkage α is chosen on a validation split carved from the older
  (training) part only, its newest `validation_fraction`; the newer (test) part is then
  asked once, with the chosen α, mined on the whole older part.

`grocery_orders` generates realistic supermarket-like baskets with a structure unlike the
demo shop's (Zipf popularity, shopping missions, a few complement pairs, drift), so the
score is chosen on more than the data it was built for.
"""

from __future__ import annotations

import bisect
import csv
import itertools
import math
import random
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

from .crosssell import (DEFAULT_PARAMS, MiningParams, count_baskets, derive_pairs,
                        popular_items, rank_related)


class TransactionsError(ValueError):
    """The transactions file cannot be read (what to fix is in the message)."""


@dataclass(frozen=True)
class Order:
    order_id: str
    items: tuple[str, ...]          # distinct, in file order
    created_at: str = ""            # ISO time, or "" when the file has none
    seq: int = 0                    # position of the order's first line in the file


def read_transactions(path: str | Path) -> list[Order]:
    """The orders of a CSV with header `order_id,item` (optional third column
    `created_at`), oldest first."""
    path = Path(path)
    if not path.exists():
        raise TransactionsError(f"{path}: file not found")
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["order_id", "item"] or header[2:] not in ([], ["created_at"]):
            raise TransactionsError(f"{path}: the header must be order_id,item or "
                                    f"order_id,item,created_at (found {','.join(header)})")
        return orders_from_rows(reader, where=str(path))


def orders_from_rows(rows: Iterable[Sequence[str]], where: str = "rows") -> list[Order]:
    """Group (order_id, item[, created_at]) rows into orders sorted by time."""
    items: dict[str, dict[str, None]] = {}
    times: dict[str, str] = {}
    seqs: dict[str, int] = {}
    for n, row in enumerate(rows, start=2):
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) < 2:
            raise TransactionsError(f"{where} line {n}: expected order_id,item")
        oid, item = row[0].strip(), row[1].strip()
        if not oid or not item:
            continue
        if oid not in items:
            items[oid] = {}
            seqs[oid] = n
        items[oid][item] = None
        if len(row) > 2 and row[2].strip() and not times.get(oid):
            times[oid] = row[2].strip()
    orders = [Order(oid, tuple(its), times.get(oid, ""), seqs[oid])
              for oid, its in items.items()]
    orders.sort(key=lambda o: (_time_key(o.created_at), o.seq))
    return orders


def _time_key(value: str) -> str:
    """ISO times sort as text once "T" and " " separators agree."""
    return value.replace(" ", "T")


def read_categories(path: str | Path) -> dict[str, str]:
    """item -> category from a CSV with header `item,category`."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["item", "category"]:
            raise TransactionsError(f"{path}: the header must be item,category")
        return {r[0].strip(): r[1].strip() for r in reader if len(r) >= 2 and r[0].strip()}


def catalog_categories(db_path: str | Path, items: Iterable[str]) -> dict[str, str] | None:
    """Categories of items that are product ids or SKUs of a catalog; None when fewer than
    half of the items are in it."""
    items = list(dict.fromkeys(items))
    if not items or not Path(db_path).exists():
        return None
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        by_product = dict(conn.execute("SELECT product_id, category FROM products"))
        out = {}
        for item in items:
            if item in by_product:
                out[item] = by_product[item]
            else:
                row = conn.execute("SELECT p.category FROM variants v JOIN products p"
                                   " ON p.product_id = v.product_id WHERE v.sku = ?",
                                   (item,)).fetchone()
                if row:
                    out[item] = row[0]
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()
    return out if len(out) * 2 >= len(items) else None


# -- the evaluation ------------------------------------------------------------------------------


@dataclass
class Metric:
    hits: int = 0
    reciprocal_ranks: float = 0.0
    queries: int = 0

    def add(self, recs: Sequence[str], rest: set[str]) -> None:
        self.queries += 1
        for rank, item in enumerate(recs, start=1):
            if item in rest:
                self.hits += 1
                self.reciprocal_ranks += 1.0 / rank
                return

    def as_dict(self) -> dict:
        n = self.queries or 1
        return {"hit_rate_at_3": round(self.hits / n, 4),
                "mrr": round(self.reciprocal_ranks / n, 4)}


@dataclass(frozen=True)
class BasketOutcome:
    """One newer basket's share of the figures: its queries (one per distinct item) and
    how many of them the recommender and the most-popular baseline hit."""

    queries: int
    model_hits: int
    popularity_hits: int


@dataclass
class EvalResult:
    model: Metric
    popularity: Metric
    same_category: Metric | None
    queries: int
    train_orders: int
    test_orders: int
    items: int
    params: MiningParams = field(default=DEFAULT_PARAMS)
    baskets: list[BasketOutcome] = field(default_factory=list)   # what the bootstrap draws

    def as_json(self) -> dict:
        """The figures, in the shape `shopassist crosssell eval --json` prints."""
        return {"model": self.model.as_dict(), "popularity": self.popularity.as_dict(),
                "same_category": self.same_category.as_dict() if self.same_category
                else None, "queries": self.queries}


def split_by_time(orders: Sequence[Order], train_fraction: float = 0.8
                  ) -> tuple[Sequence[Order], Sequence[Order]]:
    """(older, newer) parts of time-sorted orders."""
    cut = int(len(orders) * train_fraction)
    return orders[:cut], orders[cut:]


def evaluate(orders: Sequence[Order], *, categories: dict[str, str] | None = None,
             params: MiningParams = DEFAULT_PARAMS, k: int = 3,
             train_fraction: float = 0.8) -> EvalResult:
    """Hit-rate@k and MRR of the recommender and the baselines (module docstring)."""
    train, test = split_by_time(orders, train_fraction)
    counts = count_baskets((o.items for o in train), max_basket=params.max_basket)
    pairs = derive_pairs(counts, params)
    popular = popular_items(counts, limit=k + 1)
    by_category: dict[str, list[str]] = {}
    if categories:
        for item in popular_items(counts):
            cat = categories.get(item)
            if cat is not None and len(by_category.setdefault(cat, [])) <= k:
                by_category[cat].append(item)
    model, pop = Metric(), Metric()
    same = Metric() if categories else None
    outcomes: list[BasketOutcome] = []
    for o in test:
        basket = set(o.items)
        if len(basket) < 2:
            continue
        model_before, pop_before = model.hits, pop.hits
        for q in o.items:
            rest = basket - {q}
            model.add(rank_related(q, pairs, popular, k), rest)
            pop.add([i for i in popular if i != q][:k], rest)
            if same is not None:
                cat = categories.get(q)
                same.add([i for i in by_category.get(cat, ()) if i != q][:k], rest)
        outcomes.append(BasketOutcome(len(o.items), model.hits - model_before,
                                      pop.hits - pop_before))
    return EvalResult(model, pop, same, model.queries, len(train), len(test),
                      len(counts.items), params, outcomes)


# -- how sure: a paired bootstrap over the newer baskets --------------------------------------


@dataclass(frozen=True)
class BootstrapInterval:
    """The hit-rate difference recommender − most popular on the baskets asked
    (`difference`) and its percentile interval over `resamples` bootstrap resamples."""

    difference: float
    low: float
    high: float
    level: float
    resamples: int
    seed: int
    baskets: int

    def as_dict(self) -> dict:
        return {"difference": round(self.difference, 4), "low": round(self.low, 4),
                "high": round(self.high, 4), "level": self.level,
                "resamples": self.resamples, "seed": self.seed, "baskets": self.baskets}


def hit_rate_difference(baskets: Sequence[BasketOutcome]) -> float:
    """Hit-rate of the recommender minus that of the most popular items, over all the
    queries of `baskets` (a basket of n items weighs n queries)."""
    queries = sum(b.queries for b in baskets)
    if not queries:
        return 0.0
    return sum(b.model_hits - b.popularity_hits for b in baskets) / queries


def bootstrap_differences(baskets: Sequence[BasketOutcome], resamples: int = 1000,
                          seed: int = 1) -> list[float]:
    """`hit_rate_difference` of `resamples` resamples, each `len(baskets)` baskets drawn
    with replacement (paired: a drawn basket brings both methods' hits on its queries)."""
    if not baskets:
        raise ValueError("no baskets to resample")
    rng = random.Random(seed)
    queries = [b.queries for b in baskets]
    gains = [b.model_hits - b.popularity_hits for b in baskets]
    n = len(baskets)
    out = []
    for _ in range(resamples):
        drawn = rng.choices(range(n), k=n)
        out.append(sum(gains[i] for i in drawn) / sum(queries[i] for i in drawn))
    return out


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 < p <= 100) by nearest rank: the smallest value with at
    least p% of the values at or below it."""
    # rounded first, so that 2.5% of 1,000 is rank 25 and not 26 (binary fractions)
    rank = max(1, math.ceil(round(p / 100 * len(sorted_values), 9)))
    return sorted_values[rank - 1]


def bootstrap_difference(baskets: Sequence[BasketOutcome], resamples: int = 1000,
                         seed: int = 1, level: float = 0.95) -> BootstrapInterval:
    """Paired bootstrap over baskets of the hit-rate difference recommender − most
    popular: the percentile interval holding `level` of the resampled differences."""
    if resamples < 1:
        raise ValueError("resamples must be at least 1")
    values = sorted(bootstrap_differences(baskets, resamples, seed))
    tail = round((1 - level) / 2 * 100, 9)
    return BootstrapInterval(hit_rate_difference(baskets), percentile(values, tail),
                             percentile(values, 100 - tail), level, resamples, seed,
                             len(baskets))


# -- tuning without looking at the test orders ------------------------------------------------


@dataclass
class AlphaChoice:
    """The shrinkage α chosen on the validation split, and every candidate's figures."""

    alpha: float
    validation: list[tuple[float, EvalResult]]   # (α, figures on the validation split)
    validation_fraction: float

    def as_json(self) -> dict:
        first = self.validation[0][1] if self.validation else None
        return {"chosen": self.alpha, "validation_fraction": self.validation_fraction,
                "fit_orders": first.train_orders if first else 0,
                "validation_orders": first.test_orders if first else 0,
                "validation_queries": first.queries if first else 0,
                "validation": [{"alpha": a, **r.model.as_dict()}
                               for a, r in self.validation]}


def choose_alpha(train: Sequence[Order], alphas: Sequence[float], *,
                 params: MiningParams = DEFAULT_PARAMS, k: int = 3,
                 validation_fraction: float = 0.2) -> AlphaChoice:
    """Pick α on the training orders alone: mine on their older part, ask on their newest
    `validation_fraction`; the best hit-rate@k wins, then the best MRR, then the first
    listed. `train` is time-sorted and must not contain the orders to be reported."""
    if not alphas:
        raise ValueError("no candidate alpha")
    rows = [(float(a), evaluate(train, params=replace(params, alpha=float(a)), k=k,
                                train_fraction=1 - validation_fraction))
            for a in alphas]
    best = max(range(len(rows)), key=lambda i: (rows[i][1].model.hits,
                                                rows[i][1].model.reciprocal_ranks, -i))
    return AlphaChoice(rows[best][0], rows, validation_fraction)


def evaluate_choosing_alpha(orders: Sequence[Order], alphas: Sequence[float], *,
                            categories: dict[str, str] | None = None,
                            params: MiningParams = DEFAULT_PARAMS, k: int = 3,
                            train_fraction: float = 0.8,
                            validation_fraction: float = 0.2,
                            ) -> tuple[AlphaChoice, EvalResult]:
    """α chosen on a validation split of the older orders (`choose_alpha`), then the
    figures on the newer orders with that α, mined on all the older ones."""
    train, _test = split_by_time(orders, train_fraction)
    choice = choose_alpha(train, alphas, params=params, k=k,
                          validation_fraction=validation_fraction)
    result = evaluate(orders, categories=categories, k=k, train_fraction=train_fraction,
                      params=replace(params, alpha=choice.alpha))
    return choice, result


# -- data for the evaluation ----------------------------------------------------------------------


def export_catalog_orders(db_path: str | Path, out: str | Path) -> int:
    """Write a catalog's orders as `order_id,item,created_at` (items are product ids, so
    variants of one product count as one item). Returns the lines written."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    n = 0
    try:
        cur = conn.execute(
            "SELECT DISTINCT o.order_id, v.product_id, o.created_at FROM orders o"
            " JOIN order_items oi ON oi.order_id = o.order_id"
            " JOIN variants v ON v.sku = oi.sku ORDER BY o.created_at, o.order_id")
        with open(out, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["order_id", "item", "created_at"])
            while rows := cur.fetchmany(10_000):
                w.writerows(rows)
                n += len(rows)
    finally:
        conn.close()
    return n


def grocery_orders(n_orders: int = 60_000, n_items: int = 4_000, *, seed: int = 1,
                   ) -> tuple[list[Order], dict[str, str]]:
    """Supermarket-like baskets and each item's aisle (a structure unlike the demo shop's).

    - popularity is Zipf-like (s = 1): a few staples are in a large share of baskets;
    - a basket (mean about 9 items) mixes staples drawn by popularity with items of one to
      three shopping missions (a recipe, a party, a baby shop: 80 missions of 30 items from
      several aisles, each with its own favourites);
    - 8% of items have a complement bought with them a third of the time (pasta -> sauce);
    - missions are seasonal and 10% of items launch part-way through the year, so the newer
      orders are not drawn exactly like the older ones.
    """
    rng = random.Random(seed)
    n_aisles = 60
    names = [f"i{n:05d}" for n in range(n_items)]
    aisle = {name: f"aisle{rng.randrange(n_aisles):02d}" for name in names}
    ranks = list(range(n_items))
    rng.shuffle(ranks)
    pop = [1.0 / (r + 5) for r in ranks]
    launch = [rng.random() if rng.random() < 0.10 else 0.0 for _ in range(n_items)]
    missions = []
    for _ in range(80):
        members = rng.sample(range(n_items), 30)
        weights = [rng.paretovariate(1.2) * math.sqrt(pop[i] * n_items) for i in members]
        missions.append((members, list(itertools.accumulate(weights)),
                         rng.random() * 2 * math.pi))
    partner = {i: rng.randrange(n_items) for i in range(n_items) if rng.random() < 0.08}
    cum_pop = list(itertools.accumulate(pop))
    orders = []
    for n in range(n_orders):
        t = n / n_orders

        def live(i: int, t: float = t) -> bool:
            return launch[i] <= t

        season = [1.0 + 0.8 * math.sin(2 * math.pi * t + m[2]) for m in missions]
        cum_season = list(itertools.accumulate(season))
        chosen = [missions[bisect.bisect(cum_season, rng.random() * cum_season[-1])]
                  for _ in range(1 + (rng.random() < 0.5) + (rng.random() < 0.2))]
        size = 1 + int(rng.expovariate(1 / 8))
        basket: dict[int, None] = {}
        tries = 0
        while len(basket) < size and tries < size * 4:
            tries += 1
            if rng.random() < 0.5:
                i = bisect.bisect(cum_pop, rng.random() * cum_pop[-1])
            else:
                members, cum, _phase = rng.choice(chosen)
                i = members[bisect.bisect(cum, rng.random() * cum[-1])]
            if i >= n_items or not live(i):
                continue
            basket[i] = None
            j = partner.get(i)
            if j is not None and live(j) and rng.random() < 0.33:
                basket[j] = None
        orders.append(Order(f"G{n:07d}", tuple(names[i] for i in basket), "", n))
    return orders, aisle
