"""The offline cross-sell evaluation: a fixture whose answer is computed by hand, the CLI's
JSON line, input errors, and the model beating popularity on demo and grocery baskets."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import main
from catalog.crosssell import MiningParams
from catalog.crosssell_eval import (TransactionsError, evaluate, export_catalog_orders,
                                    grocery_orders, orders_from_rows, read_transactions)

# 8 older orders to mine, 2 newer to test (80/20 by file order):
#   counts: a 3, b 2, c 5, d 2, e 2; pairs a-b 2, c-d 2 (kept), a-c 1, c-e 1 (below 2)
#   popular: c, a, then b, d, e (ties by name)
# queries (order 9 = a b, order 10 = d e):
#   a: model [b, c, d] hit@1    popularity [c, b, d] hit@2   same category [b] hit@1
#   b: model [a, c, d] hit@1    popularity [c, a, d] hit@2   same category [a] hit@1
#   d: model [c, a, b] miss     popularity [c, a, b] miss    same category [c, e] hit@2
#   e: model [c, a, b] miss     popularity [c, a, b] miss    same category [c, d] hit@2
BASKETS = [["a", "b"], ["a", "b"], ["a", "c"], ["c", "d"], ["c", "d"], ["c", "e"], ["c"],
           ["e"], ["a", "b"], ["d", "e"]]
CATEGORIES = {"a": "X", "b": "X", "c": "Y", "d": "Y", "e": "Y"}
EXPECTED = {"model": {"hit_rate_at_3": 0.5, "mrr": 0.5},
            "popularity": {"hit_rate_at_3": 0.5, "mrr": 0.25},
            "same_category": {"hit_rate_at_3": 1.0, "mrr": 0.75}, "queries": 4}


def write_fixture(tmp_path, *, shuffled_with_times=False):
    lines = ["order_id,item" + (",created_at" if shuffled_with_times else "")]
    rows = [(f"o{n}", item, f"2026-01-{n + 1:02d}T09:00:00")
            for n, basket in enumerate(BASKETS) for item in basket]
    if shuffled_with_times:
        rows = rows[::-1]           # the times, not the file, give the order
        lines += [",".join(r) for r in rows]
    else:
        lines += [f"{o},{i}" for o, i, _t in rows]
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cats = tmp_path / "categories.csv"
    cats.write_text("item,category\n" + "".join(f"{i},{c}\n" for i, c in CATEGORIES.items()))
    return path, cats


@pytest.mark.parametrize("with_times", [False, True])
def test_eval_matches_the_hand_computed_answer(tmp_path, with_times):
    path, _ = write_fixture(tmp_path, shuffled_with_times=with_times)
    result = evaluate(read_transactions(path), categories=CATEGORIES,
                      params=MiningParams(min_together=2))
    assert result.as_json() == EXPECTED
    assert (result.train_orders, result.test_orders) == (8, 2)


def test_cli_json_is_the_last_line(tmp_path):
    path, cats = write_fixture(tmp_path)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--transactions", str(path),
                                    "--categories", str(cats), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output.strip().splitlines()[-1]) == EXPECTED


def test_without_categories_same_category_is_null(tmp_path):
    path, _ = write_fixture(tmp_path)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--db", str(tmp_path / "none.db"),
                                    "--transactions", str(path), "--json"])
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["same_category"] is None and out["model"] == EXPECTED["model"]


def test_a_wrong_header_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("order,sku\n1,a\n")
    res = CliRunner().invoke(main, ["crosssell", "eval", "--transactions", str(bad)])
    assert res.exit_code == 1
    assert "header must be order_id,item" in res.output
    with pytest.raises(TransactionsError):
        orders_from_rows([["only-one-column"]])


def test_query_item_is_never_recommended_for_itself(tmp_path):
    # x is the most popular item: for x, the popularity baseline and the model skip it
    orders = orders_from_rows([(f"o{n}", i) for n in range(10) for i in ("x", f"y{n % 2}")])
    result = evaluate(orders, params=MiningParams(min_together=1))
    assert result.model.hits == result.model.queries == 4


def test_on_demo_orders_the_model_beats_both_baselines(demo_db, tmp_path):
    path = tmp_path / "demo.csv"
    export_catalog_orders(demo_db, path)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--db", str(demo_db),
                                    "--transactions", str(path), "--json"])
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["same_category"] is not None          # items are catalog product ids
    assert out["model"]["hit_rate_at_3"] > out["popularity"]["hit_rate_at_3"] + 0.1
    assert out["model"]["hit_rate_at_3"] > out["same_category"]["hit_rate_at_3"]


def test_on_grocery_baskets_the_model_beats_popularity():
    orders, aisles = grocery_orders(12_000, 1_000, seed=3)
    result = evaluate(orders, categories=aisles).as_json()
    assert result["model"]["hit_rate_at_3"] > result["popularity"]["hit_rate_at_3"]
    lift = evaluate(orders, params=MiningParams(score="lift")).as_json()
    assert lift["model"]["hit_rate_at_3"] < result["popularity"]["hit_rate_at_3"]
