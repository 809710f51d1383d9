"""Seed control and the resumable training state (weights_only round trip, resume resolution, pruning)."""
import random

import numpy as np
import pytest
import torch

from panoptic_ros.engine import train_state
from panoptic_ros.engine.seed import rng_state, seed_everything, set_rng_state


def _draw():
    return random.random(), float(np.random.rand()), float(torch.rand(1))


def test_seed_everything_is_reproducible_and_rank_dependent():
    seed_everything(5)
    a = _draw()
    seed_everything(5)
    assert _draw() == a
    seed_everything(5, rank=1)
    assert _draw() != a


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    seed_everything(3)
    _draw()
    torch.save(rng_state(), tmp_path / "rng.pt")
    expected = _draw()
    _draw()
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert _draw() == expected


def _optim():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[1, 3], gamma=0.5)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    return opt, sched, torch.amp.GradScaler("cuda", enabled=False)


def test_state_round_trip_restores_optimizer_and_scheduler(tmp_path):
    opt, sched, scaler = _optim()
    path = train_state.save_state(tmp_path / "s_state.pt", epoch=4, iteration=40, optimizer=opt, scheduler=sched,
                                  scaler=scaler, rng=rng_state())
    state = train_state.load_state(path)
    assert state["epoch"] == 4 and state["iteration"] == 40
    opt2, sched2, _ = _optim()
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert sched2.last_epoch == sched.last_epoch and opt2.param_groups[0]["lr"] == pytest.approx(5e-4)
    exp = opt.state_dict()["state"][0]["exp_avg"]
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], exp)


def test_corrupt_or_incomplete_state_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad_state.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="bad_state.pt"):
        train_state.load_state(bad)
    torch.save({"epoch": 1}, tmp_path / "part_state.pt")
    with pytest.raises(ValueError, match="lacks"):
        train_state.load_state(tmp_path / "part_state.pt")
    with pytest.raises(FileNotFoundError, match="gone_state.pt"):
        train_state.load_state(tmp_path / "gone_state.pt")


def _fake_epoch(out, epoch, complete=True):
    p = train_state.epoch_paths(out, epoch)
    p.model.parent.mkdir(parents=True, exist_ok=True)
    p.model.write_bytes(b"w")
    p.sidecar.write_text("{}")
    if complete:
        p.state.write_bytes(b"s")
    return p


def test_resume_auto_picks_the_latest_complete_checkpoint(tmp_path):
    assert train_state.resolve_resume("auto", tmp_path) is None
    _fake_epoch(tmp_path, 1)
    p2 = _fake_epoch(tmp_path, 2)
    _fake_epoch(tmp_path, 3, complete=False)  # interrupted while saving: skipped
    assert train_state.resolve_resume("auto", tmp_path).model == p2.model
    assert train_state.resolve_resume(str(p2.model), tmp_path).state == p2.state
    assert train_state.paths_for(p2.state).model == p2.model
    with pytest.raises(FileNotFoundError, match="epoch_0009"):
        train_state.resolve_resume(str(train_state.epoch_paths(tmp_path, 9).model), tmp_path)


def test_prune_keeps_the_newest(tmp_path):
    for e in range(1, 6):
        _fake_epoch(tmp_path, e)
    train_state.prune(tmp_path, 2)
    assert [e for e, _ in train_state.list_checkpoints(tmp_path)] == [4, 5]
    assert not train_state.epoch_paths(tmp_path, 1).sidecar.exists()
    train_state.prune(tmp_path, 0)
    assert len(train_state.list_checkpoints(tmp_path)) == 2
