"""Streaming a transaction file through the engine: formats, bank columns, bad rows, chunks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("onnxruntime")

from categorizer.batch.predict_file import PREDICTION_COLUMNS, predict_file
from categorizer.engine import Categorizer, Prediction
from categorizer.ingest.data import DataError

BANK_CSV = """Date,Narrative,Debit,Credit,Balance
02/01/2025,STARBUCKS STORE 1234 SEATTLE WA,5.75,,100.00
03/01/2025,PAYROLL ACME CORP,,"2,500.00",2600.00
04/01/2025,"TESCO STORES 3217, LONDON",12.40,,2587.60

05/01/2025,UBER TRIP HELP.UBER.COM,14.20,,2573.40
06/01/2025,"REFUND
AMAZON.COM",,12.00,2585.40
"""


@pytest.fixture(scope="module")
def engine(tiny_bundle: Path) -> Categorizer:
    return Categorizer.load(tiny_bundle, threads=1, batch_size=8)


def assert_predicted(frame: pd.DataFrame, expected: list[Prediction]) -> None:
    """The file's prediction columns hold `expected` (int8: batch noise in the confidence)."""
    assert frame["predicted_category"].tolist() == [p.category for p in expected]
    assert frame["predicted_detailed_category"].isna().all()
    np.testing.assert_allclose(frame["confidence"], [p.confidence for p in expected], atol=0.02)


def test_a_bank_csv_with_narrative_debit_credit(engine: Categorizer, tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_text(BANK_CSV, encoding="utf-8")
    summary = predict_file(engine, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype={"Debit": str, "Credit": str})
    assert list(out.columns) == [
        "Date",
        "Narrative",
        "Debit",
        "Credit",
        "Balance",
        *PREDICTION_COLUMNS,
    ]
    assert summary.rows == len(out) == 5
    assert summary.mapped_columns == {
        "description": "Narrative",
        "debit": "Debit",
        "credit": "Credit",
    }
    expected = engine.predict(
        [
            {"description": "STARBUCKS STORE 1234 SEATTLE WA", "amount": -5.75},
            {"description": "PAYROLL ACME CORP", "amount": 2500.0},
            {"description": "TESCO STORES 3217, LONDON", "amount": -12.4},
            {"description": "UBER TRIP HELP.UBER.COM", "amount": -14.2},
            {"description": "REFUND\nAMAZON.COM", "amount": 12.0},
        ]
    )
    assert_predicted(out, expected)
    assert out["Narrative"].iloc[4] == "REFUND\nAMAZON.COM"  # quoted line break kept


def test_chunks_give_the_same_rows_as_one_pass(engine: Categorizer, tmp_path: Path) -> None:
    from training.synthesis.synth import SynthConfig, generate

    source = tmp_path / "corpus.parquet"
    generate(SynthConfig(n=53, seed=3, workers=1)).to_parquet(source)
    calls: list[tuple[int, int | None]] = []
    predict_file(
        engine,
        source,
        tmp_path / "small.parquet",
        chunk_size=10,
        progress=lambda d, t: calls.append((d, t)),
    )
    predict_file(engine, source, tmp_path / "one.parquet", chunk_size=1000)
    small, one = (
        pd.read_parquet(tmp_path / "small.parquet"),
        pd.read_parquet(tmp_path / "one.parquet"),
    )
    assert calls == [(10, 53), (20, 53), (30, 53), (40, 53), (50, 53), (53, 53)]
    assert small["predicted_category"].tolist() == one["predicted_category"].tolist()
    pd.testing.assert_frame_equal(
        small.drop(columns=list(PREDICTION_COLUMNS)), pd.read_parquet(source)
    )
    assert pq.ParquetFile(tmp_path / "small.parquet").metadata.num_row_groups == 6


def test_jsonl_keeps_every_key_and_number_types(engine: Categorizer, tmp_path: Path) -> None:
    source = tmp_path / "txns.jsonl"
    rows = [
        {"id": 1, "description": "UBER TRIP", "amount": -14.2},
        {"id": 2, "description": "PAYROLL ACME CORP", "amount": 2500, "mcc": None},
        {"id": 3, "description": "TESCO STORES", "amount": -12, "tags": ["groceries"]},
    ]
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    predict_file(engine, source, tmp_path / "out.parquet", chunk_size=2)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert list(out.columns) == ["id", "description", "amount", "mcc", "tags", *PREDICTION_COLUMNS]
    assert out["amount"].tolist() == [-14.2, 2500.0, -12.0]
    assert out["tags"].isna().tolist() == [True, True, False]
    assert out["tags"].iloc[2] == '["groceries"]'  # lists and objects as JSON text
    assert_predicted(
        out, engine.predict([{k: v for k, v in r.items() if k != "tags"} for r in rows])
    )


def test_a_bad_row_names_the_file_line_and_column(engine: Categorizer, tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_text("Memo,Amount\nUBER TRIP,-14.20\nTESCO,twelve\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    with pytest.raises(DataError, match=r"bank\.csv, line 3, column 'Amount'"):
        predict_file(engine, source, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".*partial"))


def test_skip_bad_rows_writes_the_rejects(engine: Categorizer, tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_text(
        "Memo,Amount\nUBER TRIP,-14.20\nTESCO,twelve\n,-3\nLIDL,-4,extra\n", encoding="utf-8"
    )
    summary = predict_file(engine, source, tmp_path / "out.csv", skip_bad_rows=True)
    assert (summary.rows, summary.rejected) == (1, 3)
    assert pd.read_csv(tmp_path / "out.csv")["Memo"].tolist() == ["UBER TRIP"]
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects["_line"].tolist() == [3, 4, 5]
    assert rejects["_column"].tolist()[:2] == ["Amount", "Memo"]


def test_old_prediction_columns_are_replaced(engine: Categorizer, tmp_path: Path) -> None:
    source = tmp_path / "again.csv"
    source.write_text(
        "description,predicted_category,confidence\nUBER TRIP,OLD,0.1\n", encoding="utf-8"
    )
    predict_file(engine, source, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv")
    assert list(out.columns) == ["description", *PREDICTION_COLUMNS]
    assert out["predicted_category"].iloc[0] in engine.labels


def test_a_header_only_file_writes_a_header_only_output(
    engine: Categorizer, tmp_path: Path
) -> None:
    source = tmp_path / "empty.csv"
    source.write_text("Memo,Amount\n", encoding="utf-8")
    summary = predict_file(engine, source, tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert summary.rows == len(out) == 0
    assert list(out.columns) == ["Memo", "Amount", *PREDICTION_COLUMNS]


@pytest.mark.parametrize(
    ("name", "out", "message"),
    [
        ("missing.csv", "out.csv", "file not found"),
        ("in.csv", "out.xlsx", "unsupported output type"),
        ("in.csv", "in.csv", "would overwrite the input"),
        ("in.xls", "out.csv", "unsupported file type"),
    ],
)
def test_bad_paths_are_refused(
    engine: Categorizer, tmp_path: Path, name: str, out: str, message: str
) -> None:
    for existing in ("in.csv", "in.xls"):
        (tmp_path / existing).write_text("Memo\nUBER\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        predict_file(engine, tmp_path / name, tmp_path / out)


def test_a_tally_survives_the_trip_through_a_ray_summary_row() -> None:
    from categorizer.batch.predict_file import PredictSummary, Tally

    first = Tally(rows=3, rejected=1, abstained=1, confidence_sum=2.4)
    first.categories.update({"TRAVEL": 2, "INCOME": 1})
    second = Tally.from_row(Tally(rows=1, confidence_sum=0.6).to_row())
    second.categories.update({"TRAVEL": 1})
    first.merge(Tally.from_row(second.to_row()))
    summary = PredictSummary(input=Path("in.csv"), output=Path("out.parquet"))
    first.finish(summary)
    assert (summary.rows, summary.rejected, summary.abstained) == (4, 1, 1)
    assert summary.categories == {"TRAVEL": 3, "INCOME": 1}
    assert list(summary.categories) == ["TRAVEL", "INCOME"]  # most frequent first
    assert summary.mean_confidence == pytest.approx(0.75)
