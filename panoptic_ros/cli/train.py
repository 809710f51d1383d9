"""`panoptic train [--config FILE.yaml] [--device D] [options] [section.name=value ...]`: train a model (single
process or under torchrun). Settings follow the one CLI convention (cli/options.py); the options here are run
options that are not part of the model's configuration (TrainOptions).

Multi-GPU / multi-machine: ``torchrun --nproc_per_node N -m panoptic_ros.cli.main train --config ...``
(each process trains on its shard of the data; rank 0 writes checkpoints and logs). GPU-path settings:
solver.accumulate, solver.channels_last, solver.compile, data.pin_memory, data.persistent_workers; model.freeze;
solver.dist_timeout / solver.wait_timeout (docs/training.md).
"""
from __future__ import annotations

import argparse

from .options import add_config_options


def add_parser(subparsers, name: str = "train") -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        name, help="train a model from a YAML config",
        description="Train with AdamW + step decay (cfg.solver), AMP on CUDA, gradient clipping; a checkpoint "
                    "(safetensors + JSON) every epoch in solver.output_dir/checkpoints, TensorBoard events in "
                    "solver.output_dir/tb. Overrides look like solver.lr=1e-3 data.train=DIR.")
    add_config_options(p, flags=("device",),
                       flag_help={"device": "auto | cpu | cuda | cuda:N (torchrun picks cuda:LOCAL_RANK)"})
    p.add_argument("--resume", metavar="CKPT|auto",
                   help="continue from an epoch checkpoint (epoch_NNNN.safetensors) or 'auto' = the latest readable "
                        "one in solver.output_dir (an unreadable newest one is skipped with a warning; starts from "
                        "scratch when there is none)")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="validate on data.val every N epochs and after the last one, keeping best.safetensors "
                        "(0 = no validation during training)")
    p.add_argument("--val-max-images", type=int, metavar="N", help="validate on the first N images only")
    p.add_argument("--keep-last", type=int, default=0, metavar="K",
                   help="keep only the newest K epoch checkpoints (0 = keep all)")
    p.add_argument("--precise-bn", type=int, default=32, metavar="N",
                   help="before each checkpoint, re-estimate trainable BatchNorm statistics on N training batches "
                        "(needed when the encoder trains from scratch; 0 = off; no effect with frozen BatchNorm)")
    p.add_argument("--max-iters", type=int, metavar="N", help="stop after N iterations in total (smoke runs)")
    p.add_argument("--find-unused-parameters", action="store_true",
                   help="DDP: allow parameters without gradient (only needed for modified models)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--dump-weights", help=argparse.SUPPRESS)  # test hook: per-rank weights before/after step 1
    return p


def run(args) -> int:
    from panoptic_ros.engine.trainer import Trainer, TrainOptions

    from .options import config_from_args

    cfg = config_from_args(args)
    for flag in ("eval_every", "keep_last", "precise_bn"):
        if getattr(args, flag) < 0:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 0")
    if args.max_iters is not None and args.max_iters < 1:
        raise ValueError("--max-iters must be >= 1")
    opts = TrainOptions(resume=args.resume, eval_every=args.eval_every,
                        val_max_images=args.val_max_images, keep_last=args.keep_last, max_iters=args.max_iters,
                        precise_bn=args.precise_bn,
                        find_unused_parameters=args.find_unused_parameters, dump_weights=args.dump_weights,
                        progress=not args.no_progress)
    summary = Trainer(cfg, opts).fit()
    if summary.get("final"):
        print(f"trained {summary['epochs_done']} epoch(s), {summary['iterations']} iterations in "
              f"{summary['seconds']:.0f} s; final checkpoint: {summary['final']}")
    return 0
