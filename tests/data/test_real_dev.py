"""The real-data dev set: rebuilt byte for byte from the maintainers' labels, amounts and checks."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location(
    "build_real_dev", ROOT / "scripts" / "build_real_dev.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
build_real_dev = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(build_real_dev)


def _labels() -> list[dict[str, str]]:
    with (ROOT / "data" / "real_dev" / "labels.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_shipped_files_are_what_the_labels_give() -> None:
    dev, pool, counts = build_real_dev.build(_labels())
    assert dev == (ROOT / "data" / "real_dev" / "real_dev.csv").read_text(encoding="utf-8"), (
        "data/real_dev/real_dev.csv is stale: run python scripts/build_real_dev.py"
    )
    assert pool == (ROOT / "data" / "real_dev" / "real_pool.csv").read_text(encoding="utf-8")
    assert counts["dev"] >= 600


def test_dev_set_spans_countries_and_never_shares_a_key_with_the_pool() -> None:
    from categorizer.text import descriptor_key

    rows = list(csv.DictReader((ROOT / "data" / "real_dev" / "real_dev.csv").open()))
    pool = list(csv.DictReader((ROOT / "data" / "real_dev" / "real_pool.csv").open()))
    assert len({r["country"] for r in rows}) >= 14
    dev_keys = {descriptor_key(r["description"]) for r in rows}
    assert len(dev_keys) == len(rows)
    assert not dev_keys & {descriptor_key(r["description"]) for r in pool}
    assert "category" not in pool[0]


@pytest.mark.parametrize(
    ("raw", "repo", "expected"),
    [
        ("£1,183.23", "bank2ynab/bank2ynab", 1183.23),
        ("-2,56", "bank2ynab/bank2ynab", -2.56),
        ("-00000000001500.0000", "jseutter/ofxparse", -1500.0),
        ("-$103.00", "reubano/csv2ofx", -103.0),
        ("12.00", "OxOpenData/procurement-card-spending", -12.0),  # a council card purchase
        ("-62.39", "OxOpenData/procurement-card-spending", 62.39),  # its refund
        ("", "wolph/mt940", None),
        ("FOOTER ROW TEST 2", "bank2ynab/bank2ynab", None),
    ],
)
def test_amounts_in_the_project_convention(raw: str, repo: str, expected: float | None) -> None:
    assert build_real_dev.parse_amount(raw, repo, "x.csv") == expected


def test_a_bad_label_names_the_line() -> None:
    rows = _labels()
    first = next(i for i, r in enumerate(rows) if r["status"] == "labeled")
    rows[first] = {**rows[first], "detailed_category": "TRAVEL_FLIGHTS", "category": "INCOME"}
    with pytest.raises(ValueError, match=rf"labels.csv, line {first + 2}: 'TRAVEL_FLIGHTS'"):
        build_real_dev.check_labels(rows)
