"""Baselines the distilled student is compared against in the report.

- `TfidfLogReg`: character and word n-gram TF-IDF with logistic regression, trained on the same
  teacher labels as the student. It shows what the transformer adds over bag-of-n-grams.
- `ZeroShotEmbedding`: the offline all-MiniLM-L6-v2 with no training at all; each text goes to
  the primary category whose "name: description" embedding is nearest. It shows what
  distillation adds over the pretrained encoder alone.

Both return (rows, C) probabilities over the full label list, in its order, from
``predict_proba(texts)``; texts are the student's model input texts
(`categorizer.text.to_model_text`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from categorizer.engine import softmax
from categorizer.taxonomy import Taxonomy

logger = logging.getLogger(__name__)

_INSTALL_HINT = 'pip install "txn-categorizer[train]"'
_ZERO_SHOT_TEMPERATURE = 0.05
"""Cosine similarities lie in [-1, 1] and differ by a few hundredths between categories;
dividing by 0.05 (as contrastive sentence encoders are trained) turns them into usable odds."""
_MAX_TOKENS = 128  # model texts are ~20 tokens; category descriptions up to ~60


class TfidfLogReg:
    """TF-IDF (char_wb 2-5-grams + word 1-2-grams, sublinear tf) and logistic regression."""

    def __init__(
        self, labels: Sequence[str], seed: int = 0, *, c: float = 10.0, threads: int | None = 1
    ) -> None:
        """Set up an untrained model.

        Args:
            labels: Class ids, in column order.
            seed: The solver's random_state (the Newton-CG solver used is deterministic; kept so
                every baseline takes a seed).
            c: Inverse L2 regularisation strength.
            threads: BLAS threads while fitting; None leaves the library's setting. The solver's
                steps are memory-bound vector operations: on a shared 2-core machine, 2 BLAS
                threads made a 3,000-row fit 2-3x slower than 1.
        """
        if not labels:
            raise ValueError("TfidfLogReg needs at least one label")
        self.labels = list(labels)
        self.seed = seed
        self.c = c
        self.threads = threads
        self._pipeline: Any = None

    def fit(self, texts: Sequence[str], targets: np.ndarray) -> Self:
        """Train on texts and label indices (the teacher's argmax).

        Raises:
            ValueError: Lengths differ, a target is outside the labels, or fewer than 2 distinct
                classes are present (logistic regression cannot separate one class).
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import FeatureUnion, make_pipeline
        from threadpoolctl import threadpool_limits

        targets = np.asarray(targets).astype(np.int64)
        if targets.shape != (len(texts),):
            raise ValueError(f"targets must have shape ({len(texts)},), got {targets.shape}")
        if len(targets) and (targets.min() < 0 or targets.max() >= len(self.labels)):
            raise ValueError(f"targets must be label indices in 0..{len(self.labels) - 1}")
        if len(np.unique(targets)) < 2:
            raise ValueError("TfidfLogReg.fit needs rows of at least 2 distinct classes")
        # Characters within words survive store numbers, truncation and odd spacing; word
        # bigrams keep pairs such as "mcc 5812" together.
        chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
        features = FeatureUnion([("char", chars), ("word", words)])
        # Newton-CG converges in ~10 iterations here where L-BFGS needs ~70, to the same model.
        classifier = LogisticRegression(
            C=self.c, solver="newton-cg", max_iter=1000, random_state=self.seed
        )
        pipeline = make_pipeline(features, classifier)
        with threadpool_limits(self.threads):
            self._pipeline = pipeline.fit(list(texts), targets)
        logger.info(
            "TF-IDF baseline: %d rows, %d classes, %d features",
            len(targets),
            len(self._pipeline.classes_),
            len(features.get_feature_names_out()),
        )
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(rows, C) probabilities; classes absent from training get 0."""
        if self._pipeline is None:
            raise ValueError("TfidfLogReg.predict_proba before fit(): call fit(texts, targets)")
        out = np.zeros((len(texts), len(self.labels)))
        if len(texts):
            out[:, self._pipeline.classes_] = self._pipeline.predict_proba(list(texts))
        return out


class ZeroShotEmbedding:
    """Nearest category description by all-MiniLM-L6-v2 cosine similarity; needs no training."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        model_path: str | None = None,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        """Load the encoder (local files only) and embed each primary's "name: description".

        Args:
            taxonomy: Its primaries are the classes, in `Taxonomy.labels` order.
            model_path: A local sentence-encoder folder; default the offline MiniLM package.
            batch_size: Texts per forward pass.
            threads: torch intra-op threads while embedding (the process's setting is restored
                after); None leaves torch's setting.
        """
        try:
            import torch  # noqa: F401  (needed by _embed: fail here, not on first use)
            from transformers import AutoModel, AutoTokenizer
        except ImportError as exc:
            raise ImportError(
                f"ZeroShotEmbedding needs torch and transformers: {_INSTALL_HINT}"
            ) from exc
        from training.distillation.students import resolve_student_path

        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.threads = threads
        path = model_path or resolve_student_path("minilm")
        self.labels = list(taxonomy.labels)
        self.batch_size = batch_size
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self._categories = self._embed([f"{c.name}: {c.description}" for c in taxonomy.primaries])
        logger.info("zero-shot baseline: %s, %d categories", path, len(self.labels))

    def fit(self, *_: Any, **__: Any) -> Self:
        """No-op (zero-shot); present so both baselines are used alike."""
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(rows, C) softmax of cosine similarity to each category, over 0.05."""
        if not len(texts):
            return np.zeros((0, len(self.labels)))
        similarity = self._embed(texts) @ self._categories.T
        return softmax(similarity, temperature=_ZERO_SHOT_TEMPERATURE)

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled token vectors, (rows, hidden), float64."""
        import torch

        chunks = []
        before = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), self.batch_size):
                    batch = self._tokenizer(
                        list(texts[start : start + self.batch_size]),
                        padding=True,
                        truncation=True,
                        max_length=_MAX_TOKENS,
                        return_tensors="pt",
                    )
                    hidden = self._model(**batch).last_hidden_state
                    # all-MiniLM-L6-v2 was trained with mean pooling over the attention mask.
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)
                    chunks.append(torch.nn.functional.normalize(pooled, dim=-1).double().numpy())
        finally:
            torch.set_num_threads(before)
        return np.concatenate(chunks)
