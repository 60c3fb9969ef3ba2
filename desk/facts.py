"""The catalog facts a bot answer rests on, and their re-check at send time.

A suggestion keeps `facts`: {key: value} drawn from its `custom` payload when drafted,
e.g. {"stock:P001-BLK-42": 12, "price:P001": 359.0, "ship_date:P001:...": "2026-11-20"}.
Before the agent sends it, `changes` looks every key up again in the catalog; any
difference is reported (the desk answers 409 unless the agent confirms).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from catalog.queries import Catalog


def facts_of(custom: Optional[dict]) -> dict[str, Any]:
    """The checkable facts in a bot payload (its `custom`: stock, price, shipping,
    recommendations; docs/actions.md)."""
    if not isinstance(custom, dict):
        return {}
    t = custom.get("type")
    out: dict[str, Any] = {}
    if t == "stock":
        for v in custom.get("variants") or []:
            if isinstance(v, dict) and v.get("sku"):
                out[f"stock:{v['sku']}"] = v.get("available")
    elif t in ("price", "discount", "product_details"):
        if custom.get("product_id") and custom.get("price") is not None:
            out[f"price:{custom['product_id']}"] = custom["price"]
    elif t == "shipping":
        if custom.get("ship_date") is not None or custom.get("product_id"):
            key = ":".join(str(custom.get(k) or "") for k in
                           ("product_id", "sku", "quantity", "city"))
            out[f"ship_date:{key}"] = custom.get("ship_date")
    elif t == "recommendations":
        for item in custom.get("items") or []:
            if isinstance(item, dict) and item.get("product_id") and \
                    item.get("price") is not None:
                out[f"price:{item['product_id']}"] = item["price"]
    return out


def current_value(catalog: Catalog, key: str, now: datetime) -> Any:
    kind, _, rest = key.partition(":")
    if kind == "stock":
        v = catalog.sku_stock(rest)
        return v.available if v else None
    if kind == "price":
        p = catalog.price(rest)
        return p["price"] if p else None
    if kind == "ship_date":
        product_id, sku, quantity, city = (rest.split(":") + ["", "", "", ""])[:4]
        ans = catalog.ship_date(now, product_id=product_id or None, sku=sku or None,
                                quantity=int(quantity or 1), city=city or None)
        return ans.ship_date.isoformat() if ans and ans.ship_date else None
    return None


def changes(catalog: Catalog, facts: dict[str, Any], now: datetime) -> list[dict]:
    """[{"field", "old", "new"}] for every fact that is no longer true."""
    out = []
    for key, old in (facts or {}).items():
        new = current_value(catalog, key, now)
        if isinstance(old, (int, float)) and isinstance(new, (int, float)):
            same = abs(float(old) - float(new)) < 1e-9
        else:
            same = old == new
        if not same:
            out.append({"field": key, "old": old, "new": new})
    return out
