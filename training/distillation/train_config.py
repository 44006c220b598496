"""The distillation run's configuration: one typed dataclass, from TOML/YAML and the command line.

Every field has a default that trains the demo student on CPU in minutes; a file overrides the
defaults and `--set field=value` (or the CLI's own flags) overrides the file. The final config is
written into the run directory, so a run can always be repeated.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from categorizer.errors import InputError

LABEL_LEVELS = ("primary", "detailed")
POOLINGS = ("mean", "cls")
HARD_TARGETS = ("auto", "gold", "teacher")
DEFAULT_DEV_SET = Path(__file__).resolve().parents[2] / "data" / "real_dev" / "real_dev.csv"
"""The repository's hand-labeled real dev set: rows sharing a descriptor with it are never
trained on (see `dev_set`). An installed package has no such file, and then nothing is checked."""


class ConfigError(InputError):
    """A training config that cannot run: an unknown field, a bad value, an unusable student."""


@dataclass
class TrainConfig:
    """How to distill a student from soft labels.

    Args:
        student: "minilm", a Hugging Face id or folder, or "scratch:L<layers>-H<hidden>".
        layers: Keep only the first K transformer layers of a pretrained student.
        pooling: "mean" (average of the token vectors; the default, much faster to train from
            sentence encoders such as MiniLM) or "cls" (the model's own [CLS] head).
        label_level: "primary" (the teacher's distribution over primary categories) or
            "detailed" (the student predicts detailed categories; their probabilities summed per
            primary are distilled against the teacher's, and the detailed label is the hard
            target).
        temperature: Distillation temperature T; the KL term is scaled by T².
        alpha: Weight of the cross-entropy on hard targets (teacher argmax, or gold with
            `gold_column`); the KL term has weight 1 - alpha.
        gold_column: Column of gold primary labels, used for accuracy and (see `hard_targets`)
            for the hard targets.
        hard_targets: What the cross-entropy term aims at: "gold" (the gold column), "teacher"
            (the teacher's argmax, for pure distillation scored against gold), or "auto" (gold
            when there is a gold column, else the teacher).
        epochs: Upper bound on epochs; early stopping usually ends sooner.
        batch_size: Rows per optimizer step on one process, before accumulation.
        grad_accum: Batches per optimizer step.
        lr: Peak learning rate (AdamW).
        weight_decay: AdamW weight decay (not applied to biases and LayerNorm).
        warmup_ratio: Share of the steps spent warming the learning rate up from 0.
        max_grad_norm: Gradient clipping norm.
        max_length: Token limit per input text.
        patience: Epochs without a better validation agreement before stopping.
        fractions: Train, validation and test fractions when the data has no `split` column.
        max_rows: Use at most this many rows (a seeded sample) of the labeled file.
        vocab_size: WordPiece vocabulary size of scratch students.
        token_dropout: Share of a training row's tokens replaced by [MASK] in each epoch (0
            turns it off). A student that may not lean on the merchant's name alone learns the
            trade words and codes beside it, which is what a merchant it never met still shows.
        seed: Seeds the split, the sample, the init of new weights and the batch order.
        bf16: Autocast to bfloat16 on CUDA (ignored on CPU).
        threads: torch CPU threads (None: torch's default).
        eval_batch_size: Rows per batch during evaluation.
        mix_data: A second labeled file (`categorizer label` output, e.g. your own real
            transactions) mixed into the training split only; 10% of it is held out to report
            the student's agreement with its teacher on it (`mix_val_agreement`).
        mix_weight: Loss weight of a mix row relative to a main row (> 0; needs `mix_data`).
        dev_set: A gold dev set (CSV/Parquet/JSONL with a description column): training rows
            whose descriptor key is in it are dropped. None checks nothing.
    """

    student: str = "minilm"
    layers: int | None = None
    pooling: str = "mean"
    label_level: str = "primary"
    temperature: float = 2.0
    alpha: float = 0.5
    gold_column: str | None = None
    hard_targets: str = "auto"
    epochs: int = 4
    batch_size: int = 32
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    max_length: int = 48
    patience: int = 2
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    max_rows: int | None = None
    vocab_size: int = 8000
    token_dropout: float = 0.0
    seed: int = 0
    bf16: bool = True
    threads: int | None = None
    eval_batch_size: int = 256
    mix_data: Path | None = None
    mix_weight: float = 1.0
    dev_set: Path | None = DEFAULT_DEV_SET

    def __post_init__(self) -> None:
        self._check_types()
        _check(self.pooling in POOLINGS, "pooling", f"one of {POOLINGS}", self)
        _check(self.hard_targets in HARD_TARGETS, "hard_targets", f"one of {HARD_TARGETS}", self)
        if self.hard_targets == "gold" and self.gold_column is None:
            raise ConfigError("hard_targets='gold' needs a gold column: set --gold-column")
        _check(self.label_level in LABEL_LEVELS, "label_level", f"one of {LABEL_LEVELS}", self)
        _check(self.temperature > 0, "temperature", "a number > 0 (try 2.0)", self)
        _check(0.0 <= self.alpha <= 1.0, "alpha", "a number between 0 and 1", self)
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "eval_batch_size"):
            _check(getattr(self, name) >= 1, name, "an integer >= 1", self)
        _check(self.patience >= 1, "patience", "an integer >= 1", self)
        _check(self.lr > 0, "lr", "a number > 0 (try 1e-4)", self)
        _check(self.weight_decay >= 0, "weight_decay", "a number >= 0", self)
        _check(0 <= self.warmup_ratio < 1, "warmup_ratio", "a number in [0, 1)", self)
        _check(self.max_grad_norm > 0, "max_grad_norm", "a number > 0", self)
        _check(self.vocab_size >= 200, "vocab_size", "an integer >= 200", self)
        _check(0 <= self.token_dropout < 1, "token_dropout", "a number in [0, 1), e.g. 0.15", self)
        _check(self.layers is None or self.layers >= 1, "layers", "an integer >= 1", self)
        _check(self.max_rows is None or self.max_rows >= 3, "max_rows", "an integer >= 3", self)
        _check(self.threads is None or self.threads >= 1, "threads", "an integer >= 1", self)
        fractions_ok = len(self.fractions) == 3 and all(f >= 0 for f in self.fractions)
        fractions_ok = fractions_ok and abs(sum(self.fractions) - 1.0) < 1e-6
        _check(
            fractions_ok, "fractions", "three numbers >= 0 summing to 1, e.g. [0.8, 0.1, 0.1]", self
        )
        self._check_mix()
        if self.student.startswith("scratch:") and self.layers is not None:
            raise ConfigError(
                f"layers={self.layers} cannot apply to {self.student!r}: a scratch student's "
                "layers are in its spec (scratch:L<layers>-H<hidden>); drop --layers"
            )

    def _check_mix(self) -> None:
        ok = math.isfinite(self.mix_weight) and self.mix_weight > 0
        _check(ok, "mix_weight", "a number > 0 (a mix row's loss over a main row's; try 0.5)", self)
        if self.mix_data is None and self.mix_weight != 1.0:
            raise ConfigError(
                f"mix_weight={self.mix_weight} weighs the rows of a mix file, and there is none: "
                "pass --mix LABELED_FILE (config field mix_data) or drop --mix-weight"
            )

    def _check_types(self) -> None:
        # A TOML/YAML file can hold any type: name the field before a comparison fails on it.
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), str(f.type)
            if value is None and "None" in kind:
                continue
            if kind.startswith("int"):
                ok = isinstance(value, int) and not isinstance(value, bool)
                _check(ok, f.name, "an integer", self)
            elif kind.startswith("float"):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                _check(ok, f.name, "a number", self)
                setattr(self, f.name, float(value))
            elif kind.startswith("bool"):
                _check(isinstance(value, bool), f.name, "true or false", self)
            elif kind.startswith("str"):
                _check(isinstance(value, str), f.name, "a string", self)
            elif kind.startswith("Path"):
                ok = isinstance(value, str | Path) and str(value).strip() != ""
                _check(ok, f.name, "a file path", self)
                setattr(self, f.name, Path(value))
        numbers = isinstance(self.fractions, list | tuple) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in self.fractions
        )
        _check(numbers, "fractions", "three numbers, e.g. [0.8, 0.1, 0.1]", self)
        self.fractions = tuple(float(v) for v in self.fractions)  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON types."""
        data = dataclasses.asdict(self)
        data["fractions"] = list(self.fractions)
        return {k: str(v) if isinstance(v, Path) else v for k, v in data.items()}

    def save(self, path: str | Path) -> Path:
        """Write the config as JSON (the run directory's `train_config.json`)."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


def _check(ok: bool, name: str, expected: str, config: TrainConfig) -> None:
    if not ok:
        raise ConfigError(
            f"config field {name!r} must be {expected}; got {getattr(config, name)!r}"
        )


def _field_types() -> dict[str, str]:
    return {f.name: str(f.type) for f in dataclasses.fields(TrainConfig)}


def parse_value(name: str, text: str) -> Any:
    """Parse a command-line override for field `name` from its text.

    Raises:
        ConfigError: An unknown field, or a value that does not fit the field's type.
    """
    types = _field_types()
    if name not in types:
        raise ConfigError(f"unknown config field {name!r}; known fields: {', '.join(types)}")
    kind = types[name]
    if text.lower() in ("none", "null") and "None" in kind:
        return None
    try:
        if kind.startswith("int"):
            return int(text)
        if kind.startswith("float"):
            return float(text)
        if kind.startswith("bool"):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if kind.startswith("tuple"):  # "0.6,0.1,0.3", "[0.6, 0.1, 0.3]" or "(0.6,0.1,0.3)"
            inner = text.strip()
            if inner[:1] + inner[-1:] in ("[]", "()"):
                inner = inner[1:-1]
            return tuple(float(part) for part in inner.split(","))
    except ValueError:
        raise ConfigError(f"config field {name!r} expects {kind}; got {text!r}") from None
    return text


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["lr=2e-4", "epochs=3"]`` (the `--set` options) as typed field values.

    Raises:
        ConfigError: An item without "=", an unknown field, or a value of the wrong type.
    """
    overrides = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects FIELD=VALUE, got {item!r}")
        overrides[name.strip()] = parse_value(name.strip(), value.strip())
    return overrides


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Build a TrainConfig from defaults, an optional TOML/YAML file, then overrides.

    Args:
        path: A `.toml`, `.yaml`/`.yml` or `.json` file of config fields (a TOML file may put
            them under a `[train]` table).
        overrides: Field values that win over the file (None values are ignored).

    Raises:
        FileNotFoundError: The file does not exist.
        ConfigError: An unknown field or a bad value, naming the file and the field.
    """
    values: dict[str, Any] = {}
    where = "the command line"
    if path is not None:
        values = _read_file(Path(path))
        where = str(path)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    known = _field_types()
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown config field(s) {', '.join(map(repr, unknown))}; "
            f"known fields: {', '.join(known)}"
        )
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
            data = data.get("train", data)
        elif suffix in (".yaml", ".yml"):
            data = _load_yaml(path, text)
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"config file {path} must end in .toml, .yaml, .yml or .json")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"config file {path} is not valid {suffix[1:].upper()}: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of config fields")
    return data


def _load_yaml(path: Path, text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
