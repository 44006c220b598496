"""Tests for categorizer.taxonomy: the default taxonomy, loading, validation, hashing."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from categorizer.taxonomy import (
    Category,
    Taxonomy,
    TaxonomyError,
    UnknownCategoryError,
    default_taxonomy,
    load_taxonomy,
)

PRIMARIES = (
    "INCOME",
    "TRANSFER_IN",
    "TRANSFER_OUT",
    "LOAN_PAYMENTS",
    "BANK_FEES",
    "ENTERTAINMENT",
    "FOOD_AND_DRINK",
    "GENERAL_MERCHANDISE",
    "HOME_IMPROVEMENT",
    "MEDICAL",
    "PERSONAL_CARE",
    "GENERAL_SERVICES",
    "GOVERNMENT_AND_NON_PROFIT",
    "TRANSPORTATION",
    "TRAVEL",
    "RENT_AND_UTILITIES",
)

USER_YAML = """\
# a small user taxonomy; comments do not matter
name: my-cats
version: "2"
categories:
  - id: FOOD
    name: Food
    description: Anything edible.
  - id: FOOD_COFFEE
    name: Coffee
    parent: FOOD
    description: Coffee shops.
  - id: SHOPPING
    name: Shopping
    description: Goods from shops.
  - id: GADGETS
    name: Gadgets
    parent: SHOPPING
    description: Electronics, without the parent-prefix naming convention.
"""


def write(tmp_path: Path, text: str, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def user_data() -> dict:
    return yaml.safe_load(USER_YAML)


def dump(tmp_path: Path, data: dict, name: str = "my.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- the default taxonomy ------------------------------------------------------------------------


def test_default_has_the_16_plaid_primaries_in_design_order() -> None:
    taxonomy = default_taxonomy()
    assert taxonomy.name == "plaid-pfc"
    assert taxonomy.version == "1.0"
    assert taxonomy.labels == PRIMARIES
    assert len(taxonomy.primaries) == 16
    assert len(taxonomy.detailed) == 104
    assert len(taxonomy) == 120
    assert all(c.is_primary for c in taxonomy.primaries)


def test_default_detailed_categories_have_primary_parents_and_follow_them() -> None:
    taxonomy = default_taxonomy()
    current_primary = None
    for category in taxonomy.categories:
        if category.is_primary:
            current_primary = category.id
            continue
        assert category.parent == current_primary, category.id
        assert taxonomy.get(category.parent).is_primary
        assert category.id.startswith(category.parent + "_")
    assert sum(len(taxonomy.children(p)) for p in taxonomy.labels) == 104


def test_default_names_and_descriptions_are_single_nonempty_lines() -> None:
    for category in default_taxonomy().categories:
        for text in (category.name, category.description):
            assert text.strip() == text
            assert text
            assert "\n" not in text


def test_default_is_cached_and_equal_to_a_fresh_load() -> None:
    assert default_taxonomy() is default_taxonomy()
    assert load_taxonomy() == default_taxonomy()
    assert load_taxonomy().hash == default_taxonomy().hash


def test_lookups() -> None:
    taxonomy = default_taxonomy()
    coffee = taxonomy.get("FOOD_AND_DRINK_COFFEE")
    assert coffee == Category(coffee.id, coffee.name, coffee.description, "FOOD_AND_DRINK")
    assert not coffee.is_primary
    assert "FOOD_AND_DRINK_COFFEE" in taxonomy
    assert coffee in taxonomy
    assert "COFFEE" not in taxonomy
    assert 3 not in taxonomy
    assert taxonomy.parent_of("FOOD_AND_DRINK_COFFEE") == "FOOD_AND_DRINK"
    assert taxonomy.parent_of("FOOD_AND_DRINK") == "FOOD_AND_DRINK"
    assert taxonomy.index("INCOME") == 0
    assert taxonomy.index("RENT_AND_UTILITIES") == 15
    assert taxonomy.labels[taxonomy.index("TRAVEL")] == "TRAVEL"
    assert taxonomy.detailed_index("INCOME_DIVIDENDS") == 0
    assert taxonomy.detailed_labels[-1] == "RENT_AND_UTILITIES_OTHER_UTILITIES"
    assert [c.id for c in taxonomy.children("TRAVEL")] == [
        "TRAVEL_FLIGHTS",
        "TRAVEL_LODGING",
        "TRAVEL_RENTAL_CARS",
        "TRAVEL_OTHER_TRAVEL",
    ]
    assert list(taxonomy) == list(taxonomy.categories)


def test_get_suggests_near_matches() -> None:
    taxonomy = default_taxonomy()
    with pytest.raises(UnknownCategoryError, match="did you mean 'FOOD_AND_DRINK_COFFEE'"):
        taxonomy.get("FOOD_AND_DRINK_COFFE")
    with pytest.raises(KeyError, match="did you mean 'FOOD_AND_DRINK_GROCERIES'"):
        taxonomy.get("GROCERIES")
    with pytest.raises(KeyError, match="valid ids are listed in"):
        taxonomy.get("XYZZY")
    with pytest.raises(TaxonomyError, match="'TRAVEL'"):
        taxonomy.get("travel")


def test_index_of_a_detailed_id_says_what_it_is() -> None:
    taxonomy = default_taxonomy()
    with pytest.raises(UnknownCategoryError, match="is a detailed category of 'TRAVEL'"):
        taxonomy.index("TRAVEL_FLIGHTS")
    with pytest.raises(UnknownCategoryError, match="'TRAVEL' is a primary category"):
        taxonomy.detailed_index("TRAVEL")
    with pytest.raises(UnknownCategoryError, match="no primary category"):
        taxonomy.children("TRAVEL_FLIGHTS")


# -- hashing and round trips ---------------------------------------------------------------------


def test_hash_is_stable_and_ignores_formatting(tmp_path: Path) -> None:
    a = load_taxonomy(write(tmp_path, USER_YAML, "a.yaml"))
    reformatted = "# another comment\n" + USER_YAML.replace('version: "2"', "version: '2'")
    b = load_taxonomy(write(tmp_path, reformatted, "b.yaml"))
    assert a.hash == b.hash
    assert len(a.hash) == 64
    assert a.hash == load_taxonomy(tmp_path / "a.yaml").hash


def test_hash_changes_when_a_description_changes(tmp_path: Path) -> None:
    original = load_taxonomy(write(tmp_path, USER_YAML, "a.yaml"))
    edited = load_taxonomy(
        write(tmp_path, USER_YAML.replace("Coffee shops.", "Coffee shops and cafes."), "b.yaml")
    )
    assert original.hash != edited.hash
    bumped = load_taxonomy(write(tmp_path, USER_YAML.replace('"2"', '"3"'), "c.yaml"))
    assert original.hash != bumped.hash


def test_to_yaml_round_trips(tmp_path: Path) -> None:
    for taxonomy in (default_taxonomy(), load_taxonomy(write(tmp_path, USER_YAML))):
        out = tmp_path / "out" / f"{taxonomy.name}.yaml"
        taxonomy.to_yaml(out)
        again = load_taxonomy(out)
        assert again.hash == taxonomy.hash
        assert again == taxonomy
        assert again.description == taxonomy.description
        assert Taxonomy.from_dict(taxonomy.to_dict()).hash == taxonomy.hash


def test_user_yaml_loads(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(write(tmp_path, USER_YAML))
    assert taxonomy.labels == ("FOOD", "SHOPPING")
    assert taxonomy.detailed_labels == ("FOOD_COFFEE", "GADGETS")
    assert taxonomy.parent_of("GADGETS") == "SHOPPING"
    assert taxonomy.fingerprint() == {"name": "my-cats", "version": "2", "hash": taxonomy.hash}
    assert taxonomy.source == str(tmp_path / "my.yaml")


def test_taxonomy_built_in_code() -> None:
    taxonomy = Taxonomy(
        name="t",
        version="1",
        categories=[Category("A", "A", "a"), Category("B", "B", "b")],  # type: ignore[arg-type]
    )
    assert isinstance(taxonomy.categories, tuple)
    assert taxonomy.detailed_labels == ()
    with pytest.raises(TaxonomyError, match=r"taxonomy 't': .*at least 2"):
        Taxonomy(name="t", version="1", categories=(Category("A", "A", "a"),))


# -- validation errors ---------------------------------------------------------------------------


def test_duplicate_id(tmp_path: Path) -> None:
    data = user_data()
    data["categories"].append({"id": "FOOD", "name": "Food again", "description": "x"})
    with pytest.raises(TaxonomyError, match=r"category #5 \(id 'FOOD'\): duplicate id.*#1"):
        load_taxonomy(dump(tmp_path, data))


def test_unknown_parent(tmp_path: Path) -> None:
    data = user_data()
    data["categories"][1]["parent"] = "FOD"
    with pytest.raises(
        TaxonomyError,
        match=r"my\.yaml': category #2 \(id 'FOOD_COFFEE'\): parent 'FOD' is not a category.*"
        r"did you mean 'FOOD'",
    ):
        load_taxonomy(dump(tmp_path, data))


def test_detailed_of_detailed(tmp_path: Path) -> None:
    data = user_data()
    data["categories"].append(
        {"id": "FOOD_COFFEE_BEANS", "name": "Beans", "parent": "FOOD_COFFEE", "description": "x"}
    )
    with pytest.raises(
        TaxonomyError,
        match=r"category #5 \(id 'FOOD_COFFEE_BEANS'\): parent 'FOOD_COFFEE' is not a primary "
        r"category.*set parent to 'FOOD'",
    ):
        load_taxonomy(dump(tmp_path, data))


def test_self_parent(tmp_path: Path) -> None:
    data = user_data()
    data["categories"][2]["parent"] = "SHOPPING"
    with pytest.raises(TaxonomyError, match=r"'SHOPPING'\): parent is the category itself"):
        load_taxonomy(dump(tmp_path, data))


@pytest.mark.parametrize("bad_id", ["food-coffee", "1FOOD", "FOOD COFFEE", "_FOOD", ""])
def test_bad_id(tmp_path: Path, bad_id: str) -> None:
    data = user_data()
    data["categories"][1]["id"] = bad_id
    with pytest.raises(TaxonomyError, match=r"category #2.*: id is not valid; use upper-case"):
        load_taxonomy(dump(tmp_path, data))


@pytest.mark.parametrize("field", ["id", "name", "description"])
def test_missing_entry_field(tmp_path: Path, field: str) -> None:
    data = user_data()
    del data["categories"][3][field]
    with pytest.raises(TaxonomyError, match=rf"my\.yaml': category #4.*missing field '{field}'"):
        load_taxonomy(dump(tmp_path, data))


def test_empty_description_and_multiline_description(tmp_path: Path) -> None:
    data = user_data()
    data["categories"][0]["description"] = "  "
    data["categories"][2]["description"] = "line one\nline two"
    with pytest.raises(TaxonomyError) as info:
        load_taxonomy(dump(tmp_path, data))
    message = str(info.value)
    assert "category #1 (id 'FOOD'): description is empty" in message
    assert "category #3 (id 'SHOPPING'): description spans several lines" in message


def test_misspelt_entry_field(tmp_path: Path) -> None:
    data = user_data()
    data["categories"][1]["parnet"] = data["categories"][1].pop("parent")
    with pytest.raises(TaxonomyError, match=r"unknown field 'parnet' \(did you mean 'parent'\?\)"):
        load_taxonomy(dump(tmp_path, data))


def test_entry_that_is_not_a_mapping(tmp_path: Path) -> None:
    data = user_data()
    data["categories"][2] = "SHOPPING"
    with pytest.raises(TaxonomyError, match=r"category #3: expected a mapping"):
        load_taxonomy(dump(tmp_path, data))


@pytest.mark.parametrize("key", ["name", "version", "categories"])
def test_missing_top_level_key(tmp_path: Path, key: str) -> None:
    data = user_data()
    del data[key]
    with pytest.raises(TaxonomyError, match=rf"my\.yaml': missing top-level key '{key}'"):
        load_taxonomy(dump(tmp_path, data))


def test_unquoted_numeric_version_is_explained(tmp_path: Path) -> None:
    path = write(tmp_path, USER_YAML.replace('version: "2"', "version: 1.0"))
    with pytest.raises(TaxonomyError, match=r"'version' must be a quoted version string"):
        load_taxonomy(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"taxonomy file '.*nope\.yaml' does not exist"):
        load_taxonomy(tmp_path / "nope.yaml")
    with pytest.raises(TaxonomyError, match="is a folder"):
        load_taxonomy(tmp_path)


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nversion: '1'\ncategories:\n  - id: [A\n    name: a\n")
    with pytest.raises(TaxonomyError, match=r"my\.yaml': invalid YAML at line \d+, column \d+"):
        load_taxonomy(path)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n"])
def test_file_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    with pytest.raises(TaxonomyError, match="expected a mapping with keys 'name'"):
        load_taxonomy(write(tmp_path, text))


# -- compatibility -------------------------------------------------------------------------------


def test_check_compatible(tmp_path: Path) -> None:
    taxonomy = load_taxonomy(write(tmp_path, USER_YAML, "a.yaml"))
    taxonomy.check_compatible(taxonomy.fingerprint(), "labels file x.parquet")
    taxonomy.check_compatible(dict(taxonomy.fingerprint()), "labels file x.parquet")

    other = default_taxonomy()
    with pytest.raises(TaxonomyError) as info:
        taxonomy.check_compatible(other.fingerprint(), "labels file x.parquet")
    message = str(info.value)
    assert "labels file x.parquet" in message
    for value in ("plaid-pfc", "'1.0'", other.hash[:12], "my-cats", "'2'", taxonomy.hash[:12]):
        assert value in message

    edited = load_taxonomy(write(tmp_path, USER_YAML.replace("Anything", "All"), "b.yaml"))
    with pytest.raises(TaxonomyError, match="same name and version but different content"):
        edited.check_compatible(taxonomy.fingerprint(), "bundle model/")

    with pytest.raises(TaxonomyError, match=r"checkpoint c\.pt records no taxonomy fingerprint"):
        taxonomy.check_compatible({"name": "my-cats"}, "checkpoint c.pt")


# -- import hygiene ------------------------------------------------------------------------------


def test_import_does_not_pull_heavy_dependencies() -> None:
    code = (
        "import sys, categorizer.taxonomy\n"
        "names = ('numpy', 'torch', 'transformers', 'onnxruntime')\n"
        "print(','.join(m for m in names if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
