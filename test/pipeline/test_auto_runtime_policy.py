"""runtime auto picks the fastest runtime that runs the configured merge policy (mask_heuristic -> torch)."""
import dataclasses

import pytest

from panoptic_ros.config import InferenceConfig
from panoptic_ros.pipeline import build_pipeline
from panoptic_ros.runtime.loading import resolve_runtime


@pytest.fixture(scope="module")
def auto_name():
    cls, _ = resolve_runtime("auto", "cpu")
    if cls.name == "torch":
        pytest.skip("no exported runtime installed: auto is torch anyway")
    return cls.name


def _pipeline(policy: str, runtime: str = "auto"):
    inference = dataclasses.replace(InferenceConfig(), merge_policy=policy, runtime=runtime, device="cpu",
                                    precision="fp32")
    return build_pipeline(None, inference=inference)


def test_mask_policy_on_auto_gets_torch_and_others_keep_the_fast_runtime(auto_name, export_cache):
    fast = _pipeline("closest_center")
    assert fast.runtime.name == auto_name
    fast.check_policy("closest_center")
    masks = _pipeline("mask_heuristic")
    assert masks.runtime.name == "torch"
    masks.check_policy("mask_heuristic")


def test_an_explicit_runtime_is_kept_and_refuses_the_policy(auto_name, export_cache):
    from panoptic_ros.panoptic.policies import PolicyUnavailable

    pipeline = _pipeline("mask_heuristic", runtime=auto_name)
    assert pipeline.runtime.name == auto_name
    with pytest.raises(PolicyUnavailable, match="use runtime torch"):
        pipeline.check_policy("mask_heuristic")
