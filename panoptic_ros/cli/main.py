"""`panoptic` command: one sub-command per module of panoptic_ros.cli, named as the command (cli/eval.py is
`panoptic eval`).

The one subcommand protocol: a command module defines ``add_parser(subparsers, name) -> ArgumentParser`` and
``run(args) -> int`` (the exit code), keeps its heavy imports inside run(), and converts the Namespace into
library arguments there (a PanopticConfig via cli/options.py, plain values): library functions never take an
argparse Namespace. Commands that take settings use the one convention of cli/options.py (--config FILE,
section.name=value overrides, a few short flags).

Command groups (bench, bag) dispatch to leaf modules outside cli/ (panoptic_ros.bench.<what>,
panoptic_ros.ros.bag.<cmd>) that define ``add_arguments(parser)`` + ``run(args)``: they differ because
``bench all`` builds a standalone parser per benchmark to run each with its defaults, which needs a function that
fills a given parser rather than one that creates a sub-parser.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import re
import sys

# sub-commands; each is the module panoptic_ros.cli.<name> (named as the command, so nothing maps one to the other)
COMMANDS = ("demo", "synth", "train", "eval", "pq", "predict", "bench", "bag", "export", "convert", "prepare")


class CLIError(Exception):
    """A user-facing error: printed as one line, exit code 2."""


class CommandParser(argparse.ArgumentParser):
    """A (sub-)command's parser that reports arguments it does not know itself, with its own usage and the closest
    option ("did you mean --policy?"); argparse's default hands them up to the top-level parser, whose usage says
    nothing about the sub-command. Sub-parsers of a CommandParser are CommandParsers (argparse's parser_class)."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras and self.prog != "panoptic":
            self.error(unrecognized_message(self, extras))
        return namespace, extras

    def error(self, message: str):
        """argparse's error, plus the closest command for a mistyped one ("panoptic evl" -> did you mean eval?)."""
        bad = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if bad:
            choices = re.findall(r"'([^']*)'", bad.group(2)) or [c.strip() for c in bad.group(2).split(",")]
            close = difflib.get_close_matches(bad.group(1), choices, n=1, cutoff=0.6)
            if close:
                message += f" (did you mean {close[0]}?)"
        super().error(message)


def unrecognized_message(parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """'unrecognized arguments: --polcy all (did you mean --policy?)': the closest option of each unknown flag."""
    options = [s for action in parser._actions for s in action.option_strings if s.startswith("--")]
    hints = []
    for arg in extras:
        if arg.startswith("-"):
            close = difflib.get_close_matches(arg.split("=", 1)[0], options, n=1, cutoff=0.6)
            hints += [f"{arg.split('=', 1)[0]} -> {close[0]}"] if close else []
    text = f"unrecognized arguments: {' '.join(extras)}"
    if len(hints) == 1:
        return text + f" (did you mean {hints[0].split(' -> ')[1]}?)"
    return text + (f" (did you mean: {', '.join(hints)}?)" if hints else f" (see {parser.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="panoptic", description="Single-shot panoptic segmentation tools")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        mod = importlib.import_module(f"panoptic_ros.cli.{name}")
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
    except (CLIError, FileNotFoundError, FileExistsError, ValueError) as exc:
        # clear one-line message for bad input (missing files, bad values); tracebacks with -v
        if args.verbose:
            raise
        print(f"panoptic {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
