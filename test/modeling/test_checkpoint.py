"""Checkpoints: safetensors + JSON sidecar round trip, torch .pt state dicts, and clear errors."""
import json
from pathlib import Path

import pytest
import torch

from panoptic_ros.modeling import CheckpointError, build_model, default_model_path, load_checkpoint, save_checkpoint


@pytest.fixture
def model(smoke_cfg, categories):
    m = build_model(smoke_cfg, categories)
    with torch.no_grad():  # make the weights differ from a fresh init
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return m.eval()


def test_round_trip_gives_the_same_network(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", model, model.cfg, model.categories,
                           extra={"epoch": 3, "metrics": {"PQ": 12.5}, "loss": torch.tensor(0.5)})
    side = json.loads((tmp_path / "m.json").read_text())
    assert side["config"]["model"]["fpn_channels"] == 32
    assert [c["name"] for c in side["categories"]] == ["person", "car", "road", "sky"]
    assert side["extra"] == {"epoch": 3, "metrics": {"PQ": 12.5}, "loss": 0.5}

    loaded = load_checkpoint(path)
    assert not loaded.training and loaded.checkpoint_extra["epoch"] == 3
    assert loaded.categories.to_list() == model.categories.to_list()
    assert loaded.cfg == model.cfg
    x = torch.rand(1, 3, 128, 128)
    with torch.no_grad():
        a, b = model.forward_raw(x), loaded.forward_raw(x)
    assert torch.equal(a["semantic"], b["semantic"]) and torch.equal(a["offsets"], b["offsets"])
    assert all(torch.equal(u, v) for u, v in zip(a["cls_logits"], b["cls_logits"]))


def test_torch_state_dict_loads_with_weights_only(model, tmp_path):
    pt = tmp_path / "m.pt"
    torch.save({"model": model.state_dict()}, pt)
    with pytest.raises(CheckpointError, match=r"m\.pt.*no config/categories.*--config"):
        load_checkpoint(pt)
    loaded = load_checkpoint(pt, cfg=model.cfg, categories=model.categories)
    assert torch.equal(loaded.semantic_head.predictor.weight, model.semantic_head.predictor.weight)


def test_pickled_objects_are_refused(tmp_path, model):
    import datetime  # any pickled object that is not a plain tensor container

    pt = tmp_path / "evil.pth"
    torch.save({"model": model.state_dict(), "obj": datetime.date(2020, 1, 1)}, pt)
    with pytest.raises(CheckpointError, match=r"evil\.pth.*weights_only"):
        load_checkpoint(pt, cfg=model.cfg, categories=model.categories)


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"checkpoint not found: .*nope\.safetensors"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_corrupt_checkpoint_names_the_file(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"m\.safetensors: not a valid safetensors file"):
        load_checkpoint(path)
    path.write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match=r"m\.safetensors"):
        load_checkpoint(path)


def test_missing_or_corrupt_sidecar_names_the_file(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    side = tmp_path / "m.json"
    side.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"m\.json: not valid JSON"):
        load_checkpoint(path)
    side.unlink()
    with pytest.raises(FileNotFoundError, match=r"sidecar not found: .*m\.json"):
        load_checkpoint(path)


def test_weights_of_another_architecture_are_a_clear_error(model, tmp_path):
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    side = json.loads((tmp_path / "m.json").read_text())
    side["config"]["model"]["fpn_channels"] = 64
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError,
                       match=r"m\.safetensors: weights do not fit.*fpn_channels 64.*shape mismatch.*fpn\.fpn"):
        load_checkpoint(path)
    side["config"]["model"]["fpn_channels"] = 32
    side["config"]["model"]["det_head_convs"] = 2
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=r"weights do not fit.*missing detection_head\.box_tower\.3"):
        load_checkpoint(path)


def test_save_refuses_other_suffixes(model, tmp_path):
    with pytest.raises(ValueError, match=r"\.safetensors"):
        save_checkpoint(tmp_path / "m.pt", model)


def test_default_model_path_points_into_the_package():
    path = default_model_path()
    assert path.name == "default.safetensors" and path.parent.name == "weights"
    assert path.parent.parent.name == "panoptic_ros" and path.parent.is_dir()


@pytest.mark.parametrize("field,value,pattern", [
    ("config", [1, 2], r"'config' must be an object of sections, not list"),
    ("config", "inference.input_size=320", r"'config' must be an object of sections, not str"),
    ("categories", "person", r"'categories' must be a list, not str"),
    ("extra", [1], r"'extra' must be an object, not list"),
])
def test_malformed_sidecar_is_one_line_cli_error(model, tmp_path, capsys, field, value, pattern):
    """Issue 11 item 13: a sidecar whose config (categories, extra) has the wrong JSON type used to end the CLI
    with an AttributeError traceback; it is one line naming the file, exit code 2."""
    import re

    import numpy as np
    from PIL import Image

    from panoptic_ros.cli.main import main

    path = save_checkpoint(tmp_path / "m.safetensors", model)
    side = json.loads((tmp_path / "m.json").read_text())
    side[field] = value
    (tmp_path / "m.json").write_text(json.dumps(side))
    with pytest.raises(CheckpointError, match=pattern):
        load_checkpoint(path)
    (tmp_path / "img").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "img" / "a.png")
    code = main(["predict", "--images", str(tmp_path / "img"), "--out", str(tmp_path / "out"), "--model", str(path),
                 "--runtime", "torch"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("panoptic predict: error:") and "m.json" in err and re.search(pattern, err), err


def test_save_checkpoint_failing_mid_write_keeps_the_previous_pair(model, tmp_path, monkeypatch):
    """A crash while writing leaves the old weights + sidecar untouched (staged write, renamed at the end)."""
    import safetensors.torch

    from panoptic_ros.modeling.checkpoint import sidecar_path

    cfg = model.cfg
    path = save_checkpoint(tmp_path / "m.safetensors", model, cfg)
    before = (path.read_bytes(), sidecar_path(path).read_bytes())

    def crash(state, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, cfg, extra={"epoch": 2})
    assert (path.read_bytes(), sidecar_path(path).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]


def test_save_checkpoint_failing_mid_sidecar_keeps_the_previous_pair(model, tmp_path, monkeypatch):
    """A crash while the sidecar is written (after the weights) still leaves the old pair: the new weights must
    not be renamed into place before the sidecar is complete (issue 19 item 2)."""
    from panoptic_ros.modeling.checkpoint import sidecar_path

    path = save_checkpoint(tmp_path / "m.safetensors", model, model.cfg)
    before = (path.read_bytes(), sidecar_path(path).read_bytes())
    with torch.no_grad():
        next(model.parameters()).add_(1.0)   # the new weights differ from the old ones

    def crash(self, text, *args, **kwargs):
        with open(self, "w") as f:
            f.write(text[:10])
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, model.cfg, extra={"epoch": 2})
    assert (path.read_bytes(), sidecar_path(path).read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.safetensors"]
