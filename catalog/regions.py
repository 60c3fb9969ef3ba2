"""Where the shop delivers: the default rows of the `shipping_regions` table and of its
`region_aliases`.

A region is a country, a territory or a city outside the cities the shop has routes to,
named in both languages, and either served or not. The default is the common case of a
Chinese online shop: mainland China is served (its cities are the `cities` table, each with
its routes), and the places shoppers most often ask about outside it (Hong Kong, Macau,
Taiwan, Japan, the UK, the USA... and their big cities, and "overseas" as such) are named
as not served, so that "能寄到东京吗" / "do you ship to London?" gets an honest answer that
names the place instead of a domestic estimate. A new catalog starts with these rows
(`catalog.schema.create_schema`); a shop changes them by importing `shipping_regions` and
`region_aliases` files (rows replace rows with the same key), e.g. a row
`hong_kong,Hong Kong,香港,1` when it starts delivering to Hong Kong.
"""

from __future__ import annotations

# region key, English name, Chinese name, served (1) or not (0), the region it is part of
DEFAULT_REGIONS: list[tuple[str, str, str, int, str | None]] = [
    ("cn_mainland", "mainland China", "中国大陆", 1, None),
    ("overseas", "addresses outside mainland China", "海外地址", 0, None),
    ("hong_kong", "Hong Kong", "香港", 0, None),
    ("macau", "Macau", "澳门", 0, None),
    ("taiwan", "Taiwan", "台湾", 0, None),
    ("taipei", "Taipei", "台北", 0, "taiwan"),
    ("japan", "Japan", "日本", 0, None),
    ("tokyo", "Tokyo", "东京", 0, "japan"),
    ("osaka", "Osaka", "大阪", 0, "japan"),
    ("south_korea", "South Korea", "韩国", 0, None),
    ("seoul", "Seoul", "首尔", 0, "south_korea"),
    ("singapore", "Singapore", "新加坡", 0, None),
    ("malaysia", "Malaysia", "马来西亚", 0, None),
    ("kuala_lumpur", "Kuala Lumpur", "吉隆坡", 0, "malaysia"),
    ("thailand", "Thailand", "泰国", 0, None),
    ("bangkok", "Bangkok", "曼谷", 0, "thailand"),
    ("uk", "the UK", "英国", 0, None),
    ("london", "London", "伦敦", 0, "uk"),
    ("manchester", "Manchester", "曼彻斯特", 0, "uk"),
    ("usa", "the USA", "美国", 0, None),
    ("new_york", "New York", "纽约", 0, "usa"),
    ("los_angeles", "Los Angeles", "洛杉矶", 0, "usa"),
    ("san_francisco", "San Francisco", "旧金山", 0, "usa"),
    ("canada", "Canada", "加拿大", 0, None),
    ("toronto", "Toronto", "多伦多", 0, "canada"),
    ("vancouver", "Vancouver", "温哥华", 0, "canada"),
    ("australia", "Australia", "澳大利亚", 0, None),
    ("sydney", "Sydney", "悉尼", 0, "australia"),
    ("melbourne", "Melbourne", "墨尔本", 0, "australia"),
    ("france", "France", "法国", 0, None),
    ("paris", "Paris", "巴黎", 0, "france"),
    ("germany", "Germany", "德国", 0, None),
    ("berlin", "Berlin", "柏林", 0, "germany"),
]

# other names shoppers write for a region (either language; matched like the names:
# Latin-script words whole and ignoring case, Chinese anywhere in the message)
DEFAULT_REGION_ALIASES: list[tuple[str, str]] = [
    ("mainland", "cn_mainland"), ("China", "cn_mainland"), ("中国", "cn_mainland"),
    ("大陆", "cn_mainland"), ("内地", "cn_mainland"), ("国内", "cn_mainland"),
    ("overseas", "overseas"), ("abroad", "overseas"), ("internationally", "overseas"),
    ("international", "overseas"), ("outside China", "overseas"), ("国外", "overseas"),
    ("海外", "overseas"), ("境外", "overseas"),
    ("HK", "hong_kong"), ("Hongkong", "hong_kong"), ("中国香港", "hong_kong"),
    ("Macao", "macau"), ("中国澳门", "macau"), ("澳門", "macau"),
    ("中国台湾", "taiwan"), ("台灣", "taiwan"), ("臺灣", "taiwan"),
    ("東京", "tokyo"),
    ("Korea", "south_korea"), ("南韩", "south_korea"),
    ("UK", "uk"), ("United Kingdom", "uk"), ("Britain", "uk"), ("Great Britain", "uk"),
    ("England", "uk"), ("英格兰", "uk"),
    ("USA", "usa"), ("U.S.", "usa"), ("U.S.A.", "usa"), ("United States", "usa"),
    ("America", "usa"), ("the States", "usa"),
    ("NYC", "new_york"), ("澳洲", "australia"),
]
