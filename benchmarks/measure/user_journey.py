"""The user's journey as a benchmark: a fintech team's own transactions, labeled by our teacher.

A user has a file of their real transactions. They have our teacher label part of it, distill
the default student on those labels plus our synthetic corpus, and use the student on the rest.
This script plays that journey on a hand-labeled real file (the real dev set) and measures what
they would get:

1. split the file 60/40 by descriptor (`categorizer.ingest.splits.split_frame`: rows sharing a
   `descriptor_key` stay together, stratified by the human label so both parts hold every
   category in proportion);
2. the teacher labels the 60% from a copy without the human labels (it never sees them);
3. students are distilled from the synthetic corpus (labeled by its ground truth) alone, and with
   the teacher's labels of the 60% mixed in (`train --mix`) at each `--mix-weight`; the 40% is
   the run's dev set, so no training row shares a descriptor with it;
4. each int8 student, and the teacher, is scored on the 40% against the humans' labels (overall
   and per country) and against the teacher's labels of it.

    python -m benchmarks.measure.user_journey --data data/real_dev/real_dev.csv \\
        --teacher hf:smollm2 --examples seed.parquet --k 4 --mix-weight 1 --mix-weight 4 \\
        --name user_journey

The teacher's labels are cached (`--cache`), so a rerun labels nothing twice. Results go to
benchmarks/results/<name>.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks.machine import machine_info
from benchmarks.measure import RESULTS
from benchmarks.measure.students import oracle_labels

logger = logging.getLogger(__name__)

GOLD_COLUMNS = ("category", "detailed_category")
"""The human labels: kept out of the copy the teacher labels."""


def split_user_file(data: Path, work: Path, seed: int) -> tuple[Path, Path, dict[str, Any]]:
    """Write the 60% without its human labels and the 40% with them; return both and a summary.

    Raises:
        ValueError: The file has no ``description`` or no gold ``category`` column.
    """
    from categorizer.ingest.splits import split_frame

    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    for column in ("description", "category"):
        if column not in frame.columns:
            raise ValueError(f"--data {data} has no {column!r} column: give a hand-labeled file")
    split = split_frame(frame, fractions=(0.6, 0.0, 0.4), seed=seed, stratify="category")
    user, held_out = frame[split == "train"], frame[split == "test"]
    user_path, held_out_path = work / "user_60.csv", work / "held_out_40.csv"
    user.drop(columns=[c for c in GOLD_COLUMNS if c in user.columns]).to_csv(user_path, index=False)
    held_out.to_csv(held_out_path, index=False)
    summary = {"rows": len(frame), "user_rows": len(user), "held_out_rows": len(held_out)}
    return user_path, held_out_path, summary


def label_with_teacher(inputs: list[Path], args: argparse.Namespace) -> list[Path]:
    """The teacher's labels of each file (one shared cache, so reruns are cache hits)."""
    from categorizer.taxonomy import default_taxonomy
    from training.labeling.runner import examples_id_of, label_file, load_examples
    from training.labeling.teachers import make_teacher

    taxonomy = default_taxonomy()
    retriever = load_examples(args.examples, taxonomy) if args.examples else None
    options = {"examples_id": examples_id_of(retriever, args.k)} if retriever else {}
    teacher = make_teacher(args.teacher, taxonomy, **options)
    outs = []
    try:
        for path in inputs:
            out = path.with_name(f"{path.stem}_labels.parquet")
            summary = label_file(
                path, out, teacher, taxonomy=taxonomy, examples=retriever, k=args.k,
                cache_path=args.cache or args.work / "teacher.cache.sqlite",
            )  # fmt: skip
            logger.info("%s: %d rows, %d from the cache", out.name, summary.rows,
                        summary.cache_hits)  # fmt: skip
            outs.append(out)
    finally:
        teacher.close()
    return outs


def train_student(
    synthetic: Path, mix: Path | None, weight: float, held_out: Path, args: argparse.Namespace
) -> tuple[Path, dict[str, Any]]:
    """Distill and export one student; its dev set is the held-out 40%."""
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.distill import train
    from training.distillation.train_config import load_config
    from training.export.to_bundle import export_run

    name = "synthetic_only" if mix is None else f"mix_w{weight:g}"
    overrides: dict[str, Any] = {
        "student": args.student, "gold_column": "category", "hard_targets": "teacher",
        "batch_size": 32, "lr": 2e-3, "epochs": args.epochs, "token_dropout": 0.15,
        "seed": args.seed, "dev_set": str(held_out),
    }  # fmt: skip
    if mix is not None:
        overrides |= {"mix_data": str(mix), "mix_weight": weight}
    run = args.work / f"run_{name}"
    started = time.perf_counter()
    result = train(synthetic, run, load_config(None, overrides), taxonomy=default_taxonomy(),
                   show_progress=False)  # fmt: skip
    bundle = export_run(run, args.work / f"bundle_{name}", quantize="int8").bundle
    test = result.metrics["test"]
    info = {
        "name": name,
        "mix_weight": None if mix is None else weight,
        "train_s": round(time.perf_counter() - started, 1),
        "synthetic_test_accuracy": round(test["accuracy"], 4),
    }
    return bundle, info


def score_on_held_out(bundle: Path | None, labels: Path) -> dict[str, Any]:
    """Accuracy (overall, per country) against the humans, agreement with the teacher; the
    teacher's own figures when `bundle` is None."""
    from benchmarks.eval_set import load_eval_set
    from categorizer.engine import Categorizer
    from categorizer.taxonomy import default_taxonomy

    taxonomy = default_taxonomy()
    rows = load_eval_set(labels, taxonomy, "category")
    if bundle is None:
        probs = rows.teacher_probs
    else:
        engine = Categorizer.load(bundle, threads=2)
        probs = engine.primary_probs(engine.logits(rows.texts))
    scores = rows.score(probs, taxonomy.labels, None)
    return {
        "rows": scores["rows"],
        "accuracy": round(scores["accuracy"], 4),
        "macro_f1": round(scores["macro_f1"], 4),
        "agreement_with_teacher": None if bundle is None else round(scores["agreement"], 4),
        "by_country": {
            country: {"rows": c["rows"], "accuracy": round(c["accuracy"], 4)}
            for country, c in (scores.get("by_country") or {}).items()
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a hand-labeled real file")
    parser.add_argument("--teacher", default="hf:smollm2")
    parser.add_argument("--examples", type=Path, default=None, help="few-shot seed file")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--cache", type=Path, default=None, help="the teacher's label cache")
    parser.add_argument("--student", default="scratch:L2-H128")
    parser.add_argument("--rows", type=int, default=20_000, help="synthetic training rows")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--mix-weight", type=float, action="append", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=Path("runs/user_journey"))
    parser.add_argument("--name", default="user_journey")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.work.mkdir(parents=True, exist_ok=True)

    user, held_out, split = split_user_file(args.data, args.work, args.seed)
    user_labels, held_out_labels = label_with_teacher([user, held_out], args)
    synthetic = oracle_labels(args.rows, args.seed, args.work)
    students = []
    for mix, weight in [(None, 0.0), *((user_labels, w) for w in args.mix_weight or [1.0])]:
        bundle, info = train_student(synthetic, mix, weight, held_out, args)
        students.append(info | {"held_out": score_on_held_out(bundle, held_out_labels)})
        logger.info("%s: %.1f%% on the held-out 40%%", info["name"],
                    100 * students[-1]["held_out"]["accuracy"])  # fmt: skip
    result = {
        "date": dt.date.today().isoformat(),
        "data": str(args.data),
        "split": split | {"by": "descriptor_key, stratified by the human label", "seed": args.seed},
        "teacher": {
            "spec": args.teacher,
            "examples": str(args.examples),
            "k": args.k,
            "held_out": score_on_held_out(None, held_out_labels),
        },
        "student": args.student,
        "synthetic_rows": args.rows,
        "epochs": args.epochs,
        "students": students,
        "machine": machine_info(),
    }
    out = RESULTS / f"{args.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    logger.info("written to %s", out)


if __name__ == "__main__":
    main()
