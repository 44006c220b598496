"""The report's headline: the student set against its teacher, as figures and one sentence.

`headline` compares cost, latency, throughput and accuracy (against gold, or agreement with the
teacher without gold) and, where the benchmark scored hand-labeled real rows
(`benchmarks.real_data`), accuracy on real bank data too; `headline_table` lays it out as a
`Table`. The sentence is written for a stakeholder and says which way each gap goes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.report.formatting import (
    DASH,
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


def _points(student: float | None, teacher: float | None) -> float | None:
    """Student minus teacher, in percentage points; None when either was not measured."""
    return None if student is None or teacher is None else (student - teacher) * 100


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
    accuracy = {
        "metric": metric,
        "teacher": teacher_score,
        "student": student_score,
        "points": _points(student_score, teacher_score),
    }
    out = {
        "teacher": None if teacher_variant is None else teacher_variant.get("name"),
        "student": student_variant.get("name"),
        "reference": "gold" if gold else "teacher",
        "cost_usd_per_m": _headline_cost(results.get("cost")),
        "latency_ms": latency,
        "throughput_tx_per_s": throughput,
        "accuracy": accuracy,
        # how often the student gives the teacher's answer (None without teacher labels)
        "agreement": None if teacher_variant is None else _score(student_variant, "agreement"),
        "real": real_accuracy(results),
    }
    out["sentence"] = _sentence(out)
    return out


def real_accuracy(results: Mapping[str, Any]) -> dict[str, Any] | None:
    """Teacher and student on the benchmark's hand-labeled real rows; None when none were scored.

    Returns:
        ``rows``, ``countries`` (how many), ``teacher`` (its name; None when the real rows have
        no teacher labels), ``teacher_accuracy``, ``student_accuracy`` (against the human
        labels), ``points`` (student minus teacher) and ``agreement`` (student with teacher).
    """
    real = results.get("real_data")
    if not real:
        return None
    variants = real.get("variants") or []
    teacher = next((v for v in variants if v.get("kind") == "teacher"), None)
    student = next((v for v in variants if v.get("name") == results.get("student")), None)
    if student is None:
        return None
    teacher_score = None if teacher is None else _score(teacher, "accuracy")
    student_score = _score(student, "accuracy")
    data = real.get("data") or {}
    return {
        "rows": data.get("rows"),
        "countries": len(data.get("countries") or {}),
        "teacher": None if teacher is None else teacher.get("name"),
        "teacher_accuracy": teacher_score,
        "student_accuracy": student_score,
        "points": _points(student_score, teacher_score),
        "agreement": _score(student, "agreement"),
    }


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
    return f"The student is {join_clauses(clauses)}." + _real_sentence(head.get("real"))


def _real_sentence(real: Mapping[str, Any] | None) -> str:
    """Like " On 628 real bank descriptors from 16 countries it is right on 47.0%, 3.1 points
    above the teacher's accuracy."; empty without real rows."""
    if not real or real["student_accuracy"] is None:
        return ""
    where = f"{num(real['rows'])} real bank descriptors from {num(real['countries'])} countries"
    sentence = f" On {where} it is right on {pct(real['student_accuracy'])}"
    if real["points"] is not None:
        return f"{sentence}, {points(real['points'])} ({pct(real['teacher_accuracy'])})."
    return f"{sentence} (the teacher has no labels of them)."


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
    if head.get("agreement") is not None:
        rows.append(["agreement with the teacher", pct(1.0), pct(head["agreement"]), DASH])
    real = head.get("real")
    if real:
        gap = real["points"]
        rows.append(
            [f"accuracy on real bank data (vs human labels, {num(real['rows'])} rows)",
             pct(real["teacher_accuracy"]), pct(real["student_accuracy"]),
             DASH if gap is None else f"{gap:+.1f} points"]
        )  # fmt: skip
        if real["agreement"] is not None:
            rows.append(["agreement with the teacher on real bank data", pct(1.0),
                         pct(real["agreement"]), DASH])  # fmt: skip
    teacher = head["teacher"] or "none in the data"
    return Table(["metric", _role("teacher", teacher), _role("student", head["student"]),
                  "ratio"], rows)  # fmt: skip


def _role(role: str, name: str) -> str:
    """A column header: "teacher: none in the data", but "teacher (hf:smollm2)" stays as is."""
    return name if name.startswith(role) else f"{role}: {name}"
