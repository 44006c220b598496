"""Inference speed of a student: torch fp32 against the ONNX fp32 and int8 bundles.

For one training run and its bundles (exported here into a temporary folder when not given):

* cold start: a fresh ``python`` that imports `categorizer.engine`, loads (and verifies) the
  bundle and predicts once; the import + load target is 1.5 s; then it predicts a batch of 64
  and reports its peak RSS (the serving process's memory floor);
* latency at batch 1 (p50/p99 over ``--calls`` calls, texts to predictions) and throughput at
  batch 64 (transactions/s), on 1 and 2 threads, for the run's torch model (HF tokenizer +
  forward pass, as a plain transformers pipeline does) and each bundle (`Categorizer`);
* argmax agreement of each bundle with the torch model on the same texts.

Texts are synthetic transactions in the model's input format. Results go to
benchmarks/results/engine_<name>.json.

    python -m benchmarks.engine --run runs/minilm --name minilm_l6
    python -m benchmarks.engine --run runs/minilm --bundle runs/bundle_int8 --calls 300

This is a measurement, not a test: on a shared machine the times vary with the load, which is
recorded with them (before and after).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.machine import machine_info, write_result

RESULTS = Path(__file__).parent / "results"
TARGETS = {
    "cold_import_and_load_s": 1.5,
    "batch64_tx_per_s_2_threads": 1_500,
    "speedup_vs_torch_batch64": 5.0,
}
_COLD_SCRIPT = """
import json, resource, sys, time
started = time.perf_counter()
from categorizer.engine import Categorizer
imported = time.perf_counter()
engine = Categorizer.load(sys.argv[1], threads=int(sys.argv[2]))
loaded = time.perf_counter()
engine.predict(["POS PURCHASE STARBUCKS #1234 SEATTLE WA"])
done = time.perf_counter()
engine.predict(["ACH DEPOSIT ACME CORP PAYROLL PPD ID 1234567890 WEB"] * 64)
heavy = [m for m in ("torch", "transformers", "pandas") if m in sys.modules]
try:  # VmHWM: this image's peak RSS (ru_maxrss would include the parent's, from before exec)
    status = open("/proc/self/status").read()
    peak_mb = int(status.split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported,
                  "first_predict_s": done - loaded, "peak_rss_mb": peak_mb,
                  "heavy_modules": heavy}))
"""

Infer = Callable[[Sequence[str]], Any]


def synthetic_texts(n: int, seed: int) -> list[str]:
    """Model input texts of `n` synthetic transactions."""
    from categorizer.text import to_model_text
    from training.synthesis.synth import SynthConfig, generate

    frame = generate(SynthConfig(n=n, seed=seed, workers=1))
    return [to_model_text(row) for row in frame.to_dict("records")]


def cold_start(bundle: Path, threads: int, repeats: int) -> dict[str, Any]:
    """Median figures of `repeats` fresh interpreters loading the bundle."""
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _COLD_SCRIPT, str(bundle), str(threads)],
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        figures["process_s"] = time.perf_counter() - started
        runs.append(figures)
    out = {
        key: round(statistics.median(r[key] for r in runs), 3)
        for key in ("import_s", "load_s", "first_predict_s", "process_s", "peak_rss_mb")
    }
    out["import_and_load_s"] = round(out["import_s"] + out["load_s"], 3)
    out["heavy_modules"] = sorted({m for r in runs for m in r["heavy_modules"]})
    out["meets_target"] = out["import_and_load_s"] <= TARGETS["cold_import_and_load_s"]
    return out


def latency(infer: Infer, texts: Sequence[str], calls: int, warmup: int = 20) -> dict[str, float]:
    """Milliseconds per call at batch 1: p50, p95, p99 and mean."""
    for i in range(warmup):
        infer([texts[i % len(texts)]])
    times = np.empty(calls)
    for i in range(calls):
        text = texts[i % len(texts)]
        started = time.perf_counter()
        infer([text])
        times[i] = time.perf_counter() - started
    return {
        "p50_ms": round(float(np.percentile(times, 50)) * 1e3, 3),
        "p95_ms": round(float(np.percentile(times, 95)) * 1e3, 3),
        "p99_ms": round(float(np.percentile(times, 99)) * 1e3, 3),
        "mean_ms": round(float(times.mean()) * 1e3, 3),
    }


def throughput(infer: Infer, texts: Sequence[str], batch: int, batches: int) -> float:
    """Transactions per second over `batches` calls of `batch` texts (after one warm-up)."""
    infer(texts[:batch])
    chunks = [[texts[(b * batch + i) % len(texts)] for i in range(batch)] for b in range(batches)]
    started = time.perf_counter()
    for chunk in chunks:
        infer(chunk)
    return round(batch * batches / (time.perf_counter() - started), 1)


def torch_backend(run: Path) -> tuple[Infer, Callable[[int], None]]:
    """The run's torch student as texts → logits, and a function that sets its threads."""
    import torch
    from transformers import AutoTokenizer

    from training.distillation.run_info import read_student
    from training.export.onnx_export import load_torch_student

    student = read_student(run)
    tokenizer = AutoTokenizer.from_pretrained(run / "model", local_files_only=True)
    model = load_torch_student(run / "model", student["pooling"])
    max_length = student["max_length"]

    def infer(texts: Sequence[str]) -> np.ndarray:
        encoded = tokenizer(
            list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt"
        )
        with torch.inference_mode():
            ids, mask = encoded["input_ids"], encoded["attention_mask"]
            return model(input_ids=ids, attention_mask=mask).logits.numpy()

    return infer, torch.set_num_threads


def export_missing(run: Path, bundles: list[Path], work: Path) -> dict[str, Path]:
    """Quantization ("int8"/"none") → bundle, exporting the kinds not given."""
    from categorizer.bundle import load_bundle
    from training.export.to_bundle import export_run

    found = {load_bundle(b).quantization: b for b in bundles}
    for kind in ("int8", "none"):
        if kind not in found:
            print(f"exporting a {kind} bundle of {run} ...", file=sys.stderr)
            found[kind] = export_run(run, work / f"bundle_{kind}", quantize=kind).bundle
    return found


def measure_backend(
    name: str, infer: Infer, texts: Sequence[str], threads: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Latency and throughput of one backend at one thread count."""
    figures: dict[str, Any] = {"backend": name, "threads": threads}
    figures.update(latency(infer, texts, args.calls))
    figures["batch64_tx_per_s"] = throughput(infer, texts, 64, args.batches)
    print(json.dumps(figures), file=sys.stderr)
    return figures


def measure(run: Path, bundles: dict[str, Path], args: argparse.Namespace) -> dict[str, Any]:
    """Every backend at every thread count, cold starts and agreement with torch."""
    from categorizer.engine import Categorizer

    texts = synthetic_texts(args.texts, args.seed)
    torch_infer, set_torch_threads = torch_backend(run)
    reference = torch_infer(texts[:1000]).argmax(axis=1)
    results, agreement, cold = [], {}, {}
    for threads in args.threads:
        set_torch_threads(threads)
        results.append(measure_backend("torch fp32", torch_infer, texts, threads, args))
        for kind, bundle in bundles.items():
            engine = Categorizer.load(bundle, threads=threads, batch_size=64)
            label = f"onnx {'fp32' if kind == 'none' else kind}"
            results.append(measure_backend(label, engine.predict_texts, texts, threads, args))
            agreement[label] = round(
                float((engine.logits(texts[:1000]).argmax(1) == reference).mean()), 4
            )
    for kind, bundle in bundles.items():
        cold[f"onnx {'fp32' if kind == 'none' else kind}"] = cold_start(bundle, 1, args.repeats)
    lengths = [len(ids) for ids in Categorizer.load(bundles["int8"]).encode(texts)]
    return {
        "texts": len(texts),
        "mean_tokens": round(float(np.mean(lengths)), 1),
        "cold_start": cold,
        "results": results,
        "agreement_with_torch": agreement,
        "speedup_vs_torch_batch64": _speedups(results),
        "model_mb": {
            k: round((b / "model.onnx").stat().st_size / 1e6, 1) for k, b in bundles.items()
        },
    }


def _speedups(results: list[dict[str, Any]]) -> dict[str, float]:
    """Each ONNX backend's batch-64 throughput over torch's, per thread count."""
    torch_rate = {
        r["threads"]: r["batch64_tx_per_s"] for r in results if r["backend"] == "torch fp32"
    }
    return {
        f"{r['backend']} {r['threads']}t": round(
            r["batch64_tx_per_s"] / torch_rate[r["threads"]], 2
        )
        for r in results
        if r["backend"] != "torch fp32"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a `categorizer train` run")
    parser.add_argument("--bundle", type=Path, action="append", default=[], help="repeatable")
    parser.add_argument("--name", default=None, help="results name (default: the run's name)")
    parser.add_argument("--threads", type=lambda s: [int(t) for t in s.split(",")], default=[1, 2])
    parser.add_argument("--calls", type=int, default=300, help="batch-1 calls per backend")
    parser.add_argument("--batches", type=int, default=30, help="batch-64 calls per backend")
    parser.add_argument("--texts", type=int, default=2_000, help="synthetic texts to cycle over")
    parser.add_argument("--repeats", type=int, default=3, help="cold starts per bundle")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: results/engine_NAME.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        bundles = export_missing(args.run, args.bundle, Path(tmp))
        result = measure(args.run, bundles, args)
        result["bundles"] = {
            k: "(exported here)" if str(v).startswith(tmp) else str(v) for k, v in bundles.items()
        }
    result["run"] = str(args.run)
    result["targets"] = TARGETS
    result["load_average_before_after"] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    result["machine"] = machine_info()
    result["date"] = dt.date.today().isoformat()
    out = args.out or RESULTS / f"engine_{args.name or args.run.resolve().name}.json"
    write_result(result, out)


if __name__ == "__main__":
    main()
