"""Fixtures of the runtime tests: a tiny network (as a model and as a checkpoint); the output comparison fixtures
raw_diff / torch_raw live in test/conftest.py."""
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
def fake_cpu_class(monkeypatch):
    """fake_cpu_class("avx2" | "avx512_vnni" | "amx" | ..., flags=extra flags) -> the CpuInfo every capability
    query of the package now sees (runtime.cpu.cpu_info is the one place they go through)."""
    from dataclasses import replace

    from panoptic_ros.runtime import cpu

    def fake(cpu_class: str, flags=()):
        info = cpu.fake_cpu(cpu_class)
        info = replace(info, flags=info.flags | frozenset(flags))
        monkeypatch.setattr(cpu, "cpu_info", lambda: info)
        return info

    return fake
