"""The optional heads of issue 8 (levelness, border-ness, RoI mask head): targets with known answers, losses and
gradients, outputs computed only when asked, freezing and fine-tuning from a checkpoint."""
import math

import pytest
import torch

from panoptic_ros.data.categories import IGNORE_LABEL
from panoptic_ros.modeling import build_model, save_checkpoint
from panoptic_ros.modeling import detection_head as det
from panoptic_ros.modeling.extra_heads import (
    borderness_targets,
    levelness_targets,
    mask_border_distances,
    mask_roi_targets,
)


def with_instances(scene):
    """A conftest scene plus its instance_map (boxes are the instances' full rectangles, later ones on top)."""
    img, target = scene
    h, w = target["semantic"].shape
    inst = torch.full((h, w), -1, dtype=torch.int64)
    for k, (x1, y1, x2, y2) in enumerate(target["boxes"].long().tolist()):
        inst[y1:y2, x1:x2] = k
    return img, {**target, "instance_map": inst}


@pytest.fixture
def heads_cfg(smoke_cfg):
    smoke_cfg.model.levelness = True
    smoke_cfg.model.borderness = True
    smoke_cfg.model.mask_head = True
    return smoke_cfg


def test_mask_border_distances_follow_the_mask_not_the_box():
    inst = torch.tensor([[-1, 0, 0, 0],
                         [-1, 0, -1, -1],
                         [1, 1, 1, -1]])
    d = mask_border_distances(inst)   # (l, t, r, b) from pixel centres to the run's edges
    assert d[:, 0, 1].tolist() == [0.5, 0.5, 2.5, 1.5]     # row run cols 1..3, column run rows 0..1
    assert d[:, 1, 1].tolist() == [0.5, 1.5, 0.5, 0.5]     # the mask's own row run is one pixel wide
    assert d[:, 2, 0].tolist() == [0.5, 0.5, 2.5, 0.5]


def test_borderness_target_only_on_the_matched_instance():
    inst = torch.zeros(4, 4, dtype=torch.int64)
    inst[:, 3] = -1
    points = torch.tensor([[1.5, 1.5], [3.5, 1.5], [0.5, 0.5]])
    t = borderness_targets(points, torch.tensor([0, 0, -1]), inst, mask_border_distances(inst))
    # (1.5, 1.5): l=1.5 r=1.5 (mask cols 0..2), t=1.5 b=2.5 -> sqrt(1 * 0.6)
    assert t.tolist() == pytest.approx([math.sqrt(0.6), 0.0, 0.0])


def test_levelness_target_is_the_fcos_level_of_the_instance():
    inst = torch.full((300, 300), -1, dtype=torch.int64)
    inst[0:50, 0:50] = 0          # max distance < 64 -> p3
    inst[100:300, 100:300] = 1    # max distance from (110, 110) to the box: 190 -> p5 (128, 256]
    sem = torch.zeros(300, 300, dtype=torch.int64)
    sem[299, 299] = IGNORE_LABEL
    boxes = torch.tensor([[0.0, 0.0, 50.0, 50.0], [100.0, 100.0, 300.0, 300.0]])
    ranges = torch.tensor(det.SIZES_OF_INTEREST, dtype=torch.float32)
    points = torch.tensor([[25.0, 25.0], [110.0, 110.0], [80.0, 80.0], [299.5, 299.5]])
    assert levelness_targets(points, inst, sem, boxes, ranges).tolist() == [1, 3, 0, IGNORE_LABEL]


def test_mask_roi_targets_of_a_box_around_its_mask():
    inst = torch.full((64, 64), -1, dtype=torch.int64)
    inst[4:60, 4:32] = 0          # left half of the 56x56 box 4..60: 2 px per bin, samples on pixel centres
    t = mask_roi_targets(inst, torch.tensor([[4.0, 4.0, 60.0, 60.0]]), torch.tensor([0]))
    assert t.shape == (1, 28, 28)
    assert (t[0, :, :14] == 1).all() and (t[0, :, 14:] == 0).all()


def test_heads_train_and_their_outputs_exist_only_when_asked(heads_cfg, categories, scenes):
    model = build_model(heads_cfg, categories)
    assert model.heads() == ("levelness", "borderness", "mask_head")
    images, targets = [list(x) for x in zip(*[with_instances(s) for s in scenes])]
    losses = model(images, targets)
    for key in ("loss_level", "loss_border", "loss_mask"):
        assert torch.isfinite(losses[key]) and losses[key] > 0
    losses["loss"].backward()
    for head in (model.levelness_head, model.borderness_head, model.mask_head):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    batch = torch.zeros(1, 3, 128, 128)
    with torch.no_grad():
        plain = model.eval().forward_raw(batch, optional=())
        full = model.forward_raw(batch, optional=("levelness", "borderness", "features"))
        exported = model.forward_raw(batch)
    assert not {"levelness", "borderness", "features"} & set(plain)
    assert full["levelness"].shape == (1, 6, 16, 16) and len(full["borderness"]) == 5
    assert set(exported) - set(plain) == {"levelness", "borderness"}
    masks = model.mask_logits(full["features"], [torch.tensor([[8.0, 8.0, 40.0, 60.0]])], (128, 128))
    assert masks.shape == (1, 2, 28, 28)


def test_heads_need_instance_maps(heads_cfg, categories, scenes):
    model = build_model(heads_cfg, categories)
    images, targets = [list(x) for x in zip(*scenes)]
    with pytest.raises(ValueError, match="instance_map"):
        model(images, targets)


def test_frozen_parts_keep_weights_and_batchnorm_statistics(heads_cfg, categories, scenes, tmp_path):
    base_cfg = heads_cfg.__class__()
    base_cfg.model, base_cfg.inference = type(heads_cfg.model)(**vars(heads_cfg.model)), heads_cfg.inference
    base_cfg.model.levelness = base_cfg.model.borderness = base_cfg.model.mask_head = False
    base = build_model(base_cfg, categories)
    save_checkpoint(tmp_path / "base.safetensors", base, base_cfg, categories)
    heads_cfg.model.init_weights = str(tmp_path / "base.safetensors")
    heads_cfg.model.freeze = ["backbone", "fpn", "detection_head", "semantic_head", "center_head"]
    model = build_model(heads_cfg, categories)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert all(torch.equal(v, state[k]) for k, v in base.state_dict().items())   # initialised from the base
    model.train()
    assert not model.backbone.training and model.mask_head.training
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    images, targets = [list(x) for x in zip(*[with_instances(s) for s in scenes])]
    model(images, targets)["loss"].backward()
    optimizer.step()
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.state_dict().items())     # trunk and BN stats unchanged
    assert not torch.equal(after["mask_head.logits.weight"], state["mask_head.logits.weight"])


def test_freeze_names_a_missing_part(smoke_cfg, categories):
    smoke_cfg.model.freeze = ["decoder"]
    with pytest.raises(ValueError, match="decoder"):
        build_model(smoke_cfg, categories)


def test_borderness_target_can_be_the_box_centerness(smoke_cfg, categories, scenes):
    """loss.borderness_target=box trains the same head on FCOS centerness (the equal-budget comparison)."""
    smoke_cfg.model.borderness = True
    images, targets = [list(x) for x in zip(*[with_instances(s) for s in scenes])]
    losses = {}
    for target in ("mask", "box"):
        smoke_cfg.loss.borderness_target = target
        torch.manual_seed(0)
        losses[target] = float(build_model(smoke_cfg, categories)(images, targets)["loss_border"])
    # mask distances run from the centre of the pixel under each location, box distances from the location itself
    assert losses["mask"] != pytest.approx(losses["box"], abs=1e-6)
