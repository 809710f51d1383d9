"""The merge policies as separate pieces: visiting order and per-pixel cost."""
import pytest
import torch

from panoptic_ros.config import InferenceConfig
from panoptic_ros.panoptic import MERGE_POLICIES, get_policy


def test_registry_matches_the_config_choices():
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
