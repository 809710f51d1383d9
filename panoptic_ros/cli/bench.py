"""`panoptic bench WHAT [options]`: benchmarks that write JSON (+ a PNG plot) into --out.

WHAT is one of BENCHMARKS (module panoptic_ros.bench.<what>, with ``add_arguments(parser)`` and
``run(args) -> dict``) or "all", which runs every benchmark module present with its defaults. Modules are
imported only when run, so a missing or broken benchmark never affects the others or other commands.
"""
from __future__ import annotations

import argparse
import importlib
import logging
from pathlib import Path

from ..utils.json_io import write_json
from .bench_ros import ROS_BENCHMARKS

BENCHMARKS = ["head", "model", "runtimes", "compare", "ros", "soak", "tracking", "train", "cameras", "release",
              "contention", "pq"]
NOT_IN_ALL = {"soak": "long run (10,000 frames by default): run `panoptic bench soak` on its own",
              "cameras": "starts 14 node processes (about 5 minutes): run `panoptic bench cameras` on its own",
              "release": "compares with a model file of your choice: run `panoptic bench release --baseline FILE`"}
DEFAULT_OUT = "runs/bench"

log = logging.getLogger(__name__)


def load_benchmark(name: str):
    """The module panoptic_ros.bench.<name> (a ROS benchmark: its cli/bench_ros.py entry), or None when it does not
    exist (yet)."""
    if name in ROS_BENCHMARKS:
        return ROS_BENCHMARKS[name]
    module_name = f"panoptic_ros.bench.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None
        raise


def benchmark_parser(name: str, module) -> argparse.ArgumentParser:
    """The option parser of one benchmark: its own options plus --out (unless it defines one)."""
    parser = argparse.ArgumentParser(prog=f"panoptic bench {name}", description=(module.__doc__ or "").strip(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    module.add_arguments(parser)
    if not any(action.dest == "out" for action in parser._actions):
        parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    return parser


def add_parser(subparsers, name: str) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name, help="benchmark the head, the model or the ROS node (JSON + plot)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="options after WHAT go to that benchmark: `panoptic bench head --help` lists them")
    parser.add_argument("what", choices=BENCHMARKS + ["all"], help="which benchmark")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="options of the benchmark")
    return parser


def _run_one(name: str, argv: list[str]) -> dict:
    module = load_benchmark(name)
    if module is None:
        raise ValueError(f"benchmark {name!r} is not available (no module panoptic_ros.bench.{name})")
    args = benchmark_parser(name, module).parse_args(argv)
    result = module.run(args)
    if isinstance(result, dict) and result.get("json"):
        log.info("bench %s: wrote %s", name, result["json"])
    return result


def run(args) -> int:
    if args.what != "all":
        _run_one(args.what, args.options)
        return 0
    all_parser = argparse.ArgumentParser(prog="panoptic bench all", description="every available benchmark, defaults")
    all_parser.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    out = all_parser.parse_args(args.options).out
    summary, failed = {}, []
    for name in BENCHMARKS:
        if name in NOT_IN_ALL:
            summary[name] = {"skipped": NOT_IN_ALL[name]}
            continue
        if load_benchmark(name) is None:
            summary[name] = {"skipped": "not available"}
            continue
        try:
            result = _run_one(name, ["--out", out])
            summary[name] = {"json": result.get("json") if isinstance(result, dict) else None}
        except Exception as exc:  # one failing benchmark must not hide the others' results
            log.error("bench %s failed: %s", name, exc)
            summary[name] = {"error": str(exc)}
            failed.append(name)
    Path(out).mkdir(parents=True, exist_ok=True)
    write_json(Path(out) / "summary.json", summary)
    log.info("bench all: wrote %s", Path(out) / "summary.json")
    return 1 if failed else 0
