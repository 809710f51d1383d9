"""`panoptic convert --from torchvision-fcos`: a loadable checkpoint with the source's weights and a report of the
conversion in its sidecar; bad input is one line and exit 2; numbers: test/modeling/test_convert_fcos.py."""
import json

import pytest
import torch
from torchvision.models.detection import fcos_resnet50_fpn

from panoptic_ros.cli.main import main
from panoptic_ros.modeling import load_checkpoint, read_sidecar

CATEGORIES = [{"id": 1, "name": "person", "isthing": 1}, {"id": 3, "name": "car", "isthing": 1},
              {"id": 26, "name": "rider", "isthing": 1}, {"id": 149, "name": "road", "isthing": 0}]


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    torch.manual_seed(0)
    state = fcos_resnet50_fpn(weights=None, weights_backbone=None).state_dict()
    path = tmp_path_factory.mktemp("fcos") / "fcos.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture
def categories(tmp_path):
    path = tmp_path / "panoptic.json"
    path.write_text(json.dumps({"images": [], "annotations": [], "categories": CATEGORIES}))
    return path


def test_convert_writes_a_loadable_checkpoint(weights, categories, tmp_path, capsys):
    path, state = weights
    out = tmp_path / "ckpt" / "fcos_panoptic.safetensors"
    # 26 (COCO: N/A) is mapped to COCO person; layout from an override
    assert main(["convert", "--from", "torchvision-fcos", "--weights", str(path), "--categories", str(categories),
                 "--out", str(out), "--map", "26=1", "model.layout=fast"]) == 0
    printed = capsys.readouterr().out
    assert "3/3 thing classes matched" in printed and "model.anchor_point=corner" in printed
    model = load_checkpoint(out)
    assert model.cfg.model.layout == "fast" and model.cfg.model.anchor_point == "corner"
    assert model.cfg.inference.input_size == 800 and model.cfg.model.backbone == "resnet50"
    rows = state["head.classification_head.cls_logits.weight"]
    w = model.detection_head.cls_logits.weight
    assert torch.equal(w[0], rows[1]) and torch.equal(w[1], rows[3]) and torch.equal(w[2], rows[1])
    assert torch.equal(model.backbone.body.layer3[0].conv1.weight, state["backbone.body.layer3.0.conv1.weight"])
    assert torch.equal(model.fpn.fpn.extra_blocks.p7.weight, state["backbone.fpn.extra_blocks.p7.weight"])
    report = read_sidecar(out)["extra"]["converted_from"]
    assert report["source"] == "torchvision-fcos" and len(report["sha256"]) == 64
    assert report["fresh_things"] == [] and report["tensors_copied"] > 300
    assert report["fresh_parts"] == ["decoder"]    # fast layout: every other tensor comes from torchvision


def one_line_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("panoptic convert: error:")
    return err


def test_bad_input_is_one_line(weights, categories, tmp_path, capsys):
    path = str(weights[0])
    base = ["convert", "--from", "torchvision-fcos", "--categories", str(categories)]
    out = str(tmp_path / "x.safetensors")
    assert "ID=COCO_ID" in one_line_error(capsys, base + ["--weights", path, "--out", out, "--map", "car=3"])
    assert ".safetensors" in one_line_error(capsys, base + ["--weights", path, "--out", str(tmp_path / "x.pt")])
    assert "model.backbone='resnet18'" in one_line_error(capsys, base + ["--weights", path, "--out", out,
                                                                         "model.backbone=resnet18"])
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    assert "weights_only" in one_line_error(capsys, base + ["--weights", str(junk), "--out", out])
    assert "not found" in one_line_error(capsys, base + ["--weights", str(tmp_path / "none.pth"), "--out", out])
    torch.save({"backbone.body.conv1.weight": torch.zeros(1)}, tmp_path / "partial.pth")
    assert "missing tensor" in one_line_error(capsys, base + ["--weights", str(tmp_path / "partial.pth"),
                                                              "--out", out])
    no_cats = tmp_path / "no_cats.json"
    no_cats.write_text(json.dumps({"images": []}))
    assert "categories" in one_line_error(capsys, ["convert", "--from", "torchvision-fcos", "--weights", path,
                                                   "--categories", str(no_cats), "--out", out])
    assert not (tmp_path / "x.safetensors").exists()


def test_offline_without_weights_names_the_file_to_fetch(categories, tmp_path, capsys, monkeypatch):
    from torchvision.models.detection import FCOS_ResNet50_FPN_Weights

    def offline(self, *args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(type(FCOS_ResNet50_FPN_Weights.COCO_V1), "get_state_dict", offline)
    err = one_line_error(capsys, ["convert", "--from", "torchvision-fcos", "--categories", str(categories),
                                  "--out", str(tmp_path / "x.safetensors")])
    assert "fcos_resnet50_fpn_coco" in err and "--weights" in err


def test_panopticapi_categories_file_is_read_like_a_coco_json(categories, tmp_path):
    """panopticapi ships its classes as a bare list (panoptic_coco_categories.json): same CategoryMap."""
    from panoptic_ros.data.category_file import read_categories

    bare = tmp_path / "panoptic_coco_categories.json"
    bare.write_text(json.dumps(CATEGORIES))
    assert read_categories(bare).to_list() == read_categories(categories).to_list()
    assert [c.id for c in read_categories(bare).categories] == [1, 3, 26, 149]
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(ValueError, match="no 'categories' list"):
        read_categories(tmp_path / "empty.json")
