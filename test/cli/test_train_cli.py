"""`panoptic train`: one epoch on a tiny synthetic set writes checkpoint, sidecar, state and TensorBoard events;
--resume continues from the saved epoch (and equals an uninterrupted run); seed control; validation keeps the
best checkpoint; user errors exit with code 2 and one line."""
import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panoptic_ros.cli.main import main
from panoptic_ros.data import make_synthetic_dataset
from panoptic_ros.engine import train_state

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "panoptic_ros" / "configs" / "smoke.yaml")
FAST = ["data.batch_size=2", "data.num_workers=0", "inference.device=cpu", "solver.log_every=1", "solver.seed=0",
        "data.min_size=96", "data.max_size=128", "solver.lr=0.001", "solver.lr_steps=[1]", "solver.lr_gamma=0.1"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("tiny") / "train", 4, seed=11, width=128, height=96)


def _train(out, data, *extra):
    """extra: overrides first, then flags (argparse takes the positional overrides as one group)."""
    return main(["train", "--config", SMOKE, f"data.train={data}", f"solver.output_dir={out}", *FAST, *extra,
                 "--no-progress"])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_data):
    """One epoch (2 iterations of 2 images), shared by the read-only tests below."""
    out = tmp_path_factory.mktemp("first") / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
    return out


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory, tiny_data):
    """Two epochs in one go (no workers): what every resumed run must reproduce."""
    out = tmp_path_factory.mktemp("straight") / "run"
    assert _train(out, tiny_data, "solver.epochs=2") == 0
    return out


def test_one_epoch_writes_checkpoint_sidecar_state_and_events(first_run, tiny_data):
    out = first_run
    paths = train_state.epoch_paths(out, 1)
    weights = load_file(paths.model)
    assert weights and all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point())
    side = json.loads(paths.sidecar.read_text())
    assert side["config"]["solver"]["epochs"] == 1 and side["config"]["data"]["train"] == str(tiny_data)
    names = [c["name"] for c in side["categories"]]
    assert len(names) > 2 and len(set(names)) == len(names)
    assert side["extra"]["epoch"] == 1 and side["extra"]["iteration"] == 2  # 4 images / batch 2
    state = torch.load(paths.state, weights_only=True)
    assert state["epoch"] == 1 and state["iteration"] == 2 and state["optimizer"]["state"]
    events = list((out / "tb").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 100
    assert (out / "final.safetensors").read_bytes() == paths.model.read_bytes()
    history = json.loads((out / "train_history.json").read_text())
    assert [h["epoch"] for h in history] == [1] and history[0]["train"]["loss"] > 0
    from panoptic_ros.modeling import load_checkpoint
    model = load_checkpoint(paths.model)
    assert model.categories.names == names


def test_tensorboard_has_per_iteration_and_per_epoch_scalars(first_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(first_run / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in ("train/loss", "train/loss_sem", "train/lr", "epoch/loss"):
        assert tag in tags, tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_resume_continues_and_equals_an_uninterrupted_run(first_run, straight_run, tiny_data, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(first_run, resumed)
    assert _train(resumed, tiny_data, "solver.epochs=2", "--resume", "auto") == 0
    second = train_state.epoch_paths(resumed, 2)
    state = torch.load(second.state, weights_only=True)
    assert state["epoch"] == 2 and state["iteration"] == 4 and state["scheduler"]["last_epoch"] == 2
    history = json.loads((resumed / "train_history.json").read_text())
    assert [h["epoch"] for h in history] == [2]  # epoch 1 was not trained again
    assert history[0]["lr"] == pytest.approx(1e-3 * 0.1)  # decayed at epoch 1 (FAST): the scheduler was restored
    # same weights as two epochs in one go: optimizer, scheduler, data order and RNG state were all restored
    a = load_file(train_state.epoch_paths(straight_run, 2).model)
    b = load_file(second.model)
    assert all(torch.equal(a[k], b[k]) for k in a), "resuming must restore optimizer, scheduler and RNG state"
    # resuming a finished run trains nothing more
    assert _train(resumed, tiny_data, "solver.epochs=2", "--resume", "auto") == 0
    assert not train_state.epoch_paths(resumed, 3).model.exists()


def _same_weights(a_path, b_path) -> bool:
    a, b = load_file(a_path), load_file(b_path)
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_loader_workers_equals_an_uninterrupted_run(first_run, straight_run, tiny_data, tmp_path):
    """Augmentation is seeded per sample (engine/seed.py): resuming with 2 persistent workers reproduces the
    uninterrupted run made without workers, bit for bit."""
    resumed = tmp_path / "resumed"
    shutil.copytree(first_run, resumed)
    assert _train(resumed, tiny_data, "solver.epochs=2", "data.num_workers=2", "--resume", "auto") == 0
    assert _same_weights(train_state.epoch_paths(straight_run, 2).model, train_state.epoch_paths(resumed, 2).model)


def test_resume_auto_skips_a_truncated_newest_checkpoint(first_run, straight_run, tiny_data, tmp_path, caplog):
    run = tmp_path / "run"
    shutil.copytree(straight_run, run)
    newest = train_state.epoch_paths(run, 2).model
    newest.write_bytes(newest.read_bytes()[:1000])  # a crash mid-write of a non-atomic writer / a bad disk
    with caplog.at_level("WARNING"):
        assert _train(run, tiny_data, "solver.epochs=2", "--resume", "auto") == 0
    assert any("skipping unreadable checkpoint" in r.getMessage() and "epoch_0002" in r.getMessage()
               for r in caplog.records)
    history = json.loads((run / "train_history.json").read_text())
    assert [h["epoch"] for h in history] == [2]  # epoch 2 retrained from epoch 1 ...
    assert _same_weights(train_state.epoch_paths(straight_run, 2).model, newest)  # ... to the same weights
    assert not list((run / "checkpoints").glob(".partial-*"))  # no temporary files left behind


def test_resume_auto_with_no_readable_checkpoint_is_one_line(first_run, tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(first_run, run)
    train_state.epoch_paths(run, 1).state.write_bytes(b"\x80garbage")
    assert _train(run, tiny_data, "solver.epochs=2", "--resume", "auto") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "no readable checkpoint" in err[-1] and "epoch_0001" in err[-1] and "Traceback" not in "".join(err)


def test_resume_from_explicit_checkpoint(first_run, tiny_data, tmp_path):
    ckpt = train_state.epoch_paths(first_run, 1).model
    assert _train(tmp_path / "run2", tiny_data, "solver.epochs=1", "--resume", str(ckpt)) == 0
    assert not train_state.epoch_paths(tmp_path / "run2", 1).model.exists()  # epoch 1 was already done


def test_same_seed_same_weights_other_seed_other_weights(first_run, tiny_data, tmp_path):
    ref = load_file(train_state.epoch_paths(first_run, 1).model)  # seed 0
    runs = {}
    for seed in (0, 1):
        assert _train(tmp_path / str(seed), tiny_data, "solver.epochs=1", f"solver.seed={seed}") == 0
        runs[seed] = load_file(train_state.epoch_paths(tmp_path / str(seed), 1).model)
    assert all(torch.equal(ref[k], runs[0][k]) for k in ref)
    assert not all(torch.equal(ref[k], runs[1][k]) for k in ref)


def test_validation_during_training_keeps_the_best_checkpoint(tmp_path, tiny_data):
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1", f"data.val={tiny_data}", "inference.stuff_area_threshold=64",
                  "--eval-every", "1", "--val-max-images", "2") == 0
    metrics = json.loads((out / "val" / "epoch_0001" / "metrics.json").read_text())
    assert metrics["num_images"] == 2 and 0.0 <= metrics["pq"]["All"]["pq"] <= 1.0
    best = json.loads((out / "best.json").read_text())
    assert best["extra"]["val_pq"] == pytest.approx(metrics["pq"]["All"]["pq"])
    assert (out / "best.safetensors").read_bytes() == train_state.epoch_paths(out, 1).model.read_bytes()
    history = json.loads((out / "train_history.json").read_text())
    assert history[0]["val"]["pq"] == pytest.approx(metrics["pq"]["All"]["pq"])


def test_fresh_run_refuses_an_output_dir_with_checkpoints(first_run, tiny_data, capsys):
    assert _train(first_run, tiny_data, "solver.epochs=1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume auto" in err


def test_missing_dataset_exits_2_with_one_line(tmp_path, capsys):
    code = main(["train", "--config", SMOKE, f"data.train={tmp_path / 'nope'}", f"solver.output_dir={tmp_path}",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "nope" in err


def test_bad_override_and_missing_resume_exit_2(tmp_path, tiny_data, capsys):
    assert main(["train", "--config", SMOKE, "solver.lr=fast", f"data.train={tiny_data}"]) == 2
    assert "solver.lr" in capsys.readouterr().err
    assert _train(tmp_path / "run", tiny_data, "--resume", str(tmp_path / "missing.safetensors")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "missing.safetensors" in err
