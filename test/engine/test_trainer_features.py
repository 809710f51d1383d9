"""The trainer's GPU-path features on CPU (CUDA-only parts skip): gradient accumulation equals one step on the
mean gradient, channels_last trains the same numbers, model.freeze keeps parts (and their BatchNorm statistics)
fixed, loader options (pinned memory, persistent workers), torch.compile; per-sample augmentation seeds make an
epoch's data independent of the number of workers; crash-safe staged writes."""
import copy
import itertools
from pathlib import Path

import pytest
import torch

from panoptic_ros.config import load_config
from panoptic_ros.data import make_synthetic_dataset
from panoptic_ros.engine.trainer import Trainer, TrainOptions
from panoptic_ros.utils.atomic import atomic_copy, staged_files

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "panoptic_ros" / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("feat") / "train", 4, seed=5, width=128, height=96)


def _trainer(data, out, *overrides, **opts):
    cfg = load_config(SMOKE, [f"data.train={data}", f"solver.output_dir={out}", "data.num_workers=0",
                              "data.min_size=96", "data.max_size=128", "inference.device=cpu", *overrides])
    return Trainer(cfg, TrainOptions(progress=False, precise_bn=0, **opts))


def _params(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_accumulation_steps_once_on_the_mean_gradient(data, tmp_path):
    tr = _trainer(data, tmp_path / "run", "data.batch_size=1", "solver.accumulate=2", "data.hflip=false",
                  max_iters=1)
    tr._setup()
    tr.sampler.set_epoch(0)
    micro = list(itertools.islice(iter(tr.loader), 2))
    reference = copy.deepcopy(tr.model)
    tr._train_epoch(0)
    assert tr.iteration == 1  # two micro-batches, one optimizer step
    got = _params(tr.model)

    opt = torch.optim.AdamW([p for p in reference.parameters() if p.requires_grad], lr=tr.cfg.solver.lr,
                            weight_decay=tr.cfg.solver.weight_decay)
    reference.train()
    for images, targets in micro:
        (reference(images, targets)["loss"] / 2).backward()
    torch.nn.utils.clip_grad_norm_([p for p in reference.parameters() if p.requires_grad], tr.cfg.solver.grad_clip)
    opt.step()
    want = _params(reference)
    worst = max(float((got[k] - want[k]).abs().max()) for k in want)
    assert worst < 1e-6, worst  # (a step per micro-batch, or no 1/2 scaling, moves the weights by ~lr)


def test_channels_last_gives_the_same_loss_and_gradients(data, tmp_path):
    grads, losses = {}, {}
    for cl in (False, True):
        tr = _trainer(data, tmp_path / str(cl), f"solver.channels_last={str(cl).lower()}", "data.hflip=false")
        tr._setup()
        tr.sampler.set_epoch(0)
        images, targets = next(iter(tr.loader))
        if cl:
            convs = [m.weight for m in tr.model.modules() if isinstance(m, torch.nn.Conv2d)]
            assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
        from panoptic_ros.engine.trainer import _to_device
        images, targets = _to_device(images, targets, tr.device, cl)
        loss = tr.model(images, targets)["loss"]
        loss.backward()
        losses[cl] = float(loss.detach())
        grads[cl] = {k: p.grad.clone() for k, p in tr.model.named_parameters() if p.grad is not None}
    assert losses[True] == pytest.approx(losses[False], rel=1e-5)
    assert set(grads[True]) == set(grads[False])
    # summation order differs between the layouts; through a random-init network with batch statistics the
    # gradients agree to float rounding amplified (measured ~1e-3 relative overall)
    a = torch.cat([g.flatten() for g in grads[False].values()])
    b = torch.cat([grads[True][k].flatten() for k in grads[False]])
    assert float((a - b).norm() / a.norm()) < 2e-2


def test_freeze_keeps_parts_and_their_batchnorm_statistics(data, tmp_path):
    tr = _trainer(data, tmp_path / "run", "model.freeze=[backbone, fpn, detection_head]", max_iters=2)
    tr.opts.precise_bn = 4
    tr._setup()
    before = {k: v.clone() for k, v in tr.model.state_dict().items()}
    tr.opts.max_iters = 2
    tr._fit()
    after = tr.model.state_dict()
    frozen = [k for k in before if k.split(".")[0] in ("backbone", "fpn", "detection_head")]
    trained = [k for k in before if k.split(".")[0] in ("semantic_head", "center_head")]
    assert any("running_mean" in k for k in frozen)  # smoke: trainable BatchNorm in the encoder
    assert all(torch.equal(before[k], after[k]) for k in frozen), [k for k in frozen
                                                                   if not torch.equal(before[k], after[k])][:5]
    assert sum(not torch.equal(before[k], after[k]) for k in trained) > len(trained) // 2
    opt_params = {id(p) for g in tr.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in opt_params for p in tr.model.backbone.parameters())


@pytest.mark.parametrize("parts, match", [("[backbone, wheels]", "'wheels' is not a part"),
                                          ("[decoder]", "'decoder' is not a part"),
                                          ("[backbone, fpn, detection_head, semantic_head, center_head]",
                                           "leaves nothing to train")])
def test_freeze_errors_name_the_part(data, tmp_path, parts, match):
    with pytest.raises(ValueError, match=match):
        _trainer(data, tmp_path, f"model.freeze={parts}")._setup()


def test_loader_options(data, tmp_path):
    tr = _trainer(data, tmp_path / "a", "data.num_workers=1")
    tr._setup()
    assert tr.loader.persistent_workers and not tr.loader.pin_memory  # pinning only applies on CUDA
    tr = _trainer(data, tmp_path / "b", "data.num_workers=1", "data.persistent_workers=false")
    tr._setup()
    assert not tr.loader.persistent_workers


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_loader_pins_memory_and_amp_channels_last_step(data, tmp_path):
    tr = _trainer(data, tmp_path / "cuda", "inference.device=cuda", "solver.channels_last=true", max_iters=1)
    tr.fit()
    assert tr.loader.pin_memory and tr.use_amp
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


@pytest.mark.slow
def test_compile_wiring_on_cpu_with_the_eager_backend(data, tmp_path):
    """solver.compile wraps the training network (dynamo tracing, eager kernels: no compiler needed)."""
    tr = _trainer(data, tmp_path / "eager", "solver.compile=eager", max_iters=2)
    summary = tr.fit()
    assert type(tr.step_model).__name__ == "OptimizedModule" and summary["iterations"] == 2
    assert all(torch.isfinite(p).all() for p in tr.model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch.compile with inductor is tested on CUDA")
def test_compile_inductor_on_cuda(data, tmp_path):
    tr = _trainer(data, tmp_path / "compiled", "inference.device=cuda", "solver.compile=inductor", max_iters=2)
    summary = tr.fit()
    assert summary["iterations"] == 2 and all(torch.isfinite(p).all() for p in tr.model.parameters())


def test_epoch_data_does_not_depend_on_the_number_of_workers(data, tmp_path):
    batches = {}
    for workers in (0, 2):
        tr = _trainer(data, tmp_path / str(workers), "data.batch_size=2", f"data.num_workers={workers}",
                      "data.hflip=true")
        tr._setup()
        seen = []
        for epoch in (0, 1):
            tr.sampler.set_epoch(epoch)
            seen.append(list(tr.loader))
        batches[workers] = seen
        again = list(tr.loader)  # a second pass over epoch 1 (precise BN does one) repeats it
        assert all(torch.equal(a, b) for (x, _), (y, _) in zip(again, seen[1], strict=True) for a, b in zip(x, y))
    for epoch in (0, 1):
        for (im0, t0), (im2, t2) in zip(batches[0][epoch], batches[2][epoch], strict=True):
            assert [t["image_id"] for t in t0] == [t["image_id"] for t in t2]
            assert all(torch.equal(a, b) for a, b in zip(im0, im2))
    # the epochs differ (order or augmentation)
    flat = [[im for ims, _ in batches[0][e] for im in ims] for e in (0, 1)]
    assert any(a.shape != b.shape or not torch.equal(a, b) for a, b in zip(*flat))


def test_staged_files_rename_all_or_nothing(tmp_path):
    a, b = tmp_path / "d" / "x.bin", tmp_path / "d" / "x.json"
    with pytest.raises(OSError, match="disk full"):
        with staged_files([a, b]) as (ta, tb):
            ta.write_bytes(b"weights")
            raise OSError("disk full")  # crash before the sidecar is written
    assert not a.exists() and not b.exists() and list((tmp_path / "d").iterdir()) == []
    with staged_files([a, b]) as (ta, tb):
        ta.write_bytes(b"weights")
        tb.write_text("{}")
        assert not a.exists()  # nothing under the final names until the block ends
    assert a.read_bytes() == b"weights" and b.read_text() == "{}"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["x.bin", "x.json"]
    atomic_copy(a, tmp_path / "d" / "y.bin")
    assert (tmp_path / "d" / "y.bin").read_bytes() == b"weights"
