"""Deterministic demo data for a sportswear and outdoor shop.

`build_demo(path)` writes the demo catalog (96 products in 12 categories, about 1,300
SKUs, 3 warehouses, 38 cities, 20,000 orders with real co-purchase structure). With
`skus=` and `order_lines=` it streams a large catalog for benchmarks (1M SKUs and 10M order
lines in minutes) without holding it in memory. Same seed, same database.
"""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import sqlite_utils

from . import vocab
from .schema import create_indexes, create_schema

DEMO_ANCHOR = datetime(2026, 11, 20, 18, 0, 0)  # local shop time of the newest order
CHUNK = 50_000

POLICIES = {
    "currency": "CNY",
    "free_shipping_threshold": "99",
    "return_days": "7",
    "return_shipping_insurance": "1",
    "return_policy_en": (
        "7-day no-reason returns: unworn items with tags can be returned within 7 days of "
        "delivery. Return shipping is covered by return-shipping insurance on every order. "
        "Size exchanges are free within 15 days."),
    "return_policy_zh": (
        "支持七天无理由退货：商品未穿着、吊牌完好，签收后7天内可退。每单赠送运费险，退货运费由运费险承担。"
        "15天内可免费换码。"),
    "discount_policy_en": "Spend 299, save 30; spend 599, save 80. Members get 5% off.",
    "discount_policy_zh": "满299减30，满599减80；会员再享95折。",
    "max_agent_discount_pct": "5",
}


@dataclass(frozen=True)
class ProductSpec:
    product_id: str
    category: str
    size_set: str
    name_en: str
    name_zh: str
    price: float
    colors: tuple[str, ...]
    aliases: tuple[tuple[str, str], ...]  # (alias, lang)


def demo_products(scale_products: int | None = None) -> Iterator[ProductSpec]:
    """Yield the demo products; with `scale_products`, that many (numbered models)."""
    color_keys = [c[0] for c in vocab.COLORS]
    n_cat = len(vocab.CATEGORIES)
    total = scale_products or n_cat * vocab.PRODUCTS_PER_CATEGORY
    for n in range(total):
        i, j = n % n_cat, n // n_cat
        if scale_products is None:
            i, j = n // vocab.PRODUCTS_PER_CATEGORY, n % vocab.PRODUCTS_PER_CATEGORY
        (cat, _cen, _czh, noun_en, noun_zh, short_en, short_zh, size_set, ncolors,
         base_price) = vocab.CATEGORIES[i]
        series_en, series_zh = vocab.SERIES[(i * 5 + j) % len(vocab.SERIES)]
        model = "" if j < len(vocab.SERIES) else f" {j // len(vocab.SERIES) + 1}"
        name_en = f"{series_en}{model} {noun_en}"
        name_zh = f"{series_zh}{model.strip()}{noun_zh}"
        colors = tuple(color_keys[(i * 3 + j * 5 + k * 7) % len(color_keys)]
                       for k in range(ncolors))
        price = float(base_price + ((j * 37 + i * 11) % 9) * 20 - 40)
        aliases: list[tuple[str, str]] = [(name_en, "en"), (name_zh, "zh")]
        if scale_products is None:
            aliases += [(f"{series_en} {a}", "en") for a in short_en]
            aliases += [(f"{series_zh}{a}", "zh") for a in short_zh]
        seen: set[str] = set()
        uniq = []
        for alias, lang in aliases:
            key = alias.lower().replace(" ", "")
            if key not in seen:
                seen.add(key)
                uniq.append((alias, lang))
        yield ProductSpec(f"P{n + 1:03d}", cat, size_set, name_en, name_zh, price, colors,
                          tuple(uniq))


def _sku(product_id: str, color: str, size: str) -> str:
    return f"{product_id}-{color.upper()}-{size}"


def _stock_levels(rng: random.Random, n_warehouses: int) -> list[int]:
    """Stock of one SKU in each warehouse, with sold-out, low and one-warehouse cases."""
    r = rng.random()
    if r < 0.08:                      # sold out everywhere
        return [0] * n_warehouses
    if r < 0.20:                      # low stock, one warehouse
        levels = [0] * n_warehouses
        levels[rng.randrange(n_warehouses)] = rng.randint(1, 3)
        return levels
    if r < 0.40:                      # stocked in only one warehouse
        levels = [0] * n_warehouses
        levels[rng.randrange(n_warehouses)] = rng.randint(5, 60)
        return levels
    return [rng.choice([0, rng.randint(4, 80), rng.randint(10, 120)])
            for _ in range(n_warehouses)]


def _reference_rows(db: sqlite_utils.Database) -> None:
    db["categories"].insert_all(
        [{"category": c[0], "name_en": c[1], "name_zh": c[2]} for c in vocab.CATEGORIES])
    cat_aliases = {}
    for c in vocab.CATEGORIES:
        for a in [c[1], c[2], *c[5], *c[6]]:
            cat_aliases.setdefault(a.lower(), c[0])
    db["category_aliases"].insert_all(
        [{"alias": a, "category": c} for a, c in cat_aliases.items()])
    db["colors"].insert_all(
        [{"color": k, "name_en": en, "name_zh": zh} for k, en, zh, _ in vocab.COLORS])
    aliases = {}
    for key, en, zh, extra in vocab.COLORS:
        for a in [key, en, zh, *extra]:
            aliases.setdefault(a.lower(), key)
    db["color_aliases"].insert_all([{"alias": a, "color": c} for a, c in aliases.items()])
    size_aliases = {}
    for sizes in vocab.SIZE_SETS.values():
        for s in sizes:
            if s != "ONE":   # "one" is a number, not a size
                size_aliases.setdefault(s.lower(), s)
    for size, words in vocab.SIZE_ALIASES.items():
        for w in words:
            size_aliases.setdefault(w.lower(), size)
    db["size_aliases"].insert_all([{"alias": a, "size": s} for a, s in size_aliases.items()])
    cat_sets = {c[0]: c[7] for c in vocab.CATEGORIES}
    rows = []
    for cat, size_set in cat_sets.items():
        for row in vocab.SIZE_CHART:
            if row[0] == size_set:
                rows.append({"category": cat, "size": row[1], "height_min": row[2],
                             "height_max": row[3], "weight_min": row[4],
                             "weight_max": row[5], "foot_min_mm": row[6],
                             "foot_max_mm": row[7]})
    db["size_charts"].insert_all(rows)
    db["cities"].insert_all([{"city": k, "name_en": en, "name_zh": zh, "region": reg}
                             for k, en, zh, reg in vocab.CITIES])
    db["carriers"].insert_all([{"carrier_id": c, "name_en": en, "name_zh": zh}
                               for c, en, zh in vocab.CARRIERS])
    region = {k: reg for k, _en, _zh, reg in vocab.CITIES}
    wh_rows, routes = [], []
    for wid, city, en, zh, cutoff, handling, rest in vocab.WAREHOUSES:
        wh_region = region[city]
        wh_rows.append({"warehouse_id": wid, "city": city, "cutoff": cutoff,
                        "handling_days": handling, "name_en": en, "name_zh": zh,
                        "rest_weekdays": rest, "default_carrier": "ZTO"})
        for ckey, _en, _zh, creg in vocab.CITIES:
            d = vocab.REGION_DISTANCE[wh_region][creg]
            carrier = "SF" if d <= 1 else ("ZTO" if d == 2 else "YTO")
            routes.append({"warehouse_id": wid, "city": ckey, "carrier_id": carrier,
                           "transit_min": 1 + d, "transit_max": 2 + d + (d >= 2)})
    db["warehouses"].insert_all(wh_rows)
    db["shipping_routes"].insert_all(routes)
    db["holidays"].insert_all([{"date": d, "name_en": en, "name_zh": zh}
                               for d, en, zh in vocab.HOLIDAYS])
    db["policies"].insert_all([{"key": k, "value": v} for k, v in POLICIES.items()])


def _chunked(rows: Iterator[tuple], size: int = CHUNK) -> Iterator[list[tuple]]:
    it = iter(rows)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def build_demo(path: str | Path, *, seed: int = 42, orders: int = 20_000,
               skus: int | None = None, order_lines: int | None = None,
               progress: Callable[[str], None] | None = None) -> sqlite_utils.Database:
    """Write a fresh demo catalog to `path` and return it.

    With `skus` (and optionally `order_lines`), builds a catalog of about that many SKUs
    and order lines instead, streaming rows in chunks.
    """
    say = progress or (lambda _m: None)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    db = sqlite_utils.Database(tmp)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    create_schema(db, indexes=False)
    _reference_rows(db)
    rng = random.Random(seed)
    conn = db.conn
    wh_ids = [w[0] for w in vocab.WAREHOUSES]

    scale_products = None
    if skus:
        per_product = sum(c[8] * len(vocab.SIZE_SETS[c[7]]) for c in vocab.CATEGORIES) \
            / len(vocab.CATEGORIES)
        scale_products = max(len(vocab.CATEGORIES), round(skus / per_product))
    specs = list(demo_products(scale_products))
    by_cat: dict[str, list[ProductSpec]] = {}
    for spec in specs:
        by_cat.setdefault(spec.category, []).append(spec)

    say(f"products: {len(specs)}")
    conn.executemany(
        "INSERT INTO products (product_id, name_en, name_zh, category, price, material_en,"
        " material_zh, care_en, care_zh, fit_en, fit_zh) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        ((s.product_id, s.name_en, s.name_zh, s.category, s.price,
          *vocab.MATERIALS[s.category], *_fit(s, j)) for j, s in enumerate(specs)))
    conn.executemany("INSERT OR IGNORE INTO product_aliases (alias, product_id, lang)"
                     " VALUES (?,?,?)",
                     ((a, s.product_id, lang) for s in specs for a, lang in s.aliases))

    def variants() -> Iterator[tuple]:
        for s in specs:
            sizes = vocab.SIZE_SETS[s.size_set]
            rows = [(_sku(s.product_id, c, z), c, z) for c in s.colors for z in sizes]
            for sku, c, z in rows:
                yield (sku, s.product_id, c, z)

    n_sku = 0
    stock_rng = random.Random(seed + 1)
    for chunk in _chunked(variants()):
        conn.executemany("INSERT INTO variants (sku, product_id, color, size) VALUES (?,?,?,?)",
                         chunk)
        stock = []
        for sku, *_ in chunk:
            for wid, q in zip(wh_ids, _stock_levels(stock_rng, len(wh_ids))):
                stock.append((sku, wid, q))
        conn.executemany("INSERT INTO stock (sku, warehouse_id, quantity) VALUES (?,?,?)",
                         stock)
        n_sku += len(chunk)
        say(f"skus: {n_sku}")

    lines_target = order_lines or None
    _write_orders(conn, specs, by_cat, rng, orders, lines_target, say)
    conn.commit()
    say("indexing")
    create_indexes(db)
    db.execute("PRAGMA journal_mode=WAL")
    db.close()
    for p in (path, Path(str(path) + "-wal"), Path(str(path) + "-shm")):
        p.unlink(missing_ok=True)
    tmp.rename(path)
    return sqlite_utils.Database(path)


def _fit(spec: ProductSpec, j: int) -> tuple[str, str]:
    if spec.size_set in ("shoe", "shoe_big"):
        return (("true to size", "尺码标准") if j % 3 else ("runs half a size small; "
                "take one size up if between sizes", "偏小半码，两个码之间建议拍大一码"))
    if spec.size_set.startswith("apparel"):
        return (("regular fit", "常规版型") if j % 2 else ("athletic slim fit; size up for "
                "layering", "修身版型，内搭厚衣建议拍大一码"))
    return ("one size fits most", "均码，适合大多数人")


def _write_orders(conn, specs, by_cat, rng: random.Random, n_orders: int,
                  lines_target: int | None, say) -> None:
    """Orders with co-purchase structure: an anchor item, then its complements.

    Each product prefers one or two specific products of each complement category (its
    "partners"), so pairs carry signal beyond category popularity.
    """
    weights = [1.0 / (k + 3) ** 0.9 for k in range(len(specs))]
    order = list(range(len(specs)))
    random.Random(7).shuffle(order)
    pop = [0.0] * len(specs)
    for rank, idx in enumerate(order):
        pop[idx] = weights[rank]
    cum = list(itertools.accumulate(pop))
    cat_cum = {}
    for cat, items in by_cat.items():
        idx = [specs.index(s) for s in items] if len(specs) < 5000 else None
        if idx is not None:
            cat_cum[cat] = (items, list(itertools.accumulate(pop[i] for i in idx)))
        else:
            cat_cum[cat] = (items, None)
    cities = [c[0] for c in vocab.CITIES]
    city_w = list(itertools.accumulate(1.0 / (k + 1) ** 0.6 for k in range(len(cities))))
    n_customers = max(1000, n_orders // 4 if not lines_target else lines_target // 10)

    def pick_product() -> ProductSpec:
        return specs[bisect.bisect(cum, rng.random() * cum[-1])]

    def pick_in_category(cat: str, partner_of: ProductSpec) -> ProductSpec:
        items, ccum = cat_cum[cat]
        if rng.random() < 0.7:   # the anchor's partner products
            h = (int(partner_of.product_id[1:]) * 2654435761) % len(items)
            return items[(h + (rng.random() < 0.3)) % len(items)]
        if ccum is None:
            return items[rng.randrange(len(items))]
        return items[min(bisect.bisect(ccum, rng.random() * ccum[-1]), len(items) - 1)]

    def pick_variant(s: ProductSpec) -> tuple[str, float]:
        sizes = vocab.SIZE_SETS[s.size_set]
        mid = len(sizes) // 2
        k = min(max(int(rng.gauss(mid, len(sizes) / 4)), 0), len(sizes) - 1)
        color = s.colors[min(int(rng.expovariate(1.2)), len(s.colors) - 1)]
        return _sku(s.product_id, color, sizes[k]), s.price

    start = DEMO_ANCHOR - timedelta(days=365)
    span = (DEMO_ANCHOR - start).total_seconds()
    total_lines = 0
    n = 0
    order_rows: list[tuple] = []
    item_rows: list[tuple] = []
    limit_orders = n_orders if not lines_target else 10 ** 12
    times = sorted(rng.random() for _ in range(n_orders)) if not lines_target else None
    seq_per_day: dict[str, int] = {}
    while n < limit_orders and (lines_target is None or total_lines < lines_target):
        if times is not None:
            created = start + timedelta(seconds=times[n] * span)
        else:
            created = start + timedelta(seconds=(n * 7.919) % span)
        anchor = pick_product()
        basket = {anchor.product_id: anchor}
        for comp_cat, p in vocab.COMPLEMENTS.get(anchor.category, []):
            if rng.random() < p:
                s = pick_in_category(comp_cat, anchor)
                basket.setdefault(s.product_id, s)
        if rng.random() < 0.15:   # an unrelated impulse item
            s = pick_product()
            basket.setdefault(s.product_id, s)
        day = created.strftime("%Y%m%d")
        seq_per_day[day] = seq_per_day.get(day, 0) + 1
        order_id = f"{day}{seq_per_day[day]:06d}"
        total = 0.0
        for s in basket.values():
            sku, price = pick_variant(s)
            qty = 2 if (s.category == "socks" and rng.random() < 0.3) else 1
            item_rows.append((order_id, sku, qty, price))
            total += qty * price
        total_lines += len(basket)
        age = DEMO_ANCHOR - created
        r = rng.random()
        city = cities[bisect.bisect(city_w, rng.random() * city_w[-1])]
        carrier = tracking = shipped = delivered = None
        if r < 0.03:
            status = "cancelled"
        elif age < timedelta(hours=6) and r < 0.2:
            status = "pending_payment"
        elif age < timedelta(days=1):
            status = "paid"
        else:
            shipped_dt = created + timedelta(hours=8 + (n % 20))
            carrier = ("SF", "ZTO", "YTO")[n % 3]
            tracking = f"{carrier}{(n * 7919 + 1000003) % 10 ** 12:012d}"
            shipped = shipped_dt.isoformat(timespec="seconds")
            if age < timedelta(days=4):
                status = "shipped"
            else:
                status = "refunded" if r < 0.05 else "delivered"
                delivered = (shipped_dt + timedelta(days=2 + n % 3)).isoformat(
                    timespec="seconds")
        customer = f"C{(n * 48271) % n_customers + 1:06d}"
        order_rows.append((order_id, customer, created.isoformat(timespec="seconds"), status,
                           city, carrier, tracking, shipped, delivered, round(total, 2)))
        n += 1
        if len(item_rows) >= CHUNK:
            _flush_orders(conn, order_rows, item_rows)
            say(f"orders: {n}, lines: {total_lines}")
    _flush_orders(conn, order_rows, item_rows)
    say(f"orders: {n}, lines: {total_lines}")


def _flush_orders(conn, order_rows: list, item_rows: list) -> None:
    conn.executemany("INSERT INTO orders (order_id, customer_id, created_at, status, city,"
                     " carrier_id, tracking_no, shipped_at, delivered_at, total)"
                     " VALUES (?,?,?,?,?,?,?,?,?,?)", order_rows)
    conn.executemany("INSERT INTO order_items (order_id, sku, quantity, price)"
                     " VALUES (?,?,?,?)", item_rows)
    order_rows.clear()
    item_rows.clear()
