"""Network layouts (model.layout): the fast layout's shapes, losses, training and checkpoints, and the research
layout unchanged - the research-layout checkpoint that shipped until the CPU model replaced it
(data/research_model.safetensors) gives bit-identical raw outputs to the code before the fast layout existed
(reference tensors in data/research_reference.safetensors, written by data/make_research_reference.py)."""
import copy
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from panoptic_ros.modeling import build_model, default_model_path, load_checkpoint, save_checkpoint
from panoptic_ros.modeling.fold import fold_batchnorm
from panoptic_ros.modeling.panoptic_model import branch_stride

DATA = Path(__file__).resolve().parent / "data"
RESEARCH_MODEL = DATA / "research_model.safetensors"   # the shipped model before the CPU model replaced it
RAW_KEYS = {"semantic", "offsets", "cls_logits", "box_regression", "centerness"}


@pytest.fixture
def fast_cfg(smoke_cfg):
    smoke_cfg.model.layout = "fast"
    smoke_cfg.model.fpn_channels = smoke_cfg.model.branch_channels = 16
    smoke_cfg.model.size_divisibility = 32
    return smoke_cfg


@pytest.mark.parametrize("height,width", [(128, 192), (96, 160)])
def test_fast_layout_outputs_are_at_stride_8_and_detection_levels_unchanged(fast_cfg, categories, height, width):
    model = build_model(fast_cfg, categories).eval()
    assert model.output_stride == 8 and not hasattr(model, "semantic_head")
    with torch.inference_mode():
        raw = model.forward_raw(torch.randn(2, 3, height, width))
    assert set(raw) == RAW_KEYS
    assert raw["semantic"].shape == (2, len(categories), height // 8, width // 8)
    assert raw["offsets"].shape == (2, 2, height // 8, width // 8)
    for level, stride in enumerate((8, 16, 32, 64, 128)):
        size = (-(-height // stride), -(-width // stride))
        assert raw["cls_logits"][level].shape == (2, 2, *size)           # 2 thing classes
        assert raw["box_regression"][level].shape == (2, 4, *size)
        assert raw["centerness"][level].shape == (2, 1, *size)
    assert branch_stride((height, width), raw["semantic"].shape[-2:]) == 8


def test_research_layout_is_the_default_and_stays_at_stride_4(smoke_cfg, categories):
    assert smoke_cfg.model.layout == "research"
    model = build_model(smoke_cfg, categories).eval()
    with torch.inference_mode():
        raw = model.forward_raw(torch.randn(1, 3, 128, 128))
    assert model.output_stride == 4 and raw["semantic"].shape[-2:] == (32, 32)


def test_branch_stride_from_shapes():
    assert branch_stride((128, 192), (32, 48)) == 4
    assert branch_stride((128, 192), (16, 24)) == 8
    assert branch_stride((100, 130), (13, 17)) == 8      # ceil-sized outputs of an unpadded input
    assert branch_stride((100, 130), (25, 33)) == 4


def test_fast_layout_losses_are_finite_and_reach_every_weight(fast_cfg, categories, scenes):
    fast_cfg.model.size_divisibility = 1  # unpadded: ceil-sized outputs (padding 32 is trained below)
    model = build_model(fast_cfg, categories)
    images, targets = zip(*scenes)
    losses = model(list(images), list(targets))
    assert set(losses) == {"loss_cls", "loss_box", "loss_ctr", "loss_sem", "loss_offset", "loss"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["loss_offset"] > 1 and losses["loss_box"] > 0
    losses["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, no_grad
    for part in ("backbone", "fpn", "decoder", "detection_head"):
        assert sum(p.grad.abs().sum() for p in getattr(model, part).parameters()) > 0, part


def test_fast_layout_trains(fast_cfg, categories, train_on_scenes):
    history = train_on_scenes(build_model(fast_cfg, categories), lr=2e-3, steps=8)
    first, last = history[0], history[-1]
    assert last["loss"] < 0.8 * first["loss"], (first, last)
    assert last["loss_sem"] < first["loss_sem"] and last["loss_offset"] < first["loss_offset"]


def test_fast_checkpoint_round_trip_keeps_layout_and_outputs(fast_cfg, categories, tmp_path):
    model = build_model(fast_cfg, categories).eval()
    path = save_checkpoint(tmp_path / "fast.safetensors", model)
    loaded = load_checkpoint(path)
    assert loaded.layout == "fast" and loaded.cfg.model.layout == "fast"
    x = torch.randn(1, 3, 96, 128)
    with torch.inference_mode():
        a, b = model.forward_raw(x), loaded.forward_raw(x)
    for key in RAW_KEYS:
        for u, v in zip(*(t if isinstance(t, list) else [t] for t in (a[key], b[key]))):
            assert torch.equal(u, v), key


def test_layouts_do_not_load_each_others_weights(fast_cfg, categories, tmp_path):
    path = save_checkpoint(tmp_path / "fast.safetensors", build_model(fast_cfg, categories))
    research = copy.deepcopy(fast_cfg)
    research.model.layout = "research"
    with pytest.raises(Exception, match="weights do not fit"):
        load_checkpoint(path, cfg=research)


def _reference_input():
    sys.path.insert(0, str(DATA))
    try:
        from make_research_reference import reference_input
    finally:
        sys.path.remove(str(DATA))
    return reference_input()


def test_research_checkpoint_gives_bit_identical_raw_outputs():
    """The previously shipped model loads as the research layout, and forward_raw returns exactly the tensors the
    code before the fast layout computed (same torch build and CPU; elsewhere float rounding of the kernels may
    differ, so only closeness is checked there)."""
    model = load_checkpoint(RESEARCH_MODEL)
    assert model.layout == "research"
    assert read_sidecar_model(RESEARCH_MODEL).get("layout", "research") == "research"
    ref_file = DATA / "research_reference.safetensors"
    reference = load_file(str(ref_file))
    with safe_open(str(ref_file), "pt") as f:
        meta = f.metadata()
    exact = meta["torch"] == torch.__version__ and meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    threads = torch.get_num_threads()
    torch.set_num_threads(int(meta["threads"]))  # the kernels' summation order depends on the thread count
    try:
        with torch.inference_mode():
            raw = model.forward_raw(_reference_input())
    finally:
        torch.set_num_threads(threads)
    got = {"semantic": raw["semantic"], "offsets": raw["offsets"]}
    for key in ("cls_logits", "box_regression", "centerness"):
        got.update({f"{key}.{i}": t for i, t in enumerate(raw[key])})
    _assert_matches(got, reference, exact)


def _assert_matches(got: dict, reference: dict, exact: bool) -> None:
    """Every reference tensor, bit for bit where the kernels are the same (exact), else to 1e-4."""
    assert set(got) == set(reference)
    for key, ref in reference.items():
        if exact:
            assert torch.equal(got[key], ref), (key, (got[key] - ref).abs().max())
        else:
            torch.testing.assert_close(got[key], ref, rtol=1e-4, atol=1e-4)


def read_sidecar_model(path):
    from panoptic_ros.modeling import read_sidecar
    return read_sidecar(path)["config"]["model"]


def test_folding_batchnorm_keeps_outputs_and_leaves_the_model_alone(fast_cfg, categories, scenes):
    model = build_model(fast_cfg, categories)  # smoke: trainable BatchNorm in the encoder
    images, targets = zip(*scenes)
    model.train()
    with torch.no_grad():
        model(list(images), list(targets))      # non-trivial running statistics
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.backbone.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    x = torch.randn(1, 3, 96, 128)
    with torch.inference_mode():
        a, b = model.forward_raw(x), folded.forward_raw(x)
    torch.testing.assert_close(b["semantic"], a["semantic"], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(b["box_regression"][0], a["box_regression"][0], rtol=1e-4, atol=1e-3)


def test_inference_network_is_cached_until_the_weights_change(fast_cfg, categories):
    model = build_model(fast_cfg, categories).eval()
    first = model.inference_network()
    assert model.inference_network() is first
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in first.modules())
    with torch.no_grad():
        next(model.parameters()).add_(0.1)    # e.g. an optimizer step
    second = model.inference_network()
    assert second is not first and "_folded_for_inference" not in second.__dict__
    model.load_state_dict(model.state_dict())
    assert model.inference_network() is not second


def test_fpn_from_c3_skips_the_stride_4_level():
    from collections import OrderedDict

    from panoptic_ros.modeling.fpn import FPN
    widths = [8, 16, 24, 32]
    feats = OrderedDict((f"c{i + 2}", torch.randn(1, c, 64 // s, 96 // s))
                        for i, (c, s) in enumerate(zip(widths, (4, 8, 16, 32))))
    fpn = FPN(widths, 16, first_level=3)
    out = fpn(feats)
    assert list(out) == ["p3", "p4", "p5", "p6", "p7"] and len(fpn.fpn.inner_blocks) == 3
    assert out["p3"].shape == (1, 16, 8, 12) and out["p7"].shape == (1, 16, 1, 1)
    with pytest.raises(ValueError, match="first_level"):
        FPN(widths, 16, first_level=4)


def test_shipped_checkpoint_gives_bit_identical_raw_outputs():
    """The shipped model (fast layout, every optional output) returns exactly the tensors it was released with
    (data/shipped_reference.safetensors; same torch build, CPU kind and thread count; close elsewhere)."""
    sys.path.insert(0, str(DATA))
    try:
        from make_shipped_reference import OPTIONAL, flat_outputs
    finally:
        sys.path.remove(str(DATA))
    ref_file = DATA / "shipped_reference.safetensors"
    reference = load_file(str(ref_file))
    with safe_open(str(ref_file), "pt") as f:
        meta = f.metadata()
    exact = meta["torch"] == torch.__version__ and meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    model = load_checkpoint(default_model_path()).eval()
    threads = torch.get_num_threads()
    torch.set_num_threads(int(meta["threads"]))
    try:
        with torch.inference_mode():
            got = flat_outputs(model.forward_raw(_reference_input(), optional=OPTIONAL))
    finally:
        torch.set_num_threads(threads)
    _assert_matches(got, reference, exact)
