"""`python -m panoptic_ros.cli.node_params --write | --check PATH | --print`: the node's parameters file
(params/panoptic.yaml), generated from the config schema (panoptic_ros.ros.params.params_file_text); --check is
what keeps the committed file in sync.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panoptic_ros.ros import params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m panoptic_ros.cli.node_params",
                                     description="write or check the node parameters file (params/panoptic.yaml)")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", metavar="PATH", help="write the file")
    group.add_argument("--check", metavar="PATH", help="exit 1 if the file differs from the schema defaults")
    group.add_argument("--print", action="store_true", help="print the file to stdout")
    args = parser.parse_args(argv)
    text = params.params_file_text()
    if args.print:
        sys.stdout.write(text)
    elif args.write:
        Path(args.write).write_text(text)
        print(f"wrote {args.write}")
    else:
        path = Path(args.check)
        if not path.is_file() or path.read_text() != text:
            print(f"{path} differs from the schema; regenerate with --write {path}", file=sys.stderr)
            return 1
        print(f"{path} matches the schema")
    return 0


if __name__ == "__main__":
    sys.exit(main())
