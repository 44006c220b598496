"""The benchmark report's content: its sections, as plain strings.

`sections` builds the report's parts (the headline of `benchmarks.report.headline`, variants,
by country when the data has countries, real bank data when the benchmark scored real rows,
slices, cost, serving, per category, machine) as `Section`s of paragraphs and `Table`s. Nothing
here is escaped or rendered: `benchmarks.report.page` turns the sections into Markdown and HTML. The
formatting helpers (`num`, `pct`, `ms`, `usd`, ...) live in `benchmarks.report.formatting` and are
re-exported here; they write a missing figure (None) as "—".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks.report.formatting import (
    DASH,
    Section,
    Table,
    join_clauses,
    ms,
    num,
    pct,
    percent_cheaper,
    points,
    times,
    usd,
)
from benchmarks.report.headline import find_variants, headline, headline_table

__all__ = [
    "DASH", "Section", "Table", "country_table", "find_variants", "headline", "headline_table",
    "join_clauses", "ms", "num", "pct", "percent_cheaper", "points", "sections", "times", "usd",
]  # fmt: skip


def _speed_cells(speed: Mapping[str, Any] | None) -> list[str]:
    speed = speed or {}
    one, every = speed.get("batch1_1thread") or {}, speed.get("batch1_all") or {}
    return [
        f"{ms(one.get('p50_ms'))} / {ms(every.get('p50_ms'))}",
        f"{num(speed.get('batch64_tx_per_s_1thread'))} / {num(speed.get('batch64_tx_per_s_all'))}",
    ]


def _variants_section(results: Mapping[str, Any]) -> Section:
    variants = results.get("variants") or []
    detailed_rows = (results.get("data") or {}).get("detailed_rows")
    rows = []
    for variant in variants:
        acc = variant.get("accuracy") or {}
        size = variant.get("size_mb")
        detailed = [pct((acc.get("detailed") or {}).get("accuracy"))] if detailed_rows else []
        rows.append(
            [str(variant.get("name")), str(variant.get("format") or DASH), pct(acc.get("accuracy")),
             num(acc.get("macro_f1"), 3), *detailed, pct(acc.get("agreement")),
             num(acc.get("ece"), 3), *_speed_cells(variant.get("speed")),
             DASH if size is None else f"{num(size, 1)} MB"]
        )  # fmt: skip
    headers = ["variant", "format", "accuracy", "macro-F1",
               *(["detailed accuracy"] if detailed_rows else []), "agreement", "ECE",
               "p50 batch 1 (1 thread / all)", "tx/s batch 64 (1 thread / all)",
               "size"]  # fmt: skip
    seconds = (results.get("teacher") or {}).get("seconds_per_tx")
    teacher_ms = ms(seconds * 1e3 if seconds else None)
    notes = [f"The teacher's speed is its measured time per transaction: {teacher_ms}."]
    if not variants or variants[0].get("kind") != "teacher":
        notes = [f"The data has no teacher labels: no teacher row, and agreement is {DASH}."]
    if detailed_rows:
        notes.append(
            f"Detailed accuracy is over the {num(detailed_rows)} rows with a gold detailed "
            f"category; {DASH} for a variant that predicts primary categories only."
        )
    return Section("Variants", notes, [Table(headers, rows)])


def _country_cell(block: Mapping[str, Any], gold: bool) -> str:
    if gold:
        return f"{pct(block.get('accuracy'))} / {num(block.get('macro_f1'), 3)}"
    return pct(block.get("agreement"))


def _countries_section(results: Mapping[str, Any]) -> Section | None:
    """Countries as rows (the most rows first), variants as columns; None without countries."""
    table = country_table(results.get("data") or {}, results.get("variants") or [])
    if table is None:
        return None
    gold = bool((results.get("data") or {}).get("gold"))
    what = "accuracy / macro-F1 against gold" if gold else "agreement with the teacher"
    return Section("By country", [f"Each cell: {what}, over the country's n rows."], [table])


def country_table(data: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]) -> Table | None:
    """Countries as rows (the most rows first, "all" on top), variants as columns.

    Args:
        data: An evaluation set's summary (``rows``, ``gold``, ``countries``).
        variants: Scored variants (their ``accuracy`` blocks with ``by_country``).

    Returns:
        Cells of accuracy / macro-F1 against gold (agreement with the teacher without gold);
        None when the rows have no countries.
    """
    countries = data.get("countries")
    if not countries:
        return None
    gold = bool(data.get("gold"))
    rows = [["all", num(data.get("rows"))]
            + [_country_cell(v.get("accuracy") or {}, gold) for v in variants]]  # fmt: skip
    for country, count in sorted(countries.items(), key=lambda pair: (-pair[1], pair[0])):
        blocks = [((v.get("accuracy") or {}).get("by_country") or {}).get(country) or {}
                  for v in variants]  # fmt: skip
        rows.append([str(country), num(count)] + [_country_cell(b, gold) for b in blocks])
    return Table(["country", "n"] + [str(v.get("name")) for v in variants], rows)


def _slices_section(results: Mapping[str, Any]) -> Section:
    variants = results.get("variants") or []
    found = {name for v in variants for name in ((v.get("accuracy") or {}).get("slices") or {})}
    names = [n for n in ("long_tail", "chain") if n in found] + sorted(
        found - {"long_tail", "chain"}
    )
    headers = ["variant"] + [f"{n.replace('_', ' ')} {c}" for n in names for c in
                             ("rows", "accuracy", "agreement")]  # fmt: skip
    rows = []
    for variant in variants:
        slices = (variant.get("accuracy") or {}).get("slices") or {}
        cells = [str(variant.get("name"))]
        for name in names:
            part = slices.get(name) or {}
            cells += [num(part.get("rows")), pct(part.get("accuracy")), pct(part.get("agreement"))]
        rows.append(cells)
    return Section("Slices", [] if names else [f"No slices: {DASH}"], [Table(headers, rows)])


def _cost_section(results: Mapping[str, Any]) -> Section:
    cost = results.get("cost") or {}
    student = cost.get("student_usd_per_m")
    rows = []
    for option in cost.get("teacher_options") or []:
        name = str(option["name"]) + (
            " (headline)" if option["name"] == cost.get("headline_option") else ""
        )
        rows.append([name, str(option.get("basis")), str(option.get("as_of") or DASH),
                     usd(option.get("usd_per_m")), usd(student),
                     percent_cheaper(option.get("percent_cheaper"), DASH),
                     times(option.get("ratio"))])  # fmt: skip
    rows.append(["student (CPU)", "local-cpu", DASH, usd(student), usd(student), DASH, DASH])
    note = (
        f"Student: {num(cost.get('student_cpu_seconds_per_tx'), 6)} CPU-seconds per transaction at "
        f"{usd(cost.get('vcpu_hour_usd'))} per vCPU-hour; a GPU-hour is priced at "
        f"{usd(cost.get('gpu_hour_usd'))}. API options price the teacher's measured prompt and "
        "completion tokens at the list price of that date."
    )
    if (results.get("teacher") or {}).get("kind") == "labels":
        note += " The teacher is human labels, which have no cost option."
    headers = ["teacher option", "basis", "as of", "teacher USD / 1M tx", "student USD / 1M tx",
               "student cheaper by", "teacher / student"]  # fmt: skip
    return Section("Cost per million transactions", [note], [Table(headers, rows)])


def _serving_section(results: Mapping[str, Any]) -> Section:
    http = results.get("http")
    section = Section("Serving")
    if http:
        rows = [
            [key.removeprefix("concurrency_"), ms(v.get("p50_ms")), ms(v.get("p95_ms")),
             ms(v.get("p99_ms")), num(v.get("requests_per_s"))]
            for key, v in http.items() if key.startswith("concurrency_") and v
        ]  # fmt: skip
        section.tables.append(Table(["HTTP concurrency", "p50", "p95", "p99", "requests/s"], rows))
        section.paragraphs.append(
            f"HTTP, batches of 64: {num(http.get('batch64_tx_per_s'))} transactions/s."
        )
    else:
        section.paragraphs.append(f"HTTP latency: {DASH} (not measured).")
    cold = results.get("cold_start") or {}
    pipeline = results.get("pipeline") or {}
    ratio = pipeline.get("ratio")
    rows = [
        ["cold start: import and load", num(cold.get("import_and_load_s"), 3) + " s"],
        ["cold start: first prediction", num(cold.get("first_predict_s"), 3) + " s"],
        ["peak memory", num(results.get("peak_memory_mb"), 1) + " MB"],
        ["plain transformers pipeline (tx/s)", num(pipeline.get("tx_per_s"))],
        ["student on the same texts (tx/s)", num(pipeline.get("student_tx_per_s"))],
        ["student / pipeline", times(ratio) if ratio else DASH],
    ]
    section.tables.append(Table(["figure", "value"], [[k, _bare(v)] for k, v in rows]))
    return section


def _bare(cell: str) -> str:
    """A missing figure with its unit ("— s") reads better as a bare "—"."""
    return DASH if cell.startswith(DASH) else cell


def _categories_section(student: Mapping[str, Any]) -> Section:
    per_category = (student.get("accuracy") or {}).get("per_category") or {}
    rows = [
        [str(label), pct(m.get("precision")), pct(m.get("recall")), num(m.get("f1"), 3),
         num(m.get("support"))]
        for label, m in per_category.items()
    ]  # fmt: skip
    title = f"Per category: {student.get('name')}"
    return Section(title, [], [Table(["category", "precision", "recall", "F1", "support"], rows)])


def _machine_section(results: Mapping[str, Any]) -> Section:
    machine, data = results.get("machine") or {}, results.get("data") or {}
    teacher = results.get("teacher") or {}
    rows = [
        ["CPU", str(machine.get("cpu") or DASH)], ["cores", num(machine.get("cores"))],
        ["platform", str(machine.get("platform") or DASH)],
        ["python", str(machine.get("python") or DASH)],
        ["data", f"{data.get('path', DASH)} ({num(data.get('rows'))} rows, "
                 f"{'gold labels' if data.get('gold') else 'no gold labels'})"],
        ["teacher", f"{teacher.get('id', DASH)} ({teacher.get('kind', DASH)}), prompt "
                    f"{teacher.get('prompt_version') or DASH}, "
                    f"on {teacher.get('hardware') or DASH}"],
        ["teacher figures from", str(teacher.get("source") or DASH)],
    ]  # fmt: skip
    packages = [[str(k), str(v)] for k, v in (machine.get("packages") or {}).items()]
    return Section("Machine", [], [Table(["", ""], rows), Table(["library", "version"], packages)])


REAL_CONFUSION_CATEGORIES = 6
"""The real-data confusion table's rows: the most common gold categories of the real rows."""


def _real_sections(results: Mapping[str, Any]) -> list[Section]:
    """Every variant on hand-labeled real rows: overall, per country, and the student's confusion
    between the categories that matter most; none when the benchmark scored no real rows."""
    real = results.get("real_data")
    if not real:
        return []
    data, variants = real.get("data") or {}, real.get("variants") or []
    has_teacher = any(v.get("kind") == "teacher" for v in variants)
    rows = []
    for variant in variants:
        acc = variant.get("accuracy") or {}
        rows.append([str(variant.get("name")), pct(acc.get("accuracy")),
                     num(acc.get("macro_f1"), 3), pct(acc.get("agreement")),
                     num(acc.get("ece"), 3)])  # fmt: skip
    countries = num(len(data.get("countries") or {}))
    notes = [
        f"{num(data.get('rows'))} real bank descriptors from {countries} countries "
        f"({data.get('path', DASH)}), labeled by people and never trained on. Synthetic "
        "accuracy alone overstates what users get: these are the figures to read."
    ]
    if not has_teacher:
        notes.append(f"The teacher has no labels of these rows: no teacher row, agreement {DASH}.")
    out = [Section("Real bank data", notes, [Table(["variant", "accuracy", "macro-F1",
                                                     "agreement", "ECE"], rows)])]  # fmt: skip
    by_country = country_table(data, variants)
    if by_country is not None:
        note = "Each cell: accuracy / macro-F1 against the human labels, over the country's n rows."
        out.append(Section("Real bank data by country", [note], [by_country]))
    student = next((v for v in variants if v.get("name") == results.get("student")), None)
    if student is not None:
        top = REAL_CONFUSION_CATEGORIES
        note = (
            f"{student.get('name')} on the {top} most common categories of the real rows: each "
            "row is a human label, each column the student's answer."
        )
        table = _confusion_table(student.get("accuracy") or {}, top)
        out.append(Section("Real bank data: where the student goes wrong", [note], [table]))
    return out


def _confusion_table(accuracy: Mapping[str, Any], top: int) -> Table:
    """Rows: the `top` categories with the most reference rows; columns: the same categories,
    "other" for every other answer, and recall."""
    confusion = accuracy.get("confusion") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    support = [sum(row) for row in matrix]
    order = sorted(range(len(labels)), key=lambda i: (-support[i], labels[i]))
    chosen = [i for i in order[:top] if support[i] > 0]
    rows = []
    for i in chosen:
        cells = [matrix[i][j] for j in chosen]
        other = support[i] - sum(cells)
        recall = pct(matrix[i][i] / support[i])
        rows.append([labels[i], *(num(c) for c in cells), num(other), recall])
    return Table(["human label", *(labels[j] for j in chosen), "other", "recall"], rows)


def sections(results: Mapping[str, Any]) -> list[Section]:
    """The report's sections (figures apart), in order, as plain strings."""
    head = headline(results)
    _, student = find_variants(results)
    countries = _countries_section(results)
    return [
        Section("Headline", [head["sentence"]], [headline_table(head)]),
        _variants_section(results),
        *([countries] if countries else []),
        *_real_sections(results),
        _slices_section(results),
        _cost_section(results),
        _serving_section(results),
        _categories_section(student),
        _machine_section(results),
    ]
