"""`panoptic prepare coco|cityscapes --root DIR [--out DIR] [--splits ...]`: dataset folders from the official
downloads.

Checks the download's layout and fails with one message listing everything missing (and how to get it); Cityscapes
is converted to COCO panoptic with cityscapesscripts. Writes OUT/<split>/{images, panoptic, panoptic.json} as
symbolic links (default OUT = ROOT/panoptic_ros) and OUT/prepare.json; use them as data.train / data.val.
"""
from __future__ import annotations

import argparse

DATASETS = ("coco", "cityscapes")


def add_parser(subparsers, name: str = "prepare") -> argparse.ArgumentParser:
    p = subparsers.add_parser(name, help="check a COCO panoptic / Cityscapes download and make dataset folders",
                              description=__doc__.split("\n", 2)[2].strip())
    p.add_argument("dataset", choices=DATASETS, help="which download ROOT holds")
    p.add_argument("--root", required=True, help="the download's folder (COCO: train2017/, val2017/, annotations/; "
                   "Cityscapes: leftImg8bit/, gtFine/)")
    p.add_argument("--out", help="where the dataset folders go (default: ROOT/panoptic_ros)")
    p.add_argument("--splits", nargs="+", metavar="SPLIT",
                   help="splits to prepare (default: coco train2017 val2017; cityscapes train val)")
    return p


def run(args) -> int:
    from panoptic_ros.data import prepare

    if args.dataset == "coco":
        splits = tuple(args.splits or prepare.COCO_SPLITS)
        prepared = prepare.prepare_coco(args.root, args.out, splits)
    else:
        splits = tuple(args.splits or prepare.CITYSCAPES_SPLITS)
        prepared = prepare.prepare_cityscapes(args.root, args.out, splits)
    for split, info in prepared.splits.items():
        print(f"{split}: {info['folder']} ({info['annotations']} annotated images, {info['categories']} categories, "
              f"{info['things']} things)")
    print(f"summary: {prepared.out / 'prepare.json'}")
    return 0
