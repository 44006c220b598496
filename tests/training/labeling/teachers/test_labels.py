"""The `labels:` teacher and the `make_teacher` factory."""

from __future__ import annotations

import math
import sys
import types
from typing import Any

import pytest

from categorizer.taxonomy import default_taxonomy
from training.labeling.teachers import make_teacher
from training.labeling.teachers.base import LabelRequest, TeacherError
from training.labeling.teachers.labels import LabelsTeacher

TAXONOMY = default_taxonomy()
K = len(TAXONOMY.labels)


def request(**row: Any) -> LabelRequest:
    return LabelRequest(key="k", text="TEXT", row=row)


def test_primary_ids_become_one_hot() -> None:
    teacher = LabelsTeacher("category", TAXONOMY)
    assert teacher.id == "labels:category"
    assert teacher.prompt_version == "none"
    assert teacher.batch_size >= 1
    [result] = teacher.label([request(category="FOOD_AND_DRINK")])
    assert not result.failed
    assert result.probs is not None
    assert result.probs[TAXONOMY.index("FOOD_AND_DRINK")] == 1.0
    assert sum(result.probs) == 1.0
    assert result.label_mass is None
    assert result.detailed is None
    assert not result.hard


def test_label_smoothing_spreads_mass_and_sums_to_one() -> None:
    teacher = LabelsTeacher("category", TAXONOMY, label_smoothing=0.1)
    [result] = teacher.label([request(category="TRAVEL")])
    assert result.probs is not None
    assert math.isclose(sum(result.probs), 1.0)
    assert math.isclose(result.probs[TAXONOMY.index("TRAVEL")], 0.9 + 0.1 / K)
    assert math.isclose(min(result.probs), 0.1 / K)
    assert teacher.id != LabelsTeacher("category", TAXONOMY).id  # different answers, other keys


def test_detailed_ids_map_to_their_primary() -> None:
    detailed = TAXONOMY.children("FOOD_AND_DRINK")[0].id
    [result] = LabelsTeacher("category", TAXONOMY).label([request(category=detailed)])
    assert result.probs is not None
    assert result.probs[TAXONOMY.index("FOOD_AND_DRINK")] == 1.0
    assert result.detailed == detailed
    assert result.detailed_confidence == 1.0


def test_case_and_spaces_are_tolerated() -> None:
    [result] = LabelsTeacher("category", TAXONOMY).label([request(category=" food_and_drink ")])
    assert not result.failed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("GROCERIES", "'GROCERIES' in column 'category' is not a category of taxonomy"),
        (None, "no label in column 'category'"),
        (float("nan"), "no label in column 'category'"),
        ("  ", "no label in column 'category'"),
    ],
)
def test_bad_values_fail_only_their_row(value: Any, reason: str) -> None:
    teacher = LabelsTeacher("category", TAXONOMY)
    good, bad, missing = teacher.label(
        [request(category="INCOME"), request(category=value), request(other="INCOME")]
    )
    assert not good.failed
    assert bad.failed
    assert bad.probs is None
    assert reason in (bad.error or "")
    assert missing.failed


def test_detailed_column() -> None:
    teacher = LabelsTeacher("category", TAXONOMY, detailed_column="detailed_category")
    assert teacher.key_columns == ("category", "detailed_category")
    coffee = next(c.id for c in TAXONOMY.children("FOOD_AND_DRINK") if "COFFEE" in c.id)
    fuel = TAXONOMY.children("TRANSPORTATION")[0].id
    ok, blank, wrong, junk = teacher.label(
        [
            request(category="FOOD_AND_DRINK", detailed_category=coffee),
            request(category="FOOD_AND_DRINK", detailed_category=None),
            request(category="FOOD_AND_DRINK", detailed_category=fuel),
            request(category="FOOD_AND_DRINK", detailed_category="LATTES"),
        ]
    )
    assert ok.detailed == coffee
    assert not blank.failed
    assert blank.detailed is None
    assert wrong.failed
    assert "belongs to TRANSPORTATION, not FOOD_AND_DRINK" in (wrong.error or "")
    assert junk.failed
    assert "not a detailed category" in (junk.error or "")


@pytest.mark.parametrize("smoothing", [-0.1, 1.0, 2.0])
def test_bad_smoothing_is_a_teacher_error(smoothing: float) -> None:
    with pytest.raises(TeacherError, match="smoothing"):
        LabelsTeacher("category", TAXONOMY, label_smoothing=smoothing)


# ---- make_teacher ---------------------------------------------------------------------------


def test_make_labels_teacher() -> None:
    teacher = make_teacher("labels:category", TAXONOMY, batch_size=8, label_smoothing=0.05)
    assert isinstance(teacher, LabelsTeacher)
    assert teacher.batch_size == 8
    assert teacher.label_smoothing == 0.05


@pytest.mark.parametrize("spec", ["gpt-4o", "bogus:thing", "hf:", "labels:", "", "openai"])
def test_unknown_spec_lists_the_valid_forms(spec: str) -> None:
    with pytest.raises(TeacherError) as caught:
        make_teacher(spec, TAXONOMY)
    message = str(caught.value)
    for form in ("hf:", "hf:smollm2", "openai:", "--base-url", "labels:", "labels:category"):
        assert form in message


def test_openai_needs_a_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(TeacherError, match="--base-url"):
        make_teacher("openai:gpt-4o-mini", TAXONOMY)


def test_smoothing_is_for_labels_teachers_only() -> None:
    with pytest.raises(TeacherError, match="labels: teachers only"):
        make_teacher("hf:smollm2", TAXONOMY, label_smoothing=0.1)


class Recorder:
    """Stands in for a backend class and records how the factory built it."""

    calls: list[tuple[tuple[Any, ...], dict[str, Any]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        type(self).calls.append((args, kwargs))


def fake_backend(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> type[Recorder]:
    recorder = type(name, (Recorder,), {"calls": []})
    fake = types.ModuleType(module)
    setattr(fake, name, recorder)
    monkeypatch.setitem(sys.modules, module, fake)
    return recorder


def test_openai_spec_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = fake_backend(monkeypatch, "training.labeling.teachers.openai_compat", "OpenAITeacher")
    monkeypatch.setenv("MY_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    make_teacher("openai:qwen2.5-7b", TAXONOMY, api_key_env="MY_KEY", batch_size=16)
    make_teacher("openai:m", TAXONOMY, base_url="http://127.0.0.1:8080/v1")
    (args, kwargs), (_, second) = backend.calls
    assert args == ("qwen2.5-7b", TAXONOMY)
    assert kwargs == {"base_url": "http://127.0.0.1:9/v1", "api_key": "sk-test", "batch_size": 16}
    assert second["base_url"] == "http://127.0.0.1:8080/v1"


def test_hf_spec_wiring(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = fake_backend(monkeypatch, "training.labeling.teachers.hf", "HFTeacher")
    make_teacher("hf:smollm2", TAXONOMY, batch_size=4, detailed=False)
    make_teacher("HF:Qwen/Qwen2.5-0.5B-Instruct", TAXONOMY)
    (args, kwargs), (args2, kwargs2) = backend.calls
    assert args == ("smollm2", TAXONOMY)
    assert kwargs == {"batch_size": 4, "detailed": False}
    assert args2 == ("Qwen/Qwen2.5-0.5B-Instruct", TAXONOMY)
    assert kwargs2 == {}
