"""Where the shop delivers: the `shipping_regions` table a new catalog starts with, its
import, and finding the place a message names in either language."""

from __future__ import annotations

import sqlite3

import pytest
import sqlite_utils

from catalog.importer import CatalogImportError, import_files
from catalog.queries import Catalog
from catalog.schema import create_schema


@pytest.fixture()
def fresh(tmp_path):
    path = tmp_path / "shop.db"
    db = sqlite_utils.Database(path)
    create_schema(db, indexes=False)
    db.close()
    return path


def test_a_new_catalog_serves_mainland_china_and_names_the_places_outside(fresh):
    conn = sqlite3.connect(fresh)
    served = conn.execute("SELECT region, name_en, name_zh FROM shipping_regions"
                          " WHERE served = 1").fetchall()
    assert served == [("cn_mainland", "mainland China", "中国大陆")]
    outside = dict(conn.execute("SELECT region, part_of FROM shipping_regions"
                                " WHERE served = 0").fetchall())
    for place in ("hong_kong", "macau", "taiwan", "japan", "uk", "usa", "overseas"):
        assert place in outside and outside[place] is None
    assert (outside["london"], outside["tokyo"], outside["taipei"]) == ("uk", "japan",
                                                                        "taiwan")
    # every alias and every part_of names a region of the table
    regions = {r for (r,) in conn.execute("SELECT region FROM shipping_regions")}
    assert {r for (r,) in conn.execute("SELECT region FROM region_aliases")} <= regions
    assert set(outside.values()) - {None} <= regions


@pytest.mark.parametrize("text,region", [
    ("能寄到东京吗", "tokyo"), ("香港能发吗", "hong_kong"), ("寄到中国香港", "hong_kong"),
    ("台湾可以寄吗", "taiwan"), ("發到台灣嗎", "taiwan"), ("你们能发国外吗", "overseas"),
    ("英国伦敦", "uk"), ("do you ship to London?", "london"),
    ("can u send to hongkong", "hong_kong"), ("ship to Hong  Kong pls", "hong_kong"),
    ("do you ship internationally", "overseas"), ("shipping to the UK?", "uk"),
    ("NEW YORK?", "new_york"), ("Taiwan ok?", "taiwan"), ("shipping within China?",
                                                         "cn_mainland"),
    # not places: a word inside another, "us", a mainland city, nothing
    ("ship to us?", None), ("wrongkong", None), ("the ukulele", None), ("发北京", None),
    ("in stock?", None), ("", None),
])
def test_the_place_a_message_names(fresh, text, region):
    found = Catalog(fresh).place_in(text)
    assert (found.region if found else None) == region


def test_served_regions_and_their_names(fresh):
    c = Catalog(fresh)
    assert [(r.region, r.name("zh"), r.name("en")) for r in c.served_regions()] == \
        [("cn_mainland", "中国大陆", "mainland China")]
    london = c.region("london")
    assert (london.served, london.part_of, london.name("zh")) == (False, "uk", "伦敦")


def test_a_shop_that_starts_delivering_to_hong_kong_imports_one_row(fresh, tmp_path):
    f = tmp_path / "shipping_regions.csv"
    f.write_text("region,name_en,name_zh,served\nhong_kong,Hong Kong,香港,yes\n",
                 encoding="utf-8")
    assert import_files(fresh, [f]) == {"shipping_regions": 1}
    c = Catalog(fresh)
    assert c.place_in("香港能发吗").served is True
    assert {r.region for r in c.served_regions()} == {"cn_mainland", "hong_kong"}
    aliases = tmp_path / "region_aliases.csv"
    aliases.write_text("alias,region\n港岛,hong_kong\n", encoding="utf-8")
    import_files(fresh, [aliases])
    assert Catalog(fresh).place_in("港岛能寄吗").region == "hong_kong"


@pytest.mark.parametrize("name,text,message", [
    ("shipping_regions.csv", "region,name_en,name_zh,served\nmars,Mars,火星,maybe\n",
     "shipping_regions.csv line 2, field served: must be 1 or 0 (true or false), got"
     " 'maybe'"),
    ("shipping_regions.csv", "region,name_en,name_zh,served,part_of\nphobos,Phobos,火卫一,0,"
     "mars\n", "shipping_regions.csv line 2, field part_of: no shipping_region 'mars' in"
     " the catalog or this import"),
    ("region_aliases.csv", "alias,region\nthe moon,moon\n",
     "region_aliases.csv line 2, field region: no shipping_region 'moon' in the catalog"
     " or this import"),
])
def test_region_rows_are_validated(fresh, tmp_path, name, text, message):
    f = tmp_path / name
    f.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogImportError) as err:
        import_files(fresh, [f])
    assert message in str(err.value)


def test_a_catalog_made_before_the_table_answers_with_the_defaults(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE policies (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()
    c = Catalog(path)
    assert c.place_in("能寄到东京吗").region == "tokyo"
    assert [r.region for r in c.served_regions()] == ["cn_mainland"]
