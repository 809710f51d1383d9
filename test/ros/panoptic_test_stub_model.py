"""Test-only model for panoptic_node, passed to the node by the test launcher (node_with_test_model.py
--factory panoptic_test_stub_model:load; production code has no switch for it).

It returns a fixed overlap scene fused by the real panoptic head (panoptic_ros.panoptic.fuse) with the node's
current inference settings, so a merge_policy change at run time gives a known, different label image:
two "box" detections overlap over the full height, "floor" (stuff) fills the bottom quarter.
    A: x in [0, 0.6 W), score 0.9 (larger)       B: x in [0.5 W, W), score 0.6 (smaller)
Overlap columns [0.5 W, 0.6 W) belong to
    highest_confidence -> A;  smallest_first -> B;  closest_center (zero offsets) -> A left of 0.525 W, else B.
"""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import torch

from panoptic_ros.config import PanopticConfig
from panoptic_ros.data.categories import Category, CategoryMap
from panoptic_ros.panoptic import fuse

CATEGORIES = CategoryMap([Category(1, "box", True, (200, 40, 40)), Category(2, "floor", False, (40, 160, 40))])
# model parameter "stub?option=value&...": timing and faults for the node's fault tests (test_node_faults.py)
OPTIONS = {"load_delay": 0.0,      # s load() takes (a slow checkpoint / export)
           "load_gate": "",        # load() waits (up to 120 s) until this file exists: a load that cannot
                                   # finish before the test allows it, on any machine
           "load_error": 0.0,      # 1: load() fails after load_delay (a model that passes check() but not load)
           "predict_delay": 0.0,   # s every predict() takes (a model of fixed speed)
           "fail_width": 0.0,      # predict() raises on an image this many pixels wide
           "slow_width": 0.0,      # predict() takes 60 s on an image this many pixels wide (shutdown test)
           "thing": "box",         # name of the thing category (tells two stub models apart)
           "lacks": ""}            # a merge policy whose head this model "lacks" (check_policy refuses it)
A_RIGHT, B_LEFT, CENTER_SPLIT = 0.6, 0.5, 0.525


def scene(height: int, width: int, inference) -> object:
    logits = torch.zeros((2, height, width))
    logits[0] = 1.0
    logits[1, (3 * height) // 4:] = 2.0
    boxes = torch.tensor([[0.0, 0.0, A_RIGHT * width, height], [B_LEFT * width, 0.0, width, height]])
    scores = torch.tensor([0.9, 0.6])
    keep = scores >= inference.score_threshold
    return fuse(logits, boxes[keep], scores[keep], torch.zeros(int(keep.sum()), dtype=torch.int64),
                thing_mask=CATEGORIES.thing_mask, policy=inference.merge_policy,
                center_offsets=torch.zeros((2, height, width)), stuff_area_threshold=inference.stuff_area_threshold,
                unknown_undetected_things=inference.unknown_undetected_things)


class StubModel:
    categories = CATEGORIES
    device = "cpu"

    def __init__(self, options: dict | None = None):
        self.cfg = PanopticConfig()
        self.options = dict(OPTIONS, **(options or {}))
        if self.options["thing"] != "box":
            self.categories = CategoryMap([Category(1, self.options["thing"], True, (200, 40, 40)),
                                           Category(2, "floor", False, (40, 160, 40))])

    def predict(self, images, *, inference=None):
        inference = inference or self.cfg.inference
        widths = {int(np.asarray(im).shape[1]) for im in images}
        if self.options["fail_width"] in widths:
            raise RuntimeError(f"stub model refuses images {int(self.options['fail_width'])} pixels wide")
        time.sleep(60.0 if self.options["slow_width"] in widths else self.options["predict_delay"])
        return [scene(int(np.asarray(im).shape[0]), int(np.asarray(im).shape[1]), inference) for im in images]

    def check_policy(self, name: str) -> None:
        """As PanopticPipeline.check_policy: PolicyUnavailable for the policy named by the "lacks" option."""
        from panoptic_ros.panoptic.policies import PolicyUnavailable

        if name == self.options["lacks"]:
            raise PolicyUnavailable(f"merge policy {name} needs the test head, which the loaded stub model lacks")

    def close(self):
        """Called by the node when this model was replaced; the line shows up in the node's log."""
        print(f"stub model closed (thing={self.options['thing']})", flush=True)


def parse_options(path: str) -> dict | None:
    """The options of "stub" / "stub?name=value&..." (None for any other path); unknown names raise."""
    name, _, query = path.partition("?")
    if name not in ("", "stub"):
        return None
    options = {}
    for key, value in parse_qsl(query, strict_parsing=bool(query)):
        if key not in OPTIONS:
            raise ValueError(f"unknown stub model option {key!r} (known: {', '.join(OPTIONS)})")
        options[key] = value if isinstance(OPTIONS[key], str) else float(value)
    return options


def check(path: str, device: str) -> None:
    """The fast check the node runs in its parameter callback (the device, a stub option or an existing file)."""
    from panoptic_ros.modeling import resolve_device

    resolve_device(device)
    if parse_options(path) is None and not Path(path).is_file():
        raise FileNotFoundError(f"model file not found: {path}")


def load(path: str, device: str):
    """Factory for the node: "" / "stub" / "stub?options" -> StubModel; an existing file -> the real checkpoint
    as a torch inference pipeline. The device is checked as the real loader does (ValueError for a CUDA device
    that is not there)."""
    check(path, device)
    options = parse_options(path)
    if options is None:
        from panoptic_ros.pipeline import build_pipeline
        return build_pipeline(path, device=device, runtime="torch", precision="fp32")
    time.sleep(options.get("load_delay", 0.0))
    gate = options.get("load_gate")
    deadline = time.monotonic() + 120.0
    while gate and not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if options.get("load_error"):
        raise RuntimeError("stub model: load failed on purpose (load_error=1)")
    return StubModel(options)
