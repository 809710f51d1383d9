"""`panoptic train`: one epoch on a tiny synthetic set writes checkpoint, sidecar, state and TensorBoard events;
--resume continues from the saved epoch; user errors exit with code 2 and one line."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from panoptic_ros.cli.main import main
from panoptic_ros.data import make_synthetic_dataset
from panoptic_ros.engine import train_state

ROOT = Path(__file__).resolve().parents[2]
SMOKE = str(ROOT / "panoptic_ros" / "configs" / "smoke.yaml")
FAST = ["data.batch_size=2", "data.num_workers=0", "inference.device=cpu", "solver.log_every=1",
        "data.min_size=96", "data.max_size=128", "solver.lr=0.001", "solver.lr_steps=[1]", "solver.lr_gamma=0.1"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("tiny") / "train", 4, seed=11, width=128, height=96)


def _train(out, data, *extra):
    """extra: overrides first, then flags (argparse takes the positional overrides as one group)."""
    return main(["train", "--config", SMOKE, f"data.train={data}", f"solver.output_dir={out}", *FAST, *extra,
                 "--no-progress"])


def test_one_epoch_writes_checkpoint_sidecar_state_and_events(tmp_path, tiny_data):
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
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
    # the checkpoint loads as a model
    from panoptic_ros.modeling import load_checkpoint
    model = load_checkpoint(paths.model)
    assert model.categories.names == names


def test_tensorboard_has_per_iteration_and_per_epoch_scalars(tmp_path, tiny_data):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    for tag in ("train/loss", "train/loss_sem", "train/lr", "epoch/loss"):
        assert tag in tags, tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2]


def test_resume_continues_from_the_saved_epoch(tmp_path, tiny_data):
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
    first = load_file(train_state.epoch_paths(out, 1).model)
    # lr 1e-3 decays by 10 at epoch 1 (FAST): the resumed epoch 2 must train with the decayed lr
    assert _train(out, tiny_data, "solver.epochs=2", "--resume", "auto") == 0
    second = train_state.epoch_paths(out, 2)
    state = torch.load(second.state, weights_only=True)
    assert state["epoch"] == 2 and state["iteration"] == 4
    history = json.loads((out / "train_history.json").read_text())
    assert [h["epoch"] for h in history] == [2]  # epoch 1 was not trained again
    assert history[0]["lr"] == pytest.approx(1e-3 * 0.1)
    assert state["scheduler"]["last_epoch"] == 2
    # training went on from the epoch-1 weights: the run changed them, but by one epoch's worth only
    w2 = load_file(second.model)
    assert any(not torch.equal(first[k], w2[k]) for k in first)
    # resuming a finished run does nothing and keeps the files
    assert _train(out, tiny_data, "solver.epochs=2", "--resume", "auto") == 0
    assert not train_state.epoch_paths(out, 3).model.exists()


def test_resume_from_explicit_checkpoint_loads_its_weights(tmp_path, tiny_data):
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
    ckpt = train_state.epoch_paths(out, 1).model
    out2 = tmp_path / "run2"
    assert _train(out2, tiny_data, "solver.epochs=1", "--resume", str(ckpt)) == 0
    assert not train_state.epoch_paths(out2, 1).model.exists()  # epoch 1 was already done: nothing trained


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


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny_data):
    runs = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert _train(tmp_path / name, tiny_data, "solver.epochs=1", f"solver.seed={seed}") == 0
        runs[name] = load_file(train_state.epoch_paths(tmp_path / name, 1).model)
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])


def test_fresh_run_refuses_an_output_dir_with_checkpoints(tmp_path, tiny_data, capsys):
    out = tmp_path / "run"
    assert _train(out, tiny_data, "solver.epochs=1") == 0
    capsys.readouterr()
    assert _train(out, tiny_data, "solver.epochs=1") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--resume auto" in err
