"""Cost per million transactions: the student on a CPU against the teacher, local or by API.

The student's cost is CPU time: the CPU seconds it takes per transaction, priced at an
on-demand vCPU-hour. The teacher can be priced two ways, and the report shows every one that
has the figures it needs:

* by the tokens of its prompts and answers at the list price of a hosted API (what labeling
  these transactions would cost if the same prompts went to that API);
* by the wall time the measured local teacher took per transaction, priced at a GPU-hour or at
  the vCPU-hours of the cores it ran on.

Prices are public list prices with the date each was taken: they change, so every option in the
report carries its ``as_of`` date and a run can pass its own (``NAME=IN/OUT@YYYY-MM-DD``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_LIST_PRICE = "list price, standard tier, as published by the vendor on that date"


@dataclass(frozen=True)
class ApiPrice:
    """The list price of a hosted model, in USD per million tokens.

    Args:
        name: the vendor and model, as the report shows it.
        usd_per_m_input: USD per million prompt tokens.
        usd_per_m_output: USD per million completion tokens.
        as_of: the ISO date (YYYY-MM-DD) the price was taken.
        note: where the price comes from (tier, discounts left out).

    Raises:
        ValueError: an empty name, a negative or non-finite price, or a date that is not ISO.
    """

    name: str
    usd_per_m_input: float
    usd_per_m_output: float
    as_of: str
    note: str = _LIST_PRICE

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("an API price needs a name, e.g. 'OpenAI gpt-4o-mini'")
        for field in ("usd_per_m_input", "usd_per_m_output"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{field} of {self.name!r} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{field} of {self.name!r} must be finite and ≥ 0, got {value}")
        try:
            dt.date.fromisoformat(self.as_of)
        except (TypeError, ValueError):
            raise ValueError(
                f"as_of of {self.name!r} must be an ISO date like 2024-07-18, got {self.as_of!r}"
            ) from None

    def usd_per_tx(self, prompt_tokens: float, completion_tokens: float) -> float:
        """USD for one transaction of this many prompt and completion tokens."""
        return (
            prompt_tokens * self.usd_per_m_input + completion_tokens * self.usd_per_m_output
        ) / 1e6


# Public list prices (standard tier, no batch or cache discounts) on the day each model's price
# was published. Claude 3.5 Haiku launched at $1/$5 and was cut to $0.80/$4 about a month later;
# the launch price is the one we can date with confidence.
DEFAULT_API_PRICES: tuple[ApiPrice, ...] = (
    ApiPrice("OpenAI gpt-4o-mini", 0.15, 0.60, "2024-07-18", _LIST_PRICE),
    ApiPrice("OpenAI gpt-4o", 2.50, 10.00, "2024-08-06", _LIST_PRICE),
    ApiPrice("Anthropic Claude 3 Haiku", 0.25, 1.25, "2024-03-13", _LIST_PRICE),
    ApiPrice("Anthropic Claude 3.5 Haiku", 1.00, 5.00, "2024-11-04", _LIST_PRICE),
)

# One general-purpose cloud vCPU-hour on demand: an AWS c7i.large (2 vCPU) costs $0.0893/h
# on demand in us-east-1 (Linux, 2024), i.e. $0.0446 per vCPU-hour. A vCPU is a hyperthread,
# the unit a thread count of the student refers to.
DEFAULT_VCPU_HOUR_USD = 0.0446

# One H100-class GPU-hour: on-demand single-GPU rentals from GPU clouds ran at roughly
# $2-3.50/h in 2024 (hyperscalers charge more per GPU in 8-GPU instances); $2.50 is a middle
# figure, not a quote. Pass --gpu-hour-usd with the price you actually pay.
DEFAULT_GPU_HOUR_USD = 2.50

_SPEC = re.compile(r"^(?P<name>[^=]+)=(?P<input>[^/@]+)/(?P<output>[^/@]+)(?:@(?P<date>.+))?$")
_SPEC_FORM = "NAME=IN/OUT or NAME=IN/OUT@YYYY-MM-DD (USD per million tokens), e.g. mini=0.15/0.6"


def parse_price(spec: str) -> ApiPrice:
    """An API price from a command-line spec.

    Args:
        spec: ``NAME=IN/OUT`` or ``NAME=IN/OUT@YYYY-MM-DD``, IN and OUT in USD per million
            prompt and completion tokens. Without a date the price is taken as of today.

    Returns:
        The price, noted as given on the command line.

    Raises:
        ValueError: a spec not of that form, or a price or date that is not valid.
    """
    match = _SPEC.match(spec.strip())
    if match is None:
        raise ValueError(f"cannot read the API price {spec!r}: expected {_SPEC_FORM}")
    try:
        price_in, price_out = float(match["input"]), float(match["output"])
    except ValueError:
        raise ValueError(f"prices in {spec!r} must be numbers: expected {_SPEC_FORM}") from None
    as_of = (match["date"] or dt.date.today().isoformat()).strip()
    return ApiPrice(match["name"].strip(), price_in, price_out, as_of, "given on the command line")


def per_million(seconds_per_tx: float, usd_per_hour: float) -> float:
    """USD per million transactions at this many seconds each and this hourly price."""
    return seconds_per_tx * 1e6 / 3600.0 * usd_per_hour


def _option(
    name: str, basis: str, usd_per_m: float, as_of: str | None, student: float
) -> dict[str, Any]:
    """One way of paying for the teacher, compared with the student's cost."""
    # A free teacher (a price of 0) makes "percent cheaper" meaningless rather than -infinity.
    cheaper = 100.0 * (1.0 - student / usd_per_m) if usd_per_m > 0 else None
    return {
        "name": name,
        "basis": basis,
        "usd_per_m": usd_per_m,
        "as_of": as_of,
        "percent_cheaper": cheaper,
        "ratio": usd_per_m / student,
    }


def _check_positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def cost_report(
    teacher: Mapping[str, Any],
    student_cpu_seconds_per_tx: float,
    *,
    api_prices: Sequence[ApiPrice] = DEFAULT_API_PRICES,
    vcpu_hour_usd: float = DEFAULT_VCPU_HOUR_USD,
    gpu_hour_usd: float = DEFAULT_GPU_HOUR_USD,
    teacher_vcpus: int | None = None,
    teacher_on_gpu: bool = False,
) -> dict[str, Any]:
    """Cost per million transactions of the student and of every way of paying for the teacher.

    The student costs ``student_cpu_seconds_per_tx × 1e6 / 3600 × vcpu_hour_usd``. The teacher
    options are, in order:

    * one per API price, from the teacher's prompt and completion tokens per transaction
      (none when the teacher's tokens are None);
    * the measured local teacher (``kind == "local"``), from its wall seconds per transaction
      at ``gpu_hour_usd`` when it ran on a GPU, else at ``vcpu_hour_usd × teacher_vcpus``
      (none when its seconds are None).

    A teacher of kind ``"labels"`` (human labels read from a file) has neither figure, so it has
    no cost option, and an ``"api"`` teacher's wall time is not priced as CPU time.

    Args:
        teacher: the results' ``teacher`` block (``kind``, ``id``, ``seconds_per_tx``,
            ``prompt_tokens_per_tx``, ``completion_tokens_per_tx``, ``hardware``).
        student_cpu_seconds_per_tx: CPU seconds per transaction of the student, e.g.
            ``1 / batch64_tx_per_s_1thread``.
        api_prices: the API list prices to compare with.
        vcpu_hour_usd: USD per vCPU-hour, for the student and a local CPU teacher.
        gpu_hour_usd: USD per GPU-hour, for a local GPU teacher.
        teacher_vcpus: vCPUs the local CPU teacher kept busy; None counts 1, which understates
            the teacher's cost (the conservative side for the student). Pass the cores it used.
        teacher_on_gpu: whether the local teacher ran on a GPU.

    Returns:
        ``student_usd_per_m``, ``student_cpu_seconds_per_tx``, ``vcpu_hour_usd``,
        ``gpu_hour_usd``, ``teacher_options`` (each with ``name``, ``basis`` — "tokens",
        "local-cpu" or "local-gpu" —, ``usd_per_m``, ``as_of``, ``percent_cheaper`` (the
        student against it; None for a free option) and ``ratio`` (teacher / student)) and
        ``headline_option``: the measured local teacher when there is one, else the cheapest
        API option, else None.

    Raises:
        ValueError: a student time or hourly price that is not a finite number > 0, or a
            ``teacher_vcpus`` below 1.
    """
    _check_positive("student_cpu_seconds_per_tx", student_cpu_seconds_per_tx)
    _check_positive("vcpu_hour_usd", vcpu_hour_usd)
    _check_positive("gpu_hour_usd", gpu_hour_usd)
    if teacher_vcpus is not None and teacher_vcpus < 1:
        raise ValueError(
            f"teacher_vcpus must be ≥ 1 (the cores the teacher used), got {teacher_vcpus}"
        )
    student = per_million(student_cpu_seconds_per_tx, vcpu_hour_usd)
    options = _api_options(teacher, api_prices, student)
    local = _local_option(teacher, vcpu_hour_usd, gpu_hour_usd, teacher_vcpus, teacher_on_gpu)
    if local is not None:
        options.append(_option(*local, None, student))
    headline = None
    if local is not None:
        headline = local[0]
    elif options:
        headline = min(options, key=lambda option: option["usd_per_m"])["name"]
    return {
        "student_usd_per_m": student,
        "student_cpu_seconds_per_tx": float(student_cpu_seconds_per_tx),
        "vcpu_hour_usd": vcpu_hour_usd,
        "gpu_hour_usd": gpu_hour_usd,
        "teacher_options": options,
        "headline_option": headline,
    }


def _api_options(
    teacher: Mapping[str, Any], api_prices: Sequence[ApiPrice], student: float
) -> list[dict[str, Any]]:
    prompt, completion = (
        teacher.get("prompt_tokens_per_tx"),
        teacher.get("completion_tokens_per_tx"),
    )
    if prompt is None or completion is None or teacher.get("kind") == "labels":
        return []
    return [
        _option(
            price.name, "tokens", price.usd_per_tx(prompt, completion) * 1e6, price.as_of, student
        )
        for price in api_prices
    ]


def _local_option(
    teacher: Mapping[str, Any],
    vcpu_hour_usd: float,
    gpu_hour_usd: float,
    teacher_vcpus: int | None,
    on_gpu: bool,
) -> tuple[str, str, float] | None:
    """Name, basis and USD per million of the measured local teacher, if it was measured."""
    seconds = teacher.get("seconds_per_tx")
    if seconds is None or teacher.get("kind") != "local":
        return None
    teacher_id = teacher.get("id") or "local teacher"
    if on_gpu:
        return f"{teacher_id} measured (1 GPU)", "local-gpu", per_million(seconds, gpu_hour_usd)
    vcpus = teacher_vcpus or 1
    usd = per_million(seconds, vcpu_hour_usd * vcpus)
    return f"{teacher_id} measured ({vcpus} vCPU)", "local-cpu", usd
