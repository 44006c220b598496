"""The benchmark report: student against teacher, as Markdown and self-contained HTML.

`write_report` turns a results dict (``bench-report/1``, written by ``benchmarks.bench``) into
results.json (with the headline added), report.md with its figures beside it, and report.html
with the same figures embedded, so the HTML can be mailed or attached as one file.

Both documents are rendered from one list of sections (`benchmarks.report.sections.sections`),
so they always say the same thing; a figure that is missing (None) reads "—". Every string that
comes from the results is escaped, in the HTML and in the Markdown (whose viewers pass raw HTML
through). `headline` is re-exported from `benchmarks.report.sections`.
"""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks.report import plots
from benchmarks.report.sections import DASH, Section, Table, find_variants, headline, sections

__all__ = [
    "FIGURES",
    "figures",
    "headline",
    "render_html",
    "render_markdown",
    "write_report",
]

logger = logging.getLogger(__name__)

FIGURES = {
    "accuracy_vs_latency": "Accuracy against latency per transaction",
    "confusion_matrix": "Confusion matrix of the student",
    "reliability": "Reliability (calibration) per variant",
    "coverage": "Accuracy against coverage per variant",
}
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #ddd}
div.table{overflow-x:auto}table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
p.headline{font-size:1.15em;font-weight:600}figure{margin:1em 0}img{max-width:100%}
figcaption{color:#555;font-size:.9em}
"""


def figures(results: Mapping[str, Any]) -> dict[str, bytes]:
    """The report's figures as PNG bytes, by name; one without data to draw is left out."""
    _, student = find_variants(results)
    variants = results.get("variants") or []
    seconds = (results.get("teacher") or {}).get("seconds_per_tx")
    out = {"accuracy_vs_latency": plots.accuracy_vs_latency(variants, seconds and seconds * 1e3)}
    confusion = (student.get("accuracy") or {}).get("confusion")
    if confusion and confusion.get("labels"):
        out["confusion_matrix"] = plots.confusion_matrix(confusion)
    for key, plot in (
        ("reliability", plots.reliability_diagram),
        ("coverage", plots.coverage_curve),
    ):
        curves = {
            str(v.get("name")): v["accuracy"][key]
            for v in variants
            if (v.get("accuracy") or {}).get(key)
        }
        if curves:
            out[key] = plot(curves)
    return out


def _md(text: str) -> str:
    """Markdown text: HTML escaped (viewers pass raw HTML through), pipes and newlines tamed."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> str:
    lines = ["| " + " | ".join(_md(h) for h in table.headers) + " |"]
    lines.append("|" + "|".join(["---"] * len(table.headers)) + "|")
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def _title(results: Mapping[str, Any]) -> tuple[str, str]:
    name = str(results.get("name") or "benchmark")
    created = f"Created {results.get('created') or DASH} ({results.get('format') or DASH})."
    return f"Benchmark report: {name}", created


def render_markdown(results: Mapping[str, Any], images: Mapping[str, str]) -> str:
    """The report as Markdown.

    Args:
        results: a ``bench-report/1`` results dict.
        images: figure name (a key of `FIGURES`) → the PNG's file name, relative to the report.

    Returns:
        The Markdown text.
    """
    title, created = _title(results)
    *body, machine = sections(results)
    parts = [f"# {_md(title)}", _md(created)]
    figures_section = [f"![{FIGURES.get(k, k)}]({v})" for k, v in images.items()]
    for section in [*body, Section("Figures"), machine]:
        parts.append(f"## {_md(section.title)}")
        parts += [_md(p) for p in section.paragraphs] + [_md_table(t) for t in section.tables]
        if section.title == "Figures":
            parts += figures_section or [DASH]
    return "\n\n".join(parts) + "\n"


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{_cell(h)}</th>" for h in table.headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(cell)}</td>" for cell in row) + "</tr>" for row in table.rows
    )
    # a table still too wide (many variants side by side) scrolls in its box, not the page
    markup = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    return f'<div class="table">{markup}</div>'


def _cell(text: str) -> str:
    # a category name may break after an underscore (<wbr>) rather than widen its table
    return html.escape(text).replace("_", "_<wbr>")


def _html_figure(name: str, png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    caption = html.escape(FIGURES.get(name, name))
    return (
        f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def render_html(results: Mapping[str, Any], images: Mapping[str, bytes]) -> str:
    """The report as one self-contained HTML page: inline CSS, PNGs as data URIs, no links.

    Args:
        results: a ``bench-report/1`` results dict.
        images: figure name → PNG bytes (see `figures`).

    Returns:
        The HTML text.
    """
    title, created = _title(results)
    *body, machine = sections(results)
    parts = [f"<h1>{html.escape(title)}</h1>", f"<p>{html.escape(created)}</p>"]
    for section in [*body, Section("Figures"), machine]:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        css = ' class="headline"' if section.title == "Headline" else ""
        parts += [f"<p{css}>{html.escape(p)}</p>" for p in section.paragraphs]
        parts += [_html_table(t) for t in section.tables]
        if section.title == "Figures":
            parts += [_html_figure(k, v) for k, v in images.items()] or [f"<p>{DASH}</p>"]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(parts)
        + "\n</body></html>\n"
    )


def write_report(results: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write results.json (with the headline), report.md with its PNGs, and report.html.

    Args:
        results: a ``bench-report/1`` results dict.
        out_dir: the folder to write into (made when missing; files in it are replaced).

    Returns:
        Paths by name: ``results``, ``markdown``, ``html`` and one per figure drawn.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    images = figures(results)
    paths = {
        "results": out_dir / "results.json",
        "markdown": out_dir / "report.md",
        "html": out_dir / "report.html",
    }
    for name, png in images.items():
        paths[name] = out_dir / f"{name}.png"
        paths[name].write_bytes(png)
    full = {**results, "headline": headline(results)}
    paths["results"].write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    files = {name: f"{name}.png" for name in images}
    paths["markdown"].write_text(render_markdown(results, files), encoding="utf-8")
    paths["html"].write_text(render_html(results, images), encoding="utf-8")
    logger.info("wrote the report to %s", paths["html"])
    return paths
