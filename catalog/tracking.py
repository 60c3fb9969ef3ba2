"""What happened to the cross-sells the bot offered: shown, clicked, added to cart, bought.

The bot records `shown` when it offers, `clicked` when a "tell me more" button comes back
and `added_to_cart` when an "add to cart" one does (`record_events`): one small insert into
the `crosssell_events` table of the catalog database (WAL, so readers are not blocked).
`attribution` counts, per offer, whether that customer ordered the product within a few days.
Times are the shop's local time, ISO, like `orders.created_at`.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable

from .queries import Catalog
from .schema import CROSSSELL_EVENTS_TABLE

logger = logging.getLogger(__name__)

EVENTS = ("shown", "clicked", "added_to_cart")


@dataclass(frozen=True)
class CrosssellEvent:
    conversation_id: str | None
    customer_id: str | None
    product_id: str                 # the product offered
    for_product_id: str | None      # the product it was offered for
    event: str                      # one of EVENTS

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"unknown cross-sell event {self.event!r} (use one of {EVENTS})")


def local_iso(at: datetime) -> str:
    """Shop-local ISO time to the second, without offset (as orders.created_at)."""
    return at.replace(tzinfo=None, microsecond=0).isoformat()


def record_events(db_path: str | Path, events: Iterable[CrosssellEvent],
                  at: datetime) -> int:
    """Append events at shop-local time `at` in one transaction; returns how many.

    Never raises: tracking must not break an answer (a read-only or missing database is
    logged and skipped, returning 0).
    """
    rows = [(e.conversation_id, e.customer_id, e.product_id, e.for_product_id, e.event,
             local_iso(at)) for e in events]
    if not rows:
        return 0
    path = Path(db_path)
    if not path.exists():
        logger.warning("cross-sell events not recorded: no database at %s", path)
        return 0
    try:
        conn = sqlite3.connect(path, timeout=2)
        try:
            conn.execute("PRAGMA synchronous=NORMAL")   # WAL: no fsync per event
            with conn:
                for sql in CROSSSELL_EVENTS_TABLE:
                    conn.execute(sql)
                conn.executemany(
                    "INSERT INTO crosssell_events (conversation_id, customer_id, product_id,"
                    " for_product_id, event, created_at) VALUES (?,?,?,?,?,?)", rows)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        logger.warning("cross-sell events not recorded: %s", exc)
        return 0
    return len(rows)


def attribution(catalog: Catalog, days: int = 3, *, shown_from: str | None = None,
                shown_until: str | None = None) -> dict:
    """Offers shown, clicked, added to cart, and bought: an order from the same customer,
    within `days` days after the offer was shown, holding the offered product.

    Counts distinct (conversation, product) offers, those first shown on the shop-local
    days `shown_from`..`shown_until` ("YYYY-MM-DD", inclusive) when given; `bought` only
    counts offers made to a known customer. Returns {"shown", "clicked", "added_to_cart", "bought",
    "shown_to_customers", "days", "by_product": [{product_id, shown, clicked,
    added_to_cart, bought}]}.
    """
    exists = catalog._one("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                          " AND name = 'crosssell_events'")
    empty = {"shown": 0, "clicked": 0, "added_to_cart": 0, "bought": 0,
             "shown_to_customers": 0, "days": days, "by_product": []}
    if exists is None:
        return empty
    window = f"+{int(days)} days"
    first, last = shown_from or "0000-00-00", shown_until or "9999-99-99"
    rows = catalog._all(
        """
        WITH offers AS (
            SELECT conversation_id, product_id, MIN(customer_id) AS customer_id,
                   MIN(created_at) AS shown_at
            FROM crosssell_events WHERE event = 'shown'
            GROUP BY conversation_id, product_id
            HAVING substr(MIN(created_at), 1, 10) BETWEEN ? AND ?),
        acted AS (
            SELECT DISTINCT conversation_id, product_id, event FROM crosssell_events
            WHERE event IN ('clicked', 'added_to_cart')),
        bought AS (
            SELECT o.conversation_id, o.product_id FROM offers o
            WHERE o.customer_id IS NOT NULL AND EXISTS (
                SELECT 1 FROM orders r JOIN order_items oi ON oi.order_id = r.order_id
                JOIN variants v ON v.sku = oi.sku
                WHERE r.customer_id = o.customer_id AND v.product_id = o.product_id
                  AND replace(r.created_at, ' ', 'T') >= o.shown_at
                  AND replace(r.created_at, ' ', 'T')
                      < strftime('%Y-%m-%dT%H:%M:%S', o.shown_at, ?)))
        SELECT o.product_id,
               COUNT(*) AS shown,
               SUM(o.customer_id IS NOT NULL) AS shown_to_customers,
               SUM(EXISTS (SELECT 1 FROM acted a WHERE a.conversation_id IS o.conversation_id
                           AND a.product_id = o.product_id AND a.event = 'clicked'))
                   AS clicked,
               SUM(EXISTS (SELECT 1 FROM acted a WHERE a.conversation_id IS o.conversation_id
                           AND a.product_id = o.product_id AND a.event = 'added_to_cart'))
                   AS added_to_cart,
               SUM(EXISTS (SELECT 1 FROM bought b WHERE b.conversation_id IS o.conversation_id
                           AND b.product_id = o.product_id)) AS bought
        FROM offers o GROUP BY o.product_id ORDER BY shown DESC, o.product_id
        """, (first, last, window))
    out = dict(empty)
    out["by_product"] = [dict(r) for r in rows]
    for key in ("shown", "clicked", "added_to_cart", "bought", "shown_to_customers"):
        out[key] = sum(int(r[key] or 0) for r in rows)
    return out
