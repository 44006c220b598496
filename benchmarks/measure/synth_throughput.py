"""How fast the synthetic corpus generates: rows/s for 1,000,000 rows, written to Parquet.

Run with `make bench` or `python -m benchmarks.measure.synth_throughput --n 1000000`. The target is
1,000,000 rows in 60 s or less on 2 cores. Results go to benchmarks/results/synth_throughput.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_info
from benchmarks.measure import RESULTS
from categorizer.ingest.data import write_frame
from training.synthesis.synth import SynthConfig, generate


def measure(n: int, seed: int, workers: int | None) -> dict:
    """Generate `n` rows and write them to Parquet, timing both."""
    config = SynthConfig(n=n, seed=seed, workers=workers)
    started = time.perf_counter()
    frame = generate(config)
    generated = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.parquet"
        write_frame(frame, path)
        total = time.perf_counter() - started
        size = path.stat().st_size
    return {
        "rows": n,
        "workers": workers or "auto",
        "generate_s": round(generated, 2),
        "total_s": round(total, 2),
        "rows_per_s": round(n / total),
        "parquet_mb": round(size / 1e6, 1),
        "distinct_merchants": int(frame["merchant"].nunique()),
        "distinct_descriptions": int(frame["description"].nunique()),
        "target_s": 60,
        "meets_target": total * 1_000_000 / n <= 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    result = measure(args.n, args.seed, args.workers)
    result["machine"] = machine_info()
    result["date"] = dt.date.today().isoformat()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "synth_throughput.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
