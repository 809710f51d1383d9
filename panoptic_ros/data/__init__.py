"""Datasets in COCO panoptic layout, training targets, augmentation and the synthetic scene generator."""
from __future__ import annotations

from ..config import DataConfig
from .categories import IGNORE_LABEL, Category, CategoryMap
from .coco_panoptic import (
    CocoPanopticDataset,
    PanopticJson,
    PanopticSample,
    collate_fn,
    id2rgb,
    load_json,
    read_image,
    read_panoptic_png,
    rgb2id,
    save_panoptic_json,
    segments_from_id_map,
    write_image,
    write_panoptic_png,
)
from .synth import make_synthetic_dataset
from .targets import box_centers, encode_targets
from .transforms import Compose, RandomHorizontalFlip, ResizeShortestEdge, build_transforms


def build_dataset(cfg: DataConfig, split: str = "train", transforms=None) -> CocoPanopticDataset:
    """The dataset folder of data.train / data.val; transforms default to build_transforms(cfg, split == "train")."""
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    root = getattr(cfg, split)
    if not root:
        raise ValueError(f"data.{split} is empty: set it to a dataset folder in COCO panoptic layout")
    if transforms is None:
        transforms = build_transforms(cfg, train=split == "train")
    return CocoPanopticDataset(root, transforms=transforms)


__all__ = ["Category", "CategoryMap", "CocoPanopticDataset", "PanopticJson", "PanopticSample", "collate_fn", "id2rgb",
           "load_json", "read_image", "read_panoptic_png", "rgb2id", "save_panoptic_json", "segments_from_id_map",
           "write_image", "write_panoptic_png", "make_synthetic_dataset", "IGNORE_LABEL", "box_centers",
           "encode_targets", "Compose", "RandomHorizontalFlip", "ResizeShortestEdge", "build_transforms",
           "build_dataset"]
