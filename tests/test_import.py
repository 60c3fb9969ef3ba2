"""Importing a shop's own catalog: validated, with file/line/field in every error, and
all or nothing."""

from __future__ import annotations

import json

import pytest
import sqlite_utils
from click.testing import CliRunner

from bot.cli import main
from catalog.importer import CatalogImportError, import_files
from catalog.queries import Catalog

PRODUCTS = "product_id,name_en,name_zh,category,price\nX1,Trail Cap,山径帽,caps,99\n" \
           "X2,Trail Sock,山径袜,socks,29.5\n"
VARIANTS = "sku,product_id,color,size\nX1-BLK,X1,black,ONE\nX2-BLK-M,X2,black,M\n"
WAREHOUSES = "warehouse_id,city,cutoff,handling_days,rest_weekdays\nW1,hangzhou,15:30,0,6\n"
STOCK = "sku,warehouse_id,quantity\nX1-BLK,W1,7\nX2-BLK-M,W1,0\n"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


@pytest.fixture()
def files(tmp_path):
    return [write(tmp_path, n, t) for n, t in (("products.csv", PRODUCTS),
                                               ("variants.csv", VARIANTS),
                                               ("warehouses.csv", WAREHOUSES),
                                               ("stock.csv", STOCK))]


def test_import_csv_then_query(tmp_path, files):
    db = tmp_path / "shop.db"
    counts = import_files(db, files)
    assert counts == {"warehouses": 1, "products": 2, "variants": 2, "stock": 2}
    c = Catalog(db)
    assert c.stock("X1").available == 7
    assert c.price("X2")["price"] == 29.5


def test_import_json_array_and_lines(tmp_path, files):
    db = tmp_path / "shop.db"
    import_files(db, files)
    arr = write(tmp_path, "stock.json", json.dumps([{"sku": "X2-BLK-M", "warehouse_id": "W1",
                                                     "quantity": 4}]))
    import_files(db, [arr])
    assert Catalog(db).stock("X2").available == 4
    lines = write(tmp_path, "products.jsonl",
                  '{"product_id": "X3", "name_en": "Hat", "name_zh": "帽", "category": "caps",'
                  ' "price": 5}\n')
    import_files(db, [lines])
    assert Catalog(db).product("X3").name_zh == "帽"


@pytest.mark.parametrize("name,text,message", [
    ("variants.csv", "sku,product_id,color,size\nZ1,NOPE,black,M\n",
     "variants.csv line 2, field product_id: no product 'NOPE'"),
    ("stock.csv", "sku,warehouse_id,quantity\nX1-BLK,W1,-3\n",
     "stock.csv line 2, field quantity: must be at least 0"),
    ("stock.csv", "sku,warehouse_id,quantity\nX1-BLK,W1,lots\n",
     "stock.csv line 2, field quantity: must be a whole number"),
    ("warehouses.csv", "warehouse_id,city,cutoff,handling_days\nW2,xian,25:99,1\n",
     "warehouses.csv line 2, field cutoff: cut-off must be a local time HH:MM"),
    ("warehouses.csv", "warehouse_id,city,cutoff,handling_days\nW2,xian,4pm,1\n",
     "warehouses.csv line 2, field cutoff"),
    ("products.csv", "product_id,name_en,name_zh,category,price\nP9,A,甲,caps,\n",
     "products.csv line 2, field price: required, missing"),
    ("orders.csv", "order_id,customer_id,created_at,status\nO1,C1,yesterday,paid\n",
     "orders.csv line 2, field created_at: must be an ISO date-time"),
    ("stock.json", '[{"sku": "X1-BLK", "warehouse_id": "W1", "quantity": -1}]',
     "stock.json record 1, field quantity"),
    ("stock.json", '[{"sku": "X1-BLK", ', "stock.json line 1: invalid JSON"),
    ("banana.csv", "a,b\n1,2\n", "no catalog table named 'banana'"),
])
def test_bad_rows_are_rejected_with_file_line_field(tmp_path, files, name, text, message):
    db = tmp_path / "shop.db"
    import_files(db, files)
    before = {t: sqlite_utils.Database(db)[t].count for t in ("products", "variants", "stock")}
    bad = write(tmp_path, name, text)
    with pytest.raises(CatalogImportError) as exc:
        import_files(db, [bad])
    assert message in str(exc.value)
    after = {t: sqlite_utils.Database(db)[t].count for t in ("products", "variants", "stock")}
    assert after == before


def test_nothing_is_half_imported(tmp_path, files):
    """A good products file with a bad stock file: neither is written."""
    db = tmp_path / "shop.db"
    good = write(tmp_path, "products.csv", PRODUCTS)
    bad_stock = write(tmp_path, "stock.csv", "sku,warehouse_id,quantity\nX1-BLK,W1,-1\n")
    with pytest.raises(CatalogImportError):
        import_files(db, [good, files[1], files[2], bad_stock])
    assert sqlite_utils.Database(db)["products"].count == 0


def test_a_row_may_refer_to_a_row_of_the_same_import(tmp_path, files):
    db = tmp_path / "shop.db"
    # variants listed before products on the command line: still fine
    import_files(db, [files[3], files[1], files[0], files[2]])
    assert Catalog(db).stock("X2").available == 0


def test_cli_import_reports_errors_and_exit_code(tmp_path, files):
    db = tmp_path / "shop.db"
    runner = CliRunner()
    ok = runner.invoke(main, ["catalog", "import", "--db", str(db), *map(str, files)])
    assert ok.exit_code == 0, ok.output
    assert "imported" in ok.output
    bad = write(tmp_path, "stock.csv", "sku,warehouse_id,quantity\nX1-BLK,W9,1\n")
    res = runner.invoke(main, ["catalog", "import", "--db", str(db), str(bad)])
    assert res.exit_code == 1
    assert "stock.csv line 2, field warehouse_id" in res.output


def _cli_commands() -> list[list[str]]:
    out = []
    for name, cmd in main.commands.items():
        if hasattr(cmd, "commands"):
            out += [[name, sub] for sub in cmd.commands]
        else:
            out.append([name])
    return out


def test_every_cli_command_has_help_with_an_example():
    runner = CliRunner()
    commands = _cli_commands()
    assert ["crosssell", "eval"] in commands and ["catalog", "mine"] in commands
    for words in commands:
        res = runner.invoke(main, [*words, "--help"])
        assert res.exit_code == 0
        assert "Example: shopassist" in res.output, f"{words} has no example"


def test_every_cli_command_is_documented():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    docs = (root / "README.md").read_text(encoding="utf-8") + "".join(
        p.read_text(encoding="utf-8") for p in sorted((root / "docs").glob("*.md")))
    missing = [" ".join(w) for w in _cli_commands()
               if "shopassist " + " ".join(w) not in docs]
    assert not missing, f"commands without a word in README.md or docs/: {missing}"
