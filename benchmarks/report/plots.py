"""The benchmark report's figures, as PNG bytes (so a report can embed or write them).

Every function draws one figure from the results dict's own blocks (variants, a confusion
matrix, reliability bins, coverage points) and returns its PNG; none keeps a figure open.
Matplotlib is imported inside the functions with the Agg backend, so importing this module
costs nothing and no display is needed.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

_DPI = 110
_MARKERS = {"teacher": "*", "student": "o", "baseline": "s"}


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure: Any) -> bytes:
    """The figure as PNG bytes; the figure is closed either way."""
    plt = _pyplot()
    try:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI, bbox_inches="tight")
        return buffer.getvalue()
    finally:
        plt.close(figure)


def _score(variant: Mapping[str, Any]) -> tuple[float | None, str]:
    """Accuracy against gold, or agreement with the teacher when there is no gold."""
    accuracy = variant.get("accuracy") or {}
    if accuracy.get("accuracy") is not None:
        return accuracy["accuracy"], "accuracy"
    return accuracy.get("agreement"), "agreement with the teacher"


def _latency_ms(variant: Mapping[str, Any], teacher_latency_ms: float | None) -> float | None:
    if variant.get("kind") == "teacher":
        return teacher_latency_ms
    speed = variant.get("speed") or {}
    return (speed.get("batch1_all") or {}).get("p50_ms")


def _ms(latency: float) -> str:
    return f"{latency:,.0f} ms" if latency >= 100 else f"{latency:.2g} ms"


def accuracy_vs_latency(
    variants: Sequence[Mapping[str, Any]], teacher_latency_ms: float | None
) -> bytes:
    """Accuracy (or agreement) against latency per transaction, one labeled point per variant.

    Args:
        variants: the results' variants; those without a score or a latency are left out.
        teacher_latency_ms: the teacher's milliseconds per transaction (its variant has no
            ``speed`` block).

    Returns:
        The PNG; x is p50 latency at batch 1 on all threads, on a log scale.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7, 4.5))
    plotted, metrics = 0, set()
    for variant in variants:
        (score, metric), latency = _score(variant), _latency_ms(variant, teacher_latency_ms)
        if score is None or latency is None or latency <= 0:
            continue
        metrics.add(metric)
        marker = _MARKERS.get(str(variant.get("kind")), "o")
        # A legend, not labels beside the points: the students sit within a fraction of a
        # millisecond and a point of each other, where labels overlap into an unreadable blot.
        axes.scatter(
            latency, score, marker=marker, s=120 if marker == "*" else 60, zorder=3,
            label=f"{variant.get('name', '?')} ({_ms(latency)}, {score:.1%})",
        )  # fmt: skip
        plotted += 1
    if plotted:
        axes.set_xscale("log")
        # below the axes: inside, it can hide a point (the oracle student sits top left)
        axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    else:
        axes.text(0.5, 0.5, "no variant has both a latency and a score", ha="center",
                  transform=axes.transAxes)  # fmt: skip
    axes.set_xlabel("latency per transaction, p50 at batch 1, all threads (ms, log scale)")
    axes.set_ylabel(" / ".join(sorted(metrics)) or "accuracy")
    axes.grid(True, which="both", alpha=0.3)
    axes.set_title("Accuracy against latency")
    return _png(figure)


def confusion_matrix(confusion: Mapping[str, Any]) -> bytes:
    """A row-normalised confusion matrix with the counts written in the cells.

    Args:
        confusion: ``{"labels": [...], "matrix": [[count, ...], ...]}``, rows the reference
            label, columns the predicted one.

    Returns:
        The PNG.

    Raises:
        ValueError: a matrix that is not square with one row per label.
    """
    import numpy as np

    labels = [str(label) for label in confusion.get("labels", [])]
    counts = np.asarray(confusion.get("matrix", []), dtype=float)
    if not labels or counts.shape != (len(labels), len(labels)):
        raise ValueError(
            f"the confusion matrix must be {len(labels)}×{len(labels)} (one row and column per "
            f"label), got shape {counts.shape}: pass the variant's accuracy['confusion']"
        )
    totals = counts.sum(axis=1, keepdims=True)
    # Rows without support stay 0 rather than dividing by zero.
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    plt = _pyplot()
    side = max(4.0, 0.55 * len(labels) + 2)
    figure, axes = plt.subplots(figsize=(side + 1, side))
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the row")
    ticks = range(len(labels))
    axes.set_xticks(ticks, labels, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(ticks, labels, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("reference")
    if len(labels) <= 30:  # counts in every cell become unreadable beyond this
        for row in ticks:
            for column in ticks:
                color = "white" if shares[row, column] > 0.5 else "black"
                axes.text(column, row, f"{int(counts[row, column])}", ha="center", va="center",
                          fontsize=7, color=color)  # fmt: skip
    axes.set_title("Confusion matrix (rows normalised)")
    return _png(figure)


def reliability_diagram(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """Mean confidence against accuracy per confidence bin, for each named variant.

    Args:
        curves: variant name → its reliability bins (``confidence`` and ``accuracy``; bins
            where either is None, i.e. empty bins, are left out).

    Returns:
        The PNG, with the diagonal of perfect calibration.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, bins in curves.items():
        points = [
            (b["confidence"], b["accuracy"])
            for b in bins
            if b.get("confidence") is not None and b.get("accuracy") is not None
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            axes.plot(xs, ys, marker="o", label=str(name))
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("mean confidence in the bin")
    axes.set_ylabel("accuracy in the bin")
    axes.legend(fontsize=8, loc="upper left")
    axes.grid(True, alpha=0.3)
    axes.set_title("Reliability")
    return _png(figure)


def coverage_curve(curves: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """Accuracy against coverage when only predictions above a confidence threshold count.

    Args:
        curves: variant name → its coverage points (``coverage`` and ``accuracy``; points
            where accuracy is None, i.e. nothing covered, are left out).

    Returns:
        The PNG.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(6, 4.5))
    for name, points in curves.items():
        kept = sorted(
            (p["coverage"], p["accuracy"])
            for p in points
            if p.get("coverage") is not None and p.get("accuracy") is not None
        )
        if kept:
            xs, ys = zip(*kept, strict=True)
            axes.plot(xs, ys, marker=".", label=str(name))
    axes.set_xlim(0, 1.02)
    axes.set_xlabel("coverage (share of transactions above the threshold)")
    axes.set_ylabel("accuracy on the covered transactions")
    if axes.get_legend_handles_labels()[0]:  # legend() warns when nothing was drawn
        axes.legend(fontsize=8, loc="lower left")
    axes.grid(True, alpha=0.3)
    axes.set_title("Coverage against accuracy")
    return _png(figure)
