"""`categorizer train` as a user runs it: exit codes, the run directory, and a real SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from categorizer.ingest.data import write_frame
from categorizer.taxonomy import default_taxonomy
from training.labeling.runner import label_file
from training.labeling.teachers import make_teacher
from training.synthesis.synth import SynthConfig, generate

CLI = [str(Path(sys.executable).with_name("categorizer"))]
TINY = ["--student", "scratch:L1-H64", "--set", "vocab_size=300", "--threads", "1"]


def run(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("train")
    taxonomy = default_taxonomy()
    corpus = write_frame(
        generate(SynthConfig(n=600, seed=21, workers=1)), folder / "corpus.parquet"
    )
    labels = folder / "labels.parquet"
    teacher = make_teacher("labels:category", taxonomy, detailed_column="detailed_category")
    label_file(corpus, labels, teacher, taxonomy=taxonomy)
    other = write_frame(generate(SynthConfig(n=60, seed=22, workers=1)), folder / "other.parquet")
    mix = folder / "mix.parquet"
    label_file(other, mix, teacher, taxonomy=taxonomy)
    return {"corpus": corpus, "labels": labels, "mix": mix}


def test_train_writes_a_run_and_prints_its_figures(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(
        "train",
        "--data",
        files["labels"],
        "--out",
        out,
        *TINY,
        "--epochs",
        "1",
        "--gold-column",
        "category",
    )
    assert result.returncode == 0, result.stderr
    assert "agreement" in result.stdout
    assert "long_tail" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] is not None
    assert (out / "model" / "tokenizer.json").is_file()


def test_config_file_and_set_override_it(files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "train.toml"
    config.write_text(
        '[train]\nstudent = "scratch:L1-H64"\nvocab_size = 300\nepochs = 1\nlr = 0.002\n'
    )
    out = tmp_path / "run"
    result = run(
        "train",
        "--data",
        files["labels"],
        "--out",
        out,
        "--config",
        config,
        "--set",
        "lr=0.003",
        "--threads",
        "1",
    )
    assert result.returncode == 0, result.stderr
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["lr"] == 0.003
    assert saved["epochs"] == 1
    assert saved["student"] == "scratch:L1-H64"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "nosuch=1"], "unknown config field 'nosuch'"),
        (["--set", "alpha=2"], "alpha"),
        (["--student", "./no/such/folder"], "no/such/folder"),
        (["--label-level", "merchant"], "label_level"),
    ],
)
def test_bad_config_exits_2_naming_it(
    files: dict[str, Path], tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run(
        "train", "--data", files["labels"], "--out", tmp_path / "run", "--threads", "1", *args
    )
    assert result.returncode == 2, result.stderr
    assert expected in " ".join(result.stderr.split())


def test_unlabeled_file_exits_2_naming_the_column(files: dict[str, Path], tmp_path: Path) -> None:
    result = run("train", "--data", files["corpus"], "--out", tmp_path / "run", *TINY)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert str(files["corpus"]) in message
    assert "teacher_probs" in message


def test_taxonomy_mismatch_exits_2(files: dict[str, Path], tmp_path: Path) -> None:
    labels = tmp_path / "labels.parquet"
    labels.write_bytes(files["labels"].read_bytes())
    meta = json.loads(Path(str(files["labels"]) + ".meta.json").read_text())
    meta["taxonomy"]["hash"] = "0" * 64
    Path(str(labels) + ".meta.json").write_text(json.dumps(meta))
    result = run("train", "--data", labels, "--out", tmp_path / "run", *TINY)
    assert result.returncode == 2
    assert "taxonomy" in result.stderr


def test_mix_flags_train_on_a_second_file(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(
        "train", "--data", files["labels"], "--out", out, *TINY, "--epochs", "1",
        "--mix", files["mix"], "--mix-weight", "0.5", "--set", "dev_set=none",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "agreement with its teacher on" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mix"]["weight"] == 0.5
    assert metrics["mix"]["path"] == str(files["mix"].resolve())
    assert metrics["mix_val_agreement"] is not None
    saved = json.loads((out / "train_config.json").read_text())
    assert (saved["mix_data"], saved["mix_weight"], saved["dev_set"]) == (
        str(files["mix"]), 0.5, None
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--mix-weight", "0.5"], "pass --mix LABELED_FILE"),
        (["--mix", "MIX", "--mix-weight", "0"], "'mix_weight' must be a number > 0"),
        (["--mix", "MIX", "--set", "mix_weight=-1"], "'mix_weight' must be a number > 0"),
    ],
)
def test_bad_mix_options_exit_2(
    files: dict[str, Path], tmp_path: Path, args: list[str], expected: str
) -> None:
    args = [str(files["mix"]) if a == "MIX" else a for a in args]
    result = run("train", "--data", files["labels"], "--out", tmp_path / "run", *TINY, *args)
    assert result.returncode == 2, result.stderr
    assert expected in " ".join(result.stderr.split())
    assert not (tmp_path / "run").exists()


def test_sigkill_then_resume_ends_where_a_straight_run_ends(
    files: dict[str, Path], tmp_path: Path
) -> None:
    args = [*TINY, "--epochs", "8", "--set", "patience=8", "--lr", "0.002"]
    straight = run("train", "--data", files["labels"], "--out", tmp_path / "a", *args)
    assert straight.returncode == 0, straight.stderr

    killed = tmp_path / "b"
    state = killed / "checkpoint" / "state.json"
    command = [*CLI, "train", "--data", str(files["labels"]), "--out", str(killed), *args]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not state.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert state.is_file(), "no checkpoint was written before the kill"
    assert not (killed / "metrics.json").exists(), "the run finished before it could be killed"

    resumed = run("train", "--data", files["labels"], "--out", killed, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((killed / "metrics.json").read_text())
    assert b["test"] == a["test"]
    assert _weights(killed) == _weights(tmp_path / "a")
    epochs = [
        json.loads(line)["epoch"] for line in (killed / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == sorted(set(epochs)), "an epoch was logged twice"


def _weights(run_dir: Path) -> list[bytes]:
    from safetensors.numpy import load_file

    tensors = load_file(str(run_dir / "model" / "model.safetensors"))
    return [np.ascontiguousarray(tensors[k]).tobytes() for k in sorted(tensors)]


@pytest.mark.slow
def test_the_same_command_trains_under_torchrun_ddp(files: dict[str, Path], tmp_path: Path) -> None:
    """Two CPU processes (Gloo) share the batches; rank 0 writes the run directory."""
    out = tmp_path / "ddp"
    torchrun = Path(sys.executable).with_name("torchrun")
    command = [
        str(torchrun), "--standalone", "--nproc-per-node", "2",
        "-m", "categorizer.cli", "train", "--data", str(files["labels"]), "--out", str(out),
        *TINY, "--epochs", "2",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert metrics["epochs_run"] == 2
    assert (out / "model" / "model.safetensors").is_file()
