"""Build the real-data dev set and the unlabeled real pool from the maintainers' labels.

`data/real_dev/labels.csv` holds every row of the realism reference (1,267 real descriptors from
public fixtures, `SOURCES.md`) with the label the maintainers gave it by reading it, or why they
left it out. This script derives, byte for byte:

- `real_dev.csv`: the evaluation set (never trained on): every labeled row of the non-UK-council
  sources (all countries) and a fixed hash-selected half of the Oxford City Council
  procurement-card rows, one row per descriptor key (near-duplicates such as the same shop on
  another date are kept once);
- `real_pool.csv`: real descriptors WITHOUT labels, for the "unlabeled real text in training"
  experiment (a teacher labels them): the other labeled Oxford rows and the excluded rows, minus
  anything whose descriptor key is in the dev set.

Amounts are written in the project's convention (money out negative). Sources that print
purchases as positive numbers are flipped (`_OUTFLOW_POSITIVE`); amounts that are empty stay
empty (the model then sees no direction).

Usage: python scripts/build_real_dev.py [--check]   (--check: fail if the outputs would change)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from categorizer.taxonomy import default_taxonomy
from categorizer.text import descriptor_key

LOG = logging.getLogger("build_real_dev")
ROOT = Path(__file__).resolve().parents[1] / "data" / "real_dev"
DEV_COLUMNS = (
    "id", "description", "amount", "currency", "country", "category", "detailed_category",
    "merchant", "source_repo", "source_path",
)  # fmt: skip
POOL_COLUMNS = ("id", "description", "amount", "currency", "country")
_COUNCIL = "OxOpenData/procurement-card-spending"
_COUNCIL_DEV_PERMILLE = 575  # ~440 of the ~760 labeled council rows go to the dev set
# Exports that print purchases as positive numbers (card statements, the council's card report).
_OUTFLOW_POSITIVE = {
    ("OxOpenData/procurement-card-spending", None),
    ("bank2ynab/bank2ynab", "test/test-data/MS_JANE_SMITH_01-12-2019_14-12-2019.csv"),
    ("bank2ynab/bank2ynab", "test/test-data/dba33fceecd62c3c727893361e0ba4d3.P000000027355791.csv"),
    ("reubano/csv2ofx", "data/test/pcmastercard.csv"),
}
_LABEL_STATUSES = {"labeled", "ambiguous", "no_information", "not_a_transaction"}


def parse_amount(raw: str, repo: str, path: str) -> float | None:
    """An amount as the source printed it, in the money-out-negative convention.

    Handles "£1,183.23", "-2,56", "+ £1,100.00", "-00000000001500.0000", "-$103.00", " 7.80".
    """
    text = raw.strip().replace("£", "").replace("$", "").replace(" ", "")
    if not re.fullmatch(r"[+-]?[\d.,]*\d[\d.,]*", text):
        return None  # empty, or not a number at all (a test fixture's footer row)
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if re.fullmatch(r"\d{1,3}(\.\d{3})*,\d{1,2}|\d+,\d{1,2}", text):  # 1.218,90 / 2,56
        text = text.replace(".", "").replace(",", ".")
    value = sign * float(text.replace(",", ""))
    flip = (repo, None) in _OUTFLOW_POSITIVE or (repo, path) in _OUTFLOW_POSITIVE
    explicit_credit = raw.strip().startswith("+")
    if flip and not explicit_credit:
        value = -value
    return round(value, 2) + 0.0  # no "-0.0"


def _in_dev(row: dict[str, str]) -> bool:
    if row["status"] != "labeled":
        return False
    if row["source_repo"] != _COUNCIL:
        return True
    digest = hashlib.sha256(row["description"].encode("utf-8")).hexdigest()
    return int(digest[:8], 16) % 1000 < _COUNCIL_DEV_PERMILLE


def check_labels(rows: list[dict[str, str]]) -> None:
    """Every row has a known status; labeled rows carry a valid primary and detailed category.

    Raises:
        ValueError: naming the line of labels.csv and what is wrong.
    """
    taxonomy = default_taxonomy()
    for line, row in enumerate(rows, start=2):
        where = f"labels.csv, line {line}"
        if row["status"] not in _LABEL_STATUSES:
            raise ValueError(f"{where}: status {row['status']!r} not in {sorted(_LABEL_STATUSES)}")
        if row["status"] != "labeled":
            continue
        if row["category"] not in taxonomy.labels:
            raise ValueError(f"{where}: category {row['category']!r} is not a PFC primary")
        detailed = row["detailed_category"]
        if detailed and taxonomy.parent_of(detailed) != row["category"]:
            raise ValueError(f"{where}: {detailed!r} is not a child of {row['category']}")


def build(rows: list[dict[str, str]]) -> tuple[str, str, dict[str, int]]:
    """The two output files' text and the counts for the README."""
    dev, pool, keys, counts = [], [], set(), {"near_duplicates": 0}
    for row in rows:
        key = descriptor_key(row["description"]) or row["description"]
        amount = parse_amount(row["amount"], row["source_repo"], row["source_path"])
        record = {**row, "id": f"rd-{int(row['ref_row']):04d}", "amount": amount}
        if _in_dev(row):
            if key in keys:
                counts["near_duplicates"] += 1
                continue
            keys.add(key)
            dev.append(record)
        else:
            pool.append((key, record))
    pool_rows = [r for key, r in pool if key not in keys and r["status"] != "not_a_transaction"]
    counts.update(dev=len(dev), pool=len(pool_rows))
    return _csv(dev, DEV_COLUMNS), _csv(pool_rows, POOL_COLUMNS), counts


def _csv(records: list[dict], columns: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for record in records:
        writer.writerow(["" if record[c] is None else record[c] for c in columns])
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if an output would change")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with (ROOT / "labels.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    check_labels(rows)
    dev, pool, counts = build(rows)
    stale = []
    for name, text in (("real_dev.csv", dev), ("real_pool.csv", pool)):
        path = ROOT / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    LOG.info("dev %(dev)d rows, pool %(pool)d rows, near-duplicates %(near_duplicates)d", counts)
    if stale:
        LOG.error("out of date: %s (run python scripts/build_real_dev.py)", ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
