"""The SQLite answer cache: keys, round trips, failures never cached, durability across SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from categorizer.ingest.data import DataError
from training.labeling.teacher_cache import LabelCache, cache_key
from training.labeling.teachers.base import TeacherResult


def result(i: int = 0) -> TeacherResult:
    probs = [0.0] * 16
    probs[i % 16] = 1.0
    return TeacherResult(probs=probs, label_mass=0.9, prompt_tokens=120, completion_tokens=1)


def test_cache_key_depends_on_every_part_and_resists_concatenation() -> None:
    base = cache_key("hf:smollm2", "1/tax-abc", "STARBUCKS | debit")
    assert base == cache_key("hf:smollm2", "1/tax-abc", "STARBUCKS | debit")
    assert len(base) == 64
    assert int(base, 16) >= 0
    assert base != cache_key("hf:other", "1/tax-abc", "STARBUCKS | debit")
    assert base != cache_key("hf:smollm2", "2/tax-abc", "STARBUCKS | debit")
    assert base != cache_key("hf:smollm2", "1/tax-abc", "STARBUCKS | credit")
    assert cache_key("ab", "c", "d") != cache_key("a", "bc", "d")


def test_round_trip_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "cache.sqlite"
    with LabelCache(path) as cache:
        written = cache.put_many(
            {"k1": result(1), "k2": result(2)}, teacher="t", prompt_version="v"
        )
        assert written == 2
        assert len(cache) == 2
    with LabelCache(path) as cache:
        found = cache.get_many(["k1", "k2", "missing"])
    assert set(found) == {"k1", "k2"}
    assert found["k1"] == result(1)
    row = sqlite3.connect(path).execute("SELECT teacher, prompt_version FROM labels").fetchone()
    assert row == ("t", "v")


def test_failed_results_are_not_cached(tmp_path: Path) -> None:
    with LabelCache(tmp_path / "c.sqlite") as cache:
        written = cache.put_many(
            [("ok", result()), ("bad", TeacherResult.failure("answer 'Z' is not a code"))]
        )
        assert written == 1
        assert set(cache.get_many(["ok", "bad"])) == {"ok"}


def test_many_keys_are_looked_up_in_chunks(tmp_path: Path) -> None:
    keys = [f"key{i}" for i in range(1_234)]
    with LabelCache(tmp_path / "c.sqlite") as cache:
        cache.put_many((k, result(i)) for i, k in enumerate(keys))
        found = cache.get_many([*keys, "nope", keys[0]])
    assert len(found) == 1_234
    assert found["key17"].probs[17 % 16] == 1.0


def test_uses_wal_journal(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    LabelCache(path).close()
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_not_a_database_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.parquet"
    path.write_bytes(b"PAR1 this is not sqlite at all" * 100)
    with pytest.raises(DataError, match=r"labels\.parquet.*not a usable label cache"):
        LabelCache(path)


def test_closed_cache_refuses_use(tmp_path: Path) -> None:
    cache = LabelCache(tmp_path / "c.sqlite")
    cache.close()
    cache.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        len(cache)


def test_a_committed_batch_survives_sigkill(tmp_path: Path) -> None:
    """put_many has committed when it returns: killing the writer right after loses nothing."""
    path = tmp_path / "c.sqlite"
    script = textwrap.dedent(
        f"""
        import sys, time
        from training.labeling.teacher_cache import LabelCache
        from training.labeling.teachers.base import TeacherResult
        cache = LabelCache({str(path)!r})
        cache.put_many({{f"k{{i}}": TeacherResult(probs=[1.0]) for i in range(50)}})
        print("committed", flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "committed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    with LabelCache(path) as cache:
        assert len(cache) == 50
