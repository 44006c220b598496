"""`categorizer predict` as a user runs it: the installed console script on a real bundle."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

pytest.importorskip("onnxruntime")

from categorizer.batch.predict_file import PREDICTION_COLUMNS
from categorizer.engine import Categorizer

CLI = [str(Path(sys.executable).with_name("categorizer"))]
DESCRIPTIONS = ["POS PURCHASE STARBUCKS #1234 SEATTLE WA", "PAYROLL ACME CORP", "中文 🎉 café"]


def run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # keep rich from wrapping messages mid-word
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def engine(tiny_bundle: Path) -> Categorizer:
    return Categorizer.load(tiny_bundle, threads=1)


def test_descriptions_print_a_table(tiny_bundle: Path, engine: Categorizer) -> None:
    result = run("predict", "--bundle", tiny_bundle, *DESCRIPTIONS, "--threads", "1")
    assert result.returncode == 0, result.stderr
    for text, prediction in zip(DESCRIPTIONS, engine.predict(DESCRIPTIONS), strict=True):
        assert text in result.stdout
        assert prediction.category in result.stdout


def test_descriptions_as_json_lines(tiny_bundle: Path, engine: Categorizer) -> None:
    result = run("predict", "-b", tiny_bundle, *DESCRIPTIONS, "--json", "--top-k", "2")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["description"] for line in lines] == DESCRIPTIONS
    for line, prediction in zip(lines, engine.predict(DESCRIPTIONS), strict=True):
        assert line["category"] == prediction.category
        assert line["detailed_category"] is None
        assert line["confidence"] == pytest.approx(prediction.confidence, abs=0.02)
        assert len(line["top"]) == 2
        assert set(line["top"][0]) == {"category", "score"}


def test_abstain_answers_uncategorized(tiny_bundle: Path) -> None:
    result = run("predict", "-b", tiny_bundle, "UBER TRIP", "--json", "--abstain", "1.01")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["category"] == "UNCATEGORIZED"


@pytest.mark.slow
def test_a_100000_row_file(tiny_bundle: Path, engine: Categorizer, tmp_path: Path) -> None:
    from training.synthesis.synth import SynthConfig, generate

    source = tmp_path / "corpus.parquet"
    frame = generate(SynthConfig(n=100_000, seed=8, workers=1))
    frame.to_parquet(source)
    out = tmp_path / "categorized.parquet"
    result = run("predict", "-b", tiny_bundle, "--input", source, "--out", out, "--threads", "1")
    assert result.returncode == 0, result.stderr
    assert "100,000" in result.stdout
    written = pq.ParquetFile(out)
    assert written.metadata.num_rows == 100_000
    assert written.schema_arrow.names == [*frame.columns, *PREDICTION_COLUMNS]
    sample = np.random.default_rng(0).choice(100_000, size=300, replace=False)
    rows = pq.read_table(out).take(sample).to_pandas()
    pd.testing.assert_frame_equal(
        rows[list(frame.columns)], frame.iloc[sample].reset_index(drop=True)
    )
    expected = engine.predict(
        [
            {"description": r.description, "amount": r.amount, "mcc": r.mcc}
            for r in frame.iloc[sample].itertuples()
        ]
    )
    assert rows["predicted_category"].tolist() == [p.category for p in expected]
    np.testing.assert_allclose(rows["confidence"], [p.confidence for p in expected], atol=0.02)


def test_a_bad_row_exits_2_naming_file_line_and_column(tiny_bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_text("Narrative,Debit,Credit\nUBER TRIP,14.20,\nTESCO,abc,\n", encoding="utf-8")
    result = run("predict", "-b", tiny_bundle, "-i", source, "-o", tmp_path / "out.csv")
    assert result.returncode == 2
    assert "bank.csv, line 3, column 'Debit'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_bundles_and_arguments_exit_2(tiny_bundle: Path, tmp_path: Path) -> None:
    missing = run("predict", "--bundle", tmp_path / "nowhere", "UBER TRIP")
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    tampered = shutil.copytree(tiny_bundle, tmp_path / "tampered")
    (tampered / "tokenizer.json").write_text("{}", encoding="utf-8")
    result = run("predict", "--bundle", tampered, "UBER TRIP")
    assert result.returncode == 2
    assert "sha256" in result.stderr
    nothing = run("predict", "--bundle", tiny_bundle)
    assert nothing.returncode == 2
    both = run("predict", "-b", tiny_bundle, "UBER", "-i", tmp_path / "x.csv", "-o", "y.csv")
    assert both.returncode == 2
    blank = run("predict", "-b", tiny_bundle, "  ")
    assert blank.returncode == 2
    assert "description" in blank.stderr
    # choices typer checks itself, listing the ones it takes
    convention = run("predict", "-b", tiny_bundle, "--amount-convention", "debit_positive", "UBER")
    assert convention.returncode == 2
    assert "'outflow_negative', 'outflow_positive'" in " ".join(convention.stderr.split())
