"""Seed control: one seed drives torch, numpy, random and every data-loader worker.

Each distributed rank offsets the seed by its rank so augmentations differ between ranks while the run as a
whole stays reproducible; model weights are identical anyway because DDP broadcasts rank 0's at start.

Augmentation randomness is per sample: :class:`EpochSeeds` hands each index its own seed, a function of
(solver.seed, rank, epoch, position in the epoch), and :class:`SeededDataset` draws that sample's augmentation
from it. So the data of an epoch does not depend on the number of loader workers, on persistent workers
keeping their RNG between epochs, or on where a run was interrupted: a resumed run sees the same images, order
and augmentations as an uninterrupted one (rank 0's process RNG state is also saved, for anything else).
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


def sample_seed(seed: int, rank: int, epoch: int, position: int) -> int:
    """The augmentation seed of the position-th sample of an epoch on a rank (independent streams per tuple)."""
    return int(np.random.SeedSequence([int(seed), int(rank), int(epoch), int(position)]).generate_state(1)[0])


class EpochSeeds(torch.utils.data.Sampler):
    """Wraps a sampler: yields (index, seed) pairs; call set_epoch(epoch) before each epoch.

    The order comes from the wrapped sampler: DistributedSampler (set_epoch) or a sampler with a ``generator``,
    re-seeded from (seed, epoch) at every pass so a second pass in the same epoch (precise BN) repeats it."""

    def __init__(self, sampler, seed: int, rank: int = 0):
        self.sampler = sampler
        self.seed, self.rank, self.epoch = int(seed), int(rank), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        if hasattr(self.sampler, "set_epoch"):
            self.sampler.set_epoch(self.epoch)

    def __iter__(self):
        generator = getattr(self.sampler, "generator", None)
        if generator is not None and not hasattr(self.sampler, "set_epoch"):
            generator.manual_seed(self.seed * 100003 + self.epoch)
        for position, index in enumerate(self.sampler):
            yield int(index), sample_seed(self.seed, self.rank, self.epoch, position)

    def __len__(self) -> int:
        return len(self.sampler)


class SeededDataset(torch.utils.data.Dataset):
    """Wraps a dataset indexed by (index, seed): torch, numpy and random are seeded with that seed while the
    sample is read and augmented, and restored afterwards (so the caller's RNG streams are not disturbed)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item):
        index, seed = item
        np_state, py_state = np.random.get_state(), random.getstate()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
            try:
                return self.dataset[index]
            finally:
                np.random.set_state(np_state)
                random.setstate(py_state)


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
