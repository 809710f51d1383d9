"""The training loop of `panoptic train`: AdamW + step decay, AMP on CUDA, gradient clipping, gradient
accumulation, DDP, TensorBoard, a checkpoint every epoch, resume and optional validation (PQ) keeping the best
model.

Single process by default; under torchrun each process trains on its shard (DistributedSampler) and only rank 0
writes files. Everything it reads comes from PanopticConfig (cfg.solver, cfg.data, cfg.model, cfg.loss).
GPU path: AMP (solver.amp), channels_last (solver.channels_last), torch.compile (solver.compile), pinned memory
and persistent workers (data.pin_memory / data.persistent_workers); model.freeze keeps parts fixed.
Files are written crash-safe (utils/atomic.py); ``--resume auto`` skips an unreadable newest checkpoint.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler
from tqdm import tqdm

from panoptic_ros.config import PanopticConfig, save_config
from panoptic_ros.data import build_dataset, collate_fn
from panoptic_ros.modeling import build_model
from panoptic_ros.modeling.checkpoint import save_checkpoint

from ..utils.atomic import atomic_copy, atomic_write_text, staged_files
from ..utils.json_io import write_json
from . import distributed as dist_utils
from . import train_state
from .dataset_eval import evaluate_model
from .precise_bn import update_bn_stats
from .seed import (
    EpochSeeds,
    SeededDataset,
    loader_generator,
    rng_state,
    seed_everything,
    set_rng_state,
    worker_init_fn,
)
from .train_log import LossMeter, ScalarWriter, short_postfix

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Run options that are not part of the model's configuration (CLI flags of `panoptic train`)."""
    resume: str | None = None          # checkpoint path or "auto"
    eval_every: int = 0                # validate every N epochs (and after the last) when cfg.data.val is set
    val_max_images: int | None = None  # validate on the first N images only
    keep_last: int = 0                 # epoch checkpoints to keep (0 = all)
    max_iters: int | None = None       # stop after this many iterations in total (smoke tests)
    precise_bn: int = 32               # batches to re-estimate BatchNorm statistics before each checkpoint
    find_unused_parameters: bool = False
    dump_weights: str | None = None    # test hook: each rank writes its weights before and after the first step
    progress: bool = True


def build_optimizer(cfg: PanopticConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    s = cfg.solver
    cls = torch.optim.AdamW if s.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=s.lr, weight_decay=s.weight_decay)


def build_scheduler(cfg: PanopticConfig, optimizer: torch.optim.Optimizer):
    """Step decay: lr *= lr_gamma at each epoch listed in solver.lr_steps (stepped once per epoch)."""
    steps = sorted(int(e) for e in cfg.solver.lr_steps)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=steps, gamma=cfg.solver.lr_gamma)


def follow_configured_schedule(scheduler, optimizer: torch.optim.Optimizer, cfg: PanopticConfig) -> None:
    """After a resume: the learning-rate steps are the config's, not the checkpoint's. A run resumed with a longer
    schedule (more epochs, later lr_steps) then continues exactly as a fresh run of that config would from the same
    epoch: lr = solver.lr x lr_gamma ^ (lr_steps passed so far)."""
    scheduler.milestones = Counter(int(e) for e in cfg.solver.lr_steps)
    scheduler.gamma = cfg.solver.lr_gamma
    passed = sum(count for step, count in scheduler.milestones.items() if step <= scheduler.last_epoch)
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * scheduler.gamma ** passed
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]


def _to_device(images, targets, device, channels_last: bool = False):
    nb = device.type == "cuda"
    images = [im.to(device, non_blocking=nb) for im in images]
    if channels_last:
        images = [im.contiguous(memory_format=torch.channels_last) if im.dim() == 4 else im for im in images]
    targets = [{k: (v.to(device, non_blocking=nb) if torch.is_tensor(v) else v) for k, v in t.items()}
               for t in targets]
    return images, targets


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


class Trainer:
    """Builds data, model, optimizer from the config and runs the epochs (see module docstring)."""

    def __init__(self, cfg: PanopticConfig, options: TrainOptions | None = None):
        self.cfg = cfg
        self.opts = options or TrainOptions()
        self.output_dir = Path(cfg.solver.output_dir)

    # -- set-up ------------------------------------------------------------------------------------------------
    def _setup(self):
        cfg, opts = self.cfg, self.opts
        self.dist = dist_utils.init_distributed(cfg.inference.device, cfg.solver.dist_timeout,
                                                cfg.solver.wait_timeout)
        self.device = self.dist.device
        seed_everything(cfg.solver.seed, self.dist.rank)
        self.dataset = build_dataset(cfg.data, "train")
        if len(self.dataset) == 0:
            raise ValueError(f"training data {cfg.data.train} has no images")
        self.categories = self.dataset.categories
        # uint8 images and compact targets through the loader (the model converts on its device): ~4x less copying
        self.dataset.compact = len(self.categories) < 255
        # same initial weights on every rank (DDP broadcasts rank 0's anyway): seed the init without the rank offset
        torch.manual_seed(cfg.solver.seed)
        self.model = build_model(cfg, self.categories)
        # model.freeze: the model itself turns off gradients of those parts and keeps them in eval mode
        self.frozen = list(getattr(self.model, "frozen", ()) or ())
        if not any(p.requires_grad for p in self.model.parameters()):
            raise ValueError(f"model.freeze {self.frozen} leaves nothing to train")
        if self.frozen and self.dist.is_main:
            log.info("model.freeze: %s fixed; training the other parts", ", ".join(self.frozen))
        if self.dist.distributed and self.device.type == "cuda":
            # trainable BatchNorm (from-scratch encoders) must see the whole batch; gloo/CPU has no SyncBatchNorm,
            # there DDP broadcasts rank 0's running statistics at every forward instead
            self.model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        self.model.to(self.device)
        if cfg.solver.channels_last:
            self.model.to(memory_format=torch.channels_last)
        seed_everything(cfg.solver.seed, self.dist.rank)
        self.optimizer = build_optimizer(cfg, self.model)
        self.scheduler = build_scheduler(cfg, self.optimizer)
        self.use_amp = bool(cfg.solver.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.start_epoch, self.iteration = 0, 0
        self.best_pq = -math.inf
        if opts.resume:
            self._resume(opts.resume)
        elif train_state.list_checkpoints(self.output_dir):
            raise ValueError(f"{self.output_dir} already holds epoch checkpoints of another run: pass --resume auto "
                             "to continue it, or choose a new solver.output_dir")
        self.train_model = self.model
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.train_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=ids, find_unused_parameters=opts.find_unused_parameters)
        self.step_model = self.train_model
        if cfg.solver.compile:
            if not hasattr(torch, "compile"):
                raise ValueError("solver.compile needs torch >= 2.0")
            self.step_model = torch.compile(self.train_model, backend=cfg.solver.compile)
        self.loader = self._loader()
        self.writer = ScalarWriter(self.output_dir / "tb", enabled=self.dist.is_main)
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.output_dir / "config.yaml")
        dist_utils.wait_for_main(self.dist)  # rank 0's set-up (TensorBoard, files) is not a collective's wait

    def _loader(self) -> DataLoader:
        """Shuffled batches; every sample's augmentation is seeded from (seed, rank, epoch, position)
        (engine/seed.py), so an epoch's data is the same for any number of workers and after a resume."""
        cfg = self.cfg
        if self.dist.distributed:
            order = DistributedSampler(self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank,
                                       shuffle=True, seed=cfg.solver.seed)
        else:
            order = RandomSampler(self.dataset, generator=loader_generator(cfg.solver.seed))
        self.sampler = EpochSeeds(order, cfg.solver.seed, self.dist.rank)
        workers = cfg.data.num_workers
        return DataLoader(SeededDataset(self.dataset), batch_size=cfg.data.batch_size, sampler=self.sampler,
                          num_workers=workers, collate_fn=collate_fn, worker_init_fn=worker_init_fn,
                          generator=loader_generator(cfg.solver.seed, self.dist.rank),
                          pin_memory=bool(cfg.data.pin_memory and self.device.type == "cuda"),
                          persistent_workers=bool(cfg.data.persistent_workers and workers > 0))

    def _resume(self, resume: str) -> None:
        if resume == "auto":
            candidates = [p for _, p in reversed(train_state.list_checkpoints(self.output_dir))]
            if not candidates:
                if self.dist.is_main:
                    log.info("--resume auto: no checkpoint in %s, starting from scratch", self.output_dir)
                return
        else:
            candidates = [train_state.resolve_resume(resume, self.output_dir)]
        for i, paths in enumerate(candidates):
            try:
                weights, state = _read_checkpoint(paths)
                break
            except ValueError as exc:
                if resume != "auto":
                    raise
                log.warning("--resume auto: skipping unreadable checkpoint %s (%s)", paths.model, exc)
                if i == len(candidates) - 1:
                    raise ValueError(f"--resume auto: no readable checkpoint in {self.output_dir / 'checkpoints'} "
                                     f"(newest: {candidates[0].model.name}: unreadable)") from None
        try:
            self.model.load_state_dict(weights, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{paths.model} does not match the configured model (model section of the config "
                             f"changed?): {str(exc).splitlines()[0]}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        follow_configured_schedule(self.scheduler, self.optimizer, self.cfg)
        self.scaler.load_state_dict(state["scaler"])
        rng = state.get("rng") or {}
        if self.dist.rank == 0 and rng:
            set_rng_state(rng)
        self.start_epoch, self.iteration = int(state["epoch"]), int(state["iteration"])
        self.best_pq = self._best_from_sidecar()
        if self.dist.is_main:
            log.info("resumed from %s (epoch %d, iteration %d)", paths.model, self.start_epoch, self.iteration)

    def _best_from_sidecar(self) -> float:
        """Validation PQ of output_dir/best.safetensors (so a resumed run only replaces it with a better one)."""
        side = self.output_dir / "best.json"
        if side.is_file():
            try:
                return float(json.loads(side.read_text()).get("extra", {}).get("val_pq", -math.inf))
            except (ValueError, AttributeError):
                pass
        return -math.inf

    # -- loop --------------------------------------------------------------------------------------------------
    def fit(self) -> dict:
        """Train cfg.solver.epochs epochs (from the resumed epoch on); returns the summary written to
        train_summary.json."""
        try:
            self._setup()
            return self._fit()
        finally:
            if getattr(self, "writer", None) is not None:
                self.writer.close()
            dist_utils.cleanup()

    def _fit(self) -> dict:
        cfg, opts, is_main = self.cfg, self.opts, self.dist.is_main
        epochs = cfg.solver.epochs
        history: list[dict] = []
        t_start = time.perf_counter()
        self._dump("init")
        last_paths = None
        stop = False
        if self.start_epoch >= epochs and is_main:
            log.info("already trained %d of %d epochs: nothing to do", self.start_epoch, epochs)
        for epoch in range(self.start_epoch, epochs):
            self.sampler.set_epoch(epoch)  # order and augmentation depend on (seed, epoch) only
            lr = self.optimizer.param_groups[0]["lr"]  # the lr this epoch trains with
            train_losses, stop = self._train_epoch(epoch)
            self.scheduler.step()
            train_losses = dist_utils.all_reduce_mean(train_losses, self.device)
            update_bn_stats(self.model, self.loader, opts.precise_bn)  # every rank: SyncBatchNorm takes part
            record = {"epoch": epoch + 1, "iteration": self.iteration, "lr": lr, "train": train_losses}
            self.writer.scalars("epoch", {**train_losses, "lr": record["lr"]}, epoch + 1)
            if is_main:
                last_paths = self._save_epoch(epoch + 1, train_losses)
                log.info("epoch %d/%d: %s", epoch + 1, epochs,
                         ", ".join(f"{k} {v:.4f}" for k, v in sorted(train_losses.items())))
            if self._validation_due(epoch + 1, stop):
                t_val = time.perf_counter()
                record["val"] = self._validate(epoch + 1, last_paths)
                record["val_seconds"] = time.perf_counter() - t_val
            history.append(record)
            if is_main:
                write_json(self.output_dir / "train_history.json", history)
            dist_utils.wait_for_main(self.dist)
            if stop:
                break
        summary = {"epochs_done": history[-1]["epoch"] if history else self.start_epoch,
                   "iterations": self.iteration, "seconds": time.perf_counter() - t_start,
                   "world_size": self.dist.world_size, "device": str(self.device), "history": history,
                   "final": None}
        if is_main:
            final = self._write_final(last_paths)
            summary["final"] = str(final) if final else None
            write_json(self.output_dir / "train_summary.json", summary)
        return summary

    def _train_epoch(self, epoch: int) -> tuple[dict, bool]:
        cfg, opts = self.cfg, self.opts
        self.train_model.train()  # frozen parts stay in eval mode (PanopticModel.train)
        meter = LossMeter()
        params = [p for p in self.model.parameters() if p.requires_grad]
        stop = False
        accumulate = max(1, int(cfg.solver.accumulate))
        num_batches = len(self.loader)
        bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{cfg.solver.epochs}", unit="batch", dynamic_ncols=True,
                   disable=not (self.dist.is_main and opts.progress), leave=True)
        self.optimizer.zero_grad(set_to_none=True)
        for b, (images, targets) in enumerate(bar):
            # micro-batch b of a group of `accumulate` (the epoch's last group may be smaller); one optimizer
            # step per group, the loss scaled by 1 / group size so the gradient is the group's mean
            group_start = b - b % accumulate
            group_size = min(accumulate, num_batches - group_start)
            last_in_group = b == group_start + group_size - 1
            images, targets = _to_device(images, targets, self.device, self.cfg.solver.channels_last)
            sync = nullcontext() if last_in_group or not self.dist.distributed else self.train_model.no_sync()
            with sync:
                with torch.autocast(device_type=self.device.type, enabled=self.use_amp):
                    losses = self.step_model(images, targets)
                loss = losses["loss"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(
                        f"loss is {loss.item()} at epoch {epoch + 1}, iteration {self.iteration + 1} "
                        f"({', '.join(f'{k}={v.item():.4g}' for k, v in losses.items())}); "
                        "lower solver.lr or check the data")
                self.scaler.scale(loss / group_size).backward()
            values = {k: float(v.detach()) for k, v in losses.items()}
            meter.update(values)
            if not last_in_group:
                continue
            grad_norm = None
            if cfg.solver.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.solver.grad_clip))
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.optimizer.zero_grad(set_to_none=True)
            self.iteration += 1
            if self.iteration % cfg.solver.log_every == 0 or self.iteration == 1:
                extra = {"lr": self.optimizer.param_groups[0]["lr"]}
                if grad_norm is not None and math.isfinite(grad_norm):
                    extra["grad_norm"] = grad_norm
                self.writer.scalars("train", {**meter.running(), **extra}, self.iteration)
            bar.set_postfix(short_postfix(meter.running()), refresh=False)
            if self.iteration == 1 or (opts.max_iters and self.iteration == opts.max_iters):
                self._dump(f"iter{self.iteration}")
            if opts.max_iters and self.iteration >= opts.max_iters:
                stop = True
                break
        bar.close()
        self.writer.flush()
        return meter.epoch_means(), stop

    # -- files -------------------------------------------------------------------------------------------------
    def _save_epoch(self, epoch: int, train_losses: dict) -> train_state.CheckpointPaths:
        paths = train_state.epoch_paths(self.output_dir, epoch)
        # all three files are written under temporary names, fsynced, then renamed: a crash leaves either no
        # epoch_NNNN set or a complete one (list_checkpoints ignores incomplete sets)
        with staged_files([paths.state, paths.model, paths.sidecar]) as (state_tmp, model_tmp, _):
            save_checkpoint(model_tmp, self.model, self.cfg, self.categories,
                            extra={"epoch": epoch, "iteration": self.iteration, "train_losses": train_losses,
                                   "seed": self.cfg.solver.seed, "world_size": self.dist.world_size})
            train_state.save_state(state_tmp, epoch=epoch, iteration=self.iteration, optimizer=self.optimizer,
                                   scheduler=self.scheduler, scaler=self.scaler, rng=rng_state())
        atomic_write_text(self.output_dir / "last_checkpoint", paths.model.name + "\n")
        train_state.prune(self.output_dir, self.opts.keep_last)
        return paths

    def _write_final(self, last: train_state.CheckpointPaths | None) -> Path | None:
        """Copy this run's last epoch checkpoint (else the newest one present) to output_dir/final.safetensors."""
        latest = last or train_state.latest_checkpoint(self.output_dir)
        if latest is None:
            return None
        final = self.output_dir / "final.safetensors"
        atomic_copy(latest.model, final)
        atomic_copy(latest.sidecar, final.with_suffix(".json"))
        return final

    def _dump(self, tag: str) -> None:
        """Test hook (--dump-weights DIR): every rank writes its parameters, to compare ranks after a DDP step.

        (BatchNorm running statistics are per rank on CPU between forwards, so only parameters are dumped.)"""
        if not self.opts.dump_weights:
            return

        d = Path(self.opts.dump_weights)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.named_parameters()}
        save_file(state, str(d / f"{tag}_rank{self.dist.rank}.safetensors"))

    # -- validation --------------------------------------------------------------------------------------------
    def _validation_due(self, epoch: int, stopping: bool) -> bool:
        if not self.cfg.data.val or self.opts.eval_every <= 0:
            return False
        return epoch % self.opts.eval_every == 0 or epoch == self.cfg.solver.epochs or stopping

    def _validate(self, epoch: int, paths: train_state.CheckpointPaths | None) -> dict | None:
        """PQ etc. on cfg.data.val by the main process (the others wait at the barrier)."""
        metrics = None
        if self.dist.is_main:
            model = self.model
            was_training = model.training
            model.eval()
            out = self.output_dir / "val" / f"epoch_{epoch:04d}"
            results = evaluate_model(model, self.cfg.data.val, out_dir=out, policies=[self.cfg.inference.merge_policy],
                                     max_images=self.opts.val_max_images, progress=self.opts.progress,
                                     write_predictions=False, warmup=0)
            model.train(was_training)
            m = results[self.cfg.inference.merge_policy]
            metrics = {"pq": m["pq"]["All"]["pq"], "pq_things": m["pq"]["Things"]["pq"],
                       "pq_stuff": m["pq"]["Stuff"]["pq"], "miou": m["miou"], "box_ap": m["box_ap"]["AP"]}
            self.writer.scalars("val", metrics, epoch)
            log.info("epoch %d validation: PQ %.2f  PQth %.2f  PQst %.2f  mIoU %.2f  AP %.2f", epoch,
                     *(100 * metrics[k] for k in ("pq", "pq_things", "pq_stuff", "miou", "box_ap")))
            if metrics["pq"] > self.best_pq and paths is not None:
                self.best_pq = metrics["pq"]
                best = self.output_dir / "best.safetensors"
                atomic_copy(paths.model, best)
                side = json.loads(paths.sidecar.read_text())
                side.setdefault("extra", {}).update({"val_pq": metrics["pq"], "val_metrics": metrics})
                write_json(best.with_suffix(".json"), side)
        dist_utils.wait_for_main(self.dist)  # the others wait with solver.wait_timeout, not the collective one
        return metrics


def _read_checkpoint(paths: train_state.CheckpointPaths) -> tuple[dict, dict]:
    """(weights, training state) of an epoch checkpoint; ValueError names an unreadable file."""

    try:
        weights = load_file(str(paths.model), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for truncated files
        raise ValueError(f"{paths.model}: not a readable safetensors checkpoint ({exc})") from None
    try:
        side = json.loads(paths.sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{paths.sidecar}: not a readable sidecar ({exc})") from None
    if not isinstance(side, dict):
        raise ValueError(f"{paths.sidecar}: not a checkpoint sidecar (expected a JSON object)")
    return weights, train_state.load_state(paths.state)
