"""The offline cross-sell evaluation: a fixture whose answer is computed by hand, the CLI's
JSON line, input errors, the model beating popularity on demo and grocery baskets, the
paired bootstrap over baskets and the choice of alpha on a validation split, each on a
hand-computed case."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bot.cli import main
from catalog.crosssell import MiningParams
from catalog.crosssell_eval import (BasketOutcome, TransactionsError, bootstrap_difference,
                                    bootstrap_differences, evaluate,
                                    evaluate_choosing_alpha, export_catalog_orders,
                                    grocery_orders, hit_rate_difference, orders_from_rows,
                                    percentile, read_transactions)

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


# -- the paired bootstrap over baskets ----------------------------------------------------------


def test_bootstrap_draws_whole_baskets_with_their_queries():
    # basket A: 3 queries, ours hits all 3, popularity none; basket B: 2 queries, ours
    # none, popularity both. Drawing 2 baskets with replacement gives, by hand:
    #   A A: (3 + 3 - 0) / 6 = +1    (1/4)     A B: (3 - 2) / 5 = +0.2    (1/2)
    #   B B: (0 - 4) / 4     = -1    (1/4)
    # Drawing queries instead of baskets would also give e.g. 0.6 or -0.6.
    baskets = [BasketOutcome(3, 3, 0), BasketOutcome(2, 0, 2)]
    values = bootstrap_differences(baskets, resamples=4000, seed=7)
    assert len(values) == 4000
    assert set(round(v, 9) for v in values) == {1.0, 0.2, -1.0}
    share = {x: sum(1 for v in values if round(v, 9) == x) / len(values)
             for x in (1.0, 0.2, -1.0)}
    assert share[1.0] == pytest.approx(0.25, abs=0.03)
    assert share[0.2] == pytest.approx(0.50, abs=0.03)
    assert share[-1.0] == pytest.approx(0.25, abs=0.03)
    assert hit_rate_difference(baskets) == pytest.approx(0.2)


def test_bootstrap_interval_is_the_hand_computed_percentile_interval():
    # four baskets of 2 queries: one where ours hits both and popularity none, three where
    # both hit one. A resample's difference is W/4 with W ~ Binomial(4, 1/4) the times the
    # first basket is drawn: P(W <= 0, 1, 2, 3) = 31.6%, 73.8%, 94.9%, 99.6%, so the 2.5th
    # percentile is 0 and the 97.5th is 3/4 (not the largest possible value, 1).
    baskets = [BasketOutcome(2, 2, 0)] + [BasketOutcome(2, 1, 1)] * 3
    ci = bootstrap_difference(baskets, resamples=2000, seed=3)
    assert (ci.difference, ci.low, ci.high) == (0.25, 0.0, 0.75)
    assert (ci.resamples, ci.seed, ci.baskets, ci.level) == (2000, 3, 4, 0.95)
    assert bootstrap_differences(baskets, 50, seed=3) == bootstrap_differences(baskets, 50,
                                                                               seed=3)


def test_percentile_by_nearest_rank():
    values = list(range(1, 1001))            # 1..1000
    assert percentile(values, 2.5) == 25 and percentile(values, 97.5) == 975
    assert percentile([5.0], 2.5) == 5.0


# 16 older orders to mine, 4 newer to ask (80/20 by file order):
#   14 x [p1 p2 p3], 2 x [a b]   ->  pairs a-b 2 (kept); popular p1 p2 p3 (14), a b (2)
#   newer: [a b] [c d] [e f] [g h]: ours hits a -> b and b -> a at rank 1, the other six
#   queries get p1 p2 p3 and miss; popularity misses all 8.
#   hit-rate@3: ours 2/8 = 0.25, popularity 0; per basket, as in the test above, the
#   difference of a resample is W/4, W ~ Binomial(4, 1/4): interval 0 to 0.75.
BOOTSTRAP_BASKETS = [["p1", "p2", "p3"]] * 14 + [["a", "b"]] * 2 + \
    [["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]


def write_orders(tmp_path, baskets, name="orders.csv"):
    path = tmp_path / name
    path.write_text("order_id,item\n" + "".join(
        f"o{n:03d},{item}\n" for n, basket in enumerate(baskets) for item in basket))
    return path


def test_cli_bootstrap_interval_on_a_hand_computed_case(tmp_path):
    path = write_orders(tmp_path, BOOTSTRAP_BASKETS)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--db", str(tmp_path / "none.db"),
                                    "--transactions", str(path), "--bootstrap", "1000",
                                    "--seed", "5", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["model"] == {"hit_rate_at_3": 0.25, "mrr": 0.25}
    assert out["popularity"] == {"hit_rate_at_3": 0.0, "mrr": 0.0}
    assert out["bootstrap"] == {"difference": 0.25, "low": 0.0, "high": 0.75,
                                "level": 0.95, "resamples": 1000, "seed": 5, "baskets": 4}
    assert "paired bootstrap over 4 baskets" in res.output


def test_cli_without_bootstrap_prints_the_same_figures_as_before(tmp_path):
    path, cats = write_fixture(tmp_path)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--transactions", str(path),
                                    "--categories", str(cats), "--json"])
    assert "bootstrap" not in json.loads(res.output.strip().splitlines()[-1])


# -- alpha chosen on a validation split of the older orders -------------------------------------

# 50 orders: 40 older (32 to mine + 8 to validate on), 10 newer to report.
#   mine (32): 3 x [A B1]; 2 x [A C1], 2 x [A C2], 2 x [A C3]; 6 x [C1], 6 x [C2], 6 x [C3];
#              5 one-item orders.  A 9, B1 3, C1..C3 8 each, n 32.
#     score(A -> B1) ~ 3 + a*3/32,  score(A -> Ci) ~ 2 + a*8/32: the Cs first when a > 6.4
#     a = 0, 3:          A -> [B1 C1 C2]        a = 10, 30, 100:  A -> [C1 C2 C3]
#   validate (8): 2 x [A C3], 6 one-item orders.  C3 -> [A ...] always hits at rank 1;
#     A: miss for a = 0, 3; hit at rank 3 for the others.
#     a = 0, 3: hit-rate 2/4 = 0.5, MRR 0.5;  a = 10, 30, 100: 1.0, (1/3 + 1 + 1/3 + 1)/4
#     -> chosen 10 (the first of the best).
#   report (10), mined on all 40 with a = 10: A 11, B1 3, C1 8, C2 8, C3 10, A-C3 4, n 40;
#     A -> C3 6.5, C1 4.0, C2 4.0, B1 3.75 (x 1/21): [C3 C1 C2].
#     newer baskets [A B1], [A C2] (+ 8 one-item): A miss, B1 -> A hit 1, A hit 3,
#     C2 -> A hit 1: hit-rate 3/4, MRR (0 + 1 + 1/3 + 1)/4 = 0.5833.
#   Had alpha been chosen on these newer orders instead, 0 would win (A -> [C3 B1 C1]:
#   the same hits, MRR 0.625).
ALPHA_BASKETS = (
    [["A", "B1"]] * 3 + [["A", "C1"]] * 2 + [["A", "C2"]] * 2 + [["A", "C3"]] * 2
    + [["C1"]] * 6 + [["C2"]] * 6 + [["C3"]] * 6 + [[f"Z{n}"] for n in range(5)]
    + [["A", "C3"]] * 2 + [[f"Z{n}"] for n in range(5, 11)]
    + [["A", "B1"], ["A", "C2"]] + [[f"Z{n}"] for n in range(11, 19)])


def test_alpha_is_chosen_on_the_older_orders_only():
    orders = orders_from_rows([(f"o{n:03d}", item) for n, basket in enumerate(ALPHA_BASKETS)
                               for item in basket])
    assert len(orders) == 50
    choice, result = evaluate_choosing_alpha(orders, [0, 3, 10, 30, 100])
    assert choice.alpha == 10
    assert [(a, r.model.as_dict()) for a, r in choice.validation] == [
        (0.0, {"hit_rate_at_3": 0.5, "mrr": 0.5}), (3.0, {"hit_rate_at_3": 0.5, "mrr": 0.5}),
        (10.0, {"hit_rate_at_3": 1.0, "mrr": 0.6667}),
        (30.0, {"hit_rate_at_3": 1.0, "mrr": 0.6667}),
        (100.0, {"hit_rate_at_3": 1.0, "mrr": 0.6667})]
    assert [(r.train_orders, r.test_orders) for _a, r in choice.validation][0] == (32, 8)
    assert result.params.alpha == 10 and (result.train_orders, result.test_orders) == (40, 10)
    assert result.model.as_dict() == {"hit_rate_at_3": 0.75, "mrr": 0.5833}


def test_cli_choose_alpha_reports_the_choice_and_the_newer_orders(tmp_path):
    path = write_orders(tmp_path, ALPHA_BASKETS)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--db", str(tmp_path / "none.db"),
                                    "--transactions", str(path), "--choose-alpha",
                                    "0,3,10,30,100", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["alpha"]["chosen"] == 10
    assert (out["alpha"]["fit_orders"], out["alpha"]["validation_orders"],
            out["alpha"]["validation_queries"]) == (32, 8, 4)
    assert out["model"] == {"hit_rate_at_3": 0.75, "mrr": 0.5833}
    assert out["queries"] == 4
    assert "alpha 10     hit-rate@3 1.0000  MRR 0.6667  <- chosen" in res.output


@pytest.mark.parametrize("value", ["", "ten", "3,-1"])
def test_cli_choose_alpha_refuses_what_is_not_a_list_of_alphas(tmp_path, value):
    path = write_orders(tmp_path, ALPHA_BASKETS)
    res = CliRunner().invoke(main, ["crosssell", "eval", "--transactions", str(path),
                                    "--choose-alpha", value])
    assert res.exit_code == 2 and "--choose-alpha" in res.output
