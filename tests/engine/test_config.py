"""RunConfig: one TOML file the GUI writes and the CLI reads, with readable refusals."""

from __future__ import annotations

import pytest

from workbench.config import RunConfig
from workbench.errors import UserError


def test_toml_round_trip_gives_an_equal_config(tmp_path):
    config = RunConfig(
        data=str(tmp_path / "d.csv"), text_column='the "text"', epochs=3, learning_rate=3e-5
    )
    path = tmp_path / "run.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert RunConfig.from_toml(path) == config


def test_relative_data_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "run.toml"
    path.write_text('data = "train.csv"\n', encoding="utf-8")
    assert RunConfig.from_toml(path).data == str(tmp_path / "sub" / "train.csv")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 0}, "epochs must be between 1 and 10000"),
        ({"epochs": 10**9}, "epochs must be between 1 and 10000"),
        ({"seed": 2**32}, "seed must be between 0 and 4294967295"),
        ({"batch_size": "8"}, "batch_size must be a whole number"),
        ({"learning_rate": -1.0}, "learning_rate must be greater than 0"),
        ({"precision": "int4"}, "unknown precision 'int4'"),
        ({"warmup_ratio": 2.0}, "warmup_ratio must be at least 0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a number"),
        ({"dropout": 1.0}, "dropout must be at least 0.0 and at most 0.9"),
        ({"epoch": 1}, "unknown setting"),
    ],
)
def test_bad_settings_are_named(values, message):
    with pytest.raises(UserError, match=message):
        RunConfig.from_dict(values)


def test_a_broken_toml_file_is_refused(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("epochs = = 2", encoding="utf-8")
    with pytest.raises(UserError, match="not valid TOML"):
        RunConfig.from_toml(path)
