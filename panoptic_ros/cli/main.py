"""`panoptic` command: one sub-command per module of panoptic_ros.cli.

Each command module defines ``add_parser(subparsers)`` (returns the parser) and ``run(args) -> int``.
Modules are imported only when listed in COMMANDS, and their heavy imports happen inside run().
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# sub-command name -> module under panoptic_ros.cli
COMMANDS = {
    "demo": "demo",
    "synth": "synth",
    "train": "train",
    "eval": "evaluate",
    "pq": "pq",
    "predict": "predict",
    "bench": "bench",
    "bag": "bag",
    "export": "export",
}


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panoptic", description="Single-shot panoptic segmentation tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        try:
            mod = importlib.import_module(f"panoptic_ros.cli.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"panoptic_ros.cli.{module}":
                raise
            continue
        p = mod.add_parser(sub, name)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CLIError, FileNotFoundError, ValueError) as exc:
        # clear one-line message for bad input (missing files, bad values); tracebacks with -v
        if args.verbose:
            raise
        print(f"panoptic {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
