"""Turn a one-basket-per-line file (the arules "Groceries" groceries.csv: items separated by
commas, no header) into the `order_id,item` CSV that `shopassist crosssell eval` reads.

    .venv/bin/python bench/groceries_to_orders.py groceries.csv groceries_orders.csv

order_id is the line number (1-based; the file's order is the time order), items are
stripped of surrounding whitespace (some copies write "cream cheese "), empty items and
repeats within a basket are dropped, empty lines are skipped.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def convert(src: Path, out: Path, sep: str = ",") -> tuple[int, int, int]:
    """Write `out`; returns (baskets, rows, distinct items)."""
    baskets = rows = 0
    items: set[str] = set()
    with open(src, encoding="utf-8-sig", newline="") as f, \
            open(out, "w", encoding="utf-8", newline="") as g:
        w = csv.writer(g)
        w.writerow(["order_id", "item"])
        for n, line in enumerate(f, start=1):
            basket = list(dict.fromkeys(x.strip() for x in line.rstrip("\r\n").split(sep)))
            basket = [x for x in basket if x]
            if not basket:
                continue
            baskets += 1
            rows += len(basket)
            items.update(basket)
            w.writerows((n, item) for item in basket)
    return baskets, rows, len(items)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baskets", type=Path, help="one basket per line, items comma-separated")
    ap.add_argument("out", type=Path, help="the order_id,item CSV to write")
    ap.add_argument("--sep", default=",", help="item separator (default ,)")
    args = ap.parse_args(argv)
    if not args.baskets.exists():
        print(f"{args.baskets}: file not found", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    baskets, rows, items = convert(args.baskets, args.out, args.sep)
    print(f"{baskets} baskets, {rows} rows, {items} distinct items -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
