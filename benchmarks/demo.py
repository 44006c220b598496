"""`categorizer demo`: the whole loop offline, from a synthetic corpus to the stakeholder report.

1. synth — a synthetic corpus with ground truth (the oracle corpus);
2. teacher — SmolLM2-135M with 4 retrieved few-shot examples labeled 1,000 synthetic rows. On 2
   CPU cores that takes about 80 minutes, so the demo uses the teacher's shipped outputs
   (`benchmarks/teacher_outputs/`: the rows with their labels, the metadata of the run that
   produced them and the command that regenerates them) after checking the file is intact;
   the oracle corpus is labeled by its ground truth (`labels:category`), which is what
   distillation from a strong teacher looks like;
3. train — one student from each teacher;
4. export — both to int8 bundles (the parity gate applies);
5. bench — the report of the LLM teacher's student against its teacher, with the oracle student
   beside it (`benchmarks.bench`), and every one of them scored again on the hand-labeled real
   dev set (`data/real_dev/`), per country: the *Real bank data* section. The same teacher's
   labels of those 628 real rows are shipped too (`smollm2_fewshot_real_dev.parquet`, checked the
   same way and against the dev set's rows), so the teacher is scored on them beside the students.

Each step's time is printed. `--fast` (CI) trains on less and measures for less time.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

TEACHER_OUTPUTS = Path(__file__).parent / "teacher_outputs" / "smollm2_fewshot.parquet"
REAL_TEACHER_OUTPUTS = TEACHER_OUTPUTS.with_name("smollm2_fewshot_real_dev.parquet")


@dataclass
class DemoConfig:
    """Sizes of one demo run.

    Attributes:
        out: The output folder (corpora, labels, runs, bundles, report).
        fast: A small run for CI: fewer rows, epochs and measurements.
        seed: Seed of the oracle corpus and of training.
        rows: Rows of the oracle corpus (default 50,000; 2,000 fast).
        student: The student spec of both students.
    """

    out: Path = Path("runs/demo")
    fast: bool = False
    seed: int = 0
    rows: int | None = None
    student: str = "scratch:L2-H128"

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        if self.rows is None:
            self.rows = 2_000 if self.fast else 50_000
        if self.rows < 200:
            raise ValueError(f"--n must be at least 200 (a test split to score), got {self.rows}")


def run_demo(config: DemoConfig, console: Console) -> dict[str, Path]:
    """Run every step, print each step's time, the headline table and how to serve the bundle.

    Returns:
        The report's files (results, markdown, html, figures) by name.
    """
    out = config.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with _step("synth", timings, console):
        corpus = _synth(out, config)
    with _step("teacher labels", timings, console):
        llm_labels = shipped_teacher_labels(out / "llm_labels.parquet")
        oracle_labels = _oracle_labels(corpus, out / "oracle_labels.parquet")
        real_labels = shipped_real_labels(out / "real_dev_labels.parquet")
    with _step("train", timings, console):
        llm_run = _train(llm_labels, out / "run_llm", config, llm=True)
        oracle_run = _train(oracle_labels, out / "run_oracle", config, llm=False)
    with _step("export int8", timings, console):
        bundle = _export(llm_run, out / "bundle_llm")
        oracle_bundle = _export(oracle_run, out / "bundle_oracle")
    with _step("bench + report", timings, console):
        runs = {"run": llm_run, "bundle": bundle, "oracle": oracle_bundle}
        paths = _bench(config, out, runs, llm_labels, real_labels, console)
    console.print(headline_table(json.loads(paths["results"].read_text(encoding="utf-8"))))
    console.print("steps: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
    console.print(f"total: {sum(timings.values()):.0f} s")
    console.print(f"report: {paths['html']} (and {paths['markdown'].name}, results.json)")
    console.print(f"serve the student: categorizer serve --bundle {bundle}")
    console.print(f"the oracle student (ground-truth teacher): {oracle_bundle}")
    return paths


@contextmanager
def _step(name: str, timings: dict[str, float], console: Console) -> Iterator[None]:
    started = time.perf_counter()
    console.print(f"[bold]{name}[/bold]…")  # no live spinner: the steps show their own progress
    yield
    timings[name] = time.perf_counter() - started
    console.print(f"[green]✓[/green] {name}: {timings[name]:.1f} s")


def _synth(out: Path, config: DemoConfig) -> Path:
    from training.synthesis.commands import run_synth

    corpus = out / "corpus.parquet"
    run_synth(corpus, n=config.rows or 0, seed=config.seed)
    return corpus


def shipped_teacher_labels(out: Path, shipped: Path = TEACHER_OUTPUTS) -> Path:
    """Copy the LLM teacher's shipped outputs (rows and labels) to `out`, after checking them.

    The shipped file carries the rows the teacher labeled (its metadata's `corpus` says which
    generator made them), so the demo never depends on regenerating that corpus.

    Raises:
        ValueError: The file is not the one its metadata describes (its sha256 or row count
            differ); the message gives the command that regenerates it.
    """
    import hashlib

    from training.labeling.label_output import meta_path

    meta = json.loads(meta_path(shipped).read_text(encoding="utf-8"))
    digest = hashlib.sha256(Path(shipped).read_bytes()).hexdigest()
    if digest != meta.get("sha256"):
        raise ValueError(
            f"{shipped} is not the file its metadata describes (sha256 {digest[:12]}…, expected "
            f"{str(meta.get('sha256'))[:12]}…); regenerate it with: {meta['regenerate']}"
        )
    shutil.copyfile(shipped, out)
    meta |= {"output": str(out), "shipped_from": str(shipped)}
    meta_path(out).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return out


def shipped_real_labels(
    out: Path, shipped: Path = REAL_TEACHER_OUTPUTS, dev_set: Path | None = None
) -> Path:
    """Copy the teacher's shipped labels of the real dev set to `out`, after checking them.

    Checked like `shipped_teacher_labels`, and also against the dev set itself: its rows (and
    their human labels) must be the dev set's, in order, or the report would score the teacher
    on rows the students are not scored on.

    Raises:
        ValueError: The file is not the one its metadata describes, or it labels other rows than
            the dev set holds (the dev set changed since); the message gives the regenerate
            command.
    """
    import pandas as pd

    from training.distillation.train_config import DEFAULT_DEV_SET

    dev_set = DEFAULT_DEV_SET if dev_set is None else Path(dev_set)
    shipped_teacher_labels(out, shipped)
    labels = pd.read_parquet(out, columns=["description", "category"])
    dev = pd.read_csv(dev_set, dtype=str, keep_default_na=False)
    # `read_transactions` strips the descriptors it labels: compare stripped text
    same = len(labels) == len(dev) and all(
        (labels[c].astype(str).str.strip().to_numpy() == dev[c].str.strip().to_numpy()).all()
        for c in ("description", "category")
    )
    if not same:
        from training.labeling.label_output import meta_path

        meta = json.loads(meta_path(shipped).read_text(encoding="utf-8"))
        raise ValueError(
            f"{shipped} labels other rows than {dev_set} holds ({len(labels):,} rows, the dev "
            f"set {len(dev):,}): regenerate it with: {meta['regenerate']}"
        )
    return out


def _oracle_labels(corpus: Path, out: Path) -> Path:
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher

    teacher = make_teacher("labels:category", _taxonomy(), detailed_column="detailed_category")
    try:
        label_file(corpus, out, teacher, taxonomy=_taxonomy(), cache_path=out.with_suffix(".db"))
    finally:
        teacher.close()
    return out


def _train(data: Path, run_dir: Path, config: DemoConfig, *, llm: bool) -> Path:
    from training.distillation.distill import train
    from training.distillation.train_config import load_config

    overrides: dict[str, Any] = {
        "student": config.student,
        "gold_column": "category",
        "hard_targets": "teacher",
        "seed": config.seed,
        "batch_size": 32,
        "lr": 2e-3,
        # the oracle: 4 epochs of 50,000 rows read real descriptors better than 10 of 10,000
        # (benchmarks/results/students_*.json: more merchants, more countries' shapes)
        "epochs": 4 if not llm else (6 if config.fast else 15),
    }
    if llm:
        # 1,000 rows: keep 300 for the test split, so the report's accuracy means something.
        overrides["fractions"] = (0.6, 0.1, 0.3)
    else:  # benchmarks/results/students_20k_tdrop.json; on the 600 noisy LLM rows it did not help
        overrides["token_dropout"] = 0.15
    train(data, run_dir, load_config(None, overrides), taxonomy=_taxonomy())
    return run_dir


def _export(run_dir: Path, out: Path) -> Path:
    from training.export.to_bundle import export_run

    return export_run(run_dir, out, quantize="int8").bundle


def _bench(
    config: DemoConfig,
    out: Path,
    runs: dict[str, Path],
    labels: Path,
    real_labels: Path,
    console: Console,
) -> dict[str, Path]:
    from benchmarks.bench import BenchConfig, run_bench
    from training.labeling.label_output import meta_path

    bench = BenchConfig(
        bundle=runs["bundle"],
        out=out / "report",
        run=runs["run"],
        compare={"oracle student (onnx int8)": runs["oracle"]},
        teacher_meta=meta_path(labels),
        real_data=real_labels,
        calls=30 if config.fast else 200,
        batches=3 if config.fast else 20,
        http_seconds=1.0 if config.fast else 3.0,
        cold_repeats=1 if config.fast else 3,
        name="demo",
    )
    step: Callable[[str], None] = lambda name: console.log(f"bench: {name}")  # noqa: E731
    return run_bench(bench, step)


def headline_table(results: dict[str, Any]) -> Table:
    """The report's headline (teacher against student) as a rich table, its sentence as title."""
    from benchmarks.report.sections import headline
    from benchmarks.report.sections import headline_table as plain_table

    head = results.get("headline") or headline(results)
    plain = plain_table(head)
    table = Table(title=head["sentence"])
    for i, column in enumerate(plain.headers):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in plain.rows:
        table.add_row(*row)
    return table


def _taxonomy() -> Any:
    from categorizer.taxonomy import default_taxonomy

    return default_taxonomy()
