"""The `categorizer` command line, run as a user runs it: the installed console script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from training.synthesis.synth import COLUMNS

CLI = [str(Path(sys.executable).with_name("categorizer"))]


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # keep rich from wrapping messages mid-word
    return subprocess.run(
        [*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, timeout=300
    )


GOOD_CSV = """Date,Memo,Amount,Currency
2025-01-02,STARBUCKS STORE 1234 SEATTLE WA,-5.75,USD
2025-01-03,PAYROLL ACME CORP,"2,500.00",USD
2025-01-04,TESCO STORES 3217,(12.40),GBP
2025-01-05,AMAZON.COM*2K4L,-23.99,USD
2025-01-06,REFUND AMAZON.COM,12.00 CR,USD
2025-01-07,UBER TRIP HELP.UBER.COM,-14.20,USD
"""


def test_the_command_line_starts_without_heavy_imports() -> None:
    # `categorizer --help` and every typer choice load before any subcommand runs
    code = "import sys, categorizer.cli; print(*(m for m in sys.argv[1:] if m in sys.modules))"
    heavy = ("numpy", "pandas", "torch", "transformers", "onnxruntime", "fastapi")
    out = subprocess.run([sys.executable, "-c", code, *heavy], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_help_lists_every_registered_command() -> None:
    from typer.testing import CliRunner

    from categorizer.cli import app

    names = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    assert len(names) == len(app.registered_commands) == 11
    result = run("--help")
    assert result.returncode == 0
    listed = " ".join(result.stdout.split())
    runner = CliRunner()
    for name in names:
        assert f" {name} " in listed, name
        # each command's own help works too
        own = runner.invoke(app, [name, "--help"], env={"COLUMNS": "200"})
        assert own.exit_code == 0, (name, own.output)
        assert "Usage:" in own.output


def test_validate_a_good_file(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    result = run("validate", path, "--columns", "description=Memo")
    assert result.returncode == 0, result.stderr
    assert "6" in result.stdout
    for expected in ("USD", "GBP", "2025-01-02", "2025-01-07"):
        assert expected in result.stdout


def test_validate_missing_description_column_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "nodesc.csv"
    path.write_text("Date,Amount\n2025-01-02,-5.75\n", encoding="utf-8")
    result = run("validate", path)
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "nodesc.csv" in message
    assert "description" in message


def test_validate_non_numeric_amount_names_line_7(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    rows = GOOD_CSV.splitlines()
    rows[6] = "2025-01-07,UBER TRIP HELP.UBER.COM,abc,USD"  # physical line 7
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run("validate", path, "--columns", "description=Memo")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "bad.csv" in message
    assert "line 7" in message
    assert "amount" in message


def test_validate_skip_bad_rows_writes_rejects(tmp_path: Path) -> None:
    rows = GOOD_CSV.splitlines()
    rows[6] = "2025-01-07,UBER TRIP HELP.UBER.COM,abc,USD"
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    result = run(
        "validate", path, "--columns", "description=Memo", "--skip-bad-rows", "--rejects", rejects
    )
    assert result.returncode == 0, result.stderr
    assert rejects.exists()
    assert len(pd.read_csv(rejects)) == 1


def test_validate_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = run("validate", tmp_path / "nope.csv")
    assert result.returncode == 2
    assert "nope.csv" in result.stderr


@pytest.mark.slow
def test_synth_100k_has_every_primary_and_800_merchants(tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    result = run("synth", "--n", "100000", "--seed", "1", "--out", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_parquet(out)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 100_000
    assert frame["category"].nunique() == 16
    assert frame["merchant"].nunique() >= 800


def test_synth_writes_csv(tmp_path: Path) -> None:
    out = tmp_path / "small.csv"
    result = run("synth", "--n", "500", "--seed", "2", "--out", out)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(out)
    assert tuple(frame.columns) == COLUMNS
    assert len(frame) == 500
    # What synth writes, validate accepts.
    assert run("validate", out).returncode == 0


def test_synth_rejects_a_bad_n(tmp_path: Path) -> None:
    result = run("synth", "--n", "0", "--out", tmp_path / "x.csv")
    assert result.returncode == 2
    assert "--n" in result.stderr


def test_a_missing_extra_is_named_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    import typer

    from categorizer.cli.common import handle_errors

    @handle_errors
    def needs_pandas() -> None:
        # a module missing from the environment cannot be produced here for real
        raise ImportError("No module named 'pandas'")

    with pytest.raises(typer.Exit) as exit_info:
        needs_pandas()
    assert exit_info.value.exit_code == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "No module named 'pandas'" in err
    assert 'pip install "txn-categorizer[train]" (or [serve], [scale], [all])' in err
