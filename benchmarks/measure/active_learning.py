"""Active learning: test accuracy against teacher budget, uncertainty selection versus random.

The protocol, all on synthetic data with the synthetic ground truth as the (free) oracle teacher
(``labels:category``), so that only the choice of rows differs between strategies:

1. a seed student is trained on a small labeled set (synth seed 11) and exported to int8;
2. for each budget and strategy, `training.lifecycle.active.select_file` picks that many rows of an
   unlabeled pool (synth seed 12) with the seed bundle; the teacher labels them; a new student
   (same config, same seed) is trained on the seed set plus the selected rows and exported;
3. every bundle is scored on a fixed test set (synth seed 13): accuracy and macro-F1 of its
   predictions against the gold `category`.

Each training run splits its own labeled file into train/validation/test (80/10/10, by
descriptor group), so "rows labeled" counts every row the teacher was paid for. Results go to
benchmarks/results/active_learning.json.

    python -m benchmarks.measure.active_learning
    python -m benchmarks.measure.active_learning --budgets 250,500 \\
        --strategies entropy,margin,random

This is a measurement, not a test: on a shared machine the times vary with the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks.machine import machine_info, write_result
from benchmarks.measure import RESULTS

TEACHER = "labels:category"


@dataclass
class Protocol:
    """Sizes, seeds and the student of one benchmark run (defaults: about 10 minutes on 2 cores).

    Attributes:
        seed_rows: Labeled rows of the seed set.
        pool_rows: Unlabeled rows of the pool.
        test_rows: Rows of the fixed test set.
        budgets: Teacher budgets (rows selected from the pool).
        strategies: Selection strategies (`training.lifecycle.active.STRATEGIES`).
        seeds: Synth seeds of the seed set, the pool and the test set.
        train: `TrainConfig` fields of every student.
    """

    seed_rows: int = 500
    pool_rows: int = 6_000
    test_rows: int = 2_000
    budgets: tuple[int, ...] = (250, 500, 1_000)
    strategies: tuple[str, ...] = ("entropy", "random")
    seeds: tuple[int, int, int] = (11, 12, 13)
    train: dict[str, Any] = field(
        default_factory=lambda: {
            "student": "scratch:L2-H128",
            "epochs": 10,
            "lr": 2e-3,
            "batch_size": 32,
            "threads": 2,
            "gold_column": "category",
        }
    )


def synth_file(n: int, seed: int, path: Path) -> Path:
    """A synthetic corpus of `n` rows (with gold `category`) written to `path`."""
    from categorizer.ingest.data import write_frame
    from training.synthesis.synth import SynthConfig, generate

    return write_frame(generate(SynthConfig(n=n, seed=seed, workers=1)), path)


def oracle_labels(input: Path, out: Path) -> Path:
    """Soft labels of `input` from the oracle teacher (the gold category, one-hot)."""
    from categorizer.taxonomy import default_taxonomy
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher

    taxonomy = default_taxonomy()
    teacher = make_teacher(TEACHER, taxonomy, detailed_column="detailed_category")
    label_file(input, out, teacher, taxonomy=taxonomy)
    return out


def train_bundle(labels: Path, folder: Path, train: dict[str, Any]) -> tuple[Path, float]:
    """Train a student on `labels`, export it to int8; the bundle and the seconds it took."""
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.distill import train as distill
    from training.distillation.train_config import load_config
    from training.export.to_bundle import export_run

    started = time.perf_counter()
    config = load_config(None, dict(train))
    distill(labels, folder / "run", config, taxonomy=default_taxonomy(), show_progress=False)
    bundle = export_run(folder / "run", folder / "bundle", quantize="int8").bundle
    return bundle, time.perf_counter() - started


def score(bundle: Path, texts: list[str], gold: np.ndarray, threads: int) -> dict[str, float]:
    """Accuracy and macro-F1 (over the gold categories present) of a bundle's predictions."""
    from sklearn.metrics import f1_score

    from categorizer.engine import Categorizer

    engine = Categorizer.load(bundle, threads=threads)
    predicted = np.asarray([p.category for p in engine.predict_texts(texts)], dtype=object)
    macro = f1_score(gold, predicted, average="macro", labels=np.unique(gold))
    return {
        "accuracy": round(float((predicted == gold).mean()), 4),
        "macro_f1": round(float(macro), 4),
    }


def load_test_set(path: Path) -> tuple[list[str], np.ndarray]:
    """Model texts and gold categories of the test file, read as the pipeline reads files."""
    from categorizer.ingest.data import read_transactions
    from training.lifecycle.active import model_texts

    frame = read_transactions(path).frame
    return model_texts(frame), frame["category"].astype(str).to_numpy(dtype=object)


def _combine(seed_labels: Path, selected_labels: Path, out: Path) -> int:
    """The seed set's labels plus the selected rows' labels, as one file; its row count.

    A meta.json with the labels' taxonomy fingerprint goes beside it, so that training checks
    the taxonomy as it does for a file from `label_file`.
    """
    from training.labeling.label_output import meta_path

    frames = [pd.read_parquet(seed_labels), pd.read_parquet(selected_labels)]
    combined = pd.concat(frames, ignore_index=True)
    combined.to_parquet(out, index=False)
    meta = json.loads(meta_path(seed_labels).read_text())
    sources = [str(seed_labels), str(selected_labels)]
    summary = {"taxonomy": meta["taxonomy"], "sources": sources, "rows": len(combined)}
    meta_path(out).write_text(json.dumps(summary, indent=2) + "\n")
    return len(combined)


def run_arm(
    protocol: Protocol,
    files: dict[str, Path],
    budget: int,
    strategy: str,
    test: tuple[list[str], np.ndarray],
    work: Path,
) -> dict[str, Any]:
    """Select, label, retrain, export and score one (budget, strategy) arm."""
    from training.lifecycle.active import select_file

    started = time.perf_counter()
    folder = work / f"{strategy}_{budget}"
    folder.mkdir(parents=True)
    threads = protocol.train.get("threads") or 1
    selected = folder / "selected.parquet"
    summary = select_file(
        files["seed_bundle"], files["pool"], selected, budget, strategy=strategy, threads=threads
    )
    labels = oracle_labels(selected, folder / "selected_labels.parquet")
    rows = _combine(files["seed_labels"], labels, folder / "train_labels.parquet")
    bundle, train_seconds = train_bundle(folder / "train_labels.parquet", folder, protocol.train)
    difficulty = Counter(pd.read_parquet(selected, columns=["difficulty"])["difficulty"])
    return {
        "budget": budget,
        "strategy": strategy,
        "rows_labeled": rows,
        **score(bundle, *test, threads),
        "selected": summary["selected"],
        "groups_selected": summary["groups_selected"],
        "mean_uncertainty_selected": round(summary["mean_uncertainty_selected"], 4),
        "mean_uncertainty_pool": round(summary["mean_uncertainty_pool"], 4),
        "selected_difficulty": dict(sorted(difficulty.items())),
        "select_seconds": round(summary["seconds"], 1),
        "train_export_seconds": round(train_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }


def run_benchmark(protocol: Protocol, work: Path, log: Any = sys.stderr) -> dict[str, Any]:
    """Run the whole protocol in `work`; every figure, JSON-ready (no machine block)."""
    started = time.perf_counter()
    seed_seed, pool_seed, test_seed = protocol.seeds
    threads = protocol.train.get("threads") or 1
    seed_corpus = synth_file(protocol.seed_rows, seed_seed, work / "seed.parquet")
    files = {
        "seed_labels": oracle_labels(seed_corpus, work / "seed_labels.parquet"),
        "pool": synth_file(protocol.pool_rows, pool_seed, work / "pool.parquet"),
    }
    test = load_test_set(synth_file(protocol.test_rows, test_seed, work / "test.parquet"))
    files["seed_bundle"], seed_seconds = train_bundle(
        files["seed_labels"], work / "seed", protocol.train
    )
    baseline = {
        "budget": 0,
        "strategy": "seed",
        "rows_labeled": protocol.seed_rows,
        **score(files["seed_bundle"], *test, threads),
        "train_export_seconds": round(seed_seconds, 1),
    }
    print(f"seed model: {baseline}", file=log, flush=True)
    arms = []
    for budget in protocol.budgets:
        for strategy in protocol.strategies:
            arms.append(run_arm(protocol, files, budget, strategy, test, work))
            print(f"{strategy} {budget}: {arms[-1]}", file=log, flush=True)
    return {
        "teacher": TEACHER,
        "protocol": dataclasses.asdict(protocol),
        "seed_model": baseline,
        "arms": arms,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "date": dt.date.today().isoformat(),
    }


def table(result: dict[str, Any]) -> str:
    """A plain-text table: accuracy and macro-F1 per budget and strategy."""
    lines = [f"{'budget':>6}  {'strategy':<8}  {'rows':>5}  {'accuracy':>8}  {'macro-F1':>8}"]
    for arm in [result["seed_model"], *result["arms"]]:
        lines.append(
            f"{arm['budget']:>6}  {arm['strategy']:<8}  {arm['rows_labeled']:>5}  "
            f"{arm['accuracy']:>8.4f}  {arm['macro_f1']:>8.4f}"
        )
    return "\n".join(lines)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(",") if part.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Protocol()
    parser.add_argument("--seed-rows", type=int, default=defaults.seed_rows)
    parser.add_argument("--pool-rows", type=int, default=defaults.pool_rows)
    parser.add_argument("--test-rows", type=int, default=defaults.test_rows)
    parser.add_argument("--budgets", default=",".join(map(str, defaults.budgets)))
    parser.add_argument("--strategies", default=",".join(defaults.strategies))
    parser.add_argument("--epochs", type=int, default=defaults.train["epochs"])
    parser.add_argument("--threads", type=int, default=defaults.train["threads"])
    parser.add_argument("--out", type=Path, default=RESULTS / "active_learning.json")
    args = parser.parse_args()
    protocol = Protocol(
        seed_rows=args.seed_rows,
        pool_rows=args.pool_rows,
        test_rows=args.test_rows,
        budgets=_ints(args.budgets),
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        train={**defaults.train, "epochs": args.epochs, "threads": args.threads},
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = run_benchmark(protocol, Path(tmp))
    result["machine"] = machine_info()
    write_result(result, args.out)
    print(table(result))


if __name__ == "__main__":
    main()
