"""`categorizer bench`: accuracy, speed and cost of a student against its teacher, as a report.

For a bundle (and, optionally, the training run it came from) on a held-out set — a labeled
file, a gold-only file such as the real dev set, or the run's test split (`benchmarks.eval_set`):

* accuracy of every variant — the teacher (its labels in the file, when it has them), the
  student as ONNX int8, ONNX fp32 and torch fp32, any bundles given to compare, and two
  baselines trained on the run's training rows (TF-IDF + logistic regression; zero-shot MiniLM
  embeddings) — against gold and against the teacher, with per-category figures, calibration,
  the abstain curve, detailed accuracy where gold has detailed labels and figures per country
  where the rows have a country;
* speed of every variant in this process (batch 1 latency, batch 64 throughput, 1 thread and all
  cores), HTTP latency through a real `categorizer serve`, cold start and peak memory, and the
  throughput of a plain transformers pipeline on the same student;
* cost per million transactions from the teacher's label metadata (tokens or seconds) and the
  student's measured CPU-seconds (`benchmarks.cost`);
* with `--real-data`, every variant (and the teacher, for a teacher's labels of the file) scored
  again on hand-labeled real bank descriptors, per country (`benchmarks.real_data`).

`benchmarks.report.page.write_report` turns the result into results.json, report.md and report.html.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.real_data import load_real_set, real_block, teacher_entry, variant_entry
from benchmarks.system_figures import system_figures
from benchmarks.variants import Variant, measure_speed
from categorizer.cpus import usable_cpus

logger = logging.getLogger(__name__)
Step = Callable[[str], None]


@dataclass
class BenchConfig:
    """What to benchmark and how long to measure.

    Attributes:
        bundle: The student's bundle (the headline student).
        out: The report folder (created).
        data: A held-out file: labeled (`categorizer label` output) or gold-only (description
            and gold primary labels, e.g. data/real_dev/real_dev.csv); default: the test split
            of `run`'s labeled data.
        run: The training run of the bundle: adds torch fp32, ONNX fp32, the baselines (trained
            on its train split) and the pipeline comparison.
        compare: More bundles to score, by display name.
        teacher_meta: The label run's metadata (default: DATA.meta.json when it exists).
        gold_column: Gold primary labels (default: "category" when the file has it).
        calls: Batch-1 calls per variant and thread count.
        batches: Batch-64 calls per variant and thread count.
        http_seconds: Seconds per HTTP load phase; 0 skips the HTTP measurement.
        baselines: Train and score the baselines (needs `run`).
        cold_repeats: Fresh interpreters for the cold-start median.
        prices: Keyword arguments for `benchmarks.cost.cost_report` (API prices, hourly prices).
        name: The report's name (default: the out folder's name).
        real_data: Hand-labeled real rows (the real dev set, or a teacher's labels of it that
            kept its gold ``category``): every variant is scored on them too, per country, for
            the report's *Real bank data* section (`benchmarks.real_data`).
    """

    bundle: Path
    out: Path
    data: Path | None = None
    run: Path | None = None
    compare: dict[str, Path] = field(default_factory=dict)
    teacher_meta: Path | None = None
    gold_column: str | None = None
    calls: int = 200
    batches: int = 20
    http_seconds: float = 3.0
    baselines: bool = True
    cold_repeats: int = 3
    prices: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    real_data: Path | None = None

    def __post_init__(self) -> None:
        self.bundle, self.out = Path(self.bundle), Path(self.out)
        if not (self.bundle / "manifest.json").is_file():
            raise ValueError(f"--bundle {self.bundle} is not a bundle (no manifest.json)")
        if self.data is None and self.run is None:
            raise ValueError("give --data LABELED_FILE, or --run RUN_DIR to use its test split")
        paths = (("--data", self.data), ("--teacher-meta", self.teacher_meta),
                 ("--real-data", self.real_data))  # fmt: skip
        for name, path in paths:
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name} {path} does not exist")
        if self.run is not None and not (Path(self.run) / "student.json").is_file():
            raise ValueError(f"--run {self.run} is not a training run (no student.json)")
        if self.calls < 1 or self.batches < 1 or self.cold_repeats < 1 or self.http_seconds < 0:
            raise ValueError("calls, batches and cold_repeats must be >= 1; http_seconds >= 0")


def run_bench(config: BenchConfig, step: Step | None = None) -> dict[str, Path]:
    """Measure everything and write the report; returns the written files by name."""
    from benchmarks.report.page import write_report

    results = measure(config, step or (lambda name: None))
    (step or (lambda name: None))("report")
    return write_report(results, config.out)


def measure(config: BenchConfig, step: Step) -> dict[str, Any]:
    """Every figure of the report, as the `benchmarks.report.page` results dict."""
    from benchmarks.machine import machine_info
    from categorizer.bundle import load_bundle

    step("data")
    manifest = load_bundle(config.bundle)
    taxonomy = _taxonomy(config.bundle)
    # the run's labeled data, read once: its test split may be the evaluation set, and its
    # train split is what the baselines learn from
    run_data = _run_data(Path(config.run), taxonomy) if config.run is not None else None
    evalset = _eval_set(config, taxonomy, run_data)
    texts = evalset.texts
    teacher = teacher_info(config.teacher_meta or _meta_beside(evalset.path))
    student_name = f"student ({'onnx fp32' if manifest.quantization == 'none' else 'onnx int8'})"
    variants_out = _teacher_variant(evalset, teacher, taxonomy)
    real, real_teacher, real_out = _real_set(config, taxonomy)
    with tempfile.TemporaryDirectory() as tmp:
        variants = _variants(config, manifest, student_name, taxonomy, run_data, Path(tmp), step)
        for variant in variants:
            step(f"score {variant.name}")
            predict = variant.load(usable_cpus())
            probs = predict(texts)
            detailed = variant.detailed(texts) if variant.detailed is not None else None
            if real is not None:
                real_out.append(variant_entry(real, variant.name, variant.kind, predict,
                                              variant.detailed, taxonomy.labels))  # fmt: skip
            speed_texts = texts if len(texts) >= 64 else (texts * (64 // len(texts) + 1))
            variants_out.append(
                {
                    "name": variant.name,
                    "kind": variant.kind,
                    "format": variant.format,
                    "accuracy": evalset.score(probs, taxonomy.labels, detailed),
                    "speed": measure_speed(variant, speed_texts, config.calls, config.batches),
                    "size_mb": variant.size_mb,
                }
            )
    student = next(v for v in variants_out if v["name"] == student_name)
    results: dict[str, Any] = {
        "format": "bench-report/1",
        "name": config.name or config.out.name,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "data": evalset.summary(),
        "teacher": teacher,
        "variants": variants_out,
        "student": student_name,
        "bundle": {"path": str(config.bundle), "name": manifest.name, "version": manifest.version},
    }
    if real is not None:
        results["real_data"] = real_block(real, real_teacher, real_out)
    results |= system_figures(
        config.bundle, config.run, student, texts, step,
        http_seconds=config.http_seconds, cold_repeats=config.cold_repeats, batches=config.batches,
    )  # fmt: skip
    step("cost")
    from benchmarks.cost import cost_report

    results["cost"] = cost_report(
        teacher,
        _cpu_seconds_per_tx(student["speed"]),
        teacher_vcpus=teacher.get("vcpus"),
        teacher_on_gpu="cuda" in str(teacher.get("device") or ""),
        **config.prices,
    )
    results["load_average"] = round(os.getloadavg()[0], 2)
    return results


def _teacher_variant(evalset: Any, teacher: dict[str, Any], taxonomy: Any) -> list[dict[str, Any]]:
    """The teacher's labels in the file, scored as the first variant; none in a gold-only file."""
    if evalset.teacher_probs is None:
        return []
    detailed = evalset.teacher_detailed
    return [
        {
            "name": f"teacher ({teacher['id']})",
            "kind": "teacher",
            "format": teacher["kind"],
            "accuracy": evalset.score(
                evalset.teacher_probs, taxonomy.labels, None if detailed is None else list(detailed)
            ),
            "speed": None,
            "size_mb": None,
        }
    ]


def _variants(
    config: BenchConfig,
    manifest: Any,
    student_name: str,
    taxonomy: Any,
    run_data: Any,
    tmp: Path,
    step: Step,
) -> list[Variant]:
    """The student bundle, what the run adds (fp32 export, torch, baselines), the comparisons."""
    from benchmarks.variants import bundle_variant, tfidf_variant, torch_variant, zero_shot_variant

    variants = [bundle_variant(student_name, "student", config.bundle)]
    if config.run is not None:
        from training.export.to_bundle import export_run

        other = "int8" if manifest.quantization == "none" else "none"
        step(f"export {other}")
        extra = export_run(config.run, tmp / f"bundle_{other}", quantize=other).bundle
        variants.append(bundle_variant(f"student (onnx {other.replace('none', 'fp32')})",
                                       "student", extra))  # fmt: skip
        variants.append(torch_variant("student (torch fp32)", Path(config.run), manifest))
    variants += [bundle_variant(name, "student", path) for name, path in config.compare.items()]
    if run_data is None and config.baselines:
        logger.info("no baselines: they train on the run's training rows; pass --run RUN_DIR")
    if run_data is not None and config.baselines:
        step("train baselines")
        idx = run_data.subset("train")
        targets = run_data.teacher_probs[idx].argmax(axis=1)
        texts = [run_data.texts[i] for i in idx]
        variants.append(tfidf_variant(taxonomy.labels, texts, targets, 0))
        variants.append(zero_shot_variant(taxonomy))
    return variants


def teacher_info(meta_path: Path | None) -> dict[str, Any]:
    """The teacher's identity, latency and tokens per transaction, from its label metadata.

    Seconds and tokens are per teacher call (cache hits cost nothing and are left out).
    """
    if meta_path is None:
        return {
            "id": "unknown", "prompt_version": None, "kind": "unknown", "seconds_per_tx": None,
            "prompt_tokens_per_tx": None, "completion_tokens_per_tx": None, "hardware": None,
            "source": "no label metadata (pass --teacher-meta LABELS.meta.json)",
        }  # fmt: skip
    meta = json.loads(Path(meta_path).read_text(encoding="utf-8"))
    calls = meta.get("teacher_calls") or 0
    teacher_id = str(meta.get("teacher", "unknown"))
    kind = {"hf": "local", "openai": "api", "labels": "labels"}.get(teacher_id.split(":")[0])

    def per_call(key: str) -> float | None:
        return round(meta[key] / calls, 4) if calls and meta.get(key) else None

    return {
        "id": teacher_id,
        "prompt_version": meta.get("prompt_version"),
        "kind": kind or "unknown",
        "seconds_per_tx": per_call("teacher_seconds"),
        "prompt_tokens_per_tx": per_call("prompt_tokens"),
        "completion_tokens_per_tx": per_call("completion_tokens"),
        "hardware": meta.get("hardware"),
        "vcpus": meta.get("vcpus"),
        "device": meta.get("device") or None,
        "rows": meta.get("rows"),
        "source": f"label metadata {Path(meta_path).name} ({calls:,} teacher calls)",
    }


def _cpu_seconds_per_tx(speed: dict[str, Any]) -> float:
    """CPU-seconds per transaction at batch 64: the dearer of 1 thread and all cores."""
    one = 1.0 / speed["batch64_tx_per_s_1thread"]
    every = speed["threads_all"] / speed["batch64_tx_per_s_all"]
    return max(one, every)


def _taxonomy(bundle: Path) -> Any:
    from categorizer.taxonomy import load_taxonomy

    return load_taxonomy(bundle / "taxonomy.yaml")


def _eval_set(config: BenchConfig, taxonomy: Any, run_data: Any) -> Any:
    """The evaluation rows: all of --data, or the run's test split."""
    from benchmarks.eval_set import load_eval_set, run_test_split

    if config.data is not None:
        return load_eval_set(Path(config.data), taxonomy, config.gold_column)
    return run_test_split(run_data, Path(_run_student(Path(config.run))["data_path"]))


def _real_set(config: BenchConfig, taxonomy: Any) -> tuple[Any, dict[str, Any], list[Any]]:
    """The real rows (None without --real-data), their teacher, and its scored entry if any."""
    if config.real_data is None:
        return None, {}, []
    real = load_real_set(Path(config.real_data), taxonomy)
    teacher = teacher_info(_meta_beside(real.path))
    return real, teacher, teacher_entry(real, teacher["id"], taxonomy.labels)


def _run_data(run: Path, taxonomy: Any) -> Any:
    """The run's labeled data, split (and mixed) exactly as training did."""
    from benchmarks.eval_set import load_run_data
    from training.distillation.train_config import load_config

    config = load_config(run / "train_config.json")
    return load_run_data(run, config, Path(_run_student(run)["data_path"]), taxonomy)


def _run_student(run: Path) -> dict[str, Any]:
    from training.distillation.run_info import read_student

    return read_student(run)


def _meta_beside(data_path: Path) -> Path | None:
    from training.labeling.label_output import meta_path

    meta = meta_path(data_path)
    return meta if meta.is_file() else None


def parse_bench_options(
    prices: list[str] | None,
    vcpu_hour_usd: float | None,
    gpu_hour_usd: float | None,
    compare: list[str] | None,
) -> tuple[dict[str, Any], dict[str, Path]]:
    """The CLI's price and --compare options as `cost_report` keywords and named bundles.

    Raises:
        ValueError: A malformed NAME=DIR or price spec.
    """
    from benchmarks.cost import parse_price

    options: dict[str, Any] = {}
    if prices:
        options["api_prices"] = tuple(parse_price(spec) for spec in prices)
    if vcpu_hour_usd is not None:
        options["vcpu_hour_usd"] = vcpu_hour_usd
    if gpu_hour_usd is not None:
        options["gpu_hour_usd"] = gpu_hour_usd
    pairs: dict[str, Path] = {}
    for spec in compare or []:
        name, sep, path = spec.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"--compare expects NAME=BUNDLE_DIR, got {spec!r}")
        pairs[name.strip()] = Path(path.strip())
    return options, pairs
