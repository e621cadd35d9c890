"""Typed YAML configs with key=value overrides, and their error messages."""
from dataclasses import dataclass, field
from typing import Literal

import pytest

from openeyes.config import load_config
from openeyes.errors import UserError


@dataclass
class Inner:
    lr: float = 1e-3  # learning rate
    schedule: Literal["cosine", "constant"] = "cosine"  # lr schedule


@dataclass
class Outer:
    steps: int = 10  # optimizer steps
    names: list[str] = field(default_factory=list)  # objective names
    optim: Inner = field(default_factory=Inner)  # optimizer section
    teacher: str | None = None  # optional spec


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\noptim:\n  lr: 0.01\n")
    config = load_config(Outer, path, ["optim.lr=3e-4", "names=[clip,saco]", "teacher=zoo:x"])
    assert config.steps == 5 and config.optim.lr == 3e-4 and config.names == ["clip", "saco"]
    assert config.teacher == "zoo:x" and config.optim.schedule == "cosine"


@pytest.mark.parametrize(
    "overrides, message",
    [(["nope=1"], "unknown config key 'nope'"), (["steps=abc"], "'steps' must be int"),
     (["optim.schedule=linear"], "must be one of"), (["steps"], "key=value"),
     (["optim.bogus=1"], "unknown config key 'optim.bogus'")],
)
def test_bad_overrides_name_the_key(overrides, message):
    with pytest.raises(UserError, match=message):
        load_config(Outer, None, overrides)


def test_missing_file_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")


@dataclass
class WithFactoryDefault:
    optim: Inner = field(default_factory=lambda: Inner(lr=0.5, schedule="constant"))  # differs from Inner()


def test_overriding_one_nested_key_keeps_the_parents_factory_defaults():
    config = load_config(WithFactoryDefault, None, ["optim.lr=0.25"])
    assert config.optim.lr == 0.25 and config.optim.schedule == "constant"


@dataclass
class Precision:
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"  # YAML 1.1 reads a bare `no` as False
    switch: Literal["on", "off", "auto"] = "auto"  # likewise on/off


def test_yaml_boolean_words_select_the_literal_option_spelled_so(tmp_path):
    config = load_config(Precision, None, ["mixed_precision=no", "switch=off"])
    assert config.mixed_precision == "no" and config.switch == "off"
    path = tmp_path / "c.yaml"
    path.write_text("mixed_precision: no\nswitch: on\n")
    config = load_config(Precision, path)
    assert config.mixed_precision == "no" and config.switch == "on"
    with pytest.raises(UserError, match="must be one of no, bf16, fp16, got True"):
        load_config(Precision, None, ["mixed_precision=yes"])
