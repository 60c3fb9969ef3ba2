"""The catalog's query API: stock, ship dates, delivery windows, prices, orders, policies.

Everything else (actions, the NLU component, the desk, benchmarks) reads the catalog
through `Catalog`. Every method is a handful of indexed look-ups (under 1 ms at 1M SKUs;
see bench/bench_catalog.py). Colours and sizes may be given in either language
("黑色" = "black", "xl" = "XL", "42码" = "42").
"""

from __future__ import annotations

import difflib
import re
import sqlite3
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Iterable, Optional

from .regions import DEFAULT_REGION_ALIASES, DEFAULT_REGIONS
from .shipping import WarehouseRules, delivery_window, ship_date_for


class CatalogError(Exception):
    """The catalog could not answer (missing database, corrupt file)."""


@dataclass(frozen=True)
class Product:
    product_id: str
    name_en: str
    name_zh: str
    category: str
    price: float
    material_en: str | None = None
    material_zh: str | None = None
    care_en: str | None = None
    care_zh: str | None = None
    fit_en: str | None = None
    fit_zh: str | None = None

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


@dataclass(frozen=True)
class VariantStock:
    sku: str
    color: str
    size: str
    available: int                      # units sellable now, all warehouses
    by_warehouse: dict[str, int] = field(default_factory=dict)

    def as_payload(self) -> dict:
        return {"sku": self.sku, "color": self.color, "size": self.size,
                "available": self.available}


@dataclass(frozen=True)
class StockAnswer:
    product: Product
    variants: list[VariantStock]        # the variants matching the colour/size asked
    color: str | None = None
    size: str | None = None

    @property
    def available(self) -> int:
        return sum(v.available for v in self.variants)

    def as_payload(self) -> dict:
        return {"type": "stock", "product_id": self.product.product_id,
                "color": self.color, "size": self.size,
                "variants": [v.as_payload() for v in self.variants]}


@dataclass(frozen=True)
class ShippingAnswer:
    """When an item ships (and reaches a city).

    `ship_date` is None when nothing (or not enough) is in stock. `split` is True when no
    single warehouse holds the quantity and it ships in several parcels (the latest
    parcel's date is the ship date).
    """

    product_id: str | None
    ship_date: date | None
    warehouse_id: str | None
    carrier: str | None
    quantity: int = 1
    split: bool = False
    parcels: list[tuple[str, int, date]] = field(default_factory=list)
    city: str | None = None
    delivery_earliest: date | None = None
    delivery_latest: date | None = None
    sku: str | None = None

    def as_payload(self) -> dict:
        out = {"type": "shipping", "product_id": self.product_id, "sku": self.sku,
               "ship_date": self.ship_date.isoformat() if self.ship_date else None,
               "carrier": self.carrier, "warehouse_id": self.warehouse_id,
               "quantity": self.quantity, "split": self.split}
        if self.city:
            out.update(city=self.city,
                       delivery_earliest=_iso(self.delivery_earliest),
                       delivery_latest=_iso(self.delivery_latest))
        return out


@dataclass(frozen=True)
class OrderStatus:
    order_id: str
    customer_id: str
    status: str
    created_at: str
    city: str | None
    carrier: str | None
    tracking_no: str | None
    shipped_at: str | None
    delivered_at: str | None
    total: float | None
    items: list[dict]

    def as_payload(self) -> dict:
        out = {"type": "order_status", "order_id": self.order_id, "status": self.status,
               "created_at": self.created_at}
        if self.carrier or self.status in ("shipped", "delivered"):
            out.update(carrier=self.carrier, tracking_no=self.tracking_no,
                       shipped_at=self.shipped_at)
        if self.delivered_at:
            out["delivered_at"] = self.delivered_at
        return out


@dataclass(frozen=True)
class Region:
    """A place the shop delivers to or not (table `shipping_regions`)."""

    region: str
    name_en: str
    name_zh: str
    served: bool
    part_of: str | None = None

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


def _iso(d: Optional[date]) -> Optional[str]:
    return d.isoformat() if d else None


_SIZE_NOISE = re.compile(r"(码|號|号|碼|size|sz|eu|us|uk|yard)", re.I)
_COLOR_NOISE = re.compile(r"(的|款|色|colou?r)$", re.I)


class Catalog:
    """Read-only access to a catalog database file.

    Safe to share between threads and coroutines: each thread gets its own read-only
    connection, opened on first use.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()

    # -- plumbing -----------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise CatalogError(f"catalog database not found: {self.path} "
                                   "(build it with `shopassist catalog demo` or import one)")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _one(self, sql: str, params: Iterable = ()) -> Optional[sqlite3.Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchone()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(str(exc)) from exc

    def _all(self, sql: str, params: Iterable = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.DatabaseError as exc:
            raise CatalogError(str(exc)) from exc

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- reference data (small, cached) -------------------------------------------------
    @cached_property
    def _policies(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._all("SELECT key, value FROM policies")}

    @cached_property
    def _holidays(self) -> frozenset[date]:
        return frozenset(date.fromisoformat(r["date"])
                         for r in self._all("SELECT date FROM holidays"))

    @cached_property
    def _warehouses(self) -> dict[str, dict]:
        return {r["warehouse_id"]: dict(r) for r in self._all("SELECT * FROM warehouses")}

    @cached_property
    def _rules(self) -> dict[str, WarehouseRules]:
        return {wid: WarehouseRules.from_row(row) for wid, row in self._warehouses.items()}

    @cached_property
    def _color_aliases(self) -> dict[str, str]:
        return {r["alias"].lower(): r["color"]
                for r in self._all("SELECT alias, color FROM color_aliases")}

    @cached_property
    def _size_aliases(self) -> dict[str, str]:
        return {r["alias"].lower(): r["size"]
                for r in self._all("SELECT alias, size FROM size_aliases")}

    @cached_property
    def _colors(self) -> dict[str, dict]:
        return {r["color"]: dict(r) for r in self._all("SELECT * FROM colors")}

    @cached_property
    def _cities(self) -> dict[str, dict]:
        return {r["city"]: dict(r) for r in self._all("SELECT * FROM cities")}

    @cached_property
    def _regions(self) -> dict[str, Region]:
        if self._one("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                     " AND name = 'shipping_regions'") is None:
            # a catalog made before the table existed: the defaults a new one starts with
            return {r[0]: Region(r[0], r[1], r[2], bool(r[3]), r[4]) for r in DEFAULT_REGIONS}
        return {r["region"]: Region(r["region"], r["name_en"], r["name_zh"],
                                    bool(r["served"]), r["part_of"])
                for r in self._all("SELECT * FROM shipping_regions ORDER BY rowid")}

    @cached_property
    def _place_pattern(self) -> tuple[Optional[re.Pattern], dict[str, str]]:
        """One pattern for every region name and alias (longest first), and the region of
        each name, keyed by the name in lower case without spaces."""
        spelled = [(name, key) for key, region in self._regions.items()
                   for name in (region.name_en, region.name_zh)]
        if self._one("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                     " AND name = 'region_aliases'") is None:
            spelled += [(a, k) for a, k in DEFAULT_REGION_ALIASES if k in self._regions]
        else:
            spelled += [(r["alias"], r["region"]) for r in self._all(
                "SELECT alias, region FROM region_aliases") if r["region"] in self._regions]
        names: dict[str, str] = {}
        words: dict[str, list[str]] = {}
        for name, key in spelled:
            if _place_key(name) and _place_key(name) not in names:
                names[_place_key(name)] = key
                words[_place_key(name)] = str(name).lower().split()
        if not names:
            return None, {}
        parts = []
        for name in sorted(names, key=len, reverse=True):
            body = r"\s*".join(re.escape(word) for word in words[name])
            if _LATIN_EDGE.match(name[0]):
                body = r"(?<![a-z0-9])" + body
            if _LATIN_EDGE.match(name[-1]):
                body += r"(?![a-z0-9])"
            parts.append(body)
        return re.compile("|".join(parts)), names

    @cached_property
    def _carriers(self) -> dict[str, dict]:
        return {r["carrier_id"]: dict(r) for r in self._all("SELECT * FROM carriers")}

    def policy(self, key: str, default: str | None = None) -> str | None:
        return self._policies.get(key, default)

    @property
    def currency(self) -> str:
        return self.policy("currency", "CNY") or "CNY"

    @property
    def free_shipping_threshold(self) -> float | None:
        value = self.policy("free_shipping_threshold")
        return float(value) if value not in (None, "") else None

    def region(self, key: str | None) -> Region | None:
        return self._regions.get(key or "")

    def served_regions(self) -> list[Region]:
        """The regions the shop delivers to (not counting a city inside one)."""
        return [r for r in self._regions.values() if r.served and not r.part_of]

    def place_in(self, text: str | None) -> Region | None:
        """The first region a message names ("能寄到东京吗" → Tokyo, "ship to the UK?" →
        the UK), by its name or alias in either language: Latin-script names as whole
        words ignoring case, Chinese names anywhere; the longest name wins where two
        overlap ("中国香港" is Hong Kong, not China)."""
        pattern, names = self._place_pattern
        if pattern is None or not text:
            return None
        m = pattern.search(str(text)[:2000].lower())
        return self._regions[names[_place_key(m.group(0))]] if m else None

    def holidays(self) -> frozenset[date]:
        return self._holidays

    def warehouses(self) -> dict[str, dict]:
        return dict(self._warehouses)

    # -- names in both languages ---------------------------------------------------------
    def color_name(self, color: str, lang: str) -> str:
        row = self._colors.get(color)
        if not row:
            return color
        return row["name_zh"] if lang == "zh" else row["name_en"]

    def size_name(self, size: str, lang: str) -> str:
        if size == "ONE":
            return "均码" if lang == "zh" else "one size"
        if size.isdigit():
            return f"{size}码" if lang == "zh" else f"EU {size}"
        return f"{size}码" if lang == "zh" else size

    def city_name(self, city: str, lang: str) -> str:
        row = self._cities.get(city)
        if not row:
            return city
        return row["name_zh"] if lang == "zh" else row["name_en"]

    def carrier_name(self, carrier_id: str | None, lang: str) -> str:
        row = self._carriers.get(carrier_id or "")
        if not row:
            return carrier_id or ""
        return row["name_zh"] if lang == "zh" else row["name_en"]

    def category_name(self, category: str, lang: str) -> str:
        row = self._one("SELECT name_en, name_zh FROM categories WHERE category = ?",
                        (category,))
        if row is None:
            return category
        return row["name_zh"] if lang == "zh" else row["name_en"].lower()

    def warehouse_name(self, warehouse_id: str, lang: str) -> str:
        row = self._warehouses.get(warehouse_id) or {}
        return row.get("name_zh" if lang == "zh" else "name_en") or warehouse_id

    # -- resolving shopper words ------------------------------------------------------------
    def resolve_color(self, word: str | None) -> str | None:
        """Canonical colour key for a colour word in either language, or None."""
        if not word:
            return None
        w = str(word).strip().lower()
        for candidate in (w, _COLOR_NOISE.sub("", w), _COLOR_NOISE.sub("", w) + "色"):
            if candidate in self._color_aliases:
                return self._color_aliases[candidate]
            if candidate in self._colors:
                return candidate
        return None

    def resolve_size(self, word: str | None) -> str | None:
        """Canonical size ("42", "XL", "ONE") for a size word, or None."""
        if word is None:
            return None
        w = str(word).strip().lower()
        if w in self._size_aliases:
            return self._size_aliases[w]
        w = _SIZE_NOISE.sub("", w).replace(" ", "")
        if w in self._size_aliases:
            return self._size_aliases[w]
        return w.upper() if re.fullmatch(r"\d{2}(\.5)?", w) else None

    def resolve_city(self, word: str | None) -> str | None:
        if not word:
            return None
        w = str(word).strip().lower().replace("市", "").replace("'", "").replace(" ", "")
        for key, row in self._cities.items():
            if w in (key, row["name_en"].lower().replace("'", "").replace(" ", ""),
                     row["name_zh"]):
                return key
        return None

    # -- products ------------------------------------------------------------------------
    def product(self, product_id: str | None) -> Product | None:
        if not product_id:
            return None
        row = self._one("SELECT * FROM products WHERE product_id = ?", (product_id,))
        return _product(row) if row else None

    def product_by_name(self, name: str) -> Product | None:
        """A product whose name or alias equals `name` (case and spacing ignored)."""
        key = re.sub(r"\s+", "", str(name or "")).lower()
        if not key:
            return None
        row = self._one(
            "SELECT product_id FROM products WHERE lower(replace(name_en, ' ', '')) = ?1"
            " UNION ALL SELECT product_id FROM products WHERE replace(name_zh, ' ', '') = ?1"
            " UNION ALL SELECT product_id FROM product_aliases"
            " WHERE lower(replace(alias, ' ', '')) = ?1 LIMIT 1", (key,))
        return self.product(row["product_id"]) if row else None

    def aliases(self) -> Iterable[tuple[str, str, str]]:
        """Every (alias, product_id, lang), names included."""
        for r in self._all("SELECT product_id, name_en, name_zh FROM products"):
            yield r["name_en"], r["product_id"], "en"
            yield r["name_zh"], r["product_id"], "zh"
        for r in self._all("SELECT alias, product_id, lang FROM product_aliases"):
            yield r["alias"], r["product_id"], r["lang"]

    def suggest_products(self, text: str, k: int = 3) -> list[Product]:
        """The products whose names look most like `text` (for "did you mean ...?")."""
        key = _norm(text)
        if not key:
            return []
        words = {w for w in re.split(r"[\s,.!?，。！？]+", str(text).lower()) if len(w) > 1}
        names: dict[str, str] = {}
        spaced: dict[str, str] = {}
        for alias, pid, _lang in self.aliases():
            names.setdefault(_norm(alias), pid)
            spaced.setdefault(_norm(alias), alias.lower())
        scored = []
        for name, pid in names.items():
            ratio = difflib.SequenceMatcher(None, key, name).ratio()
            if name in key or key in name:
                ratio += 0.5
            if words:
                ratio += 0.4 * sum(w in spaced[name] for w in words) / len(words)
            scored.append((ratio, pid))
        scored.sort(reverse=True)
        out: list[Product] = []
        for ratio, pid in scored:
            if ratio < 0.45:
                break
            if all(p.product_id != pid for p in out):
                out.append(self.product(pid))
            if len(out) == k:
                break
        return [p for p in out if p]

    def products_in_category(self, category: str, limit: int = 20) -> list[Product]:
        rows = self._all("SELECT * FROM products WHERE category = ? ORDER BY product_id"
                         " LIMIT ?", (category, limit))
        return [_product(r) for r in rows]

    # -- stock -----------------------------------------------------------------------------
    def variants(self, product_id: str) -> list[sqlite3.Row]:
        return self._all("SELECT sku, color, size FROM variants WHERE product_id = ?"
                         " ORDER BY rowid", (product_id,))

    def stock(self, product_id: str, *, color: str | None = None,
              size: str | None = None) -> StockAnswer | None:
        """Stock of a product, narrowed to a colour and/or size (either language).

        None when the product is unknown. A colour or size the product does not come in
        gives an answer with no variants.
        """
        product = self.product(product_id)
        if product is None:
            return None
        c = self.resolve_color(color) if color else None
        s = self.resolve_size(size) if size else None
        sql = ("SELECT v.sku, v.color, v.size, s.warehouse_id, s.quantity FROM variants v"
               " LEFT JOIN stock s ON s.sku = v.sku WHERE v.product_id = ?")
        params: list = [product_id]
        if color:
            sql += " AND v.color = ?"
            params.append(c or color)
        if size:
            sql += " AND v.size = ?"
            params.append(s or size)
        sql += " ORDER BY v.rowid"
        variants: dict[str, dict] = {}
        for r in self._all(sql, params):
            v = variants.setdefault(r["sku"], {"sku": r["sku"], "color": r["color"],
                                               "size": r["size"], "by_wh": {}})
            if r["warehouse_id"] is not None:
                v["by_wh"][r["warehouse_id"]] = max(int(r["quantity"] or 0), 0)
        return StockAnswer(product, [VariantStock(v["sku"], v["color"], v["size"],
                                                  sum(v["by_wh"].values()), v["by_wh"])
                                     for v in variants.values()],
                           color=c or color, size=s or size)

    def sku_stock(self, sku: str) -> VariantStock | None:
        """Stock of one variant by SKU; None for an unknown SKU."""
        v = self._one("SELECT sku, color, size FROM variants WHERE sku = ?", (sku,))
        if v is None:
            return None
        by_wh = {r["warehouse_id"]: max(int(r["quantity"]), 0) for r in
                 self._all("SELECT warehouse_id, quantity FROM stock WHERE sku = ?", (sku,))}
        return VariantStock(v["sku"], v["color"], v["size"], sum(by_wh.values()), by_wh)

    # -- shipping --------------------------------------------------------------------------
    def ship_date(self, at: datetime, *, product_id: str | None = None,
                  sku: str | None = None, color: str | None = None,
                  size: str | None = None, quantity: int = 1,
                  city: str | None = None) -> ShippingAnswer | None:
        """When an order placed at `at` (shop-local time) ships, and reaches `city`.

        Given a SKU (or a product narrowed to one variant by colour and size), the
        warehouse holding the quantity that ships first is chosen. When no single warehouse
        holds it, it ships in parcels from several (the ship date is the last parcel's).
        Given only a product, the answer is for its variant that ships first. None for an
        unknown product or SKU.
        """
        quantity = max(int(quantity or 1), 1)
        city_key = self.resolve_city(city) if city else None
        if sku:
            vs = self.sku_stock(sku)
            if vs is None:
                return None
            row = self._one("SELECT product_id FROM variants WHERE sku = ?", (sku,))
            product_id = row["product_id"]
            candidates = [vs]
        else:
            answer = self.stock(product_id or "", color=color, size=size)
            if answer is None:
                return None
            candidates = answer.variants
        best: ShippingAnswer | None = None
        for vs in candidates:
            plan = self._ship_plan(vs, quantity, at, city_key)
            if plan is None:
                continue
            if best is None or _plan_key(plan) < _plan_key(best):
                best = plan
        if best is None:
            sku_out = candidates[0].sku if len(candidates) == 1 else None
            return ShippingAnswer(product_id, None, None, None, quantity, sku=sku_out,
                                  city=city_key)
        return ShippingAnswer(product_id, best.ship_date, best.warehouse_id, best.carrier,
                              quantity, best.split, best.parcels, city_key,
                              best.delivery_earliest, best.delivery_latest, best.sku)

    def _ship_plan(self, vs: VariantStock, quantity: int, at: datetime,
                   city: str | None) -> ShippingAnswer | None:
        if vs.available < quantity:
            return None
        holidays = self._holidays
        options = []
        for wid, qty in vs.by_warehouse.items():
            if qty <= 0 or wid not in self._rules:
                continue
            d = ship_date_for(at, self._rules[wid], holidays)
            transit = self._route(wid, city)[2] if city else 0
            options.append((d + timedelta(days=transit), d, wid, qty))
        options.sort()   # by arrival when a city is given, else by ship date
        single = [o for o in options if o[3] >= quantity]
        if single:
            _arrive, d, wid, _q = single[0]
            parcels = [(wid, quantity, d)]
        else:
            parcels, need = [], quantity
            for _arrive, d, wid, qty in options:
                take = min(qty, need)
                parcels.append((wid, take, d))
                need -= take
                if need == 0:
                    break
        ship = max(p[2] for p in parcels)
        last_wid = max(parcels, key=lambda p: p[2])[0]
        carrier, early, late = self._carrier_and_window(last_wid, city, ship, parcels)
        return ShippingAnswer(None, ship, last_wid, carrier, quantity, len(parcels) > 1,
                              parcels, city, early, late, vs.sku)

    def _route(self, warehouse_id: str, city: str | None):
        row = self._one("SELECT carrier_id, transit_min, transit_max FROM shipping_routes"
                        " WHERE warehouse_id = ? AND city = ?", (warehouse_id, city))
        if row is None:
            return None, 99, 99
        return row["carrier_id"], row["transit_min"], row["transit_max"]

    def _carrier_and_window(self, warehouse_id, city, ship, parcels):
        if not city:
            return self._warehouses[warehouse_id].get("default_carrier"), None, None
        early = late = None
        carrier = None
        for wid, _q, d in parcels:
            c, tmin, tmax = self._route(wid, city)
            if c is None:
                continue
            e, l_ = delivery_window(d, tmin, tmax)
            early = max(early, e) if early else e
            late = max(late, l_) if late else l_
            if wid == warehouse_id:
                carrier = c
        return carrier or self._warehouses[warehouse_id].get("default_carrier"), early, late

    def delivery_window(self, warehouse_id: str, city: str,
                        ship_date: date) -> tuple[str, date, date] | None:
        """(carrier, earliest, latest) for a parcel from a warehouse to a city."""
        key = self.resolve_city(city)
        carrier, tmin, tmax = self._route(warehouse_id, key)
        if carrier is None:
            return None
        early, late = delivery_window(ship_date, tmin, tmax)
        return carrier, early, late

    # -- price, orders, size advice -----------------------------------------------------------
    def price(self, product_id: str) -> dict | None:
        p = self.product(product_id)
        if p is None:
            return None
        return {"type": "price", "product_id": p.product_id, "price": p.price,
                "currency": self.currency}

    def order_status(self, order_id: str) -> OrderStatus | None:
        oid = re.sub(r"\s", "", str(order_id or ""))
        row = self._one("SELECT * FROM orders WHERE order_id = ?", (oid,))
        if row is None:
            return None
        items = [dict(r) for r in self._all(
            "SELECT oi.sku, oi.quantity, oi.price, v.product_id FROM order_items oi"
            " LEFT JOIN variants v ON v.sku = oi.sku WHERE oi.order_id = ?", (oid,))]
        return OrderStatus(row["order_id"], row["customer_id"], row["status"],
                           row["created_at"], row["city"], row["carrier_id"],
                           row["tracking_no"], row["shipped_at"], row["delivered_at"],
                           row["total"], items)

    def orders_of_customer(self, customer_id: str, limit: int = 5) -> list[OrderStatus]:
        rows = self._all("SELECT order_id FROM orders WHERE customer_id = ?"
                         " ORDER BY created_at DESC LIMIT ?", (customer_id, limit))
        return [o for o in (self.order_status(r["order_id"]) for r in rows) if o]

    def first_order_between(self, customer_id: str, start: str, end: str) -> str | None:
        """When the customer first ordered at or after `start` and before `end` (shop-local
        ISO times, as orders.created_at; a space for the `T` is accepted), or None."""
        row = self._one("SELECT MIN(replace(created_at, ' ', 'T')) FROM orders"
                        " WHERE customer_id = ? AND replace(created_at, ' ', 'T') >= ?"
                        " AND replace(created_at, ' ', 'T') < ?",
                        (customer_id, start.replace(" ", "T"), end.replace(" ", "T")))
        return row[0] if row else None

    def size_advice(self, product_id: str, *, height_cm: float | None = None,
                    weight_kg: float | None = None,
                    foot_mm: float | None = None) -> dict | None:
        """The size chart's size for a shopper's height/weight or foot length.

        Returns {"size", "chart": [rows]} or None when the product is unknown; "size" is
        None when the measurements do not fit the chart (or none were given).
        """
        p = self.product(product_id)
        if p is None:
            return None
        chart = [dict(r) for r in self._all(
            "SELECT * FROM size_charts WHERE category = ? ORDER BY rowid", (p.category,))]
        size = None
        if foot_mm:
            for r in chart:
                if r["foot_min_mm"] is not None and r["foot_min_mm"] <= foot_mm <= r["foot_max_mm"]:
                    size = r["size"]
                    break
        elif height_cm or weight_kg:
            scores = []
            for r in chart:
                if r["height_min"] is None:
                    continue
                score = 0.0
                if height_cm:
                    score += _distance(height_cm, r["height_min"], r["height_max"]) / 5
                if weight_kg:
                    score += _distance(weight_kg, r["weight_min"], r["weight_max"]) / 5
                scores.append((score, -chart.index(r), r["size"]))
            if scores:
                # ties go to the larger size: between two sizes, take the bigger one
                size = min(scores, key=lambda t: (t[0], t[1]))[2]
        return {"size": size, "chart": chart, "category": p.category}


def _plan_key(plan: ShippingAnswer) -> tuple:
    return (plan.delivery_latest or plan.ship_date, plan.ship_date, plan.split)


def _distance(x: float, lo: float, hi: float) -> float:
    return 0.0 if lo <= x < hi else min(abs(x - lo), abs(x - hi))


def _product(row: sqlite3.Row) -> Product:
    keys = row.keys()
    return Product(**{f: row[f] for f in Product.__dataclass_fields__ if f in keys})


_LATIN_EDGE = re.compile(r"[a-z0-9]")


def _place_key(text: str) -> str:
    """A place name as it is looked up: lower case, without spaces ("Hong Kong" and
    "hongkong" are one name)."""
    return re.sub(r"\s+", "", str(text or "")).lower()


def _norm(text: str) -> str:
    return re.sub(r"[\s\-_'’]+", "", str(text or "")).lower()
