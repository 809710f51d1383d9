"""Fixtures of the modeling tests: the tiny smoke config, a 4-category map and hand-made scenes."""
from pathlib import Path

import pytest
import torch

import panoptic_ros
from panoptic_ros.config import load_config
from panoptic_ros.data.categories import Category, CategoryMap

SMOKE = Path(panoptic_ros.__file__).parent / "configs" / "smoke.yaml"


@pytest.fixture
def smoke_cfg():
    return load_config(SMOKE)


@pytest.fixture
def categories():
    # channel 0 person (thing), 1 car (thing), 2 road (stuff), 3 sky (stuff)
    return CategoryMap([Category(1, "person", True, (220, 20, 60)), Category(3, "car", True, (0, 0, 142)),
                        Category(7, "road", False, (128, 64, 128)), Category(9, "sky", False, (70, 130, 180))])


def make_scene(height, width, objects):
    """A synthetic image + dataset-style target: sky above, road below, coloured boxes as things.

    objects: (x1, y1, x2, y2, channel) with pixel-edge coordinates (columns x1..x2-1 are covered).
    """
    img = torch.zeros(3, height, width)
    sem = torch.full((height, width), 3, dtype=torch.int64)
    sem[height // 2:] = 2
    img[:, :height // 2] = torch.tensor([0.4, 0.6, 0.9]).view(3, 1, 1)
    img[:, height // 2:] = torch.tensor([0.4, 0.4, 0.4]).view(3, 1, 1)
    offsets = torch.zeros(2, height, width)
    weight = torch.zeros(height, width)
    ys, xs = torch.meshgrid(torch.arange(height) + 0.5, torch.arange(width) + 0.5, indexing="ij")
    boxes, labels = [], []
    for x1, y1, x2, y2, c in objects:
        img[:, y1:y2, x1:x2] = torch.tensor([0.9, 0.2, 0.2] if c == 0 else [0.2, 0.9, 0.2]).view(3, 1, 1)
        sem[y1:y2, x1:x2] = c
        offsets[0, y1:y2, x1:x2] = ((x1 + x2) / 2 - xs)[y1:y2, x1:x2]
        offsets[1, y1:y2, x1:x2] = ((y1 + y2) / 2 - ys)[y1:y2, x1:x2]
        weight[y1:y2, x1:x2] = 1
        boxes.append([x1, y1, x2, y2])
        labels.append(c)
    target = {"semantic": sem, "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
              "labels": torch.tensor(labels, dtype=torch.int64), "center_offsets": offsets,
              "offset_weight": weight, "image_id": 0, "file_name": "synthetic", "orig_size": (height, width)}
    return img, target


@pytest.fixture
def scenes():
    return [make_scene(96, 96, [(10, 20, 40, 70, 0), (50, 40, 90, 80, 1)]),
            make_scene(80, 112, [(5, 5, 35, 35, 1), (40, 40, 70, 78, 0), (80, 10, 108, 40, 0)])]


@pytest.fixture
def train_on_scenes(scenes):
    """train(model, lr, steps) -> per-step loss dicts of AdamW steps on the fixed `scenes` batch."""
    def train(model, lr: float, steps: int) -> list[dict[str, float]]:
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
        images, targets = [list(x) for x in zip(*scenes)]
        history = []
        for _ in range(steps):
            losses = model(images, targets)
            optimizer.zero_grad()
            losses["loss"].backward()
            optimizer.step()
            history.append({k: float(v.detach()) for k, v in losses.items()})
        return history
    return train
