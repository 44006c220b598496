"""`label_file`: outputs, meta figures, caching and resume, failures, batching and cost."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from categorizer.ingest.data import DataError
from categorizer.taxonomy import Taxonomy, default_taxonomy
from training.labeling.runner import (
    OUTPUT_COLUMNS,
    Prices,
    default_cache_path,
    label_file,
    load_examples,
    meta_path,
)
from training.labeling.teachers import make_teacher
from training.labeling.teachers.base import Example, LabelRequest, TeacherError, TeacherResult
from training.synthesis.synth import SynthConfig, generate

TAXONOMY = default_taxonomy()
N = 120


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = generate(SynthConfig(n=N, seed=7))
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    frame.to_parquet(path, index=False)
    return path


def labels_teacher(**options: Any) -> Any:
    return make_teacher("labels:category", TAXONOMY, **options)


class FakeLLM:
    """A deterministic teacher that counts calls and spends tokens, like an LLM would."""

    def __init__(
        self,
        batch_size: int = 7,
        *,
        fail_on: str | None = None,
        hard: bool = False,
        broken: str | None = None,
        stop_after: int | None = None,
        prompt_version: str = "1/tax-test",
    ) -> None:
        self.id = "fake:llm"
        self.prompt_version = prompt_version
        self.batch_size = batch_size
        self.batches: list[list[LabelRequest]] = []
        self.fail_on, self.hard, self.broken, self.stop_after = fail_on, hard, broken, stop_after

    def label(self, requests: Sequence[LabelRequest]) -> list[TeacherResult]:
        if self.stop_after is not None and len(self.batches) >= self.stop_after:
            raise TeacherError("server went away")
        self.batches.append(list(requests))
        return [self._one(r) for r in requests]

    def _one(self, request: LabelRequest) -> TeacherResult:
        if self.fail_on and self.fail_on in request.text:
            return TeacherResult.failure("answer 'Z' is not one of the codes")
        k = len(TAXONOMY.labels)
        probs = [0.5 / (k - 1)] * k
        probs[len(request.text) % k] = 0.5
        if self.broken == "short":
            probs = probs[:3]
        elif self.broken == "sum":
            probs = [p * 2 for p in probs]
        return TeacherResult(
            probs=probs,
            label_mass=0.8,
            hard=self.hard,
            prompt_tokens=100,
            completion_tokens=1,
        )

    def close(self) -> None:
        pass

    @property
    def sent(self) -> list[LabelRequest]:
        return [r for batch in self.batches for r in batch]


def test_labels_teacher_end_to_end(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.parquet"
    summary = label_file(corpus, out, labels_teacher())
    frame = pd.read_parquet(out)
    source = pd.read_parquet(corpus)
    assert len(frame) == N
    for column in ("id", "description", "amount", "category", "merchant", *OUTPUT_COLUMNS):
        assert column in frame.columns
    schema = pq.read_schema(out)
    assert str(schema.field("teacher_probs").type) == "list<element: float>"
    assert (frame["teacher_label"] == source["category"]).all()
    assert (frame["teacher_status"] == "ok").all()
    assert (frame["teacher_confidence"] == 1.0).all()
    assert (frame["teacher"] == "labels:category|none").all()
    assert frame["label_mass"].isna().all()
    for probs, label in zip(frame["teacher_probs"], frame["teacher_label"], strict=True):
        assert len(probs) == len(TAXONOMY.labels)
        assert math.isclose(float(probs.sum()), 1.0, abs_tol=1e-6)
        assert TAXONOMY.labels[int(probs.argmax())] == label

    meta = json.loads(meta_path(out).read_text())
    assert meta == json.loads(json.dumps(summary.to_dict()))
    assert meta["rows"] == N
    assert meta["cache_hits"] == 0
    assert meta["teacher_calls"] + meta["duplicates"] == N
    assert meta["failed"] == 0
    assert meta["prompt_tokens"] == meta["completion_tokens"] == 0
    assert meta["cost_usd"] == 0.0
    assert meta["teacher"] == "labels:category"
    assert meta["prompt_version"] == "none"
    assert meta["taxonomy"] == TAXONOMY.fingerprint()
    assert meta["labels"] == list(TAXONOMY.labels)
    assert meta["seconds"] > 0
    assert meta["started"] <= meta["finished"]
    assert set(meta["prices"]) == {"price_in", "price_out", "hourly_price"}
    assert default_cache_path(out).exists()


def test_rerun_is_a_full_cache_hit(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.parquet"
    first = label_file(corpus, out, labels_teacher())
    before = pd.read_parquet(out)
    second = label_file(corpus, out, labels_teacher())
    assert second.teacher_calls == 0
    assert second.batches == 0
    assert second.cache_hits == N
    assert first.teacher_calls > 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), before)


def test_failed_rows_are_counted_unlabeled_and_retried(corpus: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(corpus)
    frame.loc[[3, 10], "category"] = "NOT_A_CATEGORY"
    frame.loc[20, "category"] = None
    path = tmp_path / "dirty.parquet"
    frame.to_parquet(path, index=False)
    out = tmp_path / "labels.parquet"

    summary = label_file(path, out, labels_teacher())
    labeled = pd.read_parquet(out)
    assert summary.failed == 3
    failed = labeled[labeled["teacher_status"].str.startswith("failed: ")]
    assert sorted(failed.index) == [3, 10, 20]
    assert failed["teacher_label"].isna().all()
    assert failed["teacher_probs"].isna().all()
    assert failed["teacher_confidence"].isna().all()
    assert "'NOT_A_CATEGORY' in column 'category'" in failed.loc[3, "teacher_status"]
    assert summary.failures == {
        "'NOT_A_CATEGORY' in column 'category' is not a category of taxonomy 'plaid-pfc'": 2,
        "no label in column 'category'": 1,
    }
    assert json.loads(meta_path(out).read_text())["failed"] == 3

    rerun = label_file(path, out, labels_teacher())
    assert rerun.teacher_calls == 3  # failures are not cached: a rerun asks again
    assert rerun.cache_hits == N - 3


def test_limit_labels_the_first_rows(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.parquet"
    summary = label_file(corpus, out, labels_teacher(), limit=10)
    frame = pd.read_parquet(out)
    assert summary.rows == len(frame) == 10
    assert list(frame["id"]) == list(pd.read_parquet(corpus)["id"][:10])
    assert json.loads(meta_path(out).read_text())["limit"] == 10
    with pytest.raises(DataError, match="at least 1"):
        label_file(corpus, out, labels_teacher(), limit=0)


def test_batches_tokens_cost_and_progress(corpus: Path, tmp_path: Path) -> None:
    teacher = FakeLLM(batch_size=7)
    seen: list[tuple[int, int]] = []
    prices = Prices(price_in=0.15, price_out=0.60, hourly_price=36.0)
    summary = label_file(
        corpus,
        tmp_path / "l.parquet",
        teacher,
        prices=prices,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert all(len(b) <= 7 for b in teacher.batches)
    assert summary.batches == len(teacher.batches) == math.ceil(summary.teacher_calls / 7)
    assert summary.prompt_tokens == 100 * summary.teacher_calls
    assert summary.completion_tokens == summary.teacher_calls
    expected = (
        summary.prompt_tokens * 0.15 / 1e6
        + summary.completion_tokens * 0.60 / 1e6
        + summary.teacher_seconds * 36.0 / 3600
    )
    assert math.isclose(summary.cost_usd, expected)
    assert summary.cost_usd > 0
    assert seen[0] == (0, N)
    assert seen[-1] == (N, N)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len(seen) == summary.batches + 1


def test_identical_transactions_are_sent_once(corpus: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(corpus)
    doubled = pd.concat([frame, frame], ignore_index=True)
    path = tmp_path / "doubled.parquet"
    doubled.to_parquet(path, index=False)
    teacher = FakeLLM()
    summary = label_file(path, tmp_path / "l.parquet", teacher)
    keys = [r.key for r in teacher.sent]
    assert len(keys) == len(set(keys)) == summary.teacher_calls
    assert summary.rows == summary.teacher_calls + summary.duplicates == 2 * N
    labeled = pd.read_parquet(tmp_path / "l.parquet")
    assert (
        labeled["teacher_label"][:N].to_numpy() == labeled["teacher_label"][N:].to_numpy()
    ).all()


def test_resume_after_the_teacher_stops(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "l.parquet"
    with pytest.raises(TeacherError, match="server went away"):
        label_file(corpus, out, FakeLLM(batch_size=10, stop_after=3))
    assert not out.exists()
    teacher = FakeLLM(batch_size=10)
    summary = label_file(corpus, out, teacher)
    assert summary.cache_hits == 30  # the three finished batches were committed
    assert summary.teacher_calls == N - 30
    sent = {r.key for r in teacher.sent}
    assert len(sent) == N - 30


def test_llm_failures_and_malformed_answers_are_not_labels(corpus: Path, tmp_path: Path) -> None:
    summary = label_file(corpus, tmp_path / "a.parquet", FakeLLM(fail_on="|"))
    assert summary.failed == N  # every text has a " | " separator
    frame = pd.read_parquet(tmp_path / "a.parquet")
    assert frame["teacher_label"].isna().all()
    assert (frame["teacher_status"] == "failed: answer 'Z' is not one of the codes").all()
    assert summary.prompt_tokens == 0

    for broken, reason in (("short", "3 probabilities for 16 labels"), ("sum", "sum to")):
        out = tmp_path / f"{broken}.parquet"
        bad = label_file(corpus, out, FakeLLM(broken=broken), cache_path=tmp_path / "c.sqlite")
        assert bad.failed == N
        assert reason in next(iter(bad.failures))
        assert pd.read_parquet(out)["teacher_label"].isna().all()


def test_hard_labels_are_marked(corpus: Path, tmp_path: Path) -> None:
    summary = label_file(corpus, tmp_path / "h.parquet", FakeLLM(hard=True), limit=5)
    assert summary.hard == 5
    assert (pd.read_parquet(tmp_path / "h.parquet")["teacher_status"] == "hard").all()


def test_keys_depend_on_teacher_prompt_taxonomy_and_label_column(
    corpus: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "shared.sqlite"
    out = tmp_path / "l.parquet"
    assert label_file(corpus, out, FakeLLM(), cache_path=cache).teacher_calls > 0
    assert label_file(corpus, out, FakeLLM(), cache_path=cache).teacher_calls == 0
    other = FakeLLM(prompt_version="2/tax-test")
    assert label_file(corpus, out, other, cache_path=cache).cache_hits == 0

    data = default_taxonomy().to_dict()
    data["version"] = "1.1"
    changed = Taxonomy.from_dict(data)
    assert label_file(corpus, out, FakeLLM(), taxonomy=changed, cache_path=cache).cache_hits == 0

    frame = pd.read_parquet(corpus)
    label_file(corpus, out, labels_teacher(), cache_path=cache)
    already = int((frame["category"] == "INCOME").sum())
    frame["category"] = "INCOME"  # same texts, other labels: must not come from the cache
    relabeled = tmp_path / "relabeled.parquet"
    frame.to_parquet(relabeled, index=False)
    summary = label_file(relabeled, out, labels_teacher(), cache_path=cache)
    assert 0 < already < N
    assert summary.cache_hits == already
    assert (pd.read_parquet(out)["teacher_label"] == "INCOME").all()


def test_column_mapping_is_passed_through(tmp_path: Path) -> None:
    path = tmp_path / "bank.csv"
    path.write_text(
        "Memo,Amount,Label\nSTARBUCKS STORE 1234 SEATTLE WA,-5.75,FOOD_AND_DRINK\n"
        "PAYROLL ACME CORP,2500.00,INCOME\n",
        encoding="utf-8",
    )
    out = tmp_path / "l.parquet"
    teacher = make_teacher("labels:Label", TAXONOMY)
    summary = label_file(path, out, teacher, columns={"description": "Memo"})
    assert summary.failed == 0
    assert list(pd.read_parquet(out)["teacher_label"]) == ["FOOD_AND_DRINK", "INCOME"]


def test_rows_without_an_amount_are_labeled_from_their_text(tmp_path: Path) -> None:
    # most real exports in the dev set give no amount: the text alone is the teacher's input
    path = tmp_path / "bank.csv"
    path.write_text(
        "description,amount\nSTARBUCKS STORE 1234 SEATTLE WA,\nPAYROLL ACME CORP,2500.00\n",
        encoding="utf-8",
    )
    teacher = FakeLLM()
    summary = label_file(path, tmp_path / "l.parquet", teacher, taxonomy=TAXONOMY)
    assert summary.failed == 0
    assert summary.rows == 2
    texts = sorted(r.text for r in teacher.sent)
    assert texts[0].startswith("PAYROLL ACME CORP | credit | ")
    assert texts[1] == "STARBUCKS STORE # SEATTLE WA"  # no direction, no amount bucket


def test_bad_inputs_are_data_errors(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"labels\.csv.*\.parquet"):
        label_file(corpus, tmp_path / "labels.csv", labels_teacher())
    with pytest.raises(DataError, match=r"'human_label'.*lacks"):
        label_file(corpus, tmp_path / "l.parquet", make_teacher("labels:human_label", TAXONOMY))
    with pytest.raises(DataError, match="missing"):
        label_file(tmp_path / "missing.csv", tmp_path / "l.parquet", labels_teacher())


@pytest.mark.parametrize(
    "kwargs", [{"price_in": -1.0}, {"price_out": math.inf}, {"hourly_price": math.nan}]
)
def test_prices_are_validated(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="finite number"):
        Prices(**kwargs)


class FakeRetriever:
    """Stands in for `training.labeling.fewshot.ExampleRetriever` (tested with its own module)."""

    id = "abcd1234"
    source = "seed.csv"

    def examples_id(self, k: int = 4) -> str:
        return f"fs{k}-{self.id}"

    def retrieve(self, texts: Sequence[str], k: int = 4) -> list[tuple[Example, ...]]:
        return [tuple(Example(f"SEED {i} {t}", "INCOME") for i in range(k)) for t in texts]


def test_examples_reach_the_teacher_and_the_prompt_version(corpus: Path, tmp_path: Path) -> None:
    teacher = FakeLLM()
    out = tmp_path / "l.parquet"
    summary = label_file(corpus, out, teacher, examples=FakeRetriever(), k=2, limit=5)
    assert summary.prompt_version == "1/tax-test/fs2-abcd1234"
    assert all(len(r.examples) == 2 for r in teacher.sent)
    assert teacher.sent[0].examples[0].text.endswith(teacher.sent[0].text)
    assert summary.examples == {"source": "seed.csv", "id": "abcd1234", "k": 2}
    # a teacher that already names the examples in its version keeps it as it is
    named = FakeLLM(prompt_version="1/tax-test/fs2-abcd1234")
    again = label_file(corpus, out, named, examples=FakeRetriever(), k=2, limit=5)
    assert again.prompt_version == "1/tax-test/fs2-abcd1234"
    assert again.cache_hits == 5


def test_a_bad_seed_file_is_named_once(tmp_path: Path) -> None:
    seed = tmp_path / "seed.csv"
    seed.write_text("description,amount,category\nSTARBUCKS,-5,FOOD\n", encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_examples(seed, default_taxonomy())
    message = str(caught.value)
    assert message.count("seed.csv") == 1
    assert "unknown category 'FOOD'" in message
