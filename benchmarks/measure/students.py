"""Which student to ship: accuracy on synthetic and real data against speed, per student spec.

Each student is distilled from the same labeled file (by default the synthetic corpus labeled by
its own ground truth, `labels:category`: the teacher every student could at best reproduce),
exported to an int8 bundle and measured:

- accuracy and macro-F1 on the run's synthetic test split (from the run's metrics);
- accuracy and macro-F1 on the hand-labeled real dev set (`data/real_dev/real_dev.csv`), overall
  and per country (never trained on: the training loop drops its descriptors);
- batch-64 throughput and batch-1 p50 of the engine on 2 threads;
- single-transaction HTTP p50 through a real `categorizer serve` on 127.0.0.1.

    python -m benchmarks.measure.students --rows 30000 --student scratch:L2-H128 \\
        --student "minilm layers=3 lr=3e-4 epochs=3" --name students_30k

A student is a spec followed by `--set`-style overrides. Results go to
benchmarks/results/<name>.json. This is a measurement, not a test: times vary with the load,
which is recorded with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_info
from benchmarks.measure import RESULTS
from training.distillation.train_config import DEFAULT_DEV_SET

REAL_DEV = DEFAULT_DEV_SET
_BASE = {"gold_column": "category", "hard_targets": "teacher", "batch_size": 32, "seed": 0}


def parse_student(text: str) -> tuple[str, dict[str, Any]]:
    """ "minilm layers=3 lr=3e-4" -> ("minilm", {"layers": 3, "lr": 3e-4})."""
    from training.distillation.train_config import parse_overrides

    spec, *pairs = text.split()
    return spec, parse_overrides(pairs)


def oracle_labels(rows: int, seed: int, work: Path) -> Path:
    """The synthetic corpus labeled by its ground truth (cached in `work`)."""
    from categorizer.taxonomy import default_taxonomy
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher
    from training.synthesis.commands import run_synth

    out = work / f"oracle_{rows}_{seed}.parquet"
    if out.exists():
        return out
    corpus = work / f"corpus_{rows}_{seed}.parquet"
    run_synth(corpus, n=rows, seed=seed)
    taxonomy = default_taxonomy()
    teacher = make_teacher("labels:category", taxonomy, detailed_column="detailed_category")
    try:
        label_file(corpus, out, teacher, taxonomy=taxonomy, cache_path=out.with_suffix(".db"))
    finally:
        teacher.close()
    return out


def real_dev_scores(bundle: Path, path: Path = REAL_DEV) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-country figures of an int8 bundle on the real dev set."""
    from benchmarks.eval_set import load_eval_set
    from categorizer.engine import Categorizer
    from categorizer.taxonomy import load_taxonomy

    engine = Categorizer.load(bundle, threads=2)
    rows = load_eval_set(path, load_taxonomy(bundle / "taxonomy.yaml"), "category")
    probs = engine.primary_probs(engine.logits(rows.texts))
    scores = rows.score(probs, engine.primary_labels, None)
    keep = ("rows", "accuracy", "macro_f1")
    return {
        **{k: scores[k] for k in keep if k in scores},
        "by_country": {
            c: {k: v for k, v in s.items() if k in keep} for c, s in scores["by_country"].items()
        },
    }


def speed(bundle: Path, texts: list[str]) -> dict[str, Any]:
    """Engine batch-64 throughput and batch-1 latency on 2 threads, and the bundle's size."""
    from benchmarks.engine import latency, throughput
    from categorizer.engine import Categorizer

    engine = Categorizer.load(bundle, threads=2, batch_size=64)
    figures = latency(engine.predict_texts, texts, calls=500)
    return {
        "batch64_tx_per_s_2threads": throughput(engine.predict_texts, texts, 64, 60),
        "batch1_p50_ms": figures["p50_ms"],
        "model_mb": round((bundle / "model.onnx").stat().st_size / 1e6, 1),
    }


def http_p50(bundle: Path, seconds: float = 8.0) -> dict[str, Any]:
    """Single-transaction HTTP latency (concurrency 1) through a real `categorizer serve`."""
    from benchmarks.serve_load import free_port, measure_phase, server, synthetic_transactions

    args = argparse.Namespace(seconds=seconds, warmup=1.0, client="raw")
    bodies = [{"transactions": [t]} for t in synthetic_transactions(500, 3)]
    with server(bundle, free_port(), 2) as url:
        figures = measure_phase(url, bodies, 1, args)
    return {k: figures.get(k) for k in ("p50_ms", "p99_ms", "requests_per_s")}


def run_student(text: str, data: Path, work: Path, texts: list[str]) -> dict[str, Any]:
    """Train, export and measure one student."""
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.distill import train
    from training.distillation.train_config import load_config
    from training.export.to_bundle import export_run

    spec, overrides = parse_student(text)
    name = text.replace(" ", "_").replace(":", "-").replace("=", "").replace("/", "-")
    run = work / f"run_{name}"
    config = load_config(None, {**_BASE, "student": spec, **overrides})
    started = time.perf_counter()
    result = train(data, run, config, taxonomy=default_taxonomy(), show_progress=False)
    train_s = time.perf_counter() - started
    bundle = export_run(run, work / f"bundle_{name}", quantize="int8").bundle
    test = result.metrics["test"]
    out = {
        "student": text,
        "train_s": round(train_s, 1),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "synthetic_test": {k: round(test[k], 4) for k in ("accuracy", "macro_f1") if k in test},
        "real_dev": real_dev_scores(bundle),
        "speed": speed(bundle, texts),
        "http": http_p50(bundle),
    }
    print(json.dumps({k: out[k] for k in ("student", "synthetic_test", "speed")}), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=30_000, help="synthetic training rows")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="a labeled file instead")
    parser.add_argument("--student", action="append", required=True, help="spec [k=v ...]")
    parser.add_argument("--work", type=Path, default=Path("runs/students"))
    parser.add_argument("--name", default="students")
    args = parser.parse_args()
    from benchmarks.engine import synthetic_texts

    args.work.mkdir(parents=True, exist_ok=True)
    data = args.data or oracle_labels(args.rows, args.seed, args.work)
    texts = synthetic_texts(2_000, 99)
    load_before = os.getloadavg()
    out = RESULTS / f"{args.name}.json"
    students: list[dict[str, Any]] = []
    for spec in args.student:  # written after each student: a long run keeps what it measured
        students.append(run_student(spec, data, args.work, texts))
        result = {
            "date": dt.date.today().isoformat(),
            "data": str(data),
            "rows": args.rows if args.data is None else None,
            "teacher": "labels:category (synthetic ground truth)" if args.data is None else "file",
            "real_dev": "data/real_dev/real_dev.csv",
            "students": students,
            "load_average": {"before": load_before, "after": os.getloadavg()},
            "machine": machine_info(),
        }
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
