"""The merge policies as separate pieces: visiting order and per-pixel cost; and the registry: a policy registered
from this test module is selectable in fuse(), the config, the CLI and the node's parameter with no other edit."""

import pytest
import torch

from panoptic_ros.config import ConfigError, InferenceConfig, PanopticConfig, set_value
from panoptic_ros.panoptic import MERGE_POLICIES, MergePolicy, fuse, get_policy


def test_registry_matches_the_config_choices():
    assert list(MERGE_POLICIES)[:3] == ["highest_confidence", "smallest_first", "closest_center"]
    assert [get_policy(name).name for name in MERGE_POLICIES] == list(MERGE_POLICIES)
    assert InferenceConfig().merge_policy in MERGE_POLICIES
    assert get_policy("closest_center").needs_center_offsets and get_policy("closest_center").per_pixel
    assert not get_policy("highest_confidence").needs_center_offsets


@pytest.mark.parametrize("name", ["", "Highest_Confidence", None, 3])
def test_unknown_policy_lists_the_choices(name):
    with pytest.raises(ValueError, match="smallest_first"):
        get_policy(name)


def test_highest_confidence_order_is_by_score_then_index():
    order = get_policy("highest_confidence").order(torch.tensor([0.5, 0.9, 0.5, 0.7]), torch.tensor([1.0, 2, 3, 4]))
    assert order.tolist() == [1, 3, 0, 2]


def test_smallest_first_order_is_by_area_then_score_then_index():
    scores = torch.tensor([0.5, 0.9, 0.6, 0.6, 0.1])
    areas = torch.tensor([40.0, 50, 40, 40, 10])
    assert get_policy("smallest_first").order(scores, areas).tolist() == [4, 2, 3, 0, 1]


def test_closest_center_cost_is_the_squared_distance_of_pixel_plus_offset_to_the_center():
    policy = get_policy("closest_center")
    xs = torch.tensor([0.5, 1.5, 2.5])
    ys = torch.tensor([10.5, 11.5])
    offsets = torch.zeros(2, 2, 3)
    offsets[0, 1, 2] = 1.0
    offsets[1, 1, 2] = -2.0
    cost = policy.pixel_cost((1.5, 10.5), xs, ys, offsets)
    assert cost.dtype == torch.float32
    assert cost.tolist() == [[1.0, 0.0, 1.0], [2.0, 1.0, 5.0]]  # (2.5 + 1 - 1.5)^2 + (11.5 - 2 - 10.5)^2
    half = policy.pixel_cost((1.5, 10.5), xs, ys, offsets.half())
    assert torch.equal(half, cost)
    # order: like highest_confidence (distance decides per pixel)
    assert policy.order(torch.tensor([0.1, 0.3]), torch.tensor([5.0, 1.0])).tolist() == [1, 0]


def test_fuse_defaults_come_from_the_config():
    import inspect

    from panoptic_ros.panoptic import fuse, fuse_batch

    for fn in (fuse, fuse_batch):
        params = inspect.signature(fn).parameters
        assert params["stuff_area_threshold"].default == InferenceConfig().stuff_area_threshold
        assert params["unknown_undetected_things"].default == InferenceConfig().unknown_undetected_things
        assert params["policy"].default in MERGE_POLICIES


# ------------------------------------------------------------------------------------------ a plug-in policy
class LowestConfidence(MergePolicy):
    """Toy policy: the least confident box keeps the shared pixels."""

    name = "toy_lowest_confidence"

    def order(self, scores, areas):
        return torch.sort(scores.double(), stable=True).indices


@pytest.fixture
def toy_policy():
    assert LowestConfidence.name not in MERGE_POLICIES
    MERGE_POLICIES.register(obj=LowestConfidence)
    yield LowestConfidence.name
    MERGE_POLICIES.unregister(LowestConfidence.name)


def test_unregistered_policy_is_rejected_everywhere():
    with pytest.raises(ValueError, match="unknown merge policy"):
        get_policy(LowestConfidence.name)
    with pytest.raises(ConfigError, match="not one of"):
        set_value(PanopticConfig(), "inference.merge_policy", LowestConfidence.name)


def test_a_registered_policy_is_selectable_in_fuse(toy_policy):
    logits = torch.full((2, 10, 20), -5.0)
    logits[0] = 5.0  # channel 0: a thing class everywhere; channel 1: stuff
    boxes = torch.tensor([[0.0, 0, 12, 10], [8, 0, 20, 10]])
    kwargs = dict(thing_mask=torch.tensor([True, False]), stuff_area_threshold=0)
    args = (logits, boxes, torch.tensor([0.6, 0.9], dtype=torch.float64), torch.tensor([0, 0]))

    def owner_of_overlap(policy):
        pan = fuse(*args, policy=policy, **kwargs).panoptic
        return [int(pan[0, 9] == pan[0, 0]), int(pan[0, 9] == pan[0, 15])]

    assert owner_of_overlap("highest_confidence") == [0, 1]
    assert owner_of_overlap(toy_policy) == [1, 0]   # the 0.6 box keeps the overlap


def test_a_registered_policy_is_a_valid_config_value_cli_choice_and_node_parameter(toy_policy):
    cfg = PanopticConfig()
    set_value(cfg, "inference.merge_policy", toy_policy)
    assert cfg.inference.merge_policy == toy_policy

    from panoptic_ros.cli.main import build_parser
    parser = build_parser()
    args = parser.parse_args(["eval", "--data", "D", "--out", "O", "--policy", toy_policy])
    assert args.policy == toy_policy
    args = parser.parse_args(["predict", "--images", "I", "--out", "O", "--policy", toy_policy])
    from panoptic_ros.cli.options import config_entries
    assert config_entries(args) == {"inference.merge_policy": toy_policy}

    from panoptic_ros.config import check_value
    from panoptic_ros.ros.params import parameter_by_name
    param = parameter_by_name()["merge_policy"]
    assert toy_policy in param.describe()
    assert check_value(param.name, param.field, toy_policy) == toy_policy


def test_cli_parser_built_before_registration_accepts_the_policy():
    from panoptic_ros.cli.main import build_parser
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["eval", "--data", "D", "--out", "O", "--policy", LowestConfidence.name])
    MERGE_POLICIES.register(obj=LowestConfidence)
    try:
        assert parser.parse_args(["eval", "--data", "D", "--out", "O", "--policy", LowestConfidence.name]).policy
    finally:
        MERGE_POLICIES.unregister(LowestConfidence.name)
