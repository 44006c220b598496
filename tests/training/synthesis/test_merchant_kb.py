"""The merchant KB: the shipped files, the country filter, the matcher and the derivation."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

from categorizer.taxonomy import default_taxonomy
from training.synthesis.merchant_kb import (
    COUNTRY_LANGUAGES,
    KB_COUNTRIES,
    MerchantKB,
    MerchantKBError,
    default_merchant_kb,
    iso_country,
    load_merchant_kb,
    normalize,
)

ROOT = Path(__file__).resolve().parents[3]
_SPEC = importlib.util.spec_from_file_location(
    "derive_merchant_kb", ROOT / "scripts" / "derive_merchant_kb.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
derive_merchant_kb = importlib.util.module_from_spec(_SPEC)
sys.modules.setdefault("derive_merchant_kb", derive_merchant_kb)
_SPEC.loader.exec_module(derive_merchant_kb)


@pytest.fixture(scope="module")
def kb() -> MerchantKB:
    return default_merchant_kb()


# ------------------------------------------------------------------------------ shipped files


def test_the_shipped_kb_loads(kb: MerchantKB) -> None:
    assert kb.version == derive_merchant_kb.VERSION == "nsi-8.0.20260918+idts-7.2.0"
    assert len(kb.brands) > 15_000
    assert sum(b.detailed is not None for b in kb.brands) > 10_000
    assert {t.lang for t in kb.terms} >= {"en", "de", "fr", "nl", "es", "pt-BR"}
    assert set(COUNTRY_LANGUAGES) == set(KB_COUNTRIES)


def test_the_mapping_uses_only_detailed_ids_and_explains_every_null(kb: MerchantKB) -> None:
    spec = yaml.safe_load((kb.root / "osm_categories.yaml").read_text(encoding="utf-8"))
    detailed = set(default_taxonomy().detailed_labels)
    for path, entry in spec.items():
        if entry["detailed"] is None:
            assert entry["reason"], path
        else:
            assert entry["detailed"] in detailed, path
    assert spec["amenity/bank"]["detailed"] is None
    assert spec["shop/mobile_phone"]["detailed"] is None
    assert spec["amenity/fuel"]["priority"] > spec["shop/convenience"]["priority"]


def test_the_readme_counts_what_the_reader_sees(kb: MerchantKB) -> None:
    readme = (kb.root / "README.md").read_text(encoding="utf-8")
    for code, country in [("GB", "UK"), ("DE", "DE"), ("ZA", "ZA")]:
        assert f"| {code} | {len(kb.brands_in(country)):,} |" in readme, code


def test_every_brand_path_is_in_the_mapping(kb: MerchantKB) -> None:
    assert {b.osm for b in kb.brands} <= set(kb.categories)


def test_brands_trade_where_nsi_says(kb: MerchantKB) -> None:
    uk = {b.name for b in kb.brands_in("UK")}
    assert {"Tesco", "Sainsbury's", "Asda"} <= uk
    assert "Tesco" not in {b.name for b in kb.brands_in("US")}
    german = [b for b in kb.brands_in("DE") if b.detailed == "FOOD_AND_DRINK_GROCERIES"]
    assert {"Rewe", "Edeka"} <= {b.name for b in german}
    assert kb.brands_in("GB") == kb.brands_in("UK")
    assert iso_country("uk") == "GB"


def test_a_brand_under_several_paths_appears_once_with_its_best_path(kb: MerchantKB) -> None:
    shell = [b for b in kb.brands_in("UK") if b.name == "Shell"]
    assert [b.detailed for b in shell] == ["TRANSPORTATION_GAS"]
    assert all(b.detailed is not None for b in kb.brands_in("KE"))


def test_local_business_words_in_each_language(kb: MerchantKB) -> None:
    groceries = "FOOD_AND_DRINK_GROCERIES"
    for lang, word in [
        ("de", "Metzgerei"),
        ("fr", "Boucherie"),
        ("nl", "Slagerij"),
        ("es", "Carnicería"),
        ("pt-BR", "Açougue"),
    ]:
        assert word in kb.terms_for(groceries, lang), lang
    assert "Plumber" in kb.terms_for("HOME_IMPROVEMENT_REPAIR_AND_MAINTENANCE", "en")


# ------------------------------------------------------------------------------------- match


@pytest.mark.parametrize(
    ("descriptor", "country", "name", "detailed"),
    [
        ("CARD PAYMENT TO TESCO STORES 3217 ON 12-03", "UK", "Tesco", "FOOD_AND_DRINK_GROCERIES"),
        ("POS PURCHASE SHOPRITE MTHATHA 0412", "ZA", "Shoprite", "FOOD_AND_DRINK_GROCERIES"),
        ("Kartenzahlung REWE SAGT DANKE", "DE", "Rewe", "FOOD_AND_DRINK_GROCERIES"),
        ("SAINSBURYS S/MKT 1234 LONDON", "UK", "Sainsbury's", "FOOD_AND_DRINK_GROCERIES"),
        ("J SAINSBURY PLC", "UK", "Sainsbury's", "FOOD_AND_DRINK_GROCERIES"),
        ("Lastschrift ALDI SUED", "DE", "Aldi Süd", "FOOD_AND_DRINK_GROCERIES"),
        ("SHELL OIL 57442 HOUSTON TX", "US", "Shell", "TRANSPORTATION_GAS"),
        ("MCDONALD'S 1234 LONDON", "UK", "McDonald's", "FOOD_AND_DRINK_FAST_FOOD"),
        ("BURGERKING 123 BERLIN", "DE", "Burger King", "FOOD_AND_DRINK_FAST_FOOD"),
        ("STARBUCKS STORE 1234 SEATTLE WA", "US", "Starbucks", "FOOD_AND_DRINK_COFFEE"),
        ("MARKS&SPENCER PLC", "UK", "Marks & Spencer", "GENERAL_MERCHANDISE_DEPARTMENT_STORES"),
        ("CO-OP GROUP 123456", "UK", "Co-op Food", "FOOD_AND_DRINK_GROCERIES"),
        ("VODAFONE LTD", "UK", "Vodafone", None),  # a mobile operator: ambiguous
        ("EXPRESS", "US", "Express", "GENERAL_MERCHANDISE_CLOTHING_AND_ACCESSORIES"),
    ],
)
def test_match_names_the_brand(
    kb: MerchantKB, descriptor: str, country: str, name: str, detailed: str | None
) -> None:
    brand = kb.match(descriptor, country)
    assert brand is not None, descriptor
    assert (brand.name, brand.detailed) == (name, detailed)


@pytest.mark.parametrize(
    ("descriptor", "country"),
    [
        ("NATIONAL INSURANCE CONTRIBUTION", "UK"),
        ("NATIONAL INSURANCE CONTRIBUTION", None),
        ("HOUSE RENT", None),
        ("TRANSFER TO GEORGE SMITH", None),
        ("TRANSFER TO GEORGE SMITH", "UK"),
        ("EXPRESS 1234 NEW YORK", "US"),  # a common word with something else: no
        ("MONTHLY ACCOUNT FEE", None),
        ("CARD PAYMENT TO TESCO STORES 3217", "US"),  # Tesco does not trade in the US
    ],
)
def test_match_is_precise(kb: MerchantKB, descriptor: str, country: str | None) -> None:
    assert kb.match(descriptor, country) is None


def test_normalize_folds_the_forms_banks_print() -> None:
    assert normalize("Sainsbury's") == normalize("SAINSBURYS") == normalize("SAINSBURY S")
    assert normalize("M&S") == normalize("M AND S")
    assert normalize("TESCO3217") == ["tesco", "3217"]
    assert normalize("Intermarché") == ["intermarche"]


# ---------------------------------------------------------------------------------- derivation

_MAPPING = """\
amenity/bank: {detailed: null, reason: "fees and transfers", priority: 90}
amenity/fuel: {detailed: TRANSPORTATION_GAS, priority: 70}
office/bail_bond_agent: {detailed: GENERAL_SERVICES_CONSULTING_AND_LEGAL, priority: 60}
shop/butcher: {detailed: FOOD_AND_DRINK_GROCERIES, priority: 60}
shop/supermarket: {detailed: FOOD_AND_DRINK_GROCERIES, priority: 75}
"""


def _item(item_id: str, name: str, include: list, exclude: list | None = None, **tags: str) -> dict:
    location = {"include": include, **({"exclude": exclude} if exclude else {})}
    return {
        "displayName": name,
        "id": item_id,
        "locationSet": location,
        "tags": {"brand": name.split(" (")[0], "name": name.split(" (")[0], **tags},
    }


def _fixture() -> object:
    square = [[[[5.0, 47.0], [15.0, 47.0], [15.0, 55.0], [5.0, 55.0], [5.0, 47.0]]]]
    regions = [
        {"m49": "001", "wikidata": "Q2", "nameEn": "World", "geometry": False},
        {"m49": "150", "wikidata": "Q46", "nameEn": "Europe", "geometry": False},
        {"iso1A2": "GB", "nameEn": "United Kingdom", "aliases": ["UK"], "geometry": False},
        {
            "wikidata": "Q21",
            "nameEn": "England",
            "aliases": ["GB-ENG"],
            "country": "GB",
            "groups": ["150"],
            "callingCodes": ["44"],
            "geometry": True,
        },
        {
            "iso1A2": "DE",
            "nameEn": "Germany",
            "groups": ["150"],
            "callingCodes": ["49"],
            "geometry": True,
            "polygons": square,
        },
        {"iso1A2": "US", "nameEn": "United States", "geometry": False},
        {
            "wikidata": "Q578170",
            "nameEn": "Contiguous United States",
            "aliases": ["CONUS"],
            "country": "US",
            "callingCodes": ["1"],
            "geometry": True,
        },
    ]
    wiki = {"brand:wikidata": "Q1"}
    nsi = {
        "brands/shop/supermarket": {
            "properties": {"exclude": {"generic": ["^supermarket$"]}},
            "items": [
                {**_item("testmart-1", "Testmart (UK)", ["gb"], **wiki), "matchNames": ["tm"]},
                _item("eurofood-2", "Eurofood", ["150"], ["gb"]),
                _item("globo-3", "Globo", ["001"]),
                _item("westside-4", "Westside", ["us-ca.geojson"]),
                _item("centro-5", "Centro", [[10.0, 50.0, 20]]),
                _item("nowhere-6", "Nowhere", ["somewhere.geojson"]),
            ],
        },
        "brands/amenity/fuel": {"items": [_item("testmart-7", "Testmart", ["gb"], **wiki)]},
        "brands/advertising/totem": {"items": [_item("totem-8", "Totem", ["de"])]},
        "operators/amenity/post_office": {"items": [_item("post-9", "Post", ["de"])]},
    }
    presets = {
        "shop/butcher": {"tags": {"shop": "butcher"}},
        "amenity/bank": {"tags": {"amenity": "bank"}},
        "office/bail_bond_agent-US-PH": {"tags": {"office": "bail_bond_agent"}},
        "shop/vacant": {"tags": {"shop": "vacant"}},
    }
    butcher = {"name": "Butcher", "aliases": ["Butchery"], "terms": ["meat", "butcher"]}
    translations = {lang: {"shop/butcher": {"name": f"Butcher-{lang}"}} for lang in ("de", "fr")}
    translations |= {
        "en": {"shop/butcher": butcher, "amenity/bank": {"name": "Bank"}},
        "nl": {"shop/butcher": {"name": "Slagerij"}},
        "es": {"shop/butcher": {"name": "Carnicería"}},
        "pt-BR": {},
        "pt": {"shop/butcher": {"name": "Talho"}},
    }
    return derive_merchant_kb.Sources(
        nsi=nsi,
        generic_words=["^shops?$"],
        match_groups={"food": ["shop/butcher", "shop/supermarket"]},
        regions=regions,
        custom_areas={},
        presets=presets,
        translations=translations,
        nsi_license="BSD\r\n",
        idts_license="ISC\n",
    )


@pytest.fixture
def derived_kb(tmp_path: Path) -> Path:
    taxonomy = (ROOT / "categorizer" / "data" / "plaid_pfc_v1.yaml").read_text(encoding="utf-8")
    files = derive_merchant_kb.derive(_fixture(), _MAPPING, taxonomy)
    assert files == derive_merchant_kb.derive(_fixture(), _MAPPING, taxonomy)  # deterministic
    derive_merchant_kb.write_files(files, tmp_path)
    return tmp_path


def test_derive_is_deterministic_and_resolves_locations(derived_kb: Path) -> None:
    for path in derived_kb.iterdir():
        data = path.read_bytes()
        assert data.endswith(b"\n"), path.name
        assert b"\r" not in data, path.name
    rows = (derived_kb / "brands.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id,name,aliases,osm,countries,wikidata"
    by_id = {row.split(",")[0]: row.split(",") for row in rows[1:]}
    assert by_id["testmart-1"][1:5] == ["Testmart", "tm", "shop/supermarket", "GB"]
    assert by_id["eurofood-2"][4] == "DE"  # Europe without the UK
    assert by_id["globo-3"][4] == "*"
    assert by_id["westside-4"][4] == "US"  # us-ca.geojson
    assert by_id["centro-5"][4] == "DE"  # a circle centred in Germany
    assert not {"nowhere-6", "totem-8", "post-9"} & set(by_id)
    terms = (derived_kb / "category_terms.csv").read_text(encoding="utf-8").splitlines()
    assert "shop/butcher,en,alias,Butchery" in terms
    assert "shop/butcher,pt,name,Talho" in terms  # pt-BR lacks the preset
    # name, alias and "meat"; the term "butcher" repeats the name and is dropped
    assert sum(t.startswith("shop/butcher,en,") for t in terms) == 3
    assert not any(t.startswith(("amenity/bank", "shop/vacant")) for t in terms)
    generic = (derived_kb / "generic_words.txt").read_text(encoding="utf-8").splitlines()
    assert generic == ["^shops?$", "^supermarket$"]


def test_the_derived_kb_loads_and_merges_a_brand_listed_twice(derived_kb: Path) -> None:
    kb = load_merchant_kb(derived_kb)
    uk = kb.brands_in("UK")
    assert [(b.name, b.osm) for b in uk if b.name == "Testmart"] == [
        ("Testmart", "shop/supermarket")
    ]
    assert kb.match("TESTMART 0042", "UK").osm == "shop/supermarket"
    assert kb.terms_for("FOOD_AND_DRINK_GROCERIES", "pt-BR") == ["Talho"]


def test_a_malformed_brands_row_names_the_file_and_line(derived_kb: Path) -> None:
    path = derived_kb / "brands.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    fields = lines[2].split(",")
    fields[4] = "Germany"
    lines[2] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(MerchantKBError, match=r"brands\.csv, line 3: column 'countries'"):
        load_merchant_kb(derived_kb)


def test_an_unmapped_path_names_the_file_and_line(derived_kb: Path) -> None:
    path = derived_kb / "brands.csv"
    text = path.read_text(encoding="utf-8").replace("amenity/fuel", "amenity/fuell")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MerchantKBError, match=r"brands\.csv, line \d+: column 'osm'"):
        load_merchant_kb(derived_kb)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(MerchantKBError, match="not a merchant KB folder"):
        load_merchant_kb(tmp_path / "nowhere")
