"""Precise BatchNorm: after re-estimation on a batch, eval mode reproduces train mode on that batch."""
from pathlib import Path

import pytest
import torch

from panoptic_ros.config import load_config
from panoptic_ros.data.synth import CATEGORIES
from panoptic_ros.engine.precise_bn import trainable_batchnorms, update_bn_stats
from panoptic_ros.modeling import build_model
from panoptic_ros.modeling import preprocess as pre

SMOKE = Path(__file__).resolve().parents[2] / "panoptic_ros" / "configs" / "smoke.yaml"


def _batch(model, images):
    ims = [pre.normalize(im, model.pixel_mean, model.pixel_std) for im in images]
    return pre.batch_images(ims, model.cfg.model.size_divisibility)


def test_eval_mode_matches_train_mode_after_update():
    model = build_model(load_config(SMOKE, ["model.frozen_bn=false"]), CATEGORIES)
    bns = trainable_batchnorms(model)
    assert bns
    for m in bns:  # stale statistics, as after a short training with a small momentum
        m.running_mean.uniform_(-1, 1)
        m.running_var.uniform_(0.2, 3)
    momenta = [m.momentum for m in bns]
    images = [torch.rand(3, 96, 128) for _ in range(2)]
    batch = _batch(model, images)
    with torch.no_grad():
        train_out = model.train().forward_raw(batch)["semantic"]
        stale = model.eval().forward_raw(batch)["semantic"]
    assert not torch.allclose(stale, train_out, atol=1e-2)
    assert update_bn_stats(model.eval(), [(images, None)] * 3, num_batches=1) == 1
    assert not model.training and [m.momentum for m in bns] == momenta
    with torch.no_grad():
        precise = model.forward_raw(batch)["semantic"]
    # equal up to the unbiased (running) vs biased (batch) variance on the few pixels of the deepest layers
    err, stale_err = (precise - train_out).abs().mean(), (stale - train_out).abs().mean()
    assert err < 0.1 * stale_err


@pytest.mark.filterwarnings("ignore:.*frozen BatchNorm")
def test_frozen_batchnorm_is_left_alone():
    model = build_model(load_config(SMOKE, ["model.frozen_bn=true"]), CATEGORIES)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert update_bn_stats(model, [([torch.rand(3, 64, 64)], None)], 4) == 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
