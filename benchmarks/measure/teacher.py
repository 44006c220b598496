"""Teacher throughput and accuracy on synthetic and real transactions, per prompt variant.

Labels N synthetic rows (ground truth known) and, with `--real N`, N rows of the hand-labeled real
dev set (`data/real_dev/real_dev.csv`, the rows that have an amount) with a teacher, once per mode,
each run with a fresh cache, and reports transactions/s, accuracy against the gold primary
category with a 95% Wilson interval, mean label mass and cost. Modes: `zeroshot`; `fewshot` (the
k most similar examples of a labeled seed set of another seed); `kb` (zero-shot with the merchant
knowledge base's hint on the brand a row names); `fewshot+kb`; each may add `+words` (one answer
word per category instead of a letter), `+kbanswers` (with `kb`: rows naming a mapped brand are
answered from the base, not the model) and `+primary` (no detailed pass). Results go to
benchmarks/results/teacher_<teacher>.json.

    python -m benchmarks.measure.teacher --teacher hf:smollm2 --n 1000
    python -m benchmarks.measure.teacher --teacher llama:qwen2.5-coder-1.5b --n 300 --real 300 \
        --modes zeroshot,kb

This is a measurement, not a test: the offline SmolLM2-135M is a very weak teacher, and the
numbers say how weak and how much retrieved examples help it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.machine import machine_info
from benchmarks.measure import RESULTS
from categorizer.ingest.data import write_frame
from categorizer.taxonomy import default_taxonomy
from training.distillation.train_config import DEFAULT_DEV_SET
from training.labeling.runner import Prices, examples_id_of, label_file, load_examples
from training.labeling.teachers import make_teacher
from training.labeling.teachers.kb_hints import KB_ANSWER_CONFIDENCE
from training.synthesis.synth import SynthConfig, generate

REAL_DEV = DEFAULT_DEV_SET


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion."""
    if n == 0:
        return (0.0, 1.0)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4))


def _accuracy(out: Path, truth: pd.Series) -> dict[str, Any]:
    labels = pd.read_parquet(out, columns=["teacher_label", "label_mass"])
    answered = labels["teacher_label"].notna()
    correct = (labels["teacher_label"] == truth.to_numpy()) & answered
    return {
        "accuracy": round(float(correct.mean()), 4),
        "accuracy_95": wilson(int(correct.sum()), len(correct)),
        "answered": int(answered.sum()),
        "mean_label_mass": round(float(labels["label_mass"].mean()), 4),
    }


def real_rows(n: int) -> pd.DataFrame:
    """The first `n` real dev rows that have an amount (labeling needs one)."""
    frame = pd.read_csv(REAL_DEV, keep_default_na=False)
    frame = frame[frame["amount"].astype(str).str.strip() != ""].copy()
    frame["amount"] = frame["amount"].astype(float)
    return frame.head(n).reset_index(drop=True)


def run_once(
    teacher_spec: str,
    data: Path,
    truth: pd.Series,
    work: Path,
    args: argparse.Namespace,
    seed_file: Path | None,
    mode: str,
) -> dict[str, Any]:
    """Label `data` once in one mode (fresh cache) and measure speed, accuracy and cost."""
    taxonomy = default_taxonomy()
    retriever = load_examples(seed_file, taxonomy) if "fewshot" in mode else None
    options: dict[str, Any] = (
        {"examples_id": examples_id_of(retriever, args.k)} if retriever else {}
    )
    if "kb" in mode:
        options["kb_hints"] = True
    if "kbanswers" in mode:
        options["kb_answers"] = KB_ANSWER_CONFIDENCE
    if "words" in mode:
        options["answers"] = "words"
    if "primary" in mode:
        options["detailed"] = False
    teacher = make_teacher(
        teacher_spec, taxonomy, base_url=args.base_url, batch_size=args.batch_size, **options
    )
    name = f"{data.stem}_{mode.replace('+', '_')}"
    out = work / f"{name}.parquet"
    label = {
        "teacher": teacher,
        "taxonomy": taxonomy,
        "examples": retriever,
        "k": args.k,
        "cache_path": work / f"{name}.sqlite",
        "prices": Prices(args.price_in, args.price_out, args.hourly_price),
    }
    try:
        load_before = os.getloadavg()[0]
        summary = label_file(data, out, **label)
        load_after = os.getloadavg()[0]
        # The same file again on the same cache: every row must come from the cache.
        rerun = label_file(data, work / f"{name}_rerun.parquet", **label)
    finally:
        teacher.close()
    return {
        "mode": mode,
        "data": data.stem,
        "rows": summary.rows,
        "failed": summary.failed,
        "seconds": round(summary.seconds, 1),
        "teacher_seconds": round(summary.teacher_seconds, 1),
        "transactions_per_s": round(summary.rows / summary.teacher_seconds, 3),
        "prompt_tokens_per_row": round(summary.prompt_tokens / max(summary.rows, 1), 1),
        "cost_usd": round(summary.cost_usd, 6),
        "prompt_version": summary.prompt_version,
        "rerun_cache_hits": rerun.cache_hits,
        "rerun_teacher_calls": rerun.teacher_calls,
        "kb_hints": summary.kb_hints,
        "load_average_1min": [round(load_before, 2), round(load_after, 2)],
        **_accuracy(out, truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--teacher", default="hf:smollm2")
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--n", type=int, default=1_000, help="synthetic transactions to label")
    parser.add_argument("--real", type=int, default=0, help="real dev rows to label too")
    parser.add_argument("--seed-rows", type=int, default=2_000, help="few-shot seed set size")
    parser.add_argument("--k", type=int, default=4, help="examples per transaction")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--modes",
        default="zeroshot,fewshot",
        help="zeroshot,fewshot,kb,fewshot+kb, each with optional +words and +primary",
    )
    parser.add_argument("--out", default=None, help="results file (default: by teacher)")
    parser.add_argument("--price-in", type=float, default=0.0)
    parser.add_argument("--price-out", type=float, default=0.0)
    parser.add_argument("--hourly-price", type=float, default=0.0, help="USD/hour of compute")
    args = parser.parse_args()

    sets = {"synthetic": generate(SynthConfig(n=args.n, seed=101, workers=1))}
    if args.real:
        sets["real"] = real_rows(args.real)
    seed_frame = generate(SynthConfig(n=args.seed_rows, seed=202, workers=1))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seed_file = work / "seed.parquet"
        write_frame(seed_frame, seed_file)
        for name, frame in sets.items():
            data = work / f"{name}.parquet"
            write_frame(frame, data)
            for mode in args.modes.split(","):
                runs.append(
                    run_once(args.teacher, data, frame["category"], work, args, seed_file, mode)
                )
                print(json.dumps(runs[-1]), flush=True)
    result = {
        "teacher": args.teacher,
        "n": args.n,
        "real": args.real,
        "k": args.k,
        "seed_rows": args.seed_rows,
        "runs": runs,
        "machine": machine_info(),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", args.teacher).strip("_")
    out = Path(args.out) if args.out else RESULTS / f"teacher_{slug}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
