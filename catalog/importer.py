"""Import a shop's own catalog from CSV or JSON files, validated, in one transaction.

Each file fills the table its name says (`products.csv`, `stock.json`, ...) unless a table
is given. Every row is checked first (required fields, numbers, a product or SKU that
exists, a cut-off that is a time); any error is reported with the file, line and field,
and nothing at all is written. Rows replace rows with the same key.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Callable, Iterable, Optional

import sqlite_utils

from .schema import ORDER_STATUSES, TABLES, create_indexes, create_schema
from .shipping import parse_cutoff, parse_rest_weekdays

# tables in the order they are written (what a row refers to comes first)
ORDER = ["categories", "category_aliases", "colors", "color_aliases", "size_aliases",
         "cities", "carriers", "warehouses", "products", "product_aliases", "variants",
         "size_charts", "stock", "shipping_routes", "holidays", "policies", "orders",
         "order_items"]
MAX_ERRORS = 50


class CatalogImportError(ValueError):
    """Rows that failed validation; `errors` lists "file line N, field F: problem"."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        more = "" if len(errors) < MAX_ERRORS else f"\n(stopped after {MAX_ERRORS} errors)"
        super().__init__("catalog import rejected, nothing was written:\n  "
                         + "\n  ".join(errors) + more)


@dataclass
class Row:
    source: str      # "products.csv line 3"
    data: dict


def read_rows(path: Path) -> list[Row]:
    """Rows of a CSV (header line first), JSON array or JSON-lines file."""
    text = path.read_bytes().decode("utf-8-sig")
    name = path.name
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        rows = []
        for record in reader:
            extra = record.pop(None, None)
            if extra:
                raise CatalogImportError([f"{name} line {reader.line_num}: more values "
                                          "than header columns"])
            rows.append(Row(f"{name} line {reader.line_num}",
                            {k.strip(): (v.strip() if isinstance(v, str) else v)
                             for k, v in record.items() if k is not None}))
        return rows
    if path.suffix.lower() in (".json", ".jsonl", ".ndjson"):
        stripped = text.lstrip()
        try:
            if stripped.startswith("["):
                items = json.loads(text)
                return [Row(f"{name} record {i}", _obj(item, name, f"record {i}"))
                        for i, item in enumerate(items, 1)]
            out = []
            for i, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    out.append(Row(f"{name} line {i}", _obj(json.loads(line), name,
                                                             f"line {i}")))
            return out
        except json.JSONDecodeError as exc:
            raise CatalogImportError(
                [f"{name} line {exc.lineno}: invalid JSON ({exc.msg})"]) from None
    raise CatalogImportError([f"{name}: unsupported file type (use .csv, .json or .jsonl)"])


def _obj(item, name: str, where: str) -> dict:
    if not isinstance(item, dict):
        raise CatalogImportError([f"{name} {where}: expected an object with named fields"])
    return item


def table_for(path: Path, table: Optional[str] = None) -> str:
    t = table or path.stem.lower()
    if t not in TABLES:
        raise CatalogImportError([f"{path.name}: no catalog table named {t!r} (tables: "
                                  f"{', '.join(ORDER)})"])
    return t


# -- field checks -----------------------------------------------------------------------------
def _text(v) -> Optional[str]:
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _int(v, minimum: int = 0) -> int:
    if isinstance(v, bool):
        raise ValueError("must be a whole number")
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    s = str(v).strip()
    if not re.fullmatch(r"-?\d+", s):
        raise ValueError(f"must be a whole number, got {v!r}")
    n = int(s)
    if n < minimum:
        raise ValueError(f"must be at least {minimum}, got {n}")
    return n


def _num(v, minimum: float = 0.0) -> float:
    try:
        n = float(str(v).strip())
    except ValueError:
        raise ValueError(f"must be a number, got {v!r}") from None
    if n != n or n < minimum:
        raise ValueError(f"must be a number of at least {minimum:g}, got {v!r}")
    return n


def _datetime(v) -> str:
    try:
        return datetime.fromisoformat(str(v).strip()).isoformat(timespec="seconds")
    except ValueError:
        raise ValueError(f"must be an ISO date-time like 2026-11-20T15:30:00, got {v!r}") from None


def _date(v) -> str:
    try:
        return date.fromisoformat(str(v).strip()).isoformat()
    except ValueError:
        raise ValueError(f"must be an ISO date like 2026-10-01, got {v!r}") from None


def _cutoff(v) -> str:
    t = parse_cutoff(v)
    return f"{t.hour:02d}:{t.minute:02d}"


def _rest(v) -> str:
    return ",".join(str(d) for d in sorted(parse_rest_weekdays(v or "")))


def _status(v) -> str:
    s = str(v).strip().lower()
    if s not in ORDER_STATUSES:
        raise ValueError(f"must be one of {', '.join(ORDER_STATUSES)}, got {v!r}")
    return s


def _lang(v) -> str:
    s = str(v or "").strip().lower()
    if s not in ("zh", "en"):
        raise ValueError(f"must be zh or en, got {v!r}")
    return s


CONVERTERS: dict[str, dict[str, Callable]] = {
    "products": {"price": _num},
    "variants": {},
    "warehouses": {"cutoff": _cutoff, "handling_days": _int, "rest_weekdays": _rest},
    "stock": {"quantity": _int},
    "shipping_routes": {"transit_min": _int, "transit_max": _int},
    "holidays": {"date": _date},
    "orders": {"created_at": _datetime, "status": _status, "shipped_at": _datetime,
               "delivered_at": _datetime, "total": _num},
    "order_items": {"quantity": lambda v: _int(v, 1), "price": _num},
    "product_aliases": {"lang": _lang},
    "size_charts": {k: _int for k in ("height_min", "height_max", "weight_min",
                                      "weight_max", "foot_min_mm", "foot_max_mm")},
}
# (table, field) -> (referenced table, its key)
REFERENCES = {
    ("products", "category"): None,   # categories are optional for a shop
    ("variants", "product_id"): ("products", "product_id"),
    ("product_aliases", "product_id"): ("products", "product_id"),
    ("stock", "sku"): ("variants", "sku"),
    ("stock", "warehouse_id"): ("warehouses", "warehouse_id"),
    ("shipping_routes", "warehouse_id"): ("warehouses", "warehouse_id"),
    ("order_items", "order_id"): ("orders", "order_id"),
    ("order_items", "sku"): ("variants", "sku"),
}


def _pk_fields(table: str) -> list[str]:
    pk = TABLES[table][1]
    if pk is None:
        return []
    return list(pk) if isinstance(pk, tuple) else [pk]


def validate(db: sqlite_utils.Database, batches: dict[str, list[Row]]) -> dict[str, list[dict]]:
    """Check every row; return clean rows per table or raise CatalogImportError."""
    errors: list[str] = []
    clean: dict[str, list[dict]] = {}
    keys_in_batch: dict[str, set] = {}
    for table in ORDER:
        for row in batches.get(table, []):
            pk = _pk_fields(table)
            if len(pk) == 1 and _text(row.data.get(pk[0])):
                keys_in_batch.setdefault(table, set()).add(_text(row.data[pk[0]]))

    def exists(table: str, key: str, value: str) -> bool:
        if value in keys_in_batch.get(table, set()):
            return True
        if not db[table].exists():
            return False
        return bool(db.execute(f"SELECT 1 FROM [{table}] WHERE [{key}] = ? LIMIT 1",
                               [value]).fetchone())

    for table in ORDER:
        columns, _pk, not_null = TABLES[table]
        required = set(not_null) | set(_pk_fields(table))
        seen_keys: dict[tuple, str] = {}
        for row in batches.get(table, []):
            out: dict = {}
            unknown = [k for k in row.data if k not in columns]
            if unknown:
                errors.append(f"{row.source}, field {unknown[0]}: unknown column for "
                              f"{table} (columns: {', '.join(columns)})")
            for col in columns:
                raw = row.data.get(col)
                value = _text(raw) if not isinstance(raw, (int, float)) or isinstance(
                    raw, bool) else raw
                if value is None:
                    if col in required:
                        errors.append(f"{row.source}, field {col}: required, missing")
                    continue
                conv = CONVERTERS.get(table, {}).get(col)
                try:
                    out[col] = conv(value) if conv else str(value)
                except ValueError as exc:
                    errors.append(f"{row.source}, field {col}: {exc}")
                    continue
                ref = REFERENCES.get((table, col))
                if ref and not exists(ref[0], ref[1], str(out[col])):
                    errors.append(f"{row.source}, field {col}: no {ref[0][:-1]} "
                                  f"{out[col]!r} in the catalog or this import")
            if table == "shipping_routes" and out.get("transit_max", 1) < out.get(
                    "transit_min", 0):
                errors.append(f"{row.source}, field transit_max: smaller than transit_min")
            pk = _pk_fields(table)
            if pk and all(k in out for k in pk):
                key = tuple(out[k] for k in pk)
                if key in seen_keys:
                    errors.append(f"{row.source}, field {pk[0]}: duplicate of "
                                  f"{seen_keys[key]}")
                seen_keys[key] = row.source
            clean.setdefault(table, []).append(out)
            if len(errors) >= MAX_ERRORS:
                raise CatalogImportError(errors)
    if errors:
        raise CatalogImportError(errors)
    return clean


def import_files(db_path: str | Path, files: Iterable[str | Path],
                 table: Optional[str] = None) -> dict[str, int]:
    """Validate then write the files into the catalog at `db_path`, all or nothing.

    Returns the number of rows written per table.
    """
    batches: dict[str, list[Row]] = {}
    for f in files:
        path = Path(f)
        if not path.exists():
            raise CatalogImportError([f"{path}: file not found"])
        batches.setdefault(table_for(path, table), []).extend(read_rows(path))
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(db_path)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        create_schema(db, indexes=False)
        clean = validate(db, batches)
        counts = {}
        with db.atomic():
            for t in ORDER:
                rows = clean.get(t)
                if not rows:
                    continue
                pk = TABLES[t][1]
                if pk is None:
                    db[t].insert_all(rows)
                else:
                    db[t].insert_all(rows, pk=pk, replace=True)
                counts[t] = len(rows)
            if "variants" in clean:
                _ensure_colors(db, clean["variants"])
        create_indexes(db)
        return counts
    finally:
        db.close()


def _ensure_colors(db: sqlite_utils.Database, variants: list[dict]) -> None:
    """Colours the variants use but the catalog does not name get a row of their own."""
    known = {r["color"] for r in db.query("SELECT color FROM colors")}
    new = {v["color"] for v in variants} - known
    if new:
        db["colors"].insert_all([{"color": c, "name_en": c, "name_zh": c} for c in new],
                                pk="color", ignore=True)
