"""Shared test set-up: deterministic torch on CPU, small thread pool (CI has 2 cores), derandomised hypothesis."""
import os

import pytest
import torch
from hypothesis import settings

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

# Hypothesis: derandomised by default (CI, `make test`, plain pytest), so a property test draws the same examples
# on every run and a red build is reproducible instead of a flake; no example database is written into the tree.
# HYPOTHESIS_PROFILE=explore draws fresh random examples (for hunting new counter-examples locally).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


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
