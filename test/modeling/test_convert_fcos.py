"""torchvision FCOS -> panoptic model: the converted network detects exactly what torchvision's FCOS detects.

A randomly initialised ``fcos_resnet50_fpn`` (no download) with non-trivial BatchNorm statistics, GroupNorm affine
parameters and head biases (so that a wrong mapping of any of them changes the output, and the random head gives
detections above the threshold), on a 128x256 image (a multiple of 128 on both sides, torchvision's resize a
no-op: see convert_fcos.py for the rules elsewhere).
"""
import copy
import functools

import pytest
import torch
from torchvision.models import resnet50
from torchvision.models._meta import _COCO_CATEGORIES
from torchvision.models.detection import FCOS, fcos_resnet50_fpn
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops import FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.modeling import detection_head as det
from panoptic_ros.modeling import preprocess as pre
from panoptic_ros.modeling.convert_fcos import (
    ConversionError,
    convert_torchvision_fcos,
    fcos_config,
    match_thing_classes,
)
from panoptic_ros.pipeline import PanopticPipeline
from panoptic_ros.runtime.loading import load_runtime

SCORE, NMS, TOP_K, MAX_DET = 0.3, 0.6, 1000, 100
UNMATCHED_ID = 95   # a thing id with no class in torchvision's layout: its detection row starts fresh


def coco_categories() -> CategoryMap:
    things = [Category(i, name, True) for i, name in enumerate(_COCO_CATEGORIES)
              if name not in ("__background__", "N/A")]
    return CategoryMap(things + [Category(UNMATCHED_ID, "new thing", True), Category(184, "tree-merged", False),
                                 Category(200, "rug-merged", False)])


def torchvision_fcos(frozen_bn: bool) -> torch.nn.Module:
    """fcos_resnet50_fpn as built without weights (BatchNorm2d), or as its COCO weights are (FrozenBatchNorm2d)."""
    kwargs = {"min_size": 128, "max_size": 256, "score_thresh": SCORE, "nms_thresh": NMS, "topk_candidates": TOP_K,
              "detections_per_img": MAX_DET}
    if not frozen_bn:
        return fcos_resnet50_fpn(weights=None, weights_backbone=None, **kwargs)
    backbone = _resnet_fpn_extractor(resnet50(norm_layer=FrozenBatchNorm2d), 3, returned_layers=[2, 3, 4],
                                     extra_blocks=LastLevelP6P7(256, 256))
    return FCOS(backbone, 91, **kwargs)


def randomised_fcos(frozen_bn: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    tv = torchvision_fcos(frozen_bn)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in tv.modules():
            if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d)):
                m.running_mean.normal_(0, 0.1, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
            if isinstance(m, (torch.nn.BatchNorm2d, FrozenBatchNorm2d, torch.nn.GroupNorm)):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.normal_(0, 0.1, generator=g)
        for name, p in tv.named_parameters():
            if name.startswith(("backbone.fpn", "head")) and name.endswith("bias"):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
        head = tv.head
        head.classification_head.cls_logits.weight.normal_(0, 0.05, generator=g)
        head.classification_head.cls_logits.bias.normal_(-3.0, 0.5, generator=g)
        head.regression_head.bbox_reg.bias.uniform_(0.5, 3.0, generator=g)
        head.regression_head.bbox_ctrness.weight.normal_(0, 0.05, generator=g)
    return tv.eval()


@functools.cache
def reference(frozen_bn: bool):
    """(torchvision model, images, its detections), built once per normalisation layer."""
    tv = randomised_fcos(frozen_bn)
    # 8-bit images (k / 255), so that the pipeline's uint8 input is the very same image
    images = [torch.randint(0, 256, (3, 128, 256), generator=torch.Generator().manual_seed(2 + i)).float().div_(255.0)
              for i in range(1)]
    with torch.no_grad():
        expected = tv(images)
    return tv, images, expected


def converted_detections(model, images):
    batch = pre.batch_images([pre.normalize(im, model.pixel_mean, model.pixel_std) for im in images],
                             model.cfg.model.size_divisibility)
    with torch.no_grad():
        raw = model.forward_raw(batch)
    dets = det.postprocess_detections(raw["cls_logits"], raw["box_regression"], raw["centerness"],
                                      [tuple(im.shape[-2:]) for im in images], score_threshold=SCORE,
                                      nms_threshold=NMS, pre_nms_top_k=TOP_K, max_detections=MAX_DET)
    ids = torch.tensor([c.id for c in model.categories.categories])
    return [{"boxes": d["boxes"], "scores": d["scores"], "labels": ids[model.thing_channels[d["labels"]]]}
            for d in dets]


@pytest.mark.parametrize("layout, frozen_bn", [("fast", False), ("research", True)])
def test_converted_model_detects_exactly_what_torchvision_fcos_detects(layout, frozen_bn):
    tv, images, expected = reference(frozen_bn)
    cfg = load_config(overrides=["model.backbone=resnet50", "model.fpn_channels=256", "model.det_head_convs=4",
                                 f"model.layout={layout}", f"model.frozen_bn={not frozen_bn}"])
    conv = convert_torchvision_fcos(tv.state_dict(), coco_categories(), cfg)
    assert [t["id"] for t in conv.fresh_things] == [UNMATCHED_ID] and len(conv.matched) == 80
    assert conv.cfg.model.anchor_point == "corner" and conv.cfg.model.frozen_bn == frozen_bn
    assert conv.fresh_parts() == (["center_head", "fpn.fpn.inner_blocks.0.0", "fpn.fpn.layer_blocks.0.0",
                                   "semantic_head"] if layout == "research" else ["decoder"])

    got = converted_detections(conv.model, images)
    for want, have in zip(expected, got):
        assert 20 <= len(want["boxes"]) <= MAX_DET            # the random head does detect things
        assert len(set(want["labels"].tolist())) > 5
        wh = want["boxes"][:, 2:] - want["boxes"][:, :2]
        assert bool((wh > 1e-3).all())                        # none that our small-box filter would drop
        assert len(have["boxes"]) == len(want["boxes"])
        assert torch.equal(have["labels"], want["labels"])
        # the same float32 formula; only sigmoid's vectorisation over a different tensor layout may round the last
        # bit differently (measured: at most 1.2e-7)
        torch.testing.assert_close(have["scores"], want["scores"], rtol=1e-6, atol=0)
        assert (have["boxes"] - want["boxes"]).abs().max().item() <= 1e-3

    if layout == "fast" and not frozen_bn:
        # the whole inference pipeline (BatchNorm folded into the convs, OpenCV preprocessing of a uint8 image, torch
        # runtime) on the same image: the same detections (measured: boxes within 1.1e-4 px, scores 3.2e-6 relative)
        image, want = (images[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy(), expected[0]
        inference = copy.deepcopy(conv.cfg.inference)
        inference.input_size, inference.max_input_size, inference.score_threshold = 128, 256, SCORE
        pipe = PanopticPipeline(load_runtime(conv.model, runtime="torch", device="cpu", precision="fp32"),
                                inference=inference)
        have = pipe.run([image], policies=["closest_center"]).detections[0]
        ids = torch.tensor([c.id for c in conv.categories.categories])
        assert len(have.boxes) == len(want["boxes"])
        # folding rounds differently: detections of near-equal score may swap places, so match them by box and class
        dist = torch.cdist(want["boxes"], have.boxes, p=float("inf"))
        dist += (want["labels"][:, None] != ids[have.labels][None, :]) * 1e9
        best = dist.min(dim=1)
        assert best.values.max().item() <= 1e-3 and len(set(best.indices.tolist())) == len(want["boxes"])
        torch.testing.assert_close(have.scores[best.indices], want["scores"], rtol=1e-5, atol=0)

        # measured from the cell centre instead (model.anchor_point=center), the same weights give other boxes
        conv.model.detection_head.anchor_point = "center"
        have, want = converted_detections(conv.model, images[:1])[0], expected[0]
        n = min(len(have["boxes"]), len(want["boxes"]))
        assert (have["boxes"][:n] - want["boxes"][:n]).abs().max().item() >= 4.0 - 1e-3


def test_category_map_and_errors():
    tv = reference(False)[0]
    state = tv.state_dict()
    cfg = load_config(overrides=["model.backbone=resnet50", "model.layout=fast"])
    # Cityscapes ids: person 24 -> COCO person 1, car 26 -> COCO car 3; rider 25 (COCO 25 is giraffe) mapped to 0:
    # no class, starts fresh
    cats = CategoryMap([Category(24, "person", True), Category(25, "rider", True), Category(26, "car", True),
                        Category(7, "road", False)])
    conv = convert_torchvision_fcos(state, cats, cfg, category_map={24: 1, 25: 0, 26: 3})
    assert [(m["id"], m["source_index"], m["source_name"]) for m in conv.matched] == [(24, 1, "person"),
                                                                                      (26, 3, "car")]
    assert [t["id"] for t in conv.fresh_things] == [25]
    w = conv.model.detection_head.cls_logits.weight
    assert torch.equal(w[2], state["head.classification_head.cls_logits.weight"][3])
    assert conv.report()["name_mismatches"] == []

    matched, fresh = match_thing_classes(cats, 91, {})     # by id: 24 zebra, 25 giraffe, 26 N/A (a gap)
    assert [(m["id"], m["source_name"]) for m in matched] == [(24, "zebra"), (25, "giraffe")]
    assert [t["id"] for t in fresh] == [26]
    with pytest.raises(ConversionError, match="no thing category"):
        convert_torchvision_fcos(state, cats, cfg, category_map={24: 0, 25: 0, 26: 0})
    with pytest.raises(ConversionError, match="model.backbone='resnet18'"):
        fcos_config(load_config())
    broken = dict(state)
    broken["head.extra.weight"] = torch.zeros(1)
    with pytest.raises(ConversionError, match="head.extra.weight"):
        convert_torchvision_fcos(broken, coco_categories(), cfg)
    del broken["head.extra.weight"]
    broken["backbone.fpn.layer_blocks.0.0.weight"] = torch.zeros(3, 3)
    with pytest.raises(ConversionError, match="shape"):
        convert_torchvision_fcos(broken, coco_categories(), cfg)
