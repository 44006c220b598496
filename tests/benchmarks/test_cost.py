"""Cost per million transactions, checked by hand."""

from __future__ import annotations

import datetime as dt

import pytest

from benchmarks.cost import (
    DEFAULT_API_PRICES,
    DEFAULT_GPU_HOUR_USD,
    DEFAULT_VCPU_HOUR_USD,
    ApiPrice,
    cost_report,
    parse_price,
)

MINI = ApiPrice("mini", 0.15, 0.60, "2024-07-18")
BIG = ApiPrice("big", 2.50, 10.00, "2024-08-06")
TEACHER = {
    "id": "hf:smollm2",
    "kind": "local",
    "seconds_per_tx": 0.5,
    "prompt_tokens_per_tx": 300.0,
    "completion_tokens_per_tx": 5.0,
}


def test_student_and_api_options_by_hand() -> None:
    report = cost_report(TEACHER, 0.002, api_prices=(MINI, BIG), vcpu_hour_usd=0.05)
    # 0.002 s × 1e6 tx = 2,000 s = 0.5556 h at $0.05/h
    assert report["student_usd_per_m"] == pytest.approx(2000 / 3600 * 0.05)
    assert report["student_cpu_seconds_per_tx"] == 0.002
    mini, big = report["teacher_options"][:2]
    # 300 × $0.15 + 5 × $0.60 per million tokens, times a million transactions
    assert mini == {
        "name": "mini",
        "basis": "tokens",
        "usd_per_m": pytest.approx(48.0),
        "as_of": "2024-07-18",
        "percent_cheaper": pytest.approx(100 * (1 - 0.027777 / 48), rel=1e-4),
        "ratio": pytest.approx(48 / 0.0277778, rel=1e-4),
    }
    assert big["usd_per_m"] == pytest.approx(300 * 2.5 + 5 * 10.0)


def test_local_cpu_teacher_is_the_headline() -> None:
    report = cost_report(TEACHER, 0.002, api_prices=(MINI,), teacher_vcpus=2)
    local = report["teacher_options"][-1]
    assert local["basis"] == "local-cpu"
    assert local["as_of"] is None
    # 0.5 s × 1e6 = 138.9 h of 2 vCPUs
    assert local["usd_per_m"] == pytest.approx(0.5e6 / 3600 * DEFAULT_VCPU_HOUR_USD * 2)
    assert report["headline_option"] == local["name"] == "hf:smollm2 measured (2 vCPU)"
    assert report["vcpu_hour_usd"] == DEFAULT_VCPU_HOUR_USD
    assert report["gpu_hour_usd"] == DEFAULT_GPU_HOUR_USD


def test_local_teacher_without_vcpus_counts_one() -> None:
    report = cost_report(TEACHER, 0.002, api_prices=())
    (local,) = report["teacher_options"]
    assert local["usd_per_m"] == pytest.approx(0.5e6 / 3600 * DEFAULT_VCPU_HOUR_USD)


def test_local_gpu_teacher() -> None:
    report = cost_report(TEACHER, 0.002, api_prices=(), teacher_on_gpu=True, gpu_hour_usd=3.0)
    (local,) = report["teacher_options"]
    assert local["basis"] == "local-gpu"
    assert local["usd_per_m"] == pytest.approx(0.5e6 / 3600 * 3.0)


def test_api_teacher_headline_is_the_cheapest_api_and_its_time_is_not_priced() -> None:
    teacher = {**TEACHER, "kind": "api"}
    report = cost_report(teacher, 0.002, api_prices=(BIG, MINI))
    assert [o["basis"] for o in report["teacher_options"]] == ["tokens", "tokens"]
    assert report["headline_option"] == "mini"


def test_missing_figures_drop_their_options() -> None:
    no_tokens = {**TEACHER, "prompt_tokens_per_tx": None}
    report = cost_report(no_tokens, 0.002, api_prices=(MINI,))
    assert [o["basis"] for o in report["teacher_options"]] == ["local-cpu"]
    no_time = {**TEACHER, "seconds_per_tx": None}
    report = cost_report(no_time, 0.002, api_prices=(MINI,))
    assert [o["basis"] for o in report["teacher_options"]] == ["tokens"]


def test_human_labels_have_no_cost_option() -> None:
    labels = {"id": "labels:gold", "kind": "labels", "seconds_per_tx": None,
              "prompt_tokens_per_tx": None, "completion_tokens_per_tx": None}  # fmt: skip
    report = cost_report(labels, 0.002)
    assert report["teacher_options"] == []
    assert report["headline_option"] is None


def test_free_option_has_no_percent() -> None:
    free = ApiPrice("free", 0.0, 0.0, "2024-01-01")
    (option,) = cost_report({**TEACHER, "kind": "api"}, 0.002, api_prices=(free,))[
        "teacher_options"
    ]
    assert option["percent_cheaper"] is None
    assert option["ratio"] == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"student_cpu_seconds_per_tx": 0.0},
        {"student_cpu_seconds_per_tx": float("nan")},
        {"vcpu_hour_usd": -1.0},
        {"gpu_hour_usd": 0.0},
        {"teacher_vcpus": 0},
    ],
)
def test_cost_report_rejects_bad_inputs(kwargs: dict) -> None:
    arguments = {"student_cpu_seconds_per_tx": 0.002, **kwargs}
    seconds = arguments.pop("student_cpu_seconds_per_tx")
    with pytest.raises(ValueError, match="must be"):
        cost_report(TEACHER, seconds, **arguments)


def test_default_prices_are_dated_list_prices() -> None:
    assert len(DEFAULT_API_PRICES) >= 3
    for price in DEFAULT_API_PRICES:
        assert dt.date.fromisoformat(price.as_of) < dt.date(2026, 1, 1)
        assert "list price" in price.note
    assert ApiPrice("OpenAI gpt-4o-mini", 0.15, 0.60, "2024-07-18").name in {
        p.name for p in DEFAULT_API_PRICES
    }


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("x", -0.1, 1.0, "2024-01-01"), "finite and ≥ 0"),
        (("x", 1.0, float("inf"), "2024-01-01"), "finite and ≥ 0"),
        (("x", 1.0, 1.0, "yesterday"), "ISO date"),
        ((" ", 1.0, 1.0, "2024-01-01"), "needs a name"),
    ],
)
def test_api_price_validation(args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ApiPrice(*args)


def test_parse_price() -> None:
    price = parse_price("my model=0.15/0.6@2024-07-18")
    assert (price.name, price.usd_per_m_input, price.usd_per_m_output, price.as_of) == (
        "my model",
        0.15,
        0.6,
        "2024-07-18",
    )
    assert parse_price("m=1/2").as_of == dt.date.today().isoformat()


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("mini", "expected NAME=IN/OUT"),
        ("=1/2", "expected NAME=IN/OUT"),
        ("mini=1", "expected NAME=IN/OUT"),
        ("mini=a/2", "must be numbers"),
        ("mini=1/2@soon", "ISO date"),
        ("mini=-1/2", "≥ 0"),
    ],
)
def test_parse_price_errors(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_price(spec)
