"""`categorizer serve` in a subprocess: flags over CATEGORIZER_* variables, clean exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from benchmarks.serve_load import free_port, wait_ready

BODY = {"transactions": [{"description": "NETFLIX.COM"}] * 3}


def test_serve_reads_the_environment_and_flags_win(tiny_bundle: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "CATEGORIZER_BUNDLE": str(tmp_path / "not-a-bundle"),  # the --bundle flag wins
        "CATEGORIZER_MAX_TRANSACTIONS": "2",
        "CATEGORIZER_THREADS": "1",
    }
    command = [sys.executable, "-m", "categorizer.cli", "serve", "--bundle", str(tiny_bundle)]
    command += ["--port", str(port), "--no-access-log"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, process)
        assert httpx.post(f"{url}/v1/categorize", json=BODY, timeout=30).status_code == 413
        assert httpx.get(f"{url}/v1/model", timeout=30).json()["threads"] == 1
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    assert "the service is open" in output  # no keys configured: a warning at start


def test_serve_refuses_a_bad_bundle_with_exit_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "categorizer.cli", "serve", "--bundle", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr
