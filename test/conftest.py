"""Shared test set-up: deterministic torch on CPU, small thread pool (CI has 2 cores)."""
import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session", autouse=True)
def export_cache(tmp_path_factory):
    """XDG_CACHE_HOME -> one temporary folder for the session: cached ONNX / OpenVINO exports (runtime auto on the
    CPU is openvino) stay out of ~/.cache and are shared by the session's tests and the processes they start."""
    folder = tmp_path_factory.mktemp("xdg_cache")
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


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
