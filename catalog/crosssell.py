"""Related products to offer beside a product: those bought together with it, in stock.

This is the simple first version (co-purchase counts read straight from the order
history, at most `k` items, in stock, one per category); mining with support, confidence
and lift into a table comes with the cross-sell issue.
"""

from __future__ import annotations

from dataclasses import dataclass

from .queries import Catalog


@dataclass(frozen=True)
class Recommendation:
    product_id: str
    name_en: str
    name_zh: str
    price: float
    category: str
    together: int                 # orders that held both

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


def related_products(catalog: Catalog, product_id: str, *, k: int = 3,
                     exclude: set[str] | frozenset[str] = frozenset()) -> list[Recommendation]:
    """Up to `k` in-stock products most often bought with `product_id`, one per category."""
    base = catalog.product(product_id)
    if base is None:
        return []
    rows = catalog._all(
        "SELECT v2.product_id AS pid, COUNT(DISTINCT oi.order_id) AS n"
        " FROM variants v JOIN order_items oi ON oi.sku = v.sku"
        " JOIN order_items oi2 ON oi2.order_id = oi.order_id"
        " JOIN variants v2 ON v2.sku = oi2.sku"
        " WHERE v.product_id = ? AND v2.product_id != ?"
        " GROUP BY v2.product_id ORDER BY n DESC LIMIT 40", (product_id, product_id))
    out: list[Recommendation] = []
    categories = {base.category}
    for r in rows:
        p = catalog.product(r["pid"])
        if p is None or p.product_id in exclude or p.category in categories:
            continue
        stock = catalog.stock(p.product_id)
        if stock is None or stock.available <= 0:
            continue
        categories.add(p.category)
        out.append(Recommendation(p.product_id, p.name_en, p.name_zh, p.price, p.category,
                                  int(r["n"])))
        if len(out) == k:
            break
    return out
