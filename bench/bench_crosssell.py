"""Cross-sells: how good the recommender is (hit-rate@3, MRR) on the demo orders, on
generated supermarket-like baskets and, given a copy, on the real Groceries baskets; and how
fast `recommend` serves on the demo catalog. Prints the figures and the machine.

For every data set, as `shopassist crosssell eval --choose-alpha ... --bootstrap ...` does:
the orders are split 80/20 by time; the shrinkage alpha is chosen on a validation split
carved from the older 80% (its newest fifth); the newer 20% is then asked once, with the
chosen alpha mined on all the older orders, and the hit-rate@3 difference ours − most
popular gets a 95% paired-bootstrap interval over the newer baskets. The other ranking
scores (lift, plain confidence, every alpha) are then shown on the same newer orders for
comparison only: nothing is chosen from them.

    .venv/bin/python bench/bench_crosssell.py            # demo + generated, seeds 1 and 2
    .venv/bin/python bench/bench_crosssell.py --groceries var/groceries/groceries_orders.csv
        # + the Groceries baskets (docs/crosssell.md: where to get them, how to convert)

Mining time and memory at 1M SKUs: bench/bench_mining.py.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from common import ROOT, machine, summary_ms

from catalog.crosssell import DEFAULT_PARAMS, mine_catalog, recommend
from catalog.crosssell_eval import (bootstrap_difference, catalog_categories, evaluate,
                                    evaluate_choosing_alpha, export_catalog_orders,
                                    grocery_orders, read_categories, read_transactions)
from catalog.demo import build_demo
from catalog.queries import Catalog

ALPHAS = (0, 3, 10, 30, 100, 300)
COMPARED = [("co-count / confidence", replace(DEFAULT_PARAMS, score="confidence")),
            ("lift", replace(DEFAULT_PARAMS, score="lift")),
            ("lift, min 5 orders", replace(DEFAULT_PARAMS, score="lift", min_together=5))]
COMPARED += [(f"shrunk, alpha={a:g}" + (" (default)" if a == DEFAULT_PARAMS.alpha else ""),
              replace(DEFAULT_PARAMS, alpha=a)) for a in ALPHAS if a]
GROCERIES_CATEGORIES = ROOT / "bench" / "data" / "groceries_categories.csv"


def _pair(m: dict) -> str:
    return f"{m['hit_rate_at_3']:.4f} / {m['mrr']:.4f}"


def quality(name: str, orders, categories, alphas, resamples: int, seed: int) -> dict:
    """The figures of one data set: alpha chosen on validation, then the newer orders."""
    t0 = time.perf_counter()
    choice, result = evaluate_choosing_alpha(orders, alphas, categories=categories)
    v = choice.as_json()
    print(f"\n{name}: {len(orders)} orders; alpha chosen on a validation split of the older "
          f"{result.train_orders} (mined on {v['fit_orders']}, asked on "
          f"{v['validation_orders']}, {v['validation_queries']} queries):", flush=True)
    for row in v["validation"]:
        print(f"  alpha {row['alpha']:<5g} validation {_pair(row)}"
              + ("   <- chosen" if row["alpha"] == choice.alpha else ""))
    r = result.as_json()
    ci = bootstrap_difference(result.baskets, resamples, seed)
    print(f"  newer {result.test_orders} orders ({r['queries']} queries), alpha "
          f"{choice.alpha:g}: ours {_pair(r['model'])}   most popular "
          f"{_pair(r['popularity'])}   same category "
          + (_pair(r["same_category"]) if r["same_category"] else "n/a"))
    print(f"  ours - most popular, hit-rate@3: {ci.difference * 100:+.1f} points, 95% "
          f"interval {ci.low * 100:+.1f} to {ci.high * 100:+.1f} (paired bootstrap over "
          f"{ci.baskets} baskets, {resamples} resamples, seed {seed})", flush=True)
    compared = []
    print("  for comparison only, every ranking on the same newer orders:")
    for label, params in COMPARED:
        c = evaluate(orders, categories=categories, params=params).as_json()
        compared.append({"score": label, **c})
        print(f"    {label:28} {_pair(c['model'])}")
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"data": name, "orders": len(orders), "alpha": v, **r,
            "bootstrap": ci.as_dict(), "compared_on_test": compared}


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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grocery-orders", type=int, default=60_000)
    ap.add_argument("--grocery-seeds", type=int, nargs="*", default=[1, 2],
                    help="seeds of the generated baskets (default: 1 2)")
    ap.add_argument("--groceries", type=Path, default=None, metavar="ORDERS.csv",
                    help="the Groceries baskets converted by bench/groceries_to_orders.py")
    ap.add_argument("--alphas", default=",".join(map(str, ALPHAS)),
                    help="candidate alphas, chosen on validation (default: %(default)s)")
    ap.add_argument("--bootstrap", type=int, default=1000, help="resamples (default 1000)")
    ap.add_argument("--seed", type=int, default=1, help="bootstrap seed (default 1)")
    ap.add_argument("--rounds", type=int, default=20, help="latency: passes over products")
    args = ap.parse_args()
    alphas = [float(a) for a in args.alphas.split(",")]
    print(f"machine: {machine()}")
    out: dict = {"machine": machine(), "params": DEFAULT_PARAMS.__dict__, "quality": []}
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "catalog.db"
        build_demo(demo)
        report = mine_catalog(demo)
        print(f"demo: mined {report.order_lines} order lines in {report.seconds:.2f}s")
        csv_path = Path(tmp) / "orders.csv"
        export_catalog_orders(demo, csv_path)
        orders = read_transactions(csv_path)
        cats = catalog_categories(demo, (i for o in orders for i in o.items))
        print("quality: hit-rate@3 / MRR")
        out["quality"].append(quality("demo", orders, cats, alphas, args.bootstrap,
                                      args.seed))
        for seed in args.grocery_seeds:
            g, aisles = grocery_orders(args.grocery_orders, seed=seed)
            out["quality"].append(quality(f"generated grocery, seed {seed}", g, aisles,
                                          alphas, args.bootstrap, args.seed))
        if args.groceries:
            out["quality"].append(quality(
                "Groceries", read_transactions(args.groceries),
                read_categories(GROCERIES_CATEGORIES), alphas, args.bootstrap, args.seed))
        out["serving_ms"] = serving_latency(demo, args.rounds)
        print(f"\nrecommend() on the demo catalog: {out['serving_ms']}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
