"""`categorizer export` as a user runs it: the installed console script, exit codes, the bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from categorizer.bundle import load_bundle

CLI = [str(Path(sys.executable).with_name("categorizer"))]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # keep rich from wrapping messages mid-word
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, env=env, timeout=300
    )


def test_export_writes_a_bundle_and_prints_its_figures(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = run("export", "--run", tiny_run, "--out", out, "--version", "7", "--max-rows", "20")
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json", "model.onnx", "taxonomy.yaml", "tokenizer.json",
    ]  # fmt: skip
    manifest = load_bundle(out)
    assert manifest.version == "7"
    assert manifest.quantization == "int8"
    assert manifest.parity["rows"] == 20
    for figure in ("int8 agreement", "fp32 agreement", "size: bundle", str(out)):
        assert figure in result.stdout, figure
    assert "Warning" not in result.stderr


def test_a_missing_run_directory_exits_2(tmp_path: Path) -> None:
    result = run("export", "--run", tmp_path / "nope", "--out", tmp_path / "bundle")
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"run directory {tmp_path / 'nope'} does not exist" in message
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bundle").exists()


def test_a_run_without_student_json_exits_2(tiny_run: Path, tmp_path: Path) -> None:
    broken = Path(shutil.copytree(tiny_run, tmp_path / "run"))
    (broken / "student.json").unlink()
    result = run("export", "--run", broken, "--out", tmp_path / "bundle")
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert f"{broken / 'student.json'} is missing" in message
    assert not (tmp_path / "bundle").exists()


def test_a_bad_quantize_value_exits_2(tiny_run: Path, tmp_path: Path) -> None:
    result = run("export", "--run", tiny_run, "--out", tmp_path / "b", "--quantize", "int4")
    assert result.returncode == 2
    assert "--quantize" in result.stderr


def test_help_shows_an_example() -> None:
    result = run("export", "--help")
    assert result.returncode == 0
    assert "Example: categorizer export --run" in " ".join(result.stdout.split())
