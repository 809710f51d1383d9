"""Fixtures of the runtime tests: a tiny network (as a model and as a checkpoint) and output comparison."""
from pathlib import Path

import pytest
import torch

import panoptic_ros
from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap

SMOKE = Path(panoptic_ros.__file__).parent / "configs" / "smoke.yaml"


def _tiny_model():
    """The smoke config on mobilenet_v3_small (1.1M parameters; 2 thing + 1 stuff classes, random weights)."""
    from panoptic_ros.modeling import build_model

    torch.manual_seed(0)
    categories = CategoryMap([Category(1, "disc", True), Category(2, "box", True), Category(3, "sky", False)])
    return build_model(load_config(SMOKE, ["model.backbone=mobilenet_v3_small"]), categories).eval()


@pytest.fixture
def tiny_model():
    """A fresh tiny model (runtimes may move it or change its memory format)."""
    return _tiny_model()


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    from panoptic_ros.modeling import save_checkpoint
    return save_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.safetensors", _tiny_model())


@pytest.fixture
def images():
    """A normalised, padded batch of 2 at 128x256 (multiples of the smoke config's size_divisibility 128)."""
    return torch.randn(2, 3, 128, 256, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def raw_diff():
    """max |a - b| over every tensor of two forward_raw dicts, after checking they have the same structure."""
    from panoptic_ros.runtime.outputs import flatten_outputs

    def diff(a: dict, b: dict) -> float:
        assert list(a) == list(b)
        lengths = [[len(v) for v in raw.values() if isinstance(v, list)] for raw in (a, b)]
        assert lengths[0] == lengths[1]
        pairs = list(zip(flatten_outputs(a), flatten_outputs(b), strict=True))
        assert all(x.shape == y.shape for x, y in pairs), [(x.shape, y.shape) for x, y in pairs]
        return max(float((x.float().cpu() - y.float().cpu()).abs().max()) for x, y in pairs)
    return diff


@pytest.fixture
def torch_raw():
    """forward_raw of a model under inference_mode (the reference outputs)."""
    def run(model, images):
        with torch.inference_mode():
            return model.forward_raw(images)
    return run
