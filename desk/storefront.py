"""The demo storefront, rendered on the server in Chinese or English: a product list at `/`
and a product page at `/p/{product_id}`, each embedding the chat widget with one tag, and a
small cart in the header (kept in the browser by /static/storefront.js, which the widget's
"add to cart" goes through). Every value from the catalog goes through html.escape."""

from __future__ import annotations

import json
from html import escape
from typing import Optional
from urllib.parse import quote

from catalog.queries import Catalog

from .texts import TEXTS


def _t(key: str, lang: str) -> str:
    """A storefront word from desk/texts.yml (`storefront_<key>`)."""
    return TEXTS.render(f"storefront_{key}", lang)


# the words the cart script (desk/static/storefront.js) shows, handed to it in the page
CART_WORDS = ("cart", "cart_empty", "cart_total", "cart_remove", "cart_added",
              "cart_no_variant", "cart_full")


def _cart(lang: str) -> str:
    """The header's cart: filled and kept by /static/storefront.js from localStorage."""
    words = json.dumps({k: _t(k, lang) for k in CART_WORDS},
                       ensure_ascii=False).replace("</", "<\\/")
    return (f'<details class="cart" id="cart"><summary><span class="cart-label">'
            f'{escape(_t("cart", lang))}</span> <span class="cart-n" id="cart-n">0</span>'
            f'</summary><div class="cart-box" id="cart-box"></div></details>'
            f'<script type="application/json" id="cart-words">'
            f'{words}</script>')


def _page(lang: str, title: str, body: str, product_id: str = "",
          other_href: str = "") -> str:
    pid = f' data-product-id="{escape(product_id)}"' if product_id else ""
    return (
        f'<!doctype html>\n<html lang="{"zh-CN" if lang == "zh" else "en"}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        '<link rel="stylesheet" href="/static/storefront.css">\n</head>\n<body>\n'
        f'<header><a class="shop" href="/?lang={lang}">{escape(_t("title", lang))}</a>'
        f'<span class="grow"></span>{_cart(lang)}'
        f' <a class="lang" href="{escape(other_href)}">'
        f'{escape(_t("other_language", lang))}</a></header>\n'
        f"<main>\n{body}\n</main>\n"
        f'<footer>{escape(_t("chat", lang))}</footer>\n'
        '<script src="/static/storefront.js" defer></script>\n'
        f'<script src="/widget.js" data-locale="{lang}"{pid} defer></script>\n'
        "</body>\n</html>\n")


def _price(value: float) -> str:
    return f"¥{value:.0f}" if float(value).is_integer() else f"¥{value:.2f}"


def render_index(catalog: Catalog, lang: str) -> str:
    """The product list, by category."""
    rows = catalog.conn.execute(
        "SELECT product_id, name_en, name_zh, category, price FROM products"
        " ORDER BY category, product_id").fetchall()
    sections: list[str] = []
    current = None
    items: list[str] = []

    def flush() -> None:
        if current is not None:
            sections.append(f'<section><h2>{escape(catalog.category_name(current, lang))}'
                            f'</h2>\n<ul class="products">\n{"".join(items)}</ul></section>')

    for r in rows:
        if r["category"] != current:
            flush()
            current, items = r["category"], []
        name = r["name_zh"] if lang == "zh" else r["name_en"]
        items.append(f'<li><a href="/p/{quote(r["product_id"])}?lang={lang}">'
                     f'<span class="name">{escape(name)}</span> '
                     f'<span class="price">{escape(_price(r["price"]))}</span></a></li>\n')
    flush()
    return _page(lang, _t("title", lang), "\n".join(sections),
                 other_href=f"/?lang={'en' if lang == 'zh' else 'zh'}")


def _size_cell(catalog: Catalog, product, v, lang: str) -> str:
    """One size of one colour: in stock, a button that adds it to the cart."""
    size = escape(catalog.size_name(v.size, lang))
    if v.available <= 0:
        return (f'<li class="out" data-sku="{escape(v.sku)}">{size}: '
                f'{escape(_t("sold_out", lang))}</li>')
    variant = TEXTS.render("storefront_variant", lang,
                           color=catalog.color_name(v.color, lang),
                           size=catalog.size_name(v.size, lang))
    label = TEXTS.render("storefront_add_label", lang, product=product.name(lang),
                         variant=variant)
    return (f'<li class="in" data-sku="{escape(v.sku)}"><button type="button" class="add"'
            f' data-product-id="{escape(product.product_id)}" data-sku="{escape(v.sku)}"'
            f' data-price="{product.price}" data-name="{escape(product.name(lang))}"'
            f' data-variant="{escape(variant)}" aria-label="{escape(label)}">'
            f'{size}: {v.available}</button></li>')


def render_product(catalog: Catalog, product_id: str, lang: str) -> Optional[str]:
    """A product page: name, price, colours and sizes with stock; None if unknown."""
    product = catalog.product(product_id)
    if product is None:
        return None
    stock = catalog.stock(product.product_id)
    colours: dict[str, list] = {}
    for v in stock.variants if stock else []:
        colours.setdefault(v.color, []).append(v)
    rows = []
    for colour, variants in colours.items():
        cells = "".join(_size_cell(catalog, product, v, lang) for v in variants)
        rows.append(f'<tr><th>{escape(catalog.color_name(colour, lang))}</th>'
                    f'<td><ul class="sizes">{cells}</ul></td></tr>')
    details = []
    for key in ("material", "fit", "care"):
        value = getattr(product, f"{key}_{lang}", None)
        if value:
            details.append(f"<p class=\"{key}\">{escape(value)}</p>")
    body = (f'<p><a href="/?lang={lang}">&larr; {escape(_t("back", lang))}</a></p>\n'
            f'<article class="product" data-product-id="{escape(product.product_id)}">'
            f"<h1>{escape(product.name(lang))}</h1>\n"
            f'<p class="price">{escape(_price(product.price))}</p>\n{"".join(details)}\n'
            f'<table class="stock"><thead><tr><th>{escape(_t("colour", lang))}</th>'
            f'<th>{escape(_t("size", lang))} / {escape(_t("stock", lang))}</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></article>')
    other = "en" if lang == "zh" else "zh"
    return _page(lang, product.name(lang), body, product.product_id,
                 other_href=f"/p/{quote(product.product_id)}?lang={other}")
