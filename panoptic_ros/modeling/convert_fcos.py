"""torchvision's COCO-trained FCOS R50-FPN as the starting point of a panoptic model.

``convert_torchvision_fcos(state_dict, categories, cfg)`` builds a PanopticModel whose encoder, pyramid and
detection branch compute what torchvision's ``fcos_resnet50_fpn`` computes, and whose semantic and center
branches start fresh. The differences between the two networks, and how each is bridged:

- pyramid: torchvision builds p3..p7 from c3..c5; the research layout also has p2 (from c2). p3..p7 do not
  depend on c2 (the top-down path runs from c5 downwards), so torchvision's three laterals / smoothing convs go
  to our c3..c5 slots and the c2 ones start fresh (fast layout: the same pyramid, slot for slot). P6/P7 come
  from P5 in both (``LastLevelP6P7(256, 256)``).
- per-level Scale: torchvision has none; ours are set to 1.0 (x * 1.0 is exact).
- anchor points: torchvision measures box distances from the cell corner (j*s, i*s), we from its centre
  (j*s + s/2, i*s + s/2): ``model.anchor_point = corner`` re-measures the head's output from the centre.
- class layout: torchvision's 91 logits are indexed by COCO category id (0 = background, "N/A" gaps); each of
  our thing channels takes the row of its category id (or of ``category_map[id]``); things without one start
  fresh (reported).
- normalisation: both ImageNet mean / std on 0..1 pixels; GroupNorm(32) towers and their init are the same;
  ``model.frozen_bn`` follows the source's encoder (FrozenBatchNorm2d in torchvision's COCO weights, BatchNorm2d
  in an FCOS built without pretrained weights), so the converted encoder runs the very same operations.
- input size: torchvision evaluates at shorter side 800, longer <= 1333 (``inference.input_size`` /
  ``max_input_size`` are set to that). Its padding is to a multiple of 32 and its p6/p7 anchor strides are
  (padded size // grid size), e.g. 53 instead of 64 on a 160-pixel-wide input; ours pads to 128 and uses the
  true strides, so the two agree exactly when the resized input is a multiple of 128 on both sides.
- box clean-up: we also drop boxes narrower than 1e-3 px before NMS (torchvision keeps them; they hold no pixel).
"""
from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import PanopticConfig
from ..data.categories import CategoryMap
from .panoptic_model import PanopticModel

SOURCE = "torchvision-fcos"
# what torchvision's fcos_resnet50_fpn is; the converted config must describe the same network
FCOS_MODEL = {"backbone": "resnet50", "fpn_channels": 256, "det_head_convs": 4}
# set by the conversion (bridges of the module docstring)
FCOS_SETTINGS = {"model.anchor_point": "corner", "model.size_divisibility": 128, "model.pretrained_backbone": False,
                 "inference.input_size": 800, "inference.max_input_size": 1333}
_NOT_A_CLASS = ("__background__", "N/A")


class ConversionError(ValueError):
    """The state dict is not a torchvision FCOS R50-FPN, or does not fit the requested model; names what."""


@dataclass
class Conversion:
    """A converted model and what became of each part."""
    model: PanopticModel
    cfg: PanopticConfig
    categories: CategoryMap
    matched: list[dict] = field(default_factory=list)      # {channel, id, name, source_index, source_name}
    fresh_things: list[dict] = field(default_factory=list)  # {channel, id, name}: detection rows starting fresh
    copied: int = 0                                       # tensors taken from the source
    fresh: list[str] = field(default_factory=list)         # our tensors that start fresh (names)

    def fresh_parts(self) -> list[str]:
        """The modules that start fresh: a whole top-level part (decoder, semantic_head) when all of it does, else
        each fresh sub-module (fpn.fpn.inner_blocks.0.0: the c2 lateral of the research layout)."""
        fresh, everything = set(self.fresh), set(self.model.state_dict())
        out = set()
        for key in fresh:
            top = key.split(".")[0]
            whole = all(k in fresh for k in everything if k.split(".")[0] == top)
            out.add(top if whole else key.rsplit(".", 1)[0])
        return sorted(out)

    def report(self) -> dict:
        """JSON-able summary (stored in the checkpoint sidecar's extra)."""
        return {"source": SOURCE, "tensors_copied": self.copied, "tensors_fresh": len(self.fresh),
                "fresh_parts": self.fresh_parts(), "matched_things": self.matched, "fresh_things": self.fresh_things,
                "name_mismatches": [m for m in self.matched
                                    if m["source_name"] and _norm(m["source_name"]) != _norm(m["name"])]}


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A torchvision state dict saved with torch.save(model.state_dict(), path), read with weights_only=True
    (also {"model": state dict}, as torchvision's reference training scripts save)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors, objects weights_only refuses
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConversionError(f"{path}: cannot read as a torch state dict with weights_only=True ({first}); save "
                              "the model's weights alone: torch.save(model.state_dict(), path)") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path}: expected a state dict of tensors (or {{'model': state dict}})")
    return state


def download_state_dict() -> dict[str, torch.Tensor]:
    """torchvision's COCO weights (FCOS_ResNet50_FPN_Weights.COCO_V1, box AP 39.2) from the torch hub cache,
    downloaded there when the network allows."""
    from torchvision.models.detection import FCOS_ResNet50_FPN_Weights

    weights = FCOS_ResNet50_FPN_Weights.COCO_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        return weights.get_state_dict(progress=True, check_hash=True)
    except Exception as exc:  # URLError, socket errors, hash mismatch
        raise ConversionError(f"torchvision's FCOS COCO weights are not in the torch hub cache ({cached}) and could "
                              f"not be downloaded ({type(exc).__name__}); download {weights.url} elsewhere and "
                              "pass it with --weights") from None


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fcos_config(base: PanopticConfig) -> PanopticConfig:
    """base with the settings the converted network needs (FCOS_SETTINGS); ConversionError when base asks for a
    different network than torchvision's (FCOS_MODEL)."""
    cfg = copy.deepcopy(base)
    wrong = [f"model.{k}={getattr(cfg.model, k)!r} (torchvision's is {v!r})" for k, v in FCOS_MODEL.items()
             if getattr(cfg.model, k) != v]
    if wrong:
        raise ConversionError("the config describes another network than torchvision's FCOS R50-FPN: "
                              + ", ".join(wrong))
    for key, value in FCOS_SETTINGS.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    # a training recipe given as the base (coco_r50_from_fcos.yaml) names this very checkpoint in init_weights and
    # freezes parts: neither belongs to the converted model's own config
    for name, value in (("init_weights", ""), ("freeze", [])):
        if hasattr(cfg.model, name):
            setattr(cfg.model, name, value)
    return cfg


def has_trainable_batchnorm(state: dict[str, torch.Tensor]) -> bool:
    """True when the source's encoder uses trainable BatchNorm2d (num_batches_tracked tensors: an FCOS built without
    pretrained weights); torchvision's COCO weights use FrozenBatchNorm2d (no such tensors)."""
    return any(k.startswith("backbone.body.") and k.endswith("num_batches_tracked") for k in state)


def match_thing_classes(categories: CategoryMap, num_rows: int, category_map: dict[int, int]):
    """(matched, fresh) thing categories: each matched to the row of the source's classifier of its COCO category
    id (or category_map[id]; 0 = none, start fresh). Rows are indexed by category id as torchvision's layout is."""
    from torchvision.models.detection import FCOS_ResNet50_FPN_Weights

    coco = list(FCOS_ResNet50_FPN_Weights.COCO_V1.meta["categories"])   # 91 names, index = COCO category id
    names = coco if num_rows == len(coco) else [""] * num_rows
    matched, fresh = [], []
    thing = 0
    for channel, cat in enumerate(categories.categories):
        if not cat.isthing:
            continue
        row = category_map.get(cat.id, cat.id)
        usable = 0 < row < num_rows and names[row] not in _NOT_A_CLASS
        entry = {"class": thing, "channel": channel, "id": cat.id, "name": cat.name}
        if usable:
            matched.append({**entry, "source_index": row, "source_name": names[row]})
        else:
            fresh.append(entry)
        thing += 1
    return matched, fresh


def _key_map(state: dict[str, torch.Tensor], first_level: int) -> dict[str, str]:
    """Our tensor name for each of the source's (the classifier rows are handled apart)."""
    skip = first_level - 2   # research layout: our FPN slot 0 is c2; torchvision's slot 0 is c3
    out = {}
    for key in state:
        if key.startswith("backbone.body."):
            out[key] = key
        elif m := re.fullmatch(r"backbone\.fpn\.(inner_blocks|layer_blocks)\.(\d+)\.(.+)", key):
            out[key] = f"fpn.fpn.{m[1]}.{int(m[2]) + 1 - skip}.{m[3]}"
        elif key.startswith("backbone.fpn.extra_blocks."):
            out[key] = "fpn.fpn." + key[len("backbone.fpn."):]
        elif key.startswith("head.classification_head.conv."):
            out[key] = "detection_head.cls_tower." + key[len("head.classification_head.conv."):]
        elif key.startswith("head.regression_head.conv."):
            out[key] = "detection_head.box_tower." + key[len("head.regression_head.conv."):]
        elif key.startswith("head.regression_head.bbox_reg."):
            out[key] = "detection_head.bbox_reg." + key.rsplit(".", 1)[1]
        elif key.startswith("head.regression_head.bbox_ctrness."):
            out[key] = "detection_head.centerness." + key.rsplit(".", 1)[1]
        elif key.startswith("head.classification_head.cls_logits."):
            continue
        else:
            raise ConversionError(f"unexpected tensor {key!r}: not a torchvision FCOS R50-FPN state dict")
    return out


def convert_torchvision_fcos(state: dict[str, torch.Tensor], categories: CategoryMap, base: PanopticConfig, *,
                             category_map: dict[int, int] | None = None, seed: int = 0) -> Conversion:
    """The PanopticModel (eval mode, CPU) of base's layout carrying torchvision FCOS weights ``state``.

    categories: the panoptic dataset's (things matched by COCO category id); category_map: {our category id:
    source class index} for datasets with other ids (e.g. Cityscapes car 26 -> COCO car 3). Parts without a
    source (semantic / center branches, p2, unmatched thing rows) keep a fresh initialisation drawn with ``seed``.
    """
    cfg = fcos_config(base)
    # the same normalisation layer as the source computes the same numbers bit for bit (both are identical
    # functions in eval mode; the training config decides again, init_weights copies tensors by name)
    cfg.model.frozen_bn = not has_trainable_batchnorm(state)
    category_map = dict(category_map or {})
    for key in ("head.classification_head.cls_logits.weight", "head.classification_head.cls_logits.bias",
                "head.regression_head.bbox_reg.weight", "backbone.body.conv1.weight"):
        if key not in state:
            raise ConversionError(f"missing tensor {key!r}: not a torchvision FCOS R50-FPN state dict")
    cls_w = state["head.classification_head.cls_logits.weight"]
    cls_b = state["head.classification_head.cls_logits.bias"]
    if state["head.regression_head.bbox_reg.weight"].shape[0] != 4:
        raise ConversionError("the source has more than one anchor per location; torchvision FCOS has one")
    matched, fresh_things = match_thing_classes(categories, cls_w.shape[0], category_map)
    if not matched:
        raise ConversionError("no thing category of the dataset has a class in the source (COCO category ids "
                              "1..90); map them with category_map / --map ID=COCO_ID")

    key_map = _key_map(state, 3 if cfg.model.layout == "fast" else 2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PanopticModel(cfg, categories, from_checkpoint=True)
    target = model.state_dict()
    copied: set[str] = set()
    for src, dst in key_map.items():
        if dst not in target and src.endswith("num_batches_tracked"):
            continue   # BatchNorm2d source, FrozenBatchNorm2d model: the counter has no place (nor use)
        if dst not in target:
            raise ConversionError(f"source tensor {src!r} has no place in the model ({dst!r})")
        if target[dst].shape != state[src].shape:
            raise ConversionError(f"{src}: shape {tuple(state[src].shape)} does not fit {dst} "
                                  f"{tuple(target[dst].shape)}")
        target[dst] = state[src].detach().to(target[dst].dtype).clone()
        copied.add(dst)
    rows = torch.tensor([m["class"] for m in matched])
    source_rows = torch.tensor([m["source_index"] for m in matched])
    target["detection_head.cls_logits.weight"][rows] = cls_w[source_rows].to(torch.float32)
    target["detection_head.cls_logits.bias"][rows] = cls_b[source_rows].to(torch.float32)
    for k in range(len(model.detection_head.scales)):
        target[f"detection_head.scales.{k}.scale"] = torch.tensor(1.0)
        copied.add(f"detection_head.scales.{k}.scale")
    copied.update(("detection_head.cls_logits.weight", "detection_head.cls_logits.bias"))
    model.load_state_dict(target, strict=True)
    model.eval()
    return Conversion(model=model, cfg=cfg, categories=categories, matched=matched, fresh_things=fresh_things,
                      copied=len(copied), fresh=sorted(set(target) - copied))
