"""runtime auto is the fastest runtime for the device whatever the merge policy: exported runtimes run every
policy the model has the heads for (mask_heuristic's RoI mask head included), so auto never switches or refuses."""
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


def test_every_policy_keeps_the_fast_runtime_on_auto(auto_name, export_cache):
    for policy in ("closest_center", "mask_heuristic"):
        pipeline = _pipeline(policy)
        assert pipeline.runtime.name == auto_name, policy
        pipeline.check_policy(policy)
        assert "features" in pipeline.runtime_outputs()
