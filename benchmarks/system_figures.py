"""System figures of a benchmarked bundle: HTTP latency through a real `categorizer serve`, cold
start and peak memory in fresh interpreters, and the throughput of a plain transformers pipeline
on the same student (what a team would get without our engine)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from categorizer.cpus import usable_cpus


def system_figures(
    bundle: Path,
    run: Path | None,
    student: dict[str, Any],
    texts: Sequence[str],
    step: Callable[[str], None],
    *,
    http_seconds: float,
    cold_repeats: int,
    batches: int,
) -> dict[str, Any]:
    """HTTP latency, cold start, peak memory and the pipeline comparison of a bundle.

    Args:
        bundle: The student's bundle.
        run: Its training run (None: no pipeline comparison).
        student: The student's variant entry (its measured speed).
        texts: Model input texts for the pipeline comparison.
        step: Called with each step's name (progress).
        http_seconds: Seconds per HTTP load phase; 0 skips HTTP.
        cold_repeats: Fresh interpreters for the cold-start median.
        batches: Batch-64 calls of the pipeline comparison.
    """
    from benchmarks.engine import cold_start

    step("cold start")
    cold = cold_start(bundle, usable_cpus(), cold_repeats)
    figures: dict[str, Any] = {
        "cold_start": {k: cold[k] for k in ("import_and_load_s", "first_predict_s")},
        "peak_memory_mb": round(cold["peak_rss_mb"], 1),
        "http": None,
        "pipeline": None,
    }
    if http_seconds > 0:
        step("http")
        figures["http"] = http_figures(bundle, http_seconds)
    if run is not None:
        step("transformers pipeline")
        tx_per_s = pipeline_tx_per_s(Path(run), texts, batches)
        student_tx = student["speed"]["batch64_tx_per_s_all"]
        figures["pipeline"] = {
            "tx_per_s": tx_per_s,
            "student_tx_per_s": student_tx,
            "ratio": round(student_tx / tx_per_s, 2),
        }
    return figures


def http_figures(bundle: Path, seconds: float) -> dict[str, Any]:
    """Single-transaction latency at concurrency 1 and 8, and 64-row throughput (best of 1 and 2
    concurrent callers), over HTTP."""
    from benchmarks import serve_load

    args = argparse.Namespace(
        seconds=seconds, warmup=min(1.0, seconds), concurrency=[1, 8], batch=64,
        batch_concurrency=[1, 2], texts=1_000, seed=0, client="raw",
    )  # fmt: skip
    with serve_load.server(bundle, serve_load.free_port(), None) as url:
        measured = serve_load.measure(url, args)
    out: dict[str, Any] = {
        f"concurrency_{r['concurrency']}": {
            k: r.get(k) for k in ("p50_ms", "p95_ms", "p99_ms", "requests_per_s")
        }
        for r in measured["single"]
    }
    out["batch64_tx_per_s"] = measured["best_batch64_tx_per_s"]
    return out


def pipeline_tx_per_s(run: Path, texts: Sequence[str], batches: int) -> float:
    """Throughput of a plain transformers pipeline on the run's student, 64 texts per call.

    A ``cls`` student is a stock sequence classifier: ``pipeline("text-classification")``. The
    default mean-pooled head is not a transformers class, so its plain-pipeline equivalent is
    ``pipeline("feature-extraction")`` on the encoder, then the mean and the linear head.
    """
    import torch
    from transformers import AutoTokenizer, pipeline

    from benchmarks.engine import throughput
    from training.distillation.run_info import read_student
    from training.export.onnx_export import load_torch_student

    torch.set_num_threads(usable_cpus())
    student = read_student(run)
    tokenizer = AutoTokenizer.from_pretrained(run / "model", local_files_only=True)
    model = load_torch_student(run / "model", student["pooling"])
    options = {"truncation": True, "max_length": student["max_length"]}
    if student["pooling"] == "cls":
        pipe = pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)
        return throughput(
            lambda batch: pipe(list(batch), batch_size=64, **options), texts, 64, batches
        )
    pipe = pipeline("feature-extraction", model=model.encoder, tokenizer=tokenizer, device=-1)
    weight = model.classifier.weight.detach().numpy()
    bias = model.classifier.bias.detach().numpy()

    def classify(batch: Sequence[str]) -> list[int]:
        features = pipe(list(batch), batch_size=64, return_tensors=True, tokenize_kwargs=options)
        pooled = np.stack([f[0].mean(dim=0).numpy() for f in features])
        return (pooled @ weight.T + bias).argmax(axis=1).tolist()

    return throughput(classify, texts, 64, batches)
