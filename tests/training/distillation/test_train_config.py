"""Tests for training.distillation.train_config: the TrainConfig dataclass, parse_value and
load_config."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from training.distillation.train_config import (
    DEFAULT_DEV_SET,
    ConfigError,
    TrainConfig,
    load_config,
    parse_overrides,
    parse_value,
)

# -- TrainConfig --------------------------------------------------------------------------------


def test_defaults_are_valid_and_typed() -> None:
    config = TrainConfig()
    assert config.student == "minilm"
    assert config.layers is None
    assert config.label_level == "primary"
    assert config.fractions == (0.8, 0.1, 0.1)
    assert isinstance(config.fractions, tuple)
    assert all(isinstance(f, float) for f in config.fractions)


@pytest.mark.parametrize(
    "text", ["0.6,0.1,0.3", "[0.6,0.1,0.3]", "[0.6, 0.1, 0.3]", "(0.6,0.1,0.3)"]
)
def test_set_fractions_in_any_list_spelling(text: str) -> None:
    overrides = parse_overrides([f"fractions={text}"])
    assert load_config(None, overrides).fractions == (0.6, 0.1, 0.3)


def test_set_fractions_that_are_not_numbers_names_the_field() -> None:
    with pytest.raises(ConfigError, match="'fractions' expects"):
        parse_overrides(["fractions=[a,b,c]"])


def test_fractions_from_a_list_become_a_tuple_of_floats() -> None:
    config = TrainConfig(fractions=[0.7, 0.2, 0.1])  # type: ignore[arg-type]
    assert config.fractions == (0.7, 0.2, 0.1)
    assert isinstance(config.fractions, tuple)
    ints = TrainConfig(fractions=[1, 0, 0])  # type: ignore[arg-type]
    assert ints.fractions == (1.0, 0.0, 0.0)
    assert all(isinstance(f, float) for f in ints.fractions)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("label_level", "category"),
        ("temperature", 0.0),
        ("temperature", -1.0),
        ("temperature", float("nan")),
        ("alpha", -0.1),
        ("alpha", 1.1),
        ("epochs", 0),
        ("batch_size", 0),
        ("grad_accum", 0),
        ("max_length", 0),
        ("eval_batch_size", 0),
        ("patience", 0),
        ("lr", 0.0),
        ("lr", -1e-4),
        ("weight_decay", -0.01),
        ("warmup_ratio", 1.0),
        ("warmup_ratio", -0.1),
        ("max_grad_norm", 0.0),
        ("vocab_size", 199),
        ("token_dropout", 1.0),
        ("token_dropout", -0.1),
        ("layers", 0),
        ("max_rows", 2),
        ("threads", 0),
        ("fractions", (0.5, 0.5)),
        ("fractions", (0.8, 0.1, 0.1, 0.0)),
        ("fractions", (0.8, 0.3, -0.1)),
        ("fractions", (0.8, 0.1, 0.2)),
        ("mix_weight", 0.0),
        ("mix_weight", -0.5),
        ("mix_weight", float("nan")),
        ("mix_weight", float("inf")),
        ("mix_data", 3),
        ("dev_set", " "),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=repr(field)) as info:
        TrainConfig(**{field: value})
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("label_level", "detailed"),
        ("alpha", 0.0),
        ("alpha", 1.0),
        ("warmup_ratio", 0.0),
        ("weight_decay", 0.0),
        ("vocab_size", 200),
        ("token_dropout", 0.15),
        ("max_rows", 3),
        ("layers", 1),
        ("threads", 1),
        ("fractions", (1.0, 0.0, 0.0)),
        ("fractions", (0.7, 0.2, 0.1)),
    ],
)
def test_boundary_values_are_accepted(field: str, value: object) -> None:
    config = TrainConfig(**{field: value})
    assert getattr(config, field) == value


def test_layers_with_a_scratch_student_is_refused() -> None:
    with pytest.raises(ConfigError, match="scratch") as info:
        TrainConfig(student="scratch:L2-H64", layers=2)
    assert "layers" in str(info.value)
    # Without layers, a scratch student is fine; with a pretrained one, layers is fine.
    assert TrainConfig(student="scratch:L2-H64").layers is None
    assert TrainConfig(student="minilm", layers=2).layers == 2


def test_mix_weight_needs_a_mix_file() -> None:
    with pytest.raises(ConfigError, match="--mix") as info:
        TrainConfig(mix_weight=0.5)
    assert "mix_weight=0.5" in str(info.value)
    config = TrainConfig(mix_data="real_labels.parquet", mix_weight=0.5)  # type: ignore[arg-type]
    assert config.mix_data == Path("real_labels.parquet")
    assert config.mix_weight == 0.5
    assert TrainConfig(mix_data=Path("a.parquet"), mix_weight=3).mix_weight == 3.0


def test_dev_set_defaults_to_the_repositorys_real_dev_set() -> None:
    repository = Path(__file__).resolve().parents[3]
    assert repository / "data" / "real_dev" / "real_dev.csv" == DEFAULT_DEV_SET
    assert TrainConfig().dev_set == DEFAULT_DEV_SET
    assert TrainConfig(dev_set=None).dev_set is None
    assert TrainConfig(dev_set="dev.csv").dev_set == Path("dev.csv")  # type: ignore[arg-type]


# -- to_dict and save ---------------------------------------------------------------------------


def test_to_dict_is_plain_json() -> None:
    config = TrainConfig(student="scratch:L2-H64", fractions=(0.6, 0.2, 0.2), gold_column="gold")
    data = config.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert data["fractions"] == [0.6, 0.2, 0.2]
    assert json.loads(json.dumps(data)) == data
    paths = TrainConfig(mix_data=Path("m.parquet"), dev_set=Path("d.csv")).to_dict()
    assert (paths["mix_data"], paths["dev_set"]) == ("m.parquet", "d.csv")
    assert json.loads(json.dumps(paths)) == paths


def test_save_round_trips_through_load_config(tmp_path: Path) -> None:
    config = TrainConfig(
        student="scratch:L2-H64",
        label_level="detailed",
        temperature=3.0,
        alpha=0.25,
        gold_column="category",
        epochs=7,
        batch_size=16,
        fractions=(0.6, 0.2, 0.2),
        max_rows=1000,
        seed=11,
        bf16=False,
        threads=2,
        mix_data=tmp_path / "real_labels.parquet",
        mix_weight=0.25,
        dev_set=tmp_path / "dev.csv",
    )
    path = config.save(tmp_path / "train_config.json")
    assert path == tmp_path / "train_config.json"
    assert path.read_text(encoding="utf-8").endswith("\n")
    loaded = load_config(path)
    assert loaded == config
    assert isinstance(loaded.fractions, tuple)
    assert loaded.to_dict() == config.to_dict()


def test_save_accepts_a_string_path(tmp_path: Path) -> None:
    path = TrainConfig().save(str(tmp_path / "c.json"))
    assert isinstance(path, Path)
    assert load_config(path) == TrainConfig()


# -- parse_value --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("epochs", "3", 3),
        ("layers", "4", 4),
        ("layers", "none", None),
        ("layers", "NULL", None),
        ("threads", "None", None),
        ("max_rows", "500", 500),
        ("gold_column", "category", "category"),
        ("gold_column", "none", None),
        ("temperature", "2.5", 2.5),
        ("lr", "3e-5", 3e-5),
        ("bf16", "true", True),
        ("bf16", "False", False),
        ("bf16", "1", True),
        ("bf16", "0", False),
        ("bf16", "yes", True),
        ("bf16", "no", False),
        ("fractions", "0.7,0.2,0.1", (0.7, 0.2, 0.1)),
        ("student", "scratch:L2-H64", "scratch:L2-H64"),
        ("label_level", "detailed", "detailed"),
        ("mix_data", "none", None),
        ("mix_data", "real.parquet", "real.parquet"),
        ("mix_weight", "0.5", 0.5),
        ("dev_set", "None", None),
    ],
)
def test_parse_value(name: str, text: str, expected: object) -> None:
    value = parse_value(name, text)
    assert value == expected
    assert type(value) is type(expected)


def test_parse_value_keeps_none_text_for_fields_that_cannot_be_none() -> None:
    # student is a plain str: "none" is a (bad) student name, not a missing value.
    assert parse_value("student", "none") == "none"
    with pytest.raises(ConfigError, match="'epochs'"):
        parse_value("epochs", "none")


def test_parse_value_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown config field 'epoch'") as info:
        parse_value("epoch", "3")
    assert "epochs" in str(info.value)
    assert "temperature" in str(info.value)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("epochs", "three"),
        ("epochs", "2.5"),
        ("layers", "x"),
        ("temperature", "hot"),
        ("bf16", "maybe"),
        ("fractions", "a,b,c"),
    ],
)
def test_parse_value_bad_text_names_field_and_text(name: str, text: str) -> None:
    with pytest.raises(ConfigError, match=repr(name)) as info:
        parse_value(name, text)
    assert repr(text) in str(info.value)


def test_parsed_values_feed_load_config() -> None:
    overrides = {
        name: parse_value(name, text)
        for name, text in [("epochs", "2"), ("fractions", "0.6,0.2,0.2"), ("layers", "none"),
                           ("mix_data", "real.parquet")]
    }  # fmt: skip
    config = load_config(overrides=overrides)
    assert config.epochs == 2
    assert config.fractions == (0.6, 0.2, 0.2)
    assert config.mix_data == Path("real.parquet")
    assert config.layers is None


# -- load_config --------------------------------------------------------------------------------


def test_load_config_without_file_gives_defaults() -> None:
    assert load_config() == TrainConfig()
    assert load_config(None, {}) == TrainConfig()


def test_load_toml(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text(
        'student = "scratch:L2-H64"\nepochs = 3\nfractions = [0.6, 0.2, 0.2]\nbf16 = false\n',
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.student == "scratch:L2-H64"
    assert config.epochs == 3
    assert config.fractions == (0.6, 0.2, 0.2)
    assert isinstance(config.fractions, tuple)
    assert config.bf16 is False
    assert config.lr == TrainConfig().lr  # untouched fields keep their defaults


def test_load_toml_train_table(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text('[train]\nlabel_level = "detailed"\ntemperature = 4.0\n', encoding="utf-8")
    config = load_config(str(path))
    assert config.label_level == "detailed"
    assert config.temperature == 4.0


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".YAML"])
def test_load_yaml(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_text(
        "student: minilm\nlayers: 3\nalpha: 0.3\nfractions: [0.5, 0.25, 0.25]\n", encoding="utf-8"
    )
    config = load_config(path)
    assert config.layers == 3
    assert config.alpha == 0.3
    assert config.fractions == (0.5, 0.25, 0.25)


def test_load_empty_yaml_gives_defaults(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("# nothing\n", encoding="utf-8")
    assert load_config(path) == TrainConfig()


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"batch_size": 8, "gold_column": "category"}), encoding="utf-8")
    config = load_config(path)
    assert config.batch_size == 8
    assert config.gold_column == "category"


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("epochs = 3\nbatch_size = 8\nseed = 5\n", encoding="utf-8")
    config = load_config(path, {"epochs": 9, "lr": 5e-5})
    assert config.epochs == 9  # override wins
    assert config.batch_size == 8  # file wins over default
    assert config.seed == 5
    assert config.lr == 5e-5  # override of a default


def test_none_overrides_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text('layers = 2\ngold_column = "category"\nthreads = 3\n', encoding="utf-8")
    config = load_config(path, {"layers": None, "gold_column": None, "threads": None})
    assert config.layers == 2
    assert config.gold_column == "category"
    assert config.threads == 3
    # None overrides of unknown names are ignored too, like every None override.
    assert load_config(path, {"no_such_field": None}).layers == 2


def test_unknown_fields_in_the_file_are_named(tmp_path: Path) -> None:
    path = tmp_path / "train.toml"
    path.write_text("epochs = 3\nlearning_rate = 0.1\nbatchsize = 4\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "'batchsize'" in message
    assert "'learning_rate'" in message
    assert "known fields" in message
    assert "batch_size" in message


def test_unknown_override_is_named_as_from_the_command_line() -> None:
    with pytest.raises(ConfigError, match="the command line") as info:
        load_config(overrides={"epoch": 3})
    assert "'epoch'" in str(info.value)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("epochs = 0\n", "epochs"),
        ("alpha = 2.0\n", "alpha"),
        ('label_level = "leaf"\n', "label_level"),
        ("fractions = [0.5, 0.5, 0.5]\n", "fractions"),
        ("max_rows = 1\n", "max_rows"),
    ],
)
def test_bad_values_in_the_file_name_the_field_and_the_file(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "train.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert repr(field) in message


def test_bad_override_names_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"^the command line: .*'temperature'"):
        load_config(overrides={"temperature": 0})


def test_layers_with_scratch_student_in_the_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.yaml"
    path.write_text("student: scratch:L2-H64\nlayers: 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="scratch") as info:
        load_config(path)
    assert str(path) in str(info.value)
    # The override can make the combination valid or invalid too.
    assert load_config(path, {"student": "minilm"}).layers == 2
    bare = tmp_path / "scratch.yaml"
    bare.write_text("student: scratch:L2-H64\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="layers"):
        load_config(bare, {"layers": 4})


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('temperature = "hot"\n', "temperature"),
        ('epochs = "three"\n', "epochs"),
        ("fractions = 0.5\n", "fractions"),
    ],
)
def test_wrongly_typed_values_in_the_file_name_the_field(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "train.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert repr(field) in str(info.value)


def test_wrongly_typed_values_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    # What works today: the type error does surface as a ConfigError located at the file.
    path = tmp_path / "train.toml"
    path.write_text('temperature = "hot"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"^{re.escape(str(path))}: "):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "field"), [("epochs = 2.5\n", "epochs"), ("seed = 1.5\n", "seed")]
)
def test_non_integer_values_for_integer_fields_are_refused(
    tmp_path: Path, text: str, field: str
) -> None:
    path = tmp_path / "train.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=repr(field)):
        load_config(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_unsupported_suffix_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.ini"
    path.write_text("epochs = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.toml, \.yaml, \.yml or \.json"):
        load_config(path)


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("bad.toml", "epochs = = 3\n", "TOML"),
        ("bad.json", "{epochs: 3", "JSON"),
        ("bad.yaml", "epochs: [3\n", "YAML"),
    ],
)
def test_invalid_syntax_names_the_file(tmp_path: Path, name: str, text: str, kind: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"not valid {kind}") as info:
        load_config(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(("name", "text"), [("list.json", "[1, 2]"), ("list.yaml", "- 1\n- 2\n")])
def test_a_file_that_is_not_a_table_is_refused(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="table of config fields"):
        load_config(path)
