"""The benchmark report's content: its headline and sections, as plain strings.

`headline` sets the student against the teacher (cost, latency, throughput, accuracy) with a
sentence that says so; `sections` builds the report's parts (headline, variants, by country when
the data has countries, slices, cost, serving, per category, machine) as `Section`s of
paragraphs and `Table`s. Nothing here is escaped or rendered: `benchmarks.report` turns the
sections into Markdown and HTML. The formatting helpers (`num`, `pct`, `ms`, `usd`, ...) live in
`benchmarks.report_format` and are re-exported here; they write a missing figure (None) as "—".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from benchmarks.report_format import (
    DASH,
    join_clauses,
    ms,
    num,
    pct,
    percent_cheaper,
    points,
    times,
    usd,
)


@dataclass
class Table:
    """A table of plain (unescaped) strings."""

    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    """A titled part of the report: paragraphs, then tables."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


def find_variants(
    results: Mapping[str, Any],
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any]]:
    """The teacher variant and the student the headline is about.

    The teacher is the first variant when its kind is "teacher"; None when the data had no
    teacher labels (a gold-only file).
    """
    variants = results.get("variants") or []
    teacher = variants[0] if variants and variants[0].get("kind") == "teacher" else None
    wanted = results.get("student")
    for variant in variants:
        if variant.get("name") == wanted:
            return teacher, variant
    names = [v.get("name") for v in variants]
    raise ValueError(f"results['student'] is {wanted!r}; set it to one of the variants {names}")


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def _headline_cost(cost: Mapping[str, Any] | None) -> dict[str, Any]:
    cost = cost or {}
    wanted = cost.get("headline_option")
    option = next((o for o in cost.get("teacher_options", []) if o["name"] == wanted), {})
    teacher, student = option.get("usd_per_m"), cost.get("student_usd_per_m")
    return {
        "teacher": teacher,
        "student": student,
        "ratio": _ratio(teacher, student),
        "percent_cheaper": option.get("percent_cheaper"),
        "option": option.get("name"),
        "as_of": option.get("as_of"),
    }


def _score(variant: Mapping[str, Any], metric: str) -> float | None:
    return (variant.get("accuracy") or {}).get(metric)


def headline(results: Mapping[str, Any]) -> dict[str, Any]:
    """Teacher against the student named by ``results["student"]``, with ratios and a sentence.

    Args:
        results: a ``bench-report/1`` results dict.

    Returns:
        ``teacher`` and ``student`` (names), ``reference`` ("gold" or "teacher"),
        ``cost_usd_per_m`` (the cost's headline option; ratio teacher / student),
        ``latency_ms`` (teacher seconds per transaction against the student's p50 at batch 1
        on all threads; ratio teacher / student), ``throughput_tx_per_s`` (ratio student /
        teacher), ``accuracy`` (``metric``: accuracy against gold, or agreement with the
        teacher without gold; ``points``: student minus teacher) and ``sentence``. Figures
        that were not measured are None and drop out of the sentence; without a teacher
        variant (gold-only data) the teacher's name and scores are None.

    Raises:
        ValueError: a ``student`` that names none of the variants.
    """
    teacher_variant, student_variant = find_variants(results)
    seconds = (results.get("teacher") or {}).get("seconds_per_tx")
    speed = student_variant.get("speed") or {}
    gold = bool((results.get("data") or {}).get("gold"))
    metric = "accuracy" if gold else "agreement"
    teacher_score = None if teacher_variant is None else _score(teacher_variant, metric)
    if not gold and teacher_variant is not None and teacher_score is None:
        teacher_score = 1.0  # the teacher agrees with itself by definition
    student_score = _score(student_variant, metric)
    latency = {
        "teacher": seconds * 1e3 if seconds else None,
        "student": (speed.get("batch1_all") or {}).get("p50_ms"),
    }
    latency["ratio"] = _ratio(latency["teacher"], latency["student"])
    throughput = {"teacher": 1.0 / seconds if seconds else None}
    throughput["student"] = speed.get("batch64_tx_per_s_all")
    throughput["ratio"] = _ratio(throughput["student"], throughput["teacher"])
    both = teacher_score is not None and student_score is not None
    accuracy = {
        "metric": metric,
        "teacher": teacher_score,
        "student": student_score,
        "points": (student_score - teacher_score) * 100 if both else None,
    }
    out = {
        "teacher": None if teacher_variant is None else teacher_variant.get("name"),
        "student": student_variant.get("name"),
        "reference": "gold" if gold else "teacher",
        "cost_usd_per_m": _headline_cost(results.get("cost")),
        "latency_ms": latency,
        "throughput_tx_per_s": throughput,
        "accuracy": accuracy,
    }
    out["sentence"] = _sentence(out)
    return out


def _sentence(head: Mapping[str, Any]) -> str:
    """Like "The student is 99.98% cheaper, 1,234× faster and 1.2 points below ..."."""
    clauses = []
    cheaper = head["cost_usd_per_m"]["percent_cheaper"]
    if cheaper is not None:
        clauses.append(percent_cheaper(cheaper))
    speedup = head["latency_ms"]["ratio"] or head["throughput_tx_per_s"]["ratio"]
    if speedup:
        clauses.append(_factor(speedup, "faster", "slower"))
    accuracy = head["accuracy"]
    if accuracy["metric"] == "agreement" and accuracy["student"] is not None:
        clauses.append(
            f"in agreement with the teacher on {pct(accuracy['student'])} of transactions"
        )
    elif accuracy["points"] is not None:
        clauses.append(points(accuracy["points"]))
    elif head["teacher"] is None and accuracy["student"] is not None:
        clauses.append(f"{pct(accuracy['student'])} accurate against the gold labels")
    if not clauses:
        return "The student's figures against the teacher were not measured; see the tables."
    return f"The student is {join_clauses(clauses)}."


def _factor(ratio: float | None, better: str, worse: str) -> str:
    """A ratio of teacher to student as "12× faster", or "3.0× slower" below 1."""
    if not ratio:
        return DASH
    return f"{times(ratio)} {better}" if ratio >= 1 else f"{times(1 / ratio)} {worse}"


def headline_table(head: Mapping[str, Any]) -> Table:
    """The headline as a table: teacher against student, one metric a row.

    Args:
        head: the dict `headline` returns.

    Returns:
        A `Table` with a metric, teacher, student and ratio column.
    """
    cost, latency = head["cost_usd_per_m"], head["latency_ms"]
    throughput, accuracy = head["throughput_tx_per_s"], head["accuracy"]
    option = f", {cost['option']}" if cost["option"] else ""
    gap = accuracy["points"]
    rows = [
        ["cost per 1M transactions", usd(cost["teacher"]) + option, usd(cost["student"]),
         _factor(cost["ratio"], "cheaper", "more expensive")],
        ["latency per transaction", ms(latency["teacher"]), ms(latency["student"]),
         _factor(latency["ratio"], "faster", "slower")],
        ["throughput (tx/s)", num(throughput["teacher"], 2), num(throughput["student"]),
         times(throughput["ratio"])],
        [f"{accuracy['metric']} (vs {head['reference']})", pct(accuracy["teacher"]),
         pct(accuracy["student"]), DASH if gap is None else f"{gap:+.1f} points"],
    ]  # fmt: skip
    teacher = head["teacher"] or "none in the data"
    return Table(["metric", f"teacher: {teacher}", f"student: {head['student']}", "ratio"], rows)


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
    data = results.get("data") or {}
    countries = data.get("countries")
    if not countries:
        return None
    gold = bool(data.get("gold"))
    variants = results.get("variants") or []
    rows = [["all", num(data.get("rows"))]
            + [_country_cell(v.get("accuracy") or {}, gold) for v in variants]]  # fmt: skip
    for country, count in sorted(countries.items(), key=lambda pair: (-pair[1], pair[0])):
        blocks = [((v.get("accuracy") or {}).get("by_country") or {}).get(country) or {}
                  for v in variants]  # fmt: skip
        rows.append([str(country), num(count)] + [_country_cell(b, gold) for b in blocks])
    what = "accuracy / macro-F1 against gold" if gold else "agreement with the teacher"
    note = f"Each cell: {what}, over the country's n rows."
    headers = ["country", "n"] + [str(v.get("name")) for v in variants]
    return Section("By country", [note], [Table(headers, rows)])


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


def sections(results: Mapping[str, Any]) -> list[Section]:
    """The report's sections (figures apart), in order, as plain strings."""
    head = headline(results)
    _, student = find_variants(results)
    countries = _countries_section(results)
    return [
        Section("Headline", [head["sentence"]], [headline_table(head)]),
        _variants_section(results),
        *([countries] if countries else []),
        _slices_section(results),
        _cost_section(results),
        _serving_section(results),
        _categories_section(student),
        _machine_section(results),
    ]
