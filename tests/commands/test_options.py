"""Training options come from TrainConfig's fields: every field is an option, parsed to its type."""
import argparse
from dataclasses import fields

import pytest

from foodclf.commands.options import add_dataclass_options, config_from_args
from foodclf.commands.train import parse_args
from foodclf.training.config import TrainConfig


def option_names(parser: argparse.ArgumentParser) -> set[str]:
    return {s for action in parser._actions for s in action.option_strings}


def test_every_training_field_is_an_option_with_help():
    parser = argparse.ArgumentParser()
    add_dataclass_options(parser, TrainConfig)
    names = option_names(parser)
    for f in fields(TrainConfig):
        if f.name == "phases":  # filled in by the recipe, not an option
            continue
        assert f"--{f.name.replace('_', '-')}" in names
        assert f.metadata["help"]


def test_parsed_options_build_the_config_with_their_types():
    args = parse_args(["--data", "d", "--out", "o", "--epochs", "3", "--lr", "0.01", "--no-progress",
                       "--devices", "2", "--unfreeze", "all", "--skip-bad-images", "--image-size", "48"])
    config = config_from_args(TrainConfig, args)
    assert (config.epochs, config.lr, config.progress, config.devices, config.unfreeze) == (3, 0.01, False, 2, "all")
    assert config.skip_bad_images is True and config.image_size == 48
    untouched = {f.name for f in fields(TrainConfig)} - {"data", "out", "epochs", "lr", "progress", "devices",
                                                         "unfreeze", "skip_bad_images", "image_size", "phases"}
    default = TrainConfig(data="d", out="o")
    assert {n: getattr(config, n) for n in untouched} == {n: getattr(default, n) for n in untouched}


@pytest.mark.parametrize("argv, message", [(["--out", "o"], "--data is required"),
                                           (["--data", "d", "--out", "o", "--epochs", "x"], "invalid int value"),
                                           (["--data", "d", "--out", "o", "--unfreeze", "half"], "invalid choice")])
def test_bad_options_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exited:
        parse_args(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err
