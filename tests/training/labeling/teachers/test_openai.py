"""The `openai:` teacher against a real llama.cpp server (SmolLM2) and a fault-injecting server."""

from __future__ import annotations

import email.utils
import logging
import math
import socket
import time
from typing import Any

import pytest

from categorizer.taxonomy import default_taxonomy
from categorizer.text import to_model_text
from training.labeling.prompt import PromptBuilder
from training.labeling.teachers import make_teacher
from training.labeling.teachers.base import Example, LabelRequest, TeacherError
from training.labeling.teachers.openai_compat import OpenAITeacher, retry_after
from training.synthesis.synth import SynthConfig, generate

TAXONOMY = default_taxonomy()
PROMPT = PromptBuilder(TAXONOMY)
FAST = {"backoff_base": 0.01, "backoff_cap": 0.05, "timeout": 0.5, "max_retries": 2}


def requests_for(texts: list[str]) -> list[LabelRequest]:
    return [LabelRequest(key=f"k{i}", text=t) for i, t in enumerate(texts)]


def synthetic_texts(n: int = 20) -> list[str]:
    frame = generate(SynthConfig(n=n, seed=3, workers=1))
    return [to_model_text(row) for row in frame.to_dict("records")]


def argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def fault_teacher(server: Any, **options: Any) -> OpenAITeacher:
    settings = {**FAST, "detailed": False, "concurrency": 1, "seed": 0, **options}
    return OpenAITeacher("fault", TAXONOMY, base_url=server.url, **settings)


def expected_primary(server: Any, text: str) -> str:
    return PROMPT.codes[server.expected_code(PROMPT.messages(text))]


def assert_well_formed(server: Any, text: str, result: Any) -> None:
    """The fault server's good answer: 2/3 on the favoured code, label mass 0.9."""
    assert result.error is None
    assert math.isclose(sum(result.probs), 1.0, abs_tol=1e-9)
    assert result.probs[TAXONOMY.index(expected_primary(server, text))] == pytest.approx(2 / 3)
    assert result.label_mass == pytest.approx(0.9)
    assert not result.hard
    assert result.prompt_tokens > 0
    assert result.completion_tokens == 1


# -- the real server -------------------------------------------------------------------------


def llama_teacher(url: str, **options: Any) -> OpenAITeacher:
    return OpenAITeacher("smollm2", TAXONOMY, base_url=url, concurrency=4, timeout=300, **options)


@pytest.fixture(scope="module")
def llama_labels(llama_server: str) -> tuple[list[str], list[Any], float]:
    texts = synthetic_texts(20)
    teacher = llama_teacher(llama_server, detailed=False)
    started = time.perf_counter()
    results = teacher.label(requests_for(texts))
    return texts, results, time.perf_counter() - started


@pytest.mark.slow
def test_llama_server_gives_distributions_over_the_taxonomy(llama_labels: Any) -> None:
    texts, results, seconds = llama_labels
    assert len(results) == len(texts)
    for result in results:
        assert result.error is None, result.error
        assert len(result.probs) == len(TAXONOMY.labels) == 16
        assert math.isclose(sum(result.probs), 1.0, abs_tol=1e-6)
        assert all(p >= 0.0 for p in result.probs)
        assert 0.0 < result.label_mass <= 1.0
        assert not result.hard
        assert result.prompt_tokens > 300  # the category list alone is hundreds of tokens
        assert result.completion_tokens == 1
        assert result.detailed is None
        assert result.seconds == pytest.approx(seconds / len(texts), rel=0.5)


@pytest.mark.slow
def test_llama_server_results_keep_request_order(llama_server: str, llama_labels: Any) -> None:
    texts, first, _ = llama_labels
    picked = [0, 3, 7, 12, 19]
    # Prompt lengths differ by text and do not depend on the server's state: an exact check.
    assert len({first[i].prompt_tokens for i in picked}) > 1
    again = llama_teacher(llama_server, detailed=False).label(
        requests_for([texts[i] for i in reversed(picked)])
    )
    for i, result in zip(reversed(picked), again, strict=True):
        assert result.prompt_tokens == first[i].prompt_tokens
        # Batching and the prompt cache move logprobs by a few hundredths, no more.
        assert result.probs == pytest.approx(first[i].probs, abs=0.1)


@pytest.mark.slow
def test_llama_server_detailed_pass_gives_a_child_of_the_primary(
    llama_server: str, llama_labels: Any
) -> None:
    texts, first, _ = llama_labels
    results = llama_teacher(llama_server).label(requests_for(texts[:4]))
    for result, primary_only in zip(results, first, strict=False):
        assert result.error is None, result.error
        primary = TAXONOMY.labels[argmax(result.probs)]
        children = {c.id for c in TAXONOMY.children(primary)}
        assert result.detailed in children, "SmolLM2 put no mass on the detailed codes"
        assert 0.0 < result.detailed_confidence <= 1.0
        assert result.prompt_tokens > primary_only.prompt_tokens  # two prompts were sent
        assert result.completion_tokens == 2


# -- faults: retried, then answered ----------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ("429", None),
        ("500",),
        ("status", 503, {"error": "loading model"}),
        ("slow", 1.5),
        ("malformed",),
    ],
    ids=["429", "500", "503", "timeout", "malformed-json"],
)
def test_a_fault_is_retried_then_succeeds(fault_server: Any, fault: tuple, caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.script(fault)
    text = "SECRET COFFEE SHOP 123 | debit | 1-10"
    [result] = fault_teacher(fault_server).label(requests_for([text]))
    assert_well_formed(fault_server, text, result)
    assert [entry["fault"] for entry in fault_server.log] == [fault, ("ok",)]
    assert "SECRET COFFEE" not in caplog.text  # transaction text is never logged


def test_several_faults_in_a_row_are_all_retried(fault_server: Any) -> None:
    fault_server.script(("429", None), ("500",), ("malformed",), ("slow", 1.5))
    [result] = fault_teacher(fault_server, max_retries=4).label(requests_for(["UBER TRIP"]))
    assert_well_formed(fault_server, "UBER TRIP", result)
    assert len(fault_server.log) == 5


@pytest.mark.parametrize("header", ["1", "date+2"], ids=["seconds", "http-date"])
def test_retry_after_is_honoured(fault_server: Any, header: str) -> None:
    # An HTTP date has whole seconds: "2 s from now" is between 1 and 2 s away.
    fault_server.script(("429", header))
    [result] = fault_teacher(fault_server).label(requests_for(["NETFLIX.COM"]))
    assert result.error is None
    gap = fault_server.log[1]["time"] - fault_server.log[0]["time"]
    assert 0.95 <= gap <= 3.5


def test_retry_after_waits_are_capped(fault_server: Any) -> None:
    fault_server.script(("429", "3600"))
    started = time.perf_counter()
    [result] = fault_teacher(fault_server, max_wait=0.2).label(requests_for(["NETFLIX.COM"]))
    assert result.error is None
    assert time.perf_counter() - started < 2.0


def test_retry_after_header_forms() -> None:
    now = time.time()
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "0.5"}) == 0.5
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert 28.0 <= retry_after({"retry-after": date}, now=now) <= 30.0
    assert retry_after({"retry-after": email.utils.formatdate(now - 30, usegmt=True)}) == 0.0
    assert retry_after({"retry-after": "soon"}) is None
    assert retry_after({}) is None


# -- faults: the row fails, with the reason --------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [(("500",), "HTTP 500"), (("malformed",), "malformed JSON"), (("slow", 1.5), "timed out")],
)
def test_exhausted_retries_fail_the_row(fault_server: Any, fault: tuple, reason: str) -> None:
    fault_server.script(*[fault] * 3, only="AMAZON")  # max_retries=2: three attempts
    failed, ok = fault_teacher(fault_server).label(requests_for(["AMAZON MKTPL", "SHELL OIL"]))
    assert failed.probs is None
    assert failed.failed
    assert reason in failed.error
    assert "after 3 attempts" in failed.error
    assert_well_formed(fault_server, "SHELL OIL", ok)


def test_a_client_error_fails_the_row_at_once(fault_server: Any) -> None:
    fault_server.script(("status", 400, {"error": {"message": "top_logprobs must be <= 20"}}))
    [result] = fault_teacher(fault_server).label(requests_for(["WALMART"]))
    assert result.failed
    assert "HTTP 400" in result.error
    assert "top_logprobs" in result.error
    assert len(fault_server.log) == 1


def test_no_logprobs_gives_a_hard_label_and_warns_once(fault_server: Any, caplog: Any) -> None:
    fault_server.script(("nologprobs",), ("nologprobs",), ("nologprobs",))
    texts = ["TARGET 1234", "CVS PHARMACY", "SPOTIFY"]
    with caplog.at_level(logging.WARNING):
        results = fault_teacher(fault_server).label(requests_for(texts))
    for text, result in zip(texts, results, strict=True):
        assert result.error is None
        assert result.hard is True
        assert result.label_mass is None
        assert result.probs[TAXONOMY.index(expected_primary(fault_server, text))] == 1.0
        assert sum(result.probs) == 1.0
    assert caplog.text.count("no logprobs") == 1


@pytest.mark.parametrize("logprobs", [True, False], ids=["soft", "hard"])
def test_answer_words_read_as_their_categories(fault_server: Any, logprobs: bool) -> None:
    words = PromptBuilder(TAXONOMY, detailed=False, answers="words")
    if not logprobs:
        fault_server.script(*[("nologprobs",)] * 3)
    texts = ["TARGET 1234", "CVS PHARMACY", "SPOTIFY"]
    teacher = fault_teacher(fault_server, answers="words")
    assert teacher.prompt_version.endswith("/primary-only/words")
    for text, result in zip(texts, teacher.label(requests_for(texts)), strict=True):
        expected = words.codes[fault_server.expected_code(words.messages(text))]
        assert result.error is None
        assert result.probs[TAXONOMY.index(expected)] == pytest.approx(2 / 3 if logprobs else 1)
        assert result.label_mass == (pytest.approx(0.9) if logprobs else None)
    sent = fault_server.log[0]["body"]["messages"]
    assert sent[0]["content"] == words.system
    assert "\nFood: FOOD_AND_DRINK - " in sent[0]["content"]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (("answer", "Z"), "not one of the codes"),
        (("answer", "Sure! The category"), "not one of the codes"),
        (("offcodes",), "no probability on the answer codes"),
    ],
    ids=["letter-outside", "prose", "logprobs-outside"],
)
def test_an_answer_outside_the_codes_fails_the_row(
    fault_server: Any, fault: tuple, reason: str
) -> None:
    fault_server.script(fault)
    [result] = fault_teacher(fault_server).label(requests_for(["MYSTERY 42"]))
    assert result.failed
    assert result.probs is None
    assert reason in result.error
    assert len(fault_server.log) == 1  # a deterministic answer is not retried


# -- concurrency, detailed pass, keys, start-up ----------------------------------------------


def test_concurrent_requests_keep_order_and_stay_bounded(fault_server: Any) -> None:
    fault_server.delay = 0.05  # answers for every other code arrive late: completion reorders
    texts = [f"MERCHANT {i} | debit | 10-50" for i in range(24)]
    results = fault_teacher(fault_server, concurrency=6).label(requests_for(texts))
    for text, result in zip(texts, results, strict=True):
        assert_well_formed(fault_server, text, result)
    assert 1 < fault_server.max_inflight <= 6


def test_detailed_pass_picks_a_child_of_the_primary(fault_server: Any) -> None:
    texts = [f"SHOP {i}" for i in range(6)]
    examples = (Example("SHOP 0", TAXONOMY.labels[0]),)
    teacher = fault_teacher(fault_server, detailed=True, concurrency=3, examples_id="fs1-test")
    assert teacher.prompt_version.endswith("fs1-test")
    requests = [LabelRequest(key=t, text=t, examples=examples) for t in texts]
    for result in teacher.label(requests):
        primary = TAXONOMY.labels[argmax(result.probs)]
        children = TAXONOMY.children(primary)
        assert result.detailed in {c.id for c in children}
        expected = 2 / 3 if len(children) > 1 else 1.0
        assert result.detailed_confidence == pytest.approx(expected)
        assert result.prompt_tokens > 100
    bodies = [entry["body"] for entry in fault_server.log]
    assert all(b["max_tokens"] == 1 and b["temperature"] == 0 and b["logprobs"] for b in bodies)
    assert all(b["top_logprobs"] == 20 and b["model"] == "fault" for b in bodies)


def test_api_key_is_sent_and_never_shown(
    fault_server: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-test-0123456789abcdef"
    monkeypatch.setenv("MY_TEACHER_KEY", key)
    fault_server.script(
        ("status", 401, {"error": {"message": f"Incorrect API key {key}"}}), only="ALPHA"
    )
    teacher = make_teacher(
        "openai:fault", TAXONOMY, base_url=fault_server.url, api_key_env="MY_TEACHER_KEY",
        detailed=False, **FAST,
    )  # fmt: skip
    assert teacher.id == "openai:fault"
    caplog.set_level(logging.DEBUG)
    failed, ok = teacher.label(requests_for(["ALPHA STORE", "BRAVO STORE"]))
    assert fault_server.log[0]["headers"]["Authorization"] == f"Bearer {key}"
    assert "HTTP 401" in failed.error
    assert key not in failed.error
    assert ok.error is None
    assert key not in caplog.text
    assert key not in repr(teacher)


def test_a_refused_key_raises_at_start(fault_server: Any) -> None:
    fault_server.models_status = 401
    with pytest.raises(TeacherError, match="refused the API key"):
        fault_teacher(fault_server, api_key="sk-wrong")


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_an_unreachable_server_raises_at_start() -> None:
    url = dead_url()
    started = time.perf_counter()
    with pytest.raises(TeacherError, match=url.replace(".", r"\.")):
        OpenAITeacher("x", TAXONOMY, base_url=url)
    assert time.perf_counter() - started < 5.0


def test_a_server_lost_mid_run_fails_rows_without_raising() -> None:
    teacher = OpenAITeacher("x", TAXONOMY, base_url=dead_url(), check=False, **FAST)
    results = teacher.label(requests_for(["A", "B"]))
    assert all(r.failed and "connection error" in r.error for r in results)


@pytest.mark.parametrize(
    "options",
    [{"base_url": "localhost:8080"}, {"concurrency": 0}, {"top_logprobs": 0}, {"max_retries": -1}],
)
def test_bad_settings_are_teacher_errors(options: dict) -> None:
    settings = {"base_url": "http://127.0.0.1:9/v1", "check": False, **options}
    with pytest.raises(TeacherError):
        OpenAITeacher("x", TAXONOMY, **settings)
