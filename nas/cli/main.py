"""Entry point of the `nas` console script.

Sub-commands live in `nas/cli/cmd_<name>.py`; each module defines
`register(subparsers: argparse._SubParsersAction) -> None` and sets `func` on its parsers
(`parser.set_defaults(func=run)`, where `run(args) -> int | None`). Modules are discovered, so
adding a command never edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import nas.cli as cli_pkg
from nas.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nas",
        description="Latency-aware architecture search for real-time semantic segmentation.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{cli_pkg.__name__}.{info.name}")
            module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except UserError as err:
        print(f"nas: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nas: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
