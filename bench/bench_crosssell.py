"""Cross-sells: how good (hit-rate@3, MRR) each ranking score is on the demo orders and on
realistic supermarket-like baskets, how fast `recommend` serves, and how long mining takes
at scale. Prints the figures and the machine.

    .venv/bin/python bench/bench_crosssell.py                  # quality + serving latency
    .venv/bin/python bench/bench_crosssell.py --scale-db /tmp/scale10m.db [--build]
        # + mining time on a scale catalog (--build makes it: 1M SKUs, 10M order lines)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import machine, summary_ms

from catalog.crosssell import DEFAULT_PARAMS, mine_catalog, recommend
from catalog.crosssell_eval import (catalog_categories, evaluate, export_catalog_orders,
                                    grocery_orders, read_transactions)
from catalog.demo import build_demo
from catalog.queries import Catalog

SCORES = [("co-count / confidence", replace(DEFAULT_PARAMS, score="confidence")),
          ("lift", replace(DEFAULT_PARAMS, score="lift")),
          ("lift, min 5 orders", replace(DEFAULT_PARAMS, score="lift", min_together=5))]
SCORES += [(f"shrunk, alpha={a:g}" + (" (default)" if a == DEFAULT_PARAMS.alpha else ""),
            replace(DEFAULT_PARAMS, alpha=a)) for a in (3, 10, 30, 100)]


def quality(name: str, orders, categories) -> list[dict]:
    rows = []
    for label, params in SCORES:
        r = evaluate(orders, categories=categories, params=params).as_json()
        rows.append({"data": name, "score": label, **r})
        print(f"  {name:10} {label:28} model {r['model']['hit_rate_at_3']:.4f} / "
              f"{r['model']['mrr']:.4f}   popularity {r['popularity']['hit_rate_at_3']:.4f}"
              f" / {r['popularity']['mrr']:.4f}   same category "
              + (f"{r['same_category']['hit_rate_at_3']:.4f} / {r['same_category']['mrr']:.4f}"
                 if r["same_category"] else "n/a") + f"   ({r['queries']} queries)",
              flush=True)
    return rows


def serving_latency(path: Path, rounds: int) -> dict:
    c = Catalog(path)
    products = [r[0] for r in c._all("SELECT product_id FROM products ORDER BY product_id")]
    recommend(c, products[0], "zh")          # warm the connection and caches
    times = []
    for n in range(rounds):
        for i, pid in enumerate(products):
            lang = "zh" if (i + n) % 2 else "en"
            t0 = time.perf_counter()
            recommend(c, [pid], lang, k=3)
            times.append(time.perf_counter() - t0)
    return summary_ms(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--grocery-orders", type=int, default=60_000)
    ap.add_argument("--grocery-seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--rounds", type=int, default=20, help="latency: passes over products")
    ap.add_argument("--scale-db", type=Path, default=None)
    ap.add_argument("--build", action="store_true", help="build --scale-db first")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    out: dict = {"machine": machine(), "params": DEFAULT_PARAMS.__dict__}
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "catalog.db"
        build_demo(demo)
        report = mine_catalog(demo)
        print(f"demo: mined {report.order_lines} order lines in {report.seconds:.2f}s")
        csv_path = Path(tmp) / "orders.csv"
        export_catalog_orders(demo, csv_path)
        orders = read_transactions(csv_path)
        cats = catalog_categories(demo, (i for o in orders for i in o.items))
        print("quality (hit-rate@3 / MRR; mined on the older 80%, asked on the newer 20%):")
        out["quality"] = quality("demo", orders, cats)
        for seed in args.grocery_seeds:
            g, aisles = grocery_orders(args.grocery_orders, seed=seed)
            out["quality"] += quality(f"grocery{seed}", g, aisles)
        out["serving_ms"] = serving_latency(demo, args.rounds)
        print(f"recommend() on the demo catalog: {out['serving_ms']}")
    if args.scale_db:
        if args.build or not args.scale_db.exists():
            t0 = time.perf_counter()
            build_demo(args.scale_db, skus=1_000_000, order_lines=10_000_000)
            print(f"built {args.scale_db} in {time.perf_counter() - t0:.0f}s")
        work = args.scale_db
        report = mine_catalog(work)
        out["mining_at_scale"] = report.__dict__
        print(f"mining at scale: {report.order_lines} order lines, {report.orders} orders, "
              f"{report.products} products, {report.pairs} distinct pairs -> "
              f"{report.mined_rows} mined + {report.rule_rows} rule rows in "
              f"{report.seconds:.1f}s")
        out["serving_ms_at_scale"] = serving_latency_sample(work)
        print(f"recommend() at scale (1000 products): {out['serving_ms_at_scale']}")
    print(json.dumps(out))


def serving_latency_sample(path: Path, n: int = 1000) -> dict:
    c = Catalog(path)
    products = [r[0] for r in c._all("SELECT product_id FROM products ORDER BY random()"
                                      " LIMIT ?", (n,))]
    recommend(c, products[0], "zh")
    times = []
    for pid in products:
        t0 = time.perf_counter()
        recommend(c, [pid], "zh")
        times.append(time.perf_counter() - t0)
    return summary_ms(times)


if __name__ == "__main__":
    main()
