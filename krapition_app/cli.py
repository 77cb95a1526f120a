"""Command line: ``krapition`` starts the app; subcommands run the other tools.

- ``krapition [--scene FILE] [--screenshot PNG --quit-after S]``: the desktop app
- ``krapition bench NAME ...``: a benchmark that prints JSON (see ``krapition bench --help``)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .paths import AppPaths


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="krapition",
        description="Krapition: a LAN-shared 3D physics sandbox with physically synthesised sound.",
    )
    parser.add_argument("--version", action="version", version=f"krapition {__version__}")
    parser.add_argument("--scene", type=Path, help="scene JSON file to open (default: the playground)")
    parser.add_argument(
        "--screenshot", type=Path, metavar="PNG",
        help="write a PNG of the window once it has rendered (use with --quit-after)",
    )
    parser.add_argument(
        "--quit-after", type=_positive_seconds, metavar="SECONDS",
        help="quit by itself after this many seconds (the screenshot is taken just before)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="least severe level written to the log (default: INFO)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    bench = commands.add_parser("bench", help="run a benchmark and print JSON")
    bench_commands = bench.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    from . import bench as bench_package

    for name, module in sorted(bench_package.available().items()):
        sub = bench_commands.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(sub)
        sub.set_defaults(bench_run=module.run)
    return parser


def _prepare_environment(paths: AppPaths) -> None:
    # numba reads NUMBA_CACHE_DIR when it is first imported: set it before anything imports numba,
    # so compiled kernels survive between runs (and a moved bundle) in the user cache folder.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.cache / "numba"))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths = AppPaths.default()
    _prepare_environment(paths)
    from .logs import configure_logging

    configure_logging(paths.logs, args.log_level)
    if args.command == "bench":
        result = args.bench_run(args)
        print(json.dumps(result, indent=2, sort_keys=False))
        return 0
    from .app import run_app

    return run_app(args, paths)


def gui_main() -> int:
    """Entry point of the ``krapition-gui`` launcher script (no console window on Windows)."""
    return main(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
