"""Shared test set-up: deterministic torch on CPU, small thread pool (CI has 2 cores)."""
import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """6 images of 160x120 with heavy same-class overlap in COCO panoptic layout; returns the folder (Path)."""
    from panoptic_ros.data.synth import make_synthetic_dataset
    return make_synthetic_dataset(tmp_path_factory.mktemp("synth") / "ds", 6, seed=3, width=160, height=120,
                                  overlap="heavy")
