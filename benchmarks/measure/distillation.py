"""Distillation runs for the report: student quality and training time, over a T × α grid.

Trains one student per (temperature, alpha) pair on a labeled file (the output of `categorizer
label`), each into a fresh run directory, and records the test split's agreement with the
teacher, accuracy against gold where there is a gold column (also per difficulty subset), KL,
calibration error, the best epoch and the wall time. Results go to
benchmarks/results/distill_<name>.json.

    # the demo student on the ground truth as teacher (the oracle teacher)
    python -m benchmarks.measure.distillation --data gold.parquet --gold-column category \\
        --config configs/student_demo.toml --name oracle_minilm_l3
    # the T/alpha experiment on an LLM teacher's soft labels
    python -m benchmarks.measure.distillation --data smollm2_labels.parquet \\
        --gold-column category --temperatures 1,2,4 --alphas 0,0.5 --name smollm2_grid

This is a measurement, not a test: on a shared machine the times vary with the load, which is
recorded with them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.machine import machine_info
from benchmarks.measure import RESULTS
from categorizer.taxonomy import default_taxonomy
from training.distillation.distill import train
from training.distillation.train_config import load_config, parse_overrides

_KEEP = ("rows", "agreement", "accuracy", "macro_f1", "kl", "ece")


def _round(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        k: (round(v, 4) if isinstance(v, float) else v) for k, v in figures.items() if k in _KEEP
    }


def run_one(data: Path, work: Path, overrides: dict[str, Any], config_path: Path | None) -> dict:
    """Train one student and summarise its test figures."""
    config = load_config(config_path, overrides)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    result = train(data, work, config, taxonomy=default_taxonomy(), show_progress=False)
    seconds = time.perf_counter() - started
    metrics = result.metrics
    return {
        "temperature": config.temperature,
        "alpha": config.alpha,
        "test": _round(metrics["test"]),
        "test_by_difficulty": {k: _round(v) for k, v in metrics["test_by_difficulty"].items()},
        "validation_agreement": round(metrics["validation"]["agreement"], 4),
        "calibration_temperature": round(metrics["temperature"], 3),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "rows": metrics["rows"],
        "seconds": round(seconds, 1),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "config": config.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="labeled Parquet file")
    parser.add_argument("--name", required=True, help="results/distill_<name>.json")
    parser.add_argument("--config", type=Path, default=None, help="a TrainConfig TOML/YAML")
    parser.add_argument("--gold-column", default=None)
    parser.add_argument("--temperatures", default=None, help="comma-separated T values")
    parser.add_argument("--alphas", default=None, help="comma-separated alpha values")
    parser.add_argument("--set", action="append", default=[], help="FIELD=VALUE overrides")
    args = parser.parse_args()

    base: dict[str, Any] = {"gold_column": args.gold_column, **parse_overrides(args.set)}
    temperatures = [float(t) for t in args.temperatures.split(",")] if args.temperatures else [None]
    alphas = [float(a) for a in args.alphas.split(",")] if args.alphas else [None]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for t in temperatures:
            for a in alphas:
                overrides = {**base, "temperature": t, "alpha": a}
                runs.append(run_one(args.data, Path(tmp) / f"T{t}_a{a}", overrides, args.config))
                print(json.dumps({k: runs[-1][k] for k in ("temperature", "alpha", "test")}))
    result = {
        "data": str(args.data),
        "runs": runs,
        "machine": machine_info(),
        "date": dt.date.today().isoformat(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"distill_{args.name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
