"""The one configuration object: defaults, overrides, validation, YAML round trip."""
import dataclasses

import pytest

from panoptic_ros.config import (
    MERGE_POLICIES,
    ConfigError,
    PanopticConfig,
    iter_fields,
    load_config,
    save_config,
    set_value,
    to_dict,
)


def test_defaults_follow_the_research():
    cfg = PanopticConfig()
    assert (cfg.loss.lambda_o, cfg.loss.lambda_s, cfg.loss.lambda_i) == (0.5, 0.5, 0.01)
    assert cfg.inference.score_threshold == 0.4
    assert cfg.inference.stuff_area_threshold == 4096
    assert (cfg.data.min_size, cfg.data.max_size) == (576, 864)
    assert cfg.inference.merge_policy in MERGE_POLICIES


def test_every_field_is_documented_and_defaults_are_valid():
    from panoptic_ros.config import check_value
    for section, name, f, value in iter_fields(PanopticConfig()):
        assert f.metadata.get("help"), f"{section}.{name} has no help text"
        assert check_value(f"{section}.{name}", f, value) == value


def test_overrides_are_typed(tmp_path):
    cfg = load_config(None, ["solver.lr=0.01", "inference.merge_policy=smallest_first", "data.hflip=false",
                             "solver.lr_steps=[3, 4]", "model.fpn_channels=64"])
    assert cfg.solver.lr == 0.01 and isinstance(cfg.solver.lr, float)
    assert cfg.inference.merge_policy == "smallest_first"
    assert cfg.data.hflip is False
    assert cfg.solver.lr_steps == [3, 4]
    assert cfg.model.fpn_channels == 64 and isinstance(cfg.model.fpn_channels, int)


@pytest.mark.parametrize("override, message", [
    ("inference.merge_policy=biggest", "not one of"),
    ("inference.score_threshold=1.5", "outside"),
    ("model.fpn_channels=abc", "integer"),
    ("data.hflip=maybe", "true/false"),
    ("nosection.x=1", "unknown config key"),
    ("solver.nothere=1", "unknown config key"),
    ("solver.lr", "section.name=value"),
])
def test_bad_values_are_rejected_with_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_round_trip(tmp_path):
    cfg = load_config(None, ["solver.epochs=7", "inference.merge_policy=closest_center"])
    path = tmp_path / "c.yaml"
    save_config(cfg, path)
    again = load_config(path)
    assert to_dict(again) == to_dict(cfg)


def test_bad_files_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("solver: [1, 2")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("solver:\n  lr: fast\n")
    with pytest.raises(ConfigError, match="solver.lr"):
        load_config(bad)


def test_set_value_keeps_old_value_on_error():
    cfg = PanopticConfig()
    with pytest.raises(ConfigError):
        set_value(cfg, "inference.score_threshold", -1)
    assert cfg.inference.score_threshold == PanopticConfig().inference.score_threshold


def test_instances_do_not_share_mutable_defaults():
    a, b = PanopticConfig(), PanopticConfig()
    a.solver.lr_steps.append(99)
    assert 99 not in b.solver.lr_steps
    assert dataclasses.fields(a.solver)
