"""How many CPUs this process may use: the one count every thread default is taken from."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask, capped by a cgroup v2 CPU quota.

    A container limited to 2 CPUs on a 64-core host sees 64 in `os.cpu_count()`; threads sized
    by that would thrash. The quota ("200000 100000" = 2 CPUs) is what the scheduler grants.
    """
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        count = os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError):
        quota, period = _CGROUP_CPU_MAX.read_text().split()[:2]
        if quota != "max":
            count = min(count, max(1, int(int(quota) / int(period))))
    return max(1, count)
