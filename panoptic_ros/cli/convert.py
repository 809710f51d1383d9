"""`panoptic convert --from torchvision-fcos [--weights STATE_DICT.pth] --categories PANOPTIC_JSON --out
CKPT.safetensors [--map ID=COCO_ID,...] [--config FILE] [section.name=value ...]`: start from a COCO-trained detector.

The encoder, pyramid and detection branch take torchvision's FCOS R50-FPN weights (thing classes matched by COCO
category id; torchvision's 91-index layout); the semantic and center branches start fresh. The network follows
research.yaml unless --config / overrides say otherwise (model.layout=fast works too); the settings the weights need
(model.anchor_point=corner, ...) are set. Without --weights, torchvision's own COCO weights are taken from the torch
hub cache (downloaded when online). The checkpoint's .json sidecar lists what was matched and what starts fresh.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .options import add_config_options

SOURCES = ("torchvision-fcos",)


def add_parser(subparsers, name: str = "convert") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="convert a torchvision detector's weights into a panoptic checkpoint",
                              description=__doc__.split("\n", 2)[2].strip())
    p.add_argument("--from", dest="source", required=True, choices=SOURCES, help="the source model")
    p.add_argument("--weights", metavar="STATE_DICT.pth",
                   help="torch.save(model.state_dict()) of torchvision's fcos_resnet50_fpn (read with "
                        "weights_only=True); default: torchvision's COCO weights from the torch hub cache")
    p.add_argument("--categories", required=True, metavar="PANOPTIC_JSON|DIR",
                   help="the panoptic dataset's JSON (its 'categories' are the model's classes), a dataset "
                        "folder holding panoptic.json, or panopticapi's categories file (a bare list)")
    p.add_argument("--out", required=True, metavar="CKPT.safetensors", help="the checkpoint to write (+ .json)")
    p.add_argument("--map", default="", metavar="ID=COCO_ID,...",
                   help="thing category ids of the dataset taken from another COCO class, comma-separated "
                        "(Cityscapes: 24=1,25=1,26=3,27=8,28=6,31=7,32=4,33=2); COCO_ID 0 = no class, start fresh")
    p.add_argument("--seed", type=int, default=0, help="seed of the fresh parts' initialisation")
    add_config_options(p)
    return p


def parse_map(text: str) -> dict[int, int]:
    """"24=1,25=0" -> {24: 1, 25: 0}; ValueError naming a malformed item."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        left, sep, right = item.partition("=")
        if not sep or not left.strip().isdigit() or not right.strip().isdigit():
            raise ValueError(f"--map {item!r}: expected DATASET_ID=COCO_ID, e.g. 26=3")
        out[int(left)] = int(right)
    return out


def run(args) -> int:
    import panoptic_ros
    from panoptic_ros.config import load_config
    from panoptic_ros.data.category_file import read_categories
    from panoptic_ros.modeling import convert_fcos as cf
    from panoptic_ros.modeling import save_checkpoint

    from .options import config_from_args

    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: checkpoints are written as .safetensors")
    category_map = parse_map(args.map)
    categories = read_categories(args.categories)
    base = load_config(Path(panoptic_ros.__file__).parent / "configs" / "research.yaml")
    cfg = config_from_args(args, base)
    if args.weights:
        state, origin = cf.read_state_dict(args.weights), {"weights": str(args.weights),
                                                           "sha256": cf.file_sha256(args.weights)}
    else:
        state, origin = cf.download_state_dict(), {"weights": "torchvision FCOS_ResNet50_FPN_Weights.COCO_V1"}
    conv = cf.convert_torchvision_fcos(state, categories, cfg, category_map=category_map, seed=args.seed)
    report = {**conv.report(), **origin}
    save_checkpoint(out, conv.model, conv.cfg, conv.categories, extra={"converted_from": report})
    things = categories.num_things
    print(f"converted {args.source} ({origin['weights']}) -> {out} (+ {out.with_suffix('.json').name})")
    print(f"  {len(conv.matched)}/{things} thing classes matched by category id, {conv.copied} tensors copied, "
          f"fresh: {', '.join(report['fresh_parts'])}")
    if conv.fresh_things:
        print("  thing classes without a source class (start fresh): "
              + ", ".join(f"{t['name']} ({t['id']})" for t in conv.fresh_things))
    for m in report["name_mismatches"]:
        print(f"  warning: category {m['id']} {m['name']!r} took COCO class {m['source_index']} "
              f"{m['source_name']!r} (names differ: check --map)")
    print(f"  model.layout={conv.cfg.model.layout} model.anchor_point={conv.cfg.model.anchor_point} "
          f"model.frozen_bn={conv.cfg.model.frozen_bn} inference.input_size={conv.cfg.inference.input_size}/"
          f"{conv.cfg.inference.max_input_size}")
    return 0
