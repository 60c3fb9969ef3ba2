"""The `shopassist` command: catalog work, training and running, as a thin shell over the
Python API (catalog.*, bot.training, bot.runner). Errors become one clear line.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click

from bot.settings import get_settings


def _db_option(f):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False),
                        default=None, help="Catalog database (default: var/catalog.db "
                        "or $SHOPASSIST_CATALOG).")(f)


def _db(db_path: str | None) -> Path:
    return Path(db_path) if db_path else get_settings().catalog_path


@click.group()
@click.version_option(package_name="shopassist")
def main() -> None:
    """shopassist: a bilingual sales-assist chatbot for online shops."""


@main.group()
def catalog() -> None:
    """Build, import and query the catalog database."""


@catalog.command()
@_db_option
@click.option("--seed", default=42, show_default=True, help="Random seed.")
@click.option("--orders", default=20_000, show_default=True,
              help="Historical orders in the demo catalog.")
@click.option("--scale", type=int, default=None,
              help="Build a large catalog of about this many SKUs instead (benchmarks).")
@click.option("--order-lines", type=int, default=None,
              help="With --scale: order lines to generate (default 10 x SKUs).")
def demo(db_path, seed, orders, scale, order_lines):
    """Build the demo sportswear and outdoor shop.

    Example: shopassist catalog demo

    Example: shopassist catalog demo --db var/big.db --scale 1000000
    """
    from catalog.demo import build_demo

    path = _db(db_path)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(msg: str) -> None:
        if time.perf_counter() - last[0] > 2 or not scale:
            last[0] = time.perf_counter()
            click.echo(f"  {msg}", err=True)

    lines = order_lines or (scale * 10 if scale else None)
    db = build_demo(path, seed=seed, orders=orders, skus=scale, order_lines=lines,
                    progress=progress)
    counts = {t: db[t].count for t in ("products", "variants", "orders", "order_items")}
    click.echo(f"built {path} in {time.perf_counter() - t0:.1f}s: "
               + ", ".join(f"{v} {k}" for k, v in counts.items()))


@catalog.command("import")
@_db_option
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--table", default=None, help="Table for all files (default: file name).")
def import_(db_path, files, table):
    """Import a shop's catalog from CSV/JSON files (validated, all or nothing).

    Example: shopassist catalog import products.csv variants.csv stock.csv
    """
    from catalog.importer import CatalogImportError, import_files

    try:
        counts = import_files(_db(db_path), files, table=table)
    except CatalogImportError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo("imported: " + ", ".join(f"{n} {t}" for t, n in counts.items()))


@catalog.command()
@_db_option
def stats(db_path):
    """Row counts of every catalog table.

    Example: shopassist catalog stats
    """
    import sqlite_utils

    path = _db(db_path)
    if not path.exists():
        raise click.ClickException(f"no catalog at {path}; run `shopassist catalog demo`")
    db = sqlite_utils.Database(path)
    for t in sorted(db.table_names()):
        if not t.startswith("sqlite_"):
            click.echo(f"{t:18} {db[t].count:>10}")


@catalog.command()
@_db_option
@click.argument("product")
@click.option("--color", default=None, help="Colour, either language (black, 黑色).")
@click.option("--size", default=None, help="Size (XL, 42, 42码).")
def stock(db_path, product, color, size):
    """Stock of a product (id or name) as JSON.

    Example: shopassist catalog stock P001 --size 42码
    """
    c = _catalog(db_path)
    p = c.product(product) or c.product_by_name(product)
    if p is None:
        raise click.ClickException(f"no product {product!r}")
    click.echo(json.dumps(c.stock(p.product_id, color=color, size=size).as_payload(),
                          ensure_ascii=False, indent=2))


@catalog.command()
@_db_option
@click.argument("product")
@click.option("--color", default=None)
@click.option("--size", default=None)
@click.option("--quantity", default=1, show_default=True)
@click.option("--city", default=None, help="Destination city (成都 / Chengdu).")
@click.option("--at", "at", default=None, help="Order time, ISO (default: now).")
def ship(db_path, product, color, size, quantity, city, at):
    """When an order of a product ships (and reaches a city), as JSON.

    Example: shopassist catalog ship P001 --size 42 --city 成都 --at 2026-11-20T17:00
    """
    settings = get_settings()
    when = datetime.fromisoformat(at) if at else settings.now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=settings.tz)
    c = _catalog(db_path)
    p = c.product(product) or c.product_by_name(product)
    if p is None:
        raise click.ClickException(f"no product {product!r}")
    ans = c.ship_date(when, product_id=p.product_id, color=color, size=size,
                      quantity=quantity, city=city)
    click.echo(json.dumps(ans.as_payload(), ensure_ascii=False, indent=2))


@catalog.command()
@_db_option
@click.argument("order_id")
def order(db_path, order_id):
    """Status of an order as JSON.

    Example: shopassist catalog order 20261120000034
    """
    o = _catalog(db_path).order_status(order_id)
    if o is None:
        raise click.ClickException(f"no order {order_id!r}")
    click.echo(json.dumps(o.as_payload(), ensure_ascii=False, indent=2))


@catalog.command()
@_db_option
@click.option("--min-together", default=None, type=int,
              help="Keep pairs bought together in at least this many orders (default 2).")
@click.option("--alpha", default=None, type=float,
              help="Shrinkage of confidence toward popularity, in orders (default 30).")
def mine(db_path, min_together, alpha):
    """Mine cross-sells from the order history into the crosssell table.

    Example: shopassist catalog mine

    Example: shopassist catalog mine --db var/big.db --min-together 3
    """
    from dataclasses import replace

    from catalog.crosssell import DEFAULT_PARAMS, mine_catalog

    path = _db(db_path)
    if not path.exists():
        raise click.ClickException(f"no catalog at {path}; run `shopassist catalog demo`")
    params = DEFAULT_PARAMS
    if min_together is not None:
        params = replace(params, min_together=min_together)
    if alpha is not None:
        params = replace(params, alpha=alpha)
    state = {"bar": None, "done": 0}

    def progress(done: int, total: int) -> None:
        if state["bar"] is None:
            state["bar"] = click.progressbar(length=total, label="order lines",
                                             file=sys.stderr)
            state["bar"].__enter__()
        state["bar"].update(done - state["done"])
        state["done"] = done

    try:
        report = mine_catalog(path, params, progress=progress)
    except Exception as exc:  # noqa: BLE001 - one clear line
        raise click.ClickException(f"mining failed: {exc}") from None
    finally:
        if state["bar"] is not None:
            state["bar"].__exit__(None, None, None)
    click.echo(f"mined {report.order_lines} order lines ({report.orders} orders, "
               f"{report.products} products) in {report.seconds:.1f}s: "
               f"{report.mined_rows} mined rows, {report.rule_rows} rule rows")


def _catalog(db_path):
    from catalog.queries import Catalog

    path = _db(db_path)
    if not path.exists():
        raise click.ClickException(f"no catalog at {path}; run `shopassist catalog demo`")
    return Catalog(path)


@main.group()
def crosssell() -> None:
    """Cross-sells: recommend, evaluate on order history, track what was shown."""


@crosssell.command("recommend")
@_db_option
@click.argument("products", nargs=-1, required=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("-k", default=3, show_default=True, help="How many items.")
def crosssell_recommend(db_path, products, lang, k):
    """Cross-sells for products in view or in the cart (ids or SKUs), as JSON.

    Example: shopassist crosssell recommend P001 --lang en
    """
    from catalog.crosssell import recommend

    items = recommend(_catalog(db_path), list(products), lang, k=k)
    click.echo(json.dumps([i.as_item(lang) for i in items], ensure_ascii=False, indent=2))


@crosssell.command("eval")
@_db_option
@click.option("--transactions", "transactions", required=True,
              type=click.Path(dir_okay=False), help="CSV: order_id,item[,created_at].")
@click.option("--categories", "categories_csv", default=None,
              type=click.Path(dir_okay=False), help="CSV: item,category (optional).")
@click.option("--choose-alpha", "alphas", default=None, metavar="A,B,...",
              help="Choose the shrinkage alpha among these on a validation split of the "
                   "older orders (their newest 20%), then report the newer orders with it.")
@click.option("--bootstrap", "resamples", default=0, show_default=True, type=int,
              help="Resamples of the newer baskets for a 95% interval of the hit-rate@3 "
                   "difference ours - most popular (0: none; 1000 or more for figures).")
@click.option("--seed", default=1, show_default=True, help="Seed of the bootstrap.")
@click.option("--json", "as_json", is_flag=True, help="End with one line of JSON.")
def crosssell_eval(db_path, transactions, categories_csv, alphas, resamples, seed, as_json):
    """Hit-rate@3 and MRR of the cross-sells on your own orders (80/20 split by time).

    Without --categories, items that are product ids or SKUs of the catalog get their
    categories from it.

    Example: shopassist crosssell eval --transactions orders.csv --json

    Example: shopassist crosssell eval --transactions orders.csv --choose-alpha
    0,3,10,30,100,300 --bootstrap 1000 --json
    """
    from catalog.crosssell_eval import (TransactionsError, bootstrap_difference,
                                        catalog_categories, evaluate,
                                        evaluate_choosing_alpha, read_categories,
                                        read_transactions)

    try:
        candidates = [float(a) for a in alphas.split(",") if a.strip()] if alphas else []
    except ValueError:
        raise click.BadParameter(f"not a list of numbers: {alphas!r}",
                                 param_hint="--choose-alpha") from None
    if alphas is not None and (not candidates or min(candidates) < 0):
        raise click.BadParameter("give one or more alphas >= 0, e.g. 0,3,10,30,100,300",
                                 param_hint="--choose-alpha")
    if resamples < 0:
        raise click.BadParameter("must be 0 or more", param_hint="--bootstrap")
    try:
        orders = read_transactions(transactions)
        categories = read_categories(categories_csv) if categories_csv else \
            catalog_categories(_db(db_path), (i for o in orders for i in o.items))
    except (TransactionsError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    choice = None
    if candidates:
        choice, result = evaluate_choosing_alpha(orders, candidates, categories=categories)
        v = choice.as_json()
        click.echo(f"choosing alpha: mined on the oldest {v['fit_orders']} orders, asked on "
                   f"the next {v['validation_orders']} ({v['validation_queries']} queries);"
                   f" the newest {result.test_orders} are not looked at")
        for row in v["validation"]:
            mark = "  <- chosen" if row["alpha"] == choice.alpha else ""
            click.echo(f"  alpha {row['alpha']:<6g} hit-rate@3 {row['hit_rate_at_3']:.4f}  "
                       f"MRR {row['mrr']:.4f}{mark}")
    else:
        result = evaluate(orders, categories=categories)
    click.echo(f"orders: {result.train_orders} to mine, {result.test_orders} to test; "
               f"{result.items} items; {result.queries} queries; "
               f"alpha {result.params.alpha:g}")
    rows = [("model", result.model), ("popularity", result.popularity),
            ("same_category", result.same_category)]
    for name, m in rows:
        if m is None:
            click.echo(f"{name:14} (no categories)")
        else:
            d = m.as_dict()
            click.echo(f"{name:14} hit-rate@3 {d['hit_rate_at_3']:.4f}  MRR {d['mrr']:.4f}")
    out = result.as_json()
    if choice is not None:
        out["alpha"] = choice.as_json()
    if resamples:
        if not result.baskets:
            raise click.ClickException("no newer basket with two items to resample")
        ci = bootstrap_difference(result.baskets, resamples, seed)
        click.echo(f"model - popularity, hit-rate@3: {ci.difference:+.4f} (95% interval "
                   f"{ci.low:+.4f} to {ci.high:+.4f}; paired bootstrap over "
                   f"{ci.baskets} baskets, {resamples} resamples, seed {seed})")
        out["bootstrap"] = ci.as_dict()
    if as_json:
        click.echo(json.dumps(out))


@crosssell.command("export-demo")
@_db_option
@click.argument("out", type=click.Path(dir_okay=False))
def crosssell_export(db_path, out):
    """Write the catalog's orders as order_id,item,created_at for `crosssell eval`.

    Example: shopassist crosssell export-demo var/demo_orders.csv
    """
    from catalog.crosssell_eval import export_catalog_orders

    _catalog(db_path)   # a clear error when there is no catalog
    n = export_catalog_orders(_db(db_path), out)
    click.echo(f"wrote {n} lines to {out}")


@crosssell.command("report")
@_db_option
@click.option("--days", default=3, show_default=True,
              help="A purchase counts within this many days after the offer.")
def crosssell_report(db_path, days):
    """Cross-sells shown, clicked, added to cart and bought, as JSON.

    Example: shopassist crosssell report --days 3
    """
    from catalog.tracking import attribution

    click.echo(json.dumps(attribution(_catalog(db_path), days=days), indent=2))


@main.command()
@click.option("--force", is_flag=True, help="Train even when nothing changed.")
@click.option("--force-install", is_flag=True,
              help="Install the new model even when it scores worse on the held-out sets.")
def train(force, force_install):
    """Train the Rasa model when its data, config or catalog names changed, and install it
    unless a held-out set's intent accuracy falls by more than one point (the installed
    model then stays, the intents that fell are listed, and the exit status is 1).

    Example: shopassist train

    Example: shopassist train --force-install
    """
    from bot.training import TrainingRefused
    from bot.training import train as do_train

    try:
        do_train(force=force, force_install=force_install)
    except TrainingRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"training failed: {exc}") from None


@main.group()
def nlu() -> None:
    """The training data: what the desk's agents reviewed."""


@nlu.command("export-reviewed")
@click.option("--db", "desk_db", type=click.Path(dir_okay=False), default=None,
              help="The desk's database (default: var/desk.db or $SHOPASSIST_DESK_DB).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Where to write zh.yml and en.yml (default: data/nlu/reviewed/).")
def export_reviewed(desk_db, out_dir):
    """Write the messages agents reviewed in the console as Rasa NLU data, one file per
    language (idempotent; lines that repeat the training data or an evaluation set are
    left out). `shopassist train` then learns from them.

    Example: shopassist nlu export-reviewed

    Example: shopassist nlu export-reviewed --db var/desk.db --out data/nlu/reviewed/
    """
    import subprocess

    from bot.settings import ROOT
    from bot.training import rasa_env

    settings = get_settings()
    db = Path(desk_db) if desk_db else settings.desk_db
    if not db.is_file():
        raise click.ClickException(f"no desk database at {db}")
    out = Path(out_dir) if out_dir else settings.training_data / "nlu" / "reviewed"
    # the desk reads its own database (desk/review_export.py): the bot never imports it
    done = subprocess.run([sys.executable, "-m", "desk.review_export", "--db",
                           str(db.resolve()), "--out", str(out.resolve()), "--training",
                           str((settings.training_data / "nlu").resolve())],
                          cwd=ROOT, env=rasa_env())
    if done.returncode:
        raise click.ClickException("the export failed (its error is above)")


@main.command()
def run():
    """Start the action server, the Rasa server and the desk, restart any that dies;
    Ctrl-C (or SIGTERM) stops them all.

    Example: shopassist run
    """
    from bot.runner import run_all
    from bot.training import model_path

    if not model_path().exists():
        raise click.ClickException("no trained model; run `shopassist train` (or make run)")
    sys.exit(run_all())


@main.command()
@click.option("--print-haproxy", is_flag=True,
              help="Print the HAProxy configuration of deploy/haproxy.cfg and exit.")
@click.option("--rasa-url", default=None, metavar="URL",
              help="Use the Rasa server at URL (HAProxy's Rasa port forwards to it) "
                   "instead of starting Rasa servers and the action server.")
def cluster(print_haproxy, rasa_url):
    """Start a local cluster: PostgreSQL, Redis and HAProxy (Debian's packages), two desk
    replicas and two Rasa servers behind HAProxy, the action server; every process
    supervised (restarted when it dies); Ctrl-C stops all.

    Example: shopassist cluster
    """
    from bot.cluster import example_config, run_cluster
    from bot.training import model_path

    if print_haproxy:
        click.echo(example_config(), nl=False)
        return
    if not rasa_url and not model_path().exists():
        raise click.ClickException("no trained model; run `shopassist train` (or make run)")
    sys.exit(run_cluster(rasa_url))


if __name__ == "__main__":
    main()
