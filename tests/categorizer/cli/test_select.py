"""`categorizer select` and `categorizer retrain` from the command line (real subprocesses)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

from categorizer.ingest.data import write_frame
from training.synthesis.synth import SynthConfig, generate


def run(*args: str | Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """`categorizer ARGS...` in a fresh interpreter, with wide output."""
    return subprocess.run(
        [sys.executable, "-m", "categorizer.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},  # keep rich from wrapping mid-word
    )


def test_select_writes_the_most_uncertain_rows(tiny_bundle: Path, tmp_path: Path) -> None:
    pool = write_frame(generate(SynthConfig(n=120, seed=41, workers=1)), tmp_path / "pool.csv")
    out = tmp_path / "to_label.parquet"
    result = run("select", "--bundle", tiny_bundle, "--input", pool, "--budget", "20",
                 "--out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    selected = pd.read_parquet(out)
    assert len(selected) == 20
    assert list(selected["selection_rank"]) == list(range(20))
    assert selected["uncertainty"].between(0.0, 1.0).all()
    assert "description" in selected.columns


def test_select_bad_strategy_exits_2(tiny_bundle: Path, tmp_path: Path) -> None:
    pool = write_frame(generate(SynthConfig(n=20, seed=41, workers=1)), tmp_path / "pool.csv")
    result = run("select", "--bundle", tiny_bundle, "--input", pool, "--budget", "5",
                 "--out", tmp_path / "x.csv", "--strategy", "vibes")  # fmt: skip
    assert result.returncode == 2
    assert "entropy" in result.stderr


def test_retrain_from_the_command_line(tiny_run: Path, tmp_path: Path) -> None:
    new = write_frame(generate(SynthConfig(n=200, seed=42, workers=1)), tmp_path / "new.csv")
    out = tmp_path / "retrain"
    result = run("retrain", "--base", tiny_run, "--new", new, "--teacher", "labels:category",
                 "--out", out, "--registry", tmp_path / "models", "--max-agreement-drop", "1",
                 "--max-accuracy-drop", "1", "--max-recall-drop", "1")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate passed" in result.stdout
    assert "v2 promoted" in result.stdout
    summary = json.loads((out / "retrain.json").read_text())
    assert summary["promoted"] is True
    assert (out / "bundle" / "manifest.json").is_file()


def test_retrain_without_a_run_exits_2(tmp_path: Path) -> None:
    new = write_frame(generate(SynthConfig(n=20, seed=42, workers=1)), tmp_path / "new.csv")
    result = run("retrain", "--base", tmp_path / "nope", "--new", new, "--teacher",
                 "labels:category", "--out", tmp_path / "out")  # fmt: skip
    assert result.returncode == 2
    assert "nope" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--registry", "{tmp}/models"], "registry.json is not valid JSON"),
        (["--max-recall-drop", "7"], "max_recall_drop must be between 0 and 1"),
    ],
)
def test_retrain_bad_registry_or_gate_exits_2(
    tiny_run: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    # both are InputErrors, found before anything is labeled or trained
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "registry.json").write_text("{not json", encoding="utf-8")
    new = write_frame(generate(SynthConfig(n=20, seed=42, workers=1)), tmp_path / "new.csv")
    result = run("retrain", "--base", tiny_run, "--new", new, "--teacher", "labels:category",
                 "--out", tmp_path / "out", *(a.format(tmp=tmp_path) for a in extra))  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "out").exists()
