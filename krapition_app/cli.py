"""Command line: ``krapition`` starts the app; subcommands run the other tools.

- ``krapition [--scene FILE] [--screenshot PNG --quit-after S] [--interface ADDR] [--offline]``: the
  desktop app, which joins the LAN session (its node finds the others by zeroconf)
- ``krapition bench NAME ...``: a benchmark that prints JSON (see ``krapition bench --help``)
- ``krapition render-audio SCENE OUT.wav``: what a listener hears of a simulated scene
- ``krapition node --name N --port P --api-port Q --data-dir DIR [--world]``: a headless node (no window;
  with ``--world`` it also simulates the shared world)
- ``krapition diagnostics OUT.zip --data-dir DIR [--all-peers]``: a zip of a running node's recent logs
  and metrics (and its peers')
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


def _vector(text: str) -> tuple[float, float, float]:
    try:
        x, y, z = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not three numbers x,y,z") from None
    if not all(abs(v) < 1e4 for v in (x, y, z)):
        raise argparse.ArgumentTypeError(f"{text!r}: coordinates must be finite, within 10 km")
    return (x, y, z)


def _addresses(text: str) -> list[str]:
    import ipaddress

    out = []
    for part in (p.strip() for p in text.split(",")):
        try:
            out.append(str(ipaddress.ip_address(part)))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r} is not an IP address") from None
    return out


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
        help="quit by itself after this many seconds (the screenshot is taken just before; 3 s before "
             "for runs of 10 s or more)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="least severe level written to the log (default: INFO)",
    )
    session = parser.add_argument_group("LAN session (the app's node)")
    session.add_argument(
        "--interface", dest="interfaces", action="append", type=_addresses, default=[], metavar="ADDR",
        help="address to listen, announce and discover on (repeatable, or a comma list; "
             "default: every interface)")
    session.add_argument("--port", dest="node_port", type=int, default=0, metavar="PORT",
                         help="the node's TCP port (default: the one used last time, else a free one)")
    session.add_argument("--passphrase-file", dest="node_passphrase_file", type=Path, metavar="FILE",
                         help="file holding the session passphrase (only nodes that know it answer)")
    session.add_argument("--offline", action="store_true", help="do not join the LAN session")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    render = commands.add_parser(
        "render-audio", help="simulate a scene and render what a listener hears to a WAV file",
        description="Simulates SCENE for --seconds and writes exactly what a listener at --listener "
                    "facing --look-at hears, bit-identical between runs.")
    render.add_argument("scene", type=Path, help="scene JSON file")
    render.add_argument("out", type=Path, help="WAV file to write (16-bit, 48 kHz)")
    render.add_argument("--seconds", type=_positive_seconds, default=5.0, help="length (default 5)")
    render.add_argument("--listener", type=_vector, default=(0.0, -3.0, 1.6), metavar="X,Y,Z",
                        help="listener position in metres (default 0,-3,1.6)")
    render.add_argument("--look-at", type=_vector, default=(0.0, 0.0, 0.5), metavar="X,Y,Z",
                        help="point the listener faces (default 0,0,0.5)")
    render.add_argument("--mode", choices=["mono", "stereo", "headphones"], default="stereo")
    bench = commands.add_parser("bench", help="run a benchmark and print JSON")
    bench_commands = bench.add_subparsers(dest="benchmark", metavar="NAME", required=True)
    from . import bench as bench_package

    for name, module in sorted(bench_package.available().items()):
        sub = bench_commands.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(sub)
        sub.set_defaults(bench_run=module.run)
    from . import headless_world
    from .p2p import headless

    node = commands.add_parser("node", help="run a headless node (no window)",
                               description="Run a full Krapition node without a window.")
    headless.add_arguments(node)
    headless_world.add_arguments(node)
    diagnostics = commands.add_parser(
        "diagnostics", help="write a zip of a running node's logs and metrics",
        description="Asks the node running on --data-dir (through its REST API) for a zip of its recent logs "
                    "and metrics; with --all-peers the node also asks every connected peer for theirs over "
                    "the protocol and puts each under peers/<name or node id>/ (manifest.json lists who is "
                    "missing and why).")
    diagnostics.add_argument("out", type=Path, metavar="OUT.zip")
    diagnostics.add_argument("--data-dir", type=Path, required=True, help="the running node's data folder")
    diagnostics.add_argument("--api-port", type=int, help="its REST API port (default: from the data folder)")
    diagnostics.add_argument("--all-peers", action="store_true",
                             help="also gather every connected peer's logs and metrics")
    diagnostics.add_argument("--peer-timeout", type=_positive_seconds, default=10.0, metavar="SECONDS",
                             help="how long the peers get, all together, to answer (default 10)")
    return parser


def _prepare_environment(paths: AppPaths) -> None:
    # numba reads NUMBA_CACHE_DIR when it is first imported: set it before anything imports numba,
    # so compiled kernels survive between runs (and a moved bundle) in the user cache folder.
    os.environ.setdefault("NUMBA_CACHE_DIR", str(paths.cache / "numba"))


def main(argv: Sequence[str] | None = None) -> int:
    paths = AppPaths.default()
    _prepare_environment(paths)  # before build_parser(): it imports the benchmarks and the node
    args = build_parser().parse_args(argv)
    from .logs import configure_logging

    configure_logging(paths.logs, args.log_level)
    if args.command == "render-audio":
        return _render_audio(args)
    if args.command == "bench":
        result = args.bench_run(args)
        print(json.dumps(result, indent=2, sort_keys=False))
        return 0
    if args.command == "node":
        if args.world:
            from .headless_world import run as run_world_node

            return run_world_node(args)
        from .p2p.headless import run as run_node

        return run_node(args)
    if args.command == "diagnostics":
        from .p2p.headless import run_diagnostics

        return run_diagnostics(args)
    from .app import run_app

    return run_app(args, paths)


def _render_audio(args: argparse.Namespace) -> int:
    from .engine.acoustics import ListenerPose, render_scene_audio
    from .engine.sounding import simulated_steps
    from .engine.world import World
    from .model.errors import KrapitionError
    from .model.scene import load_scene

    try:
        scene = load_scene(args.scene)
        forward = tuple(b - a for a, b in zip(args.listener, args.look_at, strict=True))
        listener = ListenerPose(position=args.listener, forward=forward)
        world = World.from_scene(scene)
        result = render_scene_audio(simulated_steps(world), args.seconds, args.out, listener=listener,
                                    output_mode=args.mode, step_dt=world.sim.settings.dt)
    except (KrapitionError, OSError) as exc:
        print(f"krapition render-audio: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"path": str(result.path), "seconds": args.seconds, "sample_rate": result.sample_rate,
                      "peak": round(result.peak, 4), "steps": result.steps}))
    return 0


def gui_main() -> int:
    """Entry point of the ``krapition-gui`` launcher script (no console window on Windows)."""
    return main(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
