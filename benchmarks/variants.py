"""The model variants a benchmark report compares, each as texts → probabilities over primaries.

A variant is loaded per thread count (ONNX Runtime fixes its threads when a session opens) and
measured the same way as every other: latency at batch 1 and throughput at batch 64, on one
thread and on all cores, with `benchmarks.engine`'s timers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.engine import latency, throughput
from categorizer.cpus import usable_cpus

Probs = Callable[[Sequence[str]], np.ndarray]
Detailed = Callable[[Sequence[str]], list[str | None]]


@dataclass
class Variant:
    """One model of the comparison.

    Attributes:
        name: Row label in the report, e.g. "student (onnx int8)".
        kind: "student" or "baseline" (the teacher is not a Variant: it is not run here).
        format: How it runs, e.g. "onnx int8", "torch fp32", "tf-idf + logreg".
        load: threads → a function from model input texts to (rows, primaries) probabilities.
        size_mb: Size of its model file(s) on disk, where that means something.
        detailed: Model input texts → each one's detailed category, for a variant that
            predicts detailed categories (None for one that predicts primaries only).
    """

    name: str
    kind: str
    format: str
    load: Callable[[int], Probs]
    size_mb: float | None = None
    detailed: Detailed | None = None


def bundle_variant(name: str, kind: str, bundle: Path) -> Variant:
    """An exported bundle through `categorizer.Categorizer` (tokenizer + ONNX Runtime)."""
    from categorizer.bundle import load_bundle
    from categorizer.engine import Categorizer

    manifest = load_bundle(bundle)
    fmt = f"onnx {'fp32' if manifest.quantization == 'none' else manifest.quantization}"

    def load(threads: int) -> Probs:
        engine = Categorizer.load(bundle, threads=threads, batch_size=64)
        return lambda texts: engine.primary_probs(engine.logits(texts))

    def detailed(texts: Sequence[str]) -> list[str | None]:
        engine = Categorizer.load(bundle, threads=usable_cpus(), batch_size=64)
        return _argmax_labels(engine.logits(texts), manifest.labels)

    size = sum(f.stat().st_size for f in bundle.iterdir() if f.is_file()) / 1e6
    is_detailed = manifest.label_level == "detailed"
    return Variant(name, kind, fmt, load, round(size, 2), detailed if is_detailed else None)


def torch_variant(name: str, run: Path, manifest: Any) -> Variant:
    """The run's torch student, fp32, calibrated with its bundle's temperature."""
    from benchmarks.engine import torch_backend
    from training.distillation.evaluation import primary_probs

    infer, set_threads = torch_backend(run)
    temperature = manifest.temperature
    parent_index = None if manifest.parents is None else np.asarray(manifest.parents)

    def load(threads: int) -> Probs:
        set_threads(threads)
        return lambda texts: primary_probs(infer(texts), temperature, parent_index)

    def detailed(texts: Sequence[str]) -> list[str | None]:
        set_threads(usable_cpus())
        return _argmax_labels(infer(texts), manifest.labels)

    size = sum(f.stat().st_size for f in (run / "model").glob("*.safetensors")) / 1e6
    is_detailed = manifest.label_level == "detailed"
    return Variant(
        name, "student", "torch fp32", load, round(size, 2) or None,
        detailed if is_detailed else None,
    )  # fmt: skip


def _argmax_labels(logits: np.ndarray, labels: Sequence[str]) -> list[str | None]:
    """Each row's top label (a detailed model's logits are over detailed categories)."""
    return [labels[i] for i in np.asarray(logits).argmax(axis=1)]


def tfidf_variant(
    labels: Sequence[str], texts: Sequence[str], targets: np.ndarray, seed: int
) -> Variant:
    """TF-IDF + logistic regression fitted on the teacher's labels of the training rows."""
    from benchmarks.baselines import TfidfLogReg

    model = TfidfLogReg(labels, seed=seed).fit(texts, targets)
    return Variant("baseline: tf-idf + logreg", "baseline", "tf-idf + logreg", _fixed(model))


def zero_shot_variant(taxonomy: Any) -> Variant:
    """all-MiniLM-L6-v2 embeddings against the categories' descriptions; no training at all."""
    import torch

    from benchmarks.baselines import ZeroShotEmbedding

    model = ZeroShotEmbedding(taxonomy)

    def load(threads: int) -> Probs:
        torch.set_num_threads(threads)
        return model.predict_proba

    return Variant("baseline: zero-shot MiniLM", "baseline", "zero-shot MiniLM", load)


def _fixed(model: Any) -> Callable[[int], Probs]:
    """A loader for models with no thread setting (scikit-learn's predict is single-threaded)."""
    return lambda threads: model.predict_proba


def measure_speed(
    variant: Variant, texts: Sequence[str], calls: int, batches: int
) -> dict[str, Any]:
    """Batch-1 latency (p50/p95/p99 ms) and batch-64 throughput, on 1 thread and all cores."""
    speed: dict[str, Any] = {}
    for label, threads in (("1thread", 1), ("all", usable_cpus())):
        probs = variant.load(threads)
        timed = latency(probs, texts, calls, warmup=min(20, calls))
        speed[f"batch1_{label}"] = {k: timed[k] for k in ("p50_ms", "p95_ms", "p99_ms")}
        speed[f"batch64_tx_per_s_{label}"] = throughput(probs, texts, 64, batches)
    speed["threads_all"] = usable_cpus()
    return speed
