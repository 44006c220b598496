"""`label --engine ray`: teacher replicas in Ray actors, the driver the cache's only writer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.runner import label_file, meta_path
from training.labeling.teacher_cache import LabelCache
from training.labeling.teachers import make_teacher
from training.synthesis.synth import SynthConfig, generate

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated.*:DeprecationWarning:ray")
CLI = [str(Path(sys.executable).with_name("categorizer"))]

TAXONOMY = default_taxonomy()
N = 300
OPTIONS: dict[str, Any] = {"detailed_column": "detailed_category", "batch_size": 20}


@pytest.fixture(scope="module")
def runtime() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    generate(SynthConfig(n=N, seed=11)).to_parquet(path, index=False)
    return path


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "label", *map(str, args)], capture_output=True, text=True, timeout=300
    )


def test_cli_ray_options_need_the_ray_engine(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.parquet"
    args = ("--input", corpus, "--teacher", "labels:category", "--out", out)
    for extra in (("--actors", "2"), ("--ray-address", "auto"), ("--engine", "spark")):
        done = cli(*args, *extra)
        assert done.returncode == 2, done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_cli_label_engine_ray(corpus: Path, tmp_path: Path) -> None:
    """Run first in this file: the command starts (and stops) a Ray runtime of its own."""
    out = tmp_path / "labels.parquet"
    args = ("--input", corpus, "--teacher", "labels:category", "--out", out, "--limit", "50")
    done = cli(*args, "--engine", "ray", "--actors", "2", "--detailed-column", "detailed_category")
    assert done.returncode == 0, done.stderr
    assert "ray, 2 actor(s)" in " ".join(done.stdout.split())
    meta = json.loads(meta_path(out).read_text())
    assert (meta["engine"], meta["actors"], meta["rows"]) == ("ray", 2, 50)
    assert (pd.read_parquet(out)["teacher_status"] == "ok").all()


def ray_label(corpus: Path, out: Path, **options: Any) -> Any:
    from training.labeling.ray_label import ray_label_file

    return ray_label_file(
        corpus, out, "labels:category", teacher_options=OPTIONS, actors=2, **options
    )


@pytest.mark.slow
def test_same_output_as_local_and_rerun_is_free(
    runtime: None, corpus: Path, tmp_path: Path
) -> None:
    local = tmp_path / "local.parquet"
    label_file(corpus, local, make_teacher("labels:category", TAXONOMY, **OPTIONS))
    out = tmp_path / "ray.parquet"
    summary = ray_label(corpus, out)
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(local))
    assert summary.rows == N
    assert summary.failed == 0
    assert summary.teacher_calls + summary.duplicates == N
    assert summary.batches > 2
    meta = json.loads(meta_path(out).read_text())
    assert (meta["engine"], meta["actors"]) == ("ray", 2)
    assert json.loads(meta_path(local).read_text())["engine"] == "local"

    again = ray_label(corpus, out)
    assert again.teacher_calls == 0
    assert again.batches == 0
    assert again.cache_hits == N
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(local))


class Interrupted(Exception):
    pass


@pytest.mark.slow
def test_a_failure_loses_nothing_committed_and_pays_nothing_twice(
    runtime: None, corpus: Path, tmp_path: Path
) -> None:
    out = tmp_path / "ray.parquet"
    seen: list[int] = []

    def stop_midway(done: int, total: int) -> None:
        seen.append(done)
        if done >= total // 3:
            raise Interrupted  # the driver dies with batches still in flight on both actors

    with pytest.raises(Interrupted):
        ray_label(corpus, out, progress=stop_midway)
    assert not out.exists()
    with LabelCache(out.with_name(out.name + ".cache.sqlite")) as cache:
        committed = len(cache)
    full = ray_label(corpus, tmp_path / "reference.parquet")
    distinct = full.teacher_calls
    assert 0 < committed < distinct
    assert seen[-1] >= N // 3

    rerun = ray_label(corpus, out)
    assert rerun.teacher_calls == distinct - committed  # only the rest is paid for
    assert rerun.cache_hits >= committed
    assert rerun.failed == 0
    pd.testing.assert_frame_equal(
        pd.read_parquet(out), pd.read_parquet(tmp_path / "reference.parquet")
    )
