"""One-off measurements behind the README's tables and the choices they made (which student
ships, which teacher mode): each writes its figures to ``benchmarks/results/``. Not part of the
product's `categorizer bench`/`demo` (the rest of `benchmarks/`), and not in the wheel.

    python -m benchmarks.measure.students --rows 100000 --student scratch:L2-H128
"""

from pathlib import Path

RESULTS = Path(__file__).resolve().parents[1] / "results"
"""Where every measurement writes its JSON (the one place they share)."""
