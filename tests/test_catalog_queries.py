"""The catalog query API against small hand-made catalogs and the demo catalog."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils

from catalog.queries import Catalog
from catalog.schema import create_schema

TZ = ZoneInfo("Asia/Shanghai")


def at(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=TZ)


@pytest.fixture()
def tiny(tmp_path) -> Catalog:
    """Two warehouses: near (Shanghai, 16:00, ships same day, rests Sunday) and far
    (Chengdu, 14:00, one handling day, rests Saturday and Sunday); a holiday on Monday
    2026-12-07."""
    path = tmp_path / "tiny.db"
    db = sqlite_utils.Database(path)
    create_schema(db)
    db["products"].insert_all([
        {"product_id": "A", "name_en": "Alpha Shoe", "name_zh": "阿尔法鞋",
         "category": "shoes", "price": 100.0},
        {"product_id": "B", "name_en": "Beta Sock", "name_zh": "贝塔袜", "category": "socks",
         "price": 10.0}])
    db["colors"].insert_all([{"color": "black", "name_en": "black", "name_zh": "黑色"},
                             {"color": "red", "name_en": "red", "name_zh": "红色"}])
    db["color_aliases"].insert_all([{"alias": "黑", "color": "black"},
                                    {"alias": "黑色", "color": "black"}])
    db["size_aliases"].insert_all([{"alias": "xl", "size": "XL"}])
    db["variants"].insert_all([
        {"sku": "A-BLK-42", "product_id": "A", "color": "black", "size": "42"},
        {"sku": "A-RED-42", "product_id": "A", "color": "red", "size": "42"},
        {"sku": "A-BLK-43", "product_id": "A", "color": "black", "size": "43"},
        {"sku": "B-BLK-XL", "product_id": "B", "color": "black", "size": "XL"}])
    db["warehouses"].insert_all([
        {"warehouse_id": "NEAR", "city": "shanghai", "cutoff": "16:00", "handling_days": 0,
         "rest_weekdays": "6", "default_carrier": "SF", "name_en": "Near", "name_zh": "近仓"},
        {"warehouse_id": "FAR", "city": "chengdu", "cutoff": "14:00", "handling_days": 1,
         "rest_weekdays": "5,6", "default_carrier": "ZTO", "name_en": "Far",
         "name_zh": "远仓"}])
    db["stock"].insert_all([
        {"sku": "A-BLK-42", "warehouse_id": "NEAR", "quantity": 3},
        {"sku": "A-BLK-42", "warehouse_id": "FAR", "quantity": 5},
        {"sku": "A-RED-42", "warehouse_id": "FAR", "quantity": 4},   # far warehouse only
        {"sku": "A-BLK-43", "warehouse_id": "NEAR", "quantity": 0},  # sold out
        {"sku": "A-BLK-43", "warehouse_id": "FAR", "quantity": 0},
        {"sku": "B-BLK-XL", "warehouse_id": "NEAR", "quantity": 9}])
    db["cities"].insert_all([{"city": "shanghai", "name_en": "Shanghai", "name_zh": "上海"},
                             {"city": "chengdu", "name_en": "Chengdu", "name_zh": "成都"}])
    db["shipping_routes"].insert_all([
        {"warehouse_id": "NEAR", "city": "shanghai", "carrier_id": "SF", "transit_min": 1,
         "transit_max": 2},
        {"warehouse_id": "NEAR", "city": "chengdu", "carrier_id": "ZTO", "transit_min": 3,
         "transit_max": 5},
        {"warehouse_id": "FAR", "city": "chengdu", "carrier_id": "SF", "transit_min": 1,
         "transit_max": 1},
        {"warehouse_id": "FAR", "city": "shanghai", "carrier_id": "ZTO", "transit_min": 3,
         "transit_max": 4}])
    db["holidays"].insert({"date": "2026-12-07", "name_en": "Test holiday",
                           "name_zh": "测试假日"})
    db["policies"].insert_all([{"key": "currency", "value": "CNY"},
                               {"key": "free_shipping_threshold", "value": "99"}])
    db["orders"].insert({"order_id": "20261120000001", "customer_id": "C1",
                         "created_at": "2026-11-20T09:00:00", "status": "shipped",
                         "carrier_id": "SF", "tracking_no": "SF123",
                         "shipped_at": "2026-11-20T17:00:00"})
    db["order_items"].insert({"order_id": "20261120000001", "sku": "A-BLK-42",
                              "quantity": 1, "price": 100.0})
    db.close()
    c = Catalog(path)
    yield c
    c.close()


@pytest.mark.parametrize("color,size,expected", [
    ("黑色", "42码", {"A-BLK-42": 8}),
    ("黑", None, {"A-BLK-42": 8, "A-BLK-43": 0}),
    ("BLACK", "43", {"A-BLK-43": 0}),
    (None, "42", {"A-BLK-42": 8, "A-RED-42": 4}),
    ("red", "42", {"A-RED-42": 4}),
    ("green", None, {}),
])
def test_stock_colour_and_size_in_either_language(tiny, color, size, expected):
    ans = tiny.stock("A", color=color, size=size)
    assert {v.sku: v.available for v in ans.variants} == expected


def test_stock_unknown_product_is_none(tiny):
    assert tiny.stock("NOPE") is None
    assert tiny.sku_stock("NOPE-SKU") is None


@pytest.mark.parametrize("order_time,sku,expected_ship,warehouse", [
    # Friday before the near cut-off: same day from near
    ("2026-11-20T10:00", "A-BLK-42", "2026-11-20", "NEAR"),
    # Friday after the near cut-off: Saturday (near works Saturdays)
    ("2026-11-20T16:30", "A-BLK-42", "2026-11-21", "NEAR"),
    # exactly at the cut-off counts as after it
    ("2026-11-20T16:00", "A-BLK-42", "2026-11-21", "NEAR"),
    # Saturday evening: Sunday is a rest day, so Monday
    ("2026-11-21T18:00", "A-BLK-42", "2026-11-23", "NEAR"),
    # Sunday 2026-12-06 morning: rest day, then Monday is a holiday: Tuesday
    ("2026-12-06T09:00", "A-BLK-42", "2026-12-08", "NEAR"),
    # stock only in the far warehouse: 14:00 cut-off plus one handling day
    ("2026-11-19T10:00", "A-RED-42", "2026-11-20", "FAR"),
    # far warehouse after cut-off on Thursday: handling starts Friday, ships Monday
    ("2026-11-19T15:00", "A-RED-42", "2026-11-23", "FAR"),
])
def test_ship_date_rules(tiny, order_time, sku, expected_ship, warehouse):
    ans = tiny.ship_date(at(order_time), sku=sku)
    assert ans.ship_date == date.fromisoformat(expected_ship)
    assert ans.warehouse_id == warehouse
    assert not ans.split


def test_sold_out_everywhere_has_no_ship_date(tiny):
    ans = tiny.ship_date(at("2026-11-20T10:00"), sku="A-BLK-43")
    assert ans.ship_date is None and ans.carrier is None


def test_unknown_sku_is_none(tiny):
    assert tiny.ship_date(at("2026-11-20T10:00"), sku="ZZZ") is None


def test_no_single_warehouse_has_the_quantity_ships_in_parcels(tiny):
    ans = tiny.ship_date(at("2026-11-20T10:00"), sku="A-BLK-42", quantity=7)
    assert ans.split
    assert sorted((w, q) for w, q, _ in ans.parcels) == [("FAR", 4), ("NEAR", 3)]
    # the far parcel leaves Monday (Friday before 14:00 + 1 working day, rests Sat/Sun)
    assert ans.ship_date == date(2026, 11, 23)


def test_more_than_all_warehouses_hold(tiny):
    ans = tiny.ship_date(at("2026-11-20T10:00"), sku="A-BLK-42", quantity=9)
    assert ans.ship_date is None


def test_delivery_window_picks_the_warehouse_that_arrives_first(tiny):
    # to Chengdu: near ships Friday but takes 3-5 days (23-25 Nov); far ships Monday
    # (one handling day, rests at weekends) and takes 1 day (24 Nov): far wins
    ans = tiny.ship_date(at("2026-11-20T10:00"), sku="A-BLK-42", city="成都")
    assert (ans.warehouse_id, ans.carrier, ans.city) == ("FAR", "SF", "chengdu")
    assert ans.ship_date == date(2026, 11, 23)
    assert (ans.delivery_earliest, ans.delivery_latest) == (date(2026, 11, 24),
                                                            date(2026, 11, 24))
    ans_sh = tiny.ship_date(at("2026-11-20T10:00"), sku="A-BLK-42", city="Shanghai")
    assert (ans_sh.warehouse_id, ans_sh.carrier) == ("NEAR", "SF")
    assert (ans_sh.delivery_earliest, ans_sh.delivery_latest) == (date(2026, 11, 21),
                                                                   date(2026, 11, 22))


def test_price_and_order_status(tiny):
    assert tiny.price("A") == {"type": "price", "product_id": "A", "price": 100.0,
                               "currency": "CNY"}
    assert tiny.price("NOPE") is None
    o = tiny.order_status(" 20261120000001 ")
    assert o.as_payload()["tracking_no"] == "SF123"
    assert tiny.order_status("'; DROP TABLE orders;--") is None
    assert tiny.order_status("") is None


def test_resolvers(tiny):
    assert tiny.resolve_color("黑色") == "black"
    assert tiny.resolve_color("黑的") == "black"
    assert tiny.resolve_size("xl") == "XL"
    assert tiny.resolve_size("42码") == "42"
    assert tiny.resolve_size("size 42") == "42"
    assert tiny.resolve_city("成都市") == "chengdu"
    assert tiny.resolve_color("plaid") is None


def test_product_by_name_ignores_case_and_spacing(tiny):
    assert tiny.product_by_name("alpha  SHOE").product_id == "A"
    assert tiny.product_by_name("阿尔法 鞋").product_id == "A"
    assert tiny.product_by_name("gamma") is None


def test_demo_catalog_has_the_required_variety(sql):
    assert sql("SELECT COUNT(*) n FROM products")[0]["n"] >= 80
    assert sql("SELECT COUNT(DISTINCT category) n FROM products")[0]["n"] >= 8
    assert sql("SELECT COUNT(*) n FROM variants")[0]["n"] >= 600
    assert sql("SELECT COUNT(*) n FROM orders")[0]["n"] >= 20000
    assert sql("SELECT COUNT(*) n FROM cities")[0]["n"] >= 30
    cutoffs = {r["cutoff"] for r in sql("SELECT cutoff FROM warehouses")}
    assert len(cutoffs) == 3
    per_sku = sql("SELECT sku, SUM(quantity) q, SUM(quantity > 0) n FROM stock GROUP BY sku")
    assert any(r["q"] == 0 for r in per_sku)                 # sold out
    assert any(0 < r["q"] <= 3 for r in per_sku)              # low stock
    assert any(r["n"] == 1 and r["q"] > 3 for r in per_sku)   # one warehouse only


def test_demo_orders_have_copurchase_structure(sql):
    """Shoe baskets hold socks much more often than baskets in general."""
    shoe_orders = sql("""SELECT COUNT(DISTINCT oi.order_id) n FROM order_items oi JOIN
        variants v ON v.sku = oi.sku JOIN products p ON p.product_id = v.product_id
        WHERE p.category = 'running_shoes'""")[0]["n"]
    both = sql("""SELECT COUNT(DISTINCT a.order_id) n FROM order_items a
        JOIN variants va ON va.sku = a.sku JOIN products pa ON pa.product_id = va.product_id
        JOIN order_items b ON b.order_id = a.order_id
        JOIN variants vb ON vb.sku = b.sku JOIN products pb ON pb.product_id = vb.product_id
        WHERE pa.category = 'running_shoes' AND pb.category = 'socks'""")[0]["n"]
    socks = sql("""SELECT COUNT(DISTINCT oi.order_id) n FROM order_items oi JOIN variants v
        ON v.sku = oi.sku JOIN products p ON p.product_id = v.product_id
        WHERE p.category = 'socks'""")[0]["n"]
    total = sql("SELECT COUNT(*) n FROM orders")[0]["n"]
    assert both / shoe_orders > 1.5 * socks / total   # lift above 1.5


def test_demo_is_deterministic(tmp_path):
    from catalog.demo import build_demo

    a = build_demo(tmp_path / "a.db", orders=500)
    b = build_demo(tmp_path / "b.db", orders=500)
    for table in ("variants", "stock", "orders", "order_items"):
        assert list(a.query(f"SELECT * FROM {table} ORDER BY rowid")) == \
            list(b.query(f"SELECT * FROM {table} ORDER BY rowid"))


def test_scale_mode_streams_a_large_catalog(tmp_path):
    from catalog.demo import build_demo

    db = build_demo(tmp_path / "big.db", skus=20_000, order_lines=30_000)
    assert 18_000 <= db["variants"].count <= 22_000
    assert db["order_items"].count >= 30_000
