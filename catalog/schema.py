"""The catalog's tables, created with sqlite-utils.

The contract tables (products, variants, warehouses, stock, orders, order_items) keep the
names and columns of docs/catalog.md; the others hold what real answers need: aliases,
colour and size words, size charts, cities, carriers, routes, holidays and policies.
"""

from __future__ import annotations

import sqlite_utils

from .regions import DEFAULT_REGION_ALIASES, DEFAULT_REGIONS

# table -> (columns, primary key, not-null columns)
TABLES: dict[str, tuple[dict[str, type], object, set[str]]] = {
    "categories": ({"category": str, "name_en": str, "name_zh": str}, "category",
                   {"name_en", "name_zh"}),
    "category_aliases": ({"alias": str, "category": str}, "alias", {"category"}),
    "products": ({"product_id": str, "name_en": str, "name_zh": str, "category": str,
                  "price": float, "material_en": str, "material_zh": str,
                  "care_en": str, "care_zh": str, "fit_en": str, "fit_zh": str},
                 "product_id", {"name_en", "name_zh", "category", "price"}),
    "product_aliases": ({"alias": str, "product_id": str, "lang": str},
                        ("alias", "product_id"), {"lang"}),
    "colors": ({"color": str, "name_en": str, "name_zh": str}, "color",
               {"name_en", "name_zh"}),
    "color_aliases": ({"alias": str, "color": str}, "alias", {"color"}),
    "size_aliases": ({"alias": str, "size": str}, "alias", {"size"}),
    "variants": ({"sku": str, "product_id": str, "color": str, "size": str}, "sku",
                 {"product_id", "color", "size"}),
    "size_charts": ({"category": str, "size": str, "height_min": int, "height_max": int,
                     "weight_min": int, "weight_max": int, "foot_min_mm": int,
                     "foot_max_mm": int}, ("category", "size"), set()),
    "cities": ({"city": str, "name_en": str, "name_zh": str, "region": str}, "city",
               {"name_en", "name_zh"}),
    # where the shop delivers: served (1) or not (0); a city may be part_of a country
    # (catalog/regions.py holds the rows a new catalog starts with)
    "shipping_regions": ({"region": str, "name_en": str, "name_zh": str, "served": int,
                          "part_of": str}, "region", {"name_en", "name_zh", "served"}),
    "region_aliases": ({"alias": str, "region": str}, "alias", {"region"}),
    "carriers": ({"carrier_id": str, "name_en": str, "name_zh": str}, "carrier_id",
                 {"name_en", "name_zh"}),
    "warehouses": ({"warehouse_id": str, "city": str, "cutoff": str, "handling_days": int,
                    "name_en": str, "name_zh": str, "rest_weekdays": str,
                    "default_carrier": str}, "warehouse_id",
                   {"city", "cutoff", "handling_days"}),
    "stock": ({"sku": str, "warehouse_id": str, "quantity": int}, ("sku", "warehouse_id"),
              {"quantity"}),
    "shipping_routes": ({"warehouse_id": str, "city": str, "carrier_id": str,
                         "transit_min": int, "transit_max": int},
                        ("warehouse_id", "city"), {"carrier_id", "transit_min",
                                                   "transit_max"}),
    "holidays": ({"date": str, "name_en": str, "name_zh": str}, "date", set()),
    "policies": ({"key": str, "value": str}, "key", {"value"}),
    "orders": ({"order_id": str, "customer_id": str, "created_at": str, "status": str,
                "city": str, "carrier_id": str, "tracking_no": str, "shipped_at": str,
                "delivered_at": str, "total": float}, "order_id",
               {"customer_id", "created_at", "status"}),
    "order_items": ({"order_id": str, "sku": str, "quantity": int, "price": float}, None,
                    {"order_id", "sku", "quantity"}),
}

INDEXES = [
    ("variants", ["product_id"]),
    ("product_aliases", ["product_id"]),
    ("stock", ["warehouse_id"]),
    ("orders", ["customer_id"]),
    ("orders", ["created_at"]),
    ("order_items", ["order_id"]),
    ("order_items", ["sku"]),
    ("products", ["category"]),
]

EXPRESSION_INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_products_name_en_key"
    " ON products (lower(replace(name_en, ' ', '')))",
    "CREATE INDEX IF NOT EXISTS idx_products_name_zh_key ON products (replace(name_zh, ' ', ''))",
    "CREATE INDEX IF NOT EXISTS idx_product_aliases_key"
    " ON product_aliases (lower(replace(alias, ' ', '')))",
]

ORDER_STATUSES = ("pending_payment", "paid", "shipped", "delivered", "cancelled", "refunded")


def create_schema(db: sqlite_utils.Database, *, indexes: bool = True) -> None:
    """Create every catalog table (and, unless told not to, its indexes) if missing.

    A new `shipping_regions` table starts with the default regions (mainland China
    served, the places outside it named as not served: catalog/regions.py)."""
    for name, (columns, pk, not_null) in TABLES.items():
        if not db[name].exists():
            kwargs = {"not_null": not_null}
            if pk is not None:
                kwargs["pk"] = pk
            db[name].create(columns, **kwargs)
            if name == "shipping_regions":
                db[name].insert_all([dict(zip(columns, row)) for row in DEFAULT_REGIONS])
            elif name == "region_aliases":
                db[name].insert_all([dict(zip(columns, row))
                                     for row in DEFAULT_REGION_ALIASES])
    if indexes:
        create_indexes(db)


def create_indexes(db: sqlite_utils.Database) -> None:
    """Create the indexes that keep every query under a millisecond at 1M SKUs."""
    for table, cols in INDEXES:
        db[table].create_index(cols, if_not_exists=True)
    # name look-ups ignore case and spaces: index exactly those expressions
    for sql in EXPRESSION_INDEXES:
        db.execute(sql)
    db.execute("ANALYZE")


# -- cross-sell tables (catalog/crosssell.py, catalog/tracking.py) ------------------------------
# Derived from the order history by `shopassist catalog mine` (crosssell, crosssell_items) or
# written by the bot (crosssell_events); not part of the import format.
CROSSSELL_TABLES = [
    # one row per (product, related product): orders holding both, support, confidence of
    # product -> related, lift, the ranking score, and where the row comes from
    # ('mined' from orders, 'rule' from the category complement rules)
    "CREATE TABLE IF NOT EXISTS crosssell (product_id TEXT NOT NULL, related_id TEXT NOT NULL,"
    " together INTEGER NOT NULL, support REAL NOT NULL, confidence REAL NOT NULL,"
    " lift REAL NOT NULL, score REAL NOT NULL, source TEXT NOT NULL,"
    " PRIMARY KEY (product_id, related_id))",
    # orders holding each product (popularity), with its category, as mined
    "CREATE TABLE IF NOT EXISTS crosssell_items (product_id TEXT PRIMARY KEY,"
    " category TEXT, orders INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_crosssell_items_category_orders"
    " ON crosssell_items (category, orders)",
    "CREATE INDEX IF NOT EXISTS idx_crosssell_items_orders ON crosssell_items (orders)",
]

CROSSSELL_EVENTS_TABLE = [
    "CREATE TABLE IF NOT EXISTS crosssell_events (id INTEGER PRIMARY KEY,"
    " conversation_id TEXT, customer_id TEXT, product_id TEXT NOT NULL,"
    " for_product_id TEXT, event TEXT NOT NULL, created_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS idx_crosssell_events_event_product"
    " ON crosssell_events (event, product_id)",
]


def create_crosssell_tables(conn, *, events: bool = True) -> None:
    """Create the cross-sell tables (and the event log, unless told not to) if missing.

    `conn` is a sqlite3 connection or a sqlite_utils Database.
    """
    for sql in CROSSSELL_TABLES + (CROSSSELL_EVENTS_TABLE if events else []):
        conn.execute(sql)
