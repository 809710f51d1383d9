"""Shared test set-up: deterministic torch on CPU, small thread pool (CI has 2 cores)."""
import os

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
