"""Catalog queries at scale: builds (once, in var/bench/) a catalog of 1M SKUs and 10M order
lines as `shopassist catalog demo --scale` does, then times every query of the API.

    .venv/bin/python bench/bench_catalog.py [--skus 1000000] [--order-lines 10000000]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from common import SCALE_ORDER_LINES, SCALE_SKUS, machine, scale_catalog, summary_ms

from catalog.queries import Catalog


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--skus", type=int, default=SCALE_SKUS)
    ap.add_argument("--order-lines", type=int, default=SCALE_ORDER_LINES)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    path = scale_catalog(args.skus, args.order_lines, args.rebuild)
    c = Catalog(path)
    n_sku = c._one("SELECT COUNT(*) FROM variants")[0]
    n_lines = c._one("SELECT COUNT(*) FROM order_items")[0]
    rng = random.Random(1)
    max_rowid = c._one("SELECT MAX(rowid) FROM products")[0]
    pids = [r[0] for r in c._all("SELECT product_id FROM products WHERE rowid IN (%s)" % ",".join(
        str(rng.randint(1, max_rowid)) for _ in range(500)))]
    skus = [r[0] for r in c._all("SELECT sku FROM variants WHERE rowid IN (%s)" % ",".join(
        str(rng.randint(1, n_sku)) for _ in range(500)))]
    max_order = c._one("SELECT MAX(rowid) FROM orders")[0]
    orders = [r[0] for r in c._all("SELECT order_id FROM orders WHERE rowid IN (%s)" % ",".join(
        str(rng.randint(1, max_order)) for _ in range(500)))]
    names = [c.product(p).name_en for p in pids[:100]]
    at = datetime(2026, 11, 20, 15, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    cities = ["chengdu", "上海", "Beijing", "乌鲁木齐"]
    queries = {
        "stock(product)": lambda i: c.stock(pids[i % len(pids)]),
        "stock(product, colour, size)": lambda i: c.stock(pids[i % len(pids)], color="黑色",
                                                          size="XL"),
        "sku_stock(sku)": lambda i: c.sku_stock(skus[i % len(skus)]),
        "ship_date(sku, city)": lambda i: c.ship_date(at, sku=skus[i % len(skus)],
                                                      city=cities[i % 4]),
        "ship_date(product)": lambda i: c.ship_date(at, product_id=pids[i % len(pids)]),
        "price(product)": lambda i: c.price(pids[i % len(pids)]),
        "order_status(order)": lambda i: c.order_status(orders[i % len(orders)]),
        "product_by_name(name)": lambda i: c.product_by_name(names[i % len(names)]),
    }
    for fn in queries.values():   # warm caches
        for i in range(50):
            fn(i)
    results = {}
    for name, fn in queries.items():
        times = []
        for i in range(args.iterations):
            t = time.perf_counter()
            fn(i)
            times.append(time.perf_counter() - t)
        results[name] = summary_ms(times)
    print(f"machine: {machine()}")
    print(f"catalog: {n_sku:,} SKUs, {n_lines:,} order lines ({path.stat().st_size / 1e9:.2f} GB)")
    print(f"{'query':32} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for name, r in results.items():
        print(f"{name:32} {r['p50_ms']:8.3f} {r['p95_ms']:8.3f} {r['mean_ms']:8.3f}")
    print(json.dumps({"skus": n_sku, "order_lines": n_lines, "results": results}))


if __name__ == "__main__":
    main()
