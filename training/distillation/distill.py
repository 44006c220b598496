"""Distill a student from soft labels: the training loop, early stopping and the run directory.

A run directory holds everything needed to export or repeat the run:

    RUN_DIR/model/            best checkpoint (save_pretrained: weights, config, tokenizer)
    RUN_DIR/student.json      labels, label level, taxonomy fingerprint, text format, max length,
                              base model, the calibration temperature and the data (main, mix)
    RUN_DIR/taxonomy.yaml     the taxonomy the student predicts
    RUN_DIR/train_config.json the final config
    RUN_DIR/metrics.jsonl     one line per epoch (validation)
    RUN_DIR/metrics.json      the best epoch's validation figures and the test split's, the mix
                              file's held-out agreement and the dev-set rows dropped
    RUN_DIR/checkpoint/       the last epoch (weights, optimizer, scheduler, state): --resume

Runs unchanged on one CPU, one GPU, or several under `torchrun`/`accelerate launch` (DDP: each
process takes every world_size-th batch; every process scores the whole validation split itself,
so all of them take the same early-stopping decision without communicating).
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from categorizer.taxonomy import Taxonomy
from training.distillation.batching import (
    bucketed_batches,
    collate,
    encode,
    mask_tokens,
    predict_logits,
)
from training.distillation.distill_data import (
    MIX_VALIDATION,
    LabeledData,
    parent_index,
    student_labels,
)
from training.distillation.distributed import Dist, peak_memory_mb, setup_distributed
from training.distillation.evaluation import evaluate, fit_temperature
from training.distillation.losses import distillation_loss
from training.distillation.mix_data import DataSources, load_training_data
from training.distillation.run_info import STUDENT_FILE
from training.distillation.run_record import STUDENT_FORMAT as STUDENT_FORMAT  # re-exported
from training.distillation.run_record import by_difficulty, data_figures, student_info
from training.distillation.train_config import ConfigError, TrainConfig
from training.distillation.train_state import load_best_weights, load_checkpoint, save_checkpoint

logger = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What `train` produced."""

    run_dir: Path
    metrics: dict[str, Any]
    epochs_run: int
    best_epoch: int
    seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)


def _require_torch() -> Any:
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"training needs torch and transformers ({err}); "
            'install them with: pip install "txn-categorizer[train]"'
        ) from None
    return torch


def train(
    data_path: str | Path,
    run_dir: str | Path,
    config: TrainConfig,
    *,
    taxonomy: Taxonomy,
    resume: bool = False,
    show_progress: bool = True,
) -> TrainResult:
    """Train a student on a labeled file and write the run directory.

    With ``config.mix_data``, a second labeled file joins the training split at
    ``config.mix_weight`` (see `training.distillation.mix_data`); training rows found in
    ``config.dev_set`` are dropped.

    Args:
        data_path: Soft labels from `categorizer label` (Parquet).
        run_dir: Output folder; created if missing.
        config: The run's configuration.
        taxonomy: The taxonomy the labels were made with.
        resume: Continue from RUN_DIR/checkpoint when it exists (same data, same config).
        show_progress: Show a progress bar per epoch.

    Returns:
        The run's metrics and where they were written.

    Raises:
        DataError, SplitError, TaxonomyError: Bad labeled data (see `load_training_data`).
        ConfigError: A student spec that cannot be built, or a resume with another config.
    """
    torch = _require_torch()
    started = time.perf_counter()
    run_dir = Path(run_dir)
    dist = setup_distributed()
    if config.threads:
        torch.set_num_threads(config.threads)
    data, sources = load_training_data(data_path, taxonomy, config)
    run = _Run(config, taxonomy, data, run_dir, dist)
    run.data_path, run.sources = Path(data_path), sources
    if dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir / "train_config.json")
        taxonomy.to_yaml(run_dir / "taxonomy.yaml")
    if resume:
        run.resume()
    elif dist.is_main:  # a fresh run in an old directory: start its epoch log over
        (run_dir / "metrics.jsonl").unlink(missing_ok=True)
    run.fit(show_progress=show_progress and dist.is_main)
    metrics = run.finish(time.perf_counter() - started)
    dist.close()
    return TrainResult(
        run_dir=run_dir,
        metrics=metrics,
        epochs_run=run.epoch,
        best_epoch=run.best_epoch,
        seconds=time.perf_counter() - started,
        history=run.history,
    )


class _Run:
    """The state of one training run; methods are the loop's steps."""

    def __init__(
        self, config: TrainConfig, taxonomy: Taxonomy, data: LabeledData, run_dir: Path, dist: Dist
    ) -> None:
        import torch

        from training.distillation.students import build_student

        self.config, self.taxonomy, self.data, self.run_dir, self.dist = (
            config,
            taxonomy,
            data,
            run_dir,
            dist,
        )
        self.device = dist.device
        self.bf16 = config.bf16 and self.device.startswith("cuda")
        self.labels = student_labels(taxonomy, config.label_level)
        self.parents = parent_index(taxonomy, config.label_level)
        torch.manual_seed(config.seed)  # the new classification head's init
        train_texts = [data.texts[i] for i in data.subset("train")]
        try:
            self.student = build_student(
                config.student,
                self.labels,
                layers=config.layers,
                texts=train_texts,
                vocab_size=config.vocab_size,
                max_length=config.max_length,
                seed=config.seed,
                pooling=config.pooling,
            )
        except ValueError as err:  # an unusable student spec is the user's input
            raise ConfigError(str(err)) from None
        self.model = self.student.model.to(self.device)
        tokenizer = self.student.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.mask_id = tokenizer.mask_token_id
        if config.token_dropout and self.mask_id is None:
            raise ConfigError(f"token_dropout needs a [MASK] token: {config.student} has none")
        self.ids = encode(tokenizer, data.texts, config.max_length)
        self.lengths = np.array([len(i) for i in self.ids])
        self.train_rows = data.subset("train")
        self.steps_per_epoch = math.ceil(self._batches_per_rank() / config.grad_accum)
        self.optimizer, self.scheduler = self._optimizer()
        self.wrapped = dist.wrap(self.model)
        self.parents_t = (
            None if self.parents is None else torch.tensor(self.parents).to(self.device)
        )
        self.epoch, self.best_epoch, self.bad_epochs = 0, 0, 0
        self.best_score: tuple[float, float] = (-1.0, 0.0)
        self.best_state: dict[str, Any] | None = None
        self.history: list[dict[str, Any]] = []
        self.epoch_speed: dict[str, float] = {}
        self.data_path = Path()
        self.sources = DataSources()

    def _batches_per_rank(self) -> int:
        batches = math.ceil(len(self.train_rows) / self.config.batch_size)
        return max(1, batches // self.dist.world_size)

    def _optimizer(self) -> tuple[Any, Any]:
        import torch
        from transformers import get_linear_schedule_with_warmup

        decay, no_decay = [], []
        for param in self.model.parameters():
            # Biases and LayerNorm weights are not regularised: the usual BERT recipe.
            (no_decay if param.ndim < 2 else decay).append(param)
        groups = [
            {"params": decay, "weight_decay": self.config.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.config.lr)
        total = self.steps_per_epoch * self.config.epochs
        warmup = int(self.config.warmup_ratio * total)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, total)

    def resume(self) -> None:
        """Load RUN_DIR/checkpoint, if there is one, and continue after its epoch."""
        state = load_checkpoint(self.run_dir / "checkpoint", self, self.config)
        if state is None:
            logger.info("no checkpoint in %s: starting from scratch", self.run_dir)
            return
        self.epoch, self.best_epoch = state["epoch"], state["best_epoch"]
        self.bad_epochs, self.best_score = state["bad_epochs"], tuple(state["best_score"])
        self.history = state["history"]
        if self.dist.is_main:  # drop epochs logged after the checkpoint: they will be redone
            lines = "".join(json.dumps(record) + "\n" for record in self.history)
            (self.run_dir / "metrics.jsonl").write_text(lines, encoding="utf-8")
        logger.info("resumed after epoch %d (best epoch %d)", self.epoch, self.best_epoch)

    def fit(self, show_progress: bool) -> None:
        """Train epoch by epoch until `epochs` or early stopping."""
        while self.epoch < self.config.epochs and self.bad_epochs < self.config.patience:
            self.epoch += 1
            loss = self._train_epoch(show_progress)
            self._validate(loss)
            if self.dist.is_main:
                save_checkpoint(self.run_dir / "checkpoint", self, self._state())
            self.dist.barrier()
        if self.bad_epochs >= self.config.patience:
            logger.info("early stop after epoch %d: best epoch %d", self.epoch, self.best_epoch)

    def _train_epoch(self, show_progress: bool) -> float:
        import torch

        config = self.config
        # Seeded per epoch, so a resumed run draws the same batches and dropout as a straight one.
        torch.manual_seed(config.seed * 1_000 + self.epoch)
        batches = bucketed_batches(
            self.lengths, self.train_rows, config.batch_size, config.seed * 1_000 + self.epoch
        )
        batches = self.dist.shard(batches)
        self.wrapped.train()
        total, seen, started = 0.0, 0, time.perf_counter()
        with _progress(show_progress, f"epoch {self.epoch}", len(batches)) as advance:
            for step, rows in enumerate(batches):
                last = (step + 1) % config.grad_accum == 0 or step + 1 == len(batches)
                with self.dist.no_sync(self.wrapped, skip=not last):
                    loss = self._loss(rows) / config.grad_accum
                    loss.backward()
                if last:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.max_grad_norm)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                total += float(loss.detach()) * config.grad_accum * len(rows)
                seen += len(rows)
                advance(total / seen)
        seconds = time.perf_counter() - started  # float(loss) above syncs CUDA every step
        self.epoch_speed = {
            "seconds": round(seconds, 2),
            "steps": len(batches),
            "step_ms": round(1000 * seconds / max(len(batches), 1), 2),
            "samples_per_s": round(seen * self.dist.world_size / seconds, 1),
        }
        return total / max(seen, 1)

    def _loss(self, rows: np.ndarray) -> Any:
        import torch

        input_ids, mask = collate(self.ids, rows, self.pad_id)
        if self.config.token_dropout:
            input_ids = mask_tokens(input_ids, mask, self.config.token_dropout, self.mask_id)
        with torch.autocast("cuda", torch.bfloat16, enabled=self.bf16):
            logits = self.wrapped(
                input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)
            ).logits
        weights = self.data.weights
        return distillation_loss(
            logits,
            torch.from_numpy(self.data.teacher_probs[rows]).to(self.device),
            torch.from_numpy(self.data.targets[rows]).to(self.device),
            temperature=self.config.temperature,
            alpha=self.config.alpha,
            parent_index=self.parents_t,
            weights=None if weights is None else torch.from_numpy(weights[rows]).to(self.device),
        )

    def scores(self, split: str, temperature: float = 1.0) -> tuple[dict[str, Any], np.ndarray]:
        """Metrics and logits of one split with the current weights."""
        rows = self.data.subset(split)
        logits = self.logits(rows)
        gold = None if self.data.gold is None else self.data.gold[rows]
        metrics = evaluate(
            logits,
            self.data.teacher_probs[rows],
            gold,
            temperature=temperature,
            parent_index=self.parents,
        )
        return metrics, logits

    def logits(self, rows: np.ndarray) -> np.ndarray:
        """Student logits of dataset rows."""
        return predict_logits(
            self.model,
            self.ids,
            rows,
            pad_id=self.pad_id,
            batch_size=self.config.eval_batch_size,
            device=self.device,
            bf16=self.bf16,
        )

    def _validate(self, train_loss: float) -> None:
        metrics, _ = self.scores("validation")
        record = {
            "epoch": self.epoch,
            "train_loss": round(train_loss, 6),
            "train_speed": self.epoch_speed,
            "validation": metrics,
        }
        if len(self.data.subset(MIX_VALIDATION)):
            record["mix_val_agreement"] = self.scores(MIX_VALIDATION)[0]["agreement"]
        self.history.append(record)
        score = (metrics["agreement"], -metrics["kl"])
        if score > self.best_score:
            self.best_score, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            self.best_state = copy.deepcopy(
                {k: v.cpu() for k, v in self.model.state_dict().items()}
            )
            if self.dist.is_main:
                self.student.model.save_pretrained(self.run_dir / "model")
                self.student.tokenizer.save_pretrained(self.run_dir / "model")
        else:
            self.bad_epochs += 1
        if self.dist.is_main:
            with (self.run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        accuracy = metrics["accuracy"]
        logger.info(
            "epoch %d: loss %.4f, validation agreement %.4f, kl %.4f, accuracy %s",
            self.epoch,
            train_loss,
            metrics["agreement"],
            metrics["kl"],
            "-" if accuracy is None else f"{accuracy:.4f}",
        )

    def _state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "best_score": list(self.best_score),
            "history": self.history,
        }

    def finish(self, seconds: float) -> dict[str, Any]:
        """Reload the best weights, calibrate on validation, score the test split, write files."""
        if self.best_state is None:
            self.best_state = load_best_weights(self.run_dir / "model")
        self.model.load_state_dict(self.best_state)
        rows = self.data.subset("validation")
        val_logits = self.logits(rows)
        reference = self.data.teacher_probs[rows].argmax(axis=1)
        if self.data.gold is not None:
            reference = np.where(self.data.gold[rows] >= 0, self.data.gold[rows], reference)
        temperature = fit_temperature(val_logits, reference, self.parents)
        test, test_logits = self.scores("test", temperature)
        metrics = {
            "test": test,
            "validation": evaluate(
                val_logits,
                self.data.teacher_probs[rows],
                None if self.data.gold is None else self.data.gold[rows],
                temperature=temperature,
                parent_index=self.parents,
            ),
            "test_by_difficulty": by_difficulty(self.data, test_logits, temperature, self.parents),
            "temperature": temperature,
            "best_epoch": self.best_epoch,
            "epochs_run": self.epoch,
            "rows": {s: int((self.data.split == s).sum()) for s in ("train", "validation", "test")},
            "dropped_unlabeled": self.data.dropped,
            **data_figures(self, temperature),
            "seconds": round(seconds, 1),
            "device": self.device,
            "world_size": self.dist.world_size,
            "peak_memory_mb": peak_memory_mb(self.device),
        }
        if self.dist.is_main:
            info = student_info(self, temperature)
            (self.run_dir / STUDENT_FILE).write_text(json.dumps(info, indent=2) + "\n", "utf-8")
            text = json.dumps(metrics, indent=2) + "\n"
            (self.run_dir / "metrics.json").write_text(text, encoding="utf-8")
        return metrics


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int):
    if not enabled:
        yield lambda loss: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, "loss {task.fields[loss]:.4f}", transient=True) as progress:
        task = progress.add_task(label, total=total, loss=0.0)
        yield lambda loss: progress.update(task, advance=1, loss=loss)
