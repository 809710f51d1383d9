"""Seed control: one seed drives torch, numpy, random and every data-loader worker.

Each distributed rank offsets the seed by its rank so augmentations differ between ranks while the run as a
whole stays reproducible; model weights are identical anyway because DDP broadcasts rank 0's at start.
"""
from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int, rank: int = 0) -> int:
    """Seed python, numpy and torch (CPU and CUDA) for this process; returns the seed used."""
    value = (int(seed) + int(rank)) % 2**32
    random.seed(value)
    np.random.seed(value)
    torch.manual_seed(value)
    return value


def worker_init_fn(worker_id: int) -> None:
    """DataLoader worker seeding: torch already gives each worker base_seed + id; mirror it into numpy/random."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def loader_generator(seed: int, rank: int = 0) -> torch.Generator:
    """Generator for a DataLoader's shuffling and worker base seeds."""
    g = torch.Generator()
    g.manual_seed((int(seed) + int(rank)) % 2**63)
    return g


def rng_state() -> dict:
    """The RNG states of this process as tensors / primitives (loadable with torch.load(weights_only=True))."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": _python_state_to_list(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what rng_state() returned (missing parts are skipped)."""
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "numpy" in state:
        n = state["numpy"]
        np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                             n["cached_gaussian"]))
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_list(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]
