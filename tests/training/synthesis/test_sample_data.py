"""The committed sample corpus is exactly what its documented command regenerates."""

from __future__ import annotations

from pathlib import Path

from training.synthesis.commands import run_synth

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample_5k.csv"


def test_sample_regenerates_byte_for_byte(tmp_path: Path) -> None:
    # data/README.md: categorizer synth --n 5000 --seed 42 --out data/sample_5k.csv
    out = tmp_path / "sample_5k.csv"
    run_synth(out=out, n=5_000, seed=42, workers=1)
    assert out.read_bytes() == SAMPLE.read_bytes(), (
        "data/sample_5k.csv is stale: the generator changed. Regenerate it with the command in "
        "data/README.md and commit it."
    )
