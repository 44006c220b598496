"""`usable_cpus`: the affinity mask, capped by a cgroup v2 CPU quota."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from categorizer import cpus

AFFINITY = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def test_counts_at_most_the_machines_cpus() -> None:
    assert 1 <= cpus.usable_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [
        ("100000 100000\n", 1),  # one CPU's worth of quota
        ("50000 100000\n", 1),  # half a CPU still gets one thread
        ("max 100000\n", AFFINITY),  # no quota
        ("garbage", AFFINITY),  # unreadable: no cap
        (None, AFFINITY),  # no cgroup v2 file
    ],
)
def test_a_cgroup_quota_caps_the_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpu_max: str | None, expected: int
) -> None:
    path = tmp_path / "cpu.max"
    if cpu_max is not None:
        path.write_text(cpu_max, encoding="utf-8")
    monkeypatch.setattr(cpus, "_CGROUP_CPU_MAX", path)
    assert cpus.usable_cpus() == expected
