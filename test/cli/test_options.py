"""The one command-line convention (cli/options.py): --config FILE < section.name=value overrides < short flags,
the same for every command that takes settings; short flags check the field's (registry) choices; per-key flags
are gone; the library never sees the Namespace (commands convert it with config_from_args)."""
import argparse

import pytest
import yaml

from panoptic_ros.cli import options
from panoptic_ros.cli.main import build_parser
from panoptic_ros.config import ConfigError, PanopticConfig


def _parser(**kwargs):
    p = argparse.ArgumentParser(exit_on_error=False)
    options.add_config_options(p, **kwargs)
    return p


def test_precedence_is_base_then_file_then_overrides_then_flags(tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"inference": {"score_threshold": 0.2, "input_size": 320,
                                                      "merge_policy": "smallest_first"},
                                        "solver": {"lr": 0.5}}))
    args = _parser(flags=("policy", "device")).parse_args(
        ["--config", str(cfg_file), "--policy", "highest_confidence", "--device", "cpu",
         "inference.input_size=256", "inference.merge_policy=closest_center"])
    base = PanopticConfig()
    base.inference.nms_threshold = 0.3
    cfg = options.config_from_args(args, base)
    assert cfg.inference.nms_threshold == 0.3                  # base kept where nothing overrides it
    assert cfg.inference.score_threshold == 0.2                # file
    assert cfg.solver.lr == 0.5                                # file, all sections when none are restricted
    assert cfg.inference.input_size == 256                     # override beats file
    assert cfg.inference.merge_policy == "highest_confidence"  # flag beats override
    assert cfg.inference.device == "cpu"
    assert base.inference.input_size == PanopticConfig().inference.input_size  # base not modified


def test_entries_are_typed_and_only_what_was_given():
    args = _parser(flags=("device",)).parse_args(["inference.score_threshold=0.25", "solver.lr_steps=[3, 4]"])
    assert options.config_entries(args) == {"inference.score_threshold": 0.25, "solver.lr_steps": [3, 4]}


def test_restricted_sections_skip_the_file_but_reject_explicit_overrides(tmp_path):
    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text("model:\n  fpn_channels: 8\ninference:\n  score_threshold: 0.7\n")
    args = _parser().parse_args(["--config", str(cfg_file)])
    assert options.config_entries(args, ("inference",)) == {"inference.score_threshold": 0.7}
    args = _parser().parse_args(["model.fpn_channels=8"])
    with pytest.raises(ConfigError, match="model.fpn_channels: this command only reads the inference"):
        options.config_entries(args, ("inference",))


@pytest.mark.parametrize("argv, message", [
    (["inference.score_threshold=2"], "outside"),
    (["inference.nothere=1"], "unknown config key"),
    (["score_threshold"], "section.name=value"),
    (["--device", "cpu", "inference.merge_policy=biggest"], "not one of"),
])
def test_bad_settings_name_the_key(argv, message):
    with pytest.raises(ConfigError, match=message):
        options.config_entries(_parser(flags=("device",)).parse_args(argv))


def test_flag_choices_come_from_the_field_and_extras_stay_out_of_the_config():
    p = _parser(flags=("policy", "precision"), extra_choices={"policy": ("all",)})
    assert options.config_entries(p.parse_args(["--policy", "all"])) == {}
    assert options.config_entries(p.parse_args(["--precision", "fp32"])) == {"inference.precision": "fp32"}
    for bad in (["--policy", "biggest"], ["--precision", "fp8"]):
        with pytest.raises(argparse.ArgumentError):
            p.parse_args(bad)


def _subparser(name):
    parser = build_parser()
    return next(a for a in parser._subparsers._group_actions if isinstance(a, argparse._SubParsersAction)).choices[name]


REQUIRED = {"train": [], "eval": ["--data", "D", "--out", "O"], "predict": ["--images", "I", "--out", "O"]}


@pytest.mark.parametrize("command", ["train", "eval", "predict"])
def test_every_settings_command_takes_config_file_and_overrides(command, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("inference:\n  score_threshold: 0.3\n")
    args = build_parser().parse_args([command, *REQUIRED[command], "--config", str(cfg_file), "--device", "cpu",
                                      "inference.input_size=224"])
    sections = None if command == "train" else ("inference", "node")
    entries = options.config_entries(args, sections)
    assert entries == {"inference.score_threshold": 0.3, "inference.input_size": 224, "inference.device": "cpu"}


@pytest.mark.parametrize("command, flag", [("eval", "--score-threshold"), ("eval", "--input-size"),
                                           ("predict", "--score-threshold"), ("predict", "--alpha"),
                                           ("train", "--output-dir")])
def test_per_key_flags_are_gone(command, flag, capsys):
    _subparser(command).parse_args(REQUIRED[command])  # the rest of the command line is valid
    with pytest.raises(SystemExit) as exc:
        _subparser(command).parse_args([*REQUIRED[command], flag, "1"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "unrecognized arguments" in err and flag in err


@pytest.mark.parametrize("command", ["predict", "eval"])
def test_the_pipeline_is_built_for_the_requested_policy(command, monkeypatch):
    """runtime auto chooses for the policy the command runs (issue 17): the command line's inference settings
    reach build_pipeline, not only the config built after it."""
    import panoptic_ros.pipeline as pipeline_module

    asked = {}

    def fake_build_pipeline(source=None, **kwargs):
        asked.update(kwargs)
        raise RuntimeError("stop here")

    monkeypatch.setattr(pipeline_module, "build_pipeline", fake_build_pipeline)
    args = build_parser().parse_args([command, "--images" if command == "predict" else "--data", "x", "--out", "y",
                                      "--policy", "mask_heuristic", "inference.score_threshold=0.3"])
    with pytest.raises(RuntimeError, match="stop here"):
        options.pipeline_from_args(args)
    assert asked["overrides"] == {"merge_policy": "mask_heuristic", "score_threshold": 0.3}
    assert asked["runtime"] is None  # auto

