"""``krapition node``: a full node without a window (the app's code path, minus the UI).

Logs are JSON lines (stderr and ``<data-dir>/logs/krapition.log``); once the node runs, one JSON line
``{"event": "ready", ...}`` goes to stdout with its node id, authority and API port. SIGTERM and
SIGINT stop it cleanly: SystemStop is written and pushed, peers are told goodbye, the store closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .node import NodeConfig

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default="krapition", help="name shown to peers")
    parser.add_argument("--interface", default="127.0.0.1",
                        help="address to listen and announce on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="node port (default: a free one)")
    parser.add_argument("--api-port", type=int, default=None,
                        help="REST API port on 127.0.0.1 (0: a free one; default: no API)")
    parser.add_argument("--data-dir", type=Path, required=True, help="key, database, API token, logs")
    parser.add_argument("--passphrase-file", type=Path, help="file holding the session passphrase")
    parser.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                        help="dial this peer at start (repeatable; where multicast does not pass)")
    parser.add_argument("--no-discovery", action="store_true", help="do not use mDNS discovery")
    parser.add_argument("--read-only", action="store_true", help="refuse change requests from other nodes")
    parser.add_argument("--no-share-diagnostics", action="store_true",
                        help="refuse peers that ask for this node's logs and metrics "
                             "(diagnostics --all-peers)")
    parser.add_argument("--max-events", type=int, default=10_000, help="events kept per chain")


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    from .ledger import RetentionPolicy
    from .node import NodeConfig

    passphrase = None
    if args.passphrase_file is not None:
        passphrase = args.passphrase_file.read_text(encoding="utf-8").strip() or None
    return NodeConfig(data_dir=args.data_dir, name=args.name, interface=args.interface, port=args.port,
                      api_port=args.api_port, passphrase=passphrase, discover=not args.no_discovery,
                      peers=tuple(args.peer), read_only=args.read_only,
                      share_diagnostics=not getattr(args, "no_share_diagnostics", False),
                      retention=RetentionPolicy(max_events=args.max_events))


async def serve(config: NodeConfig) -> int:
    from .node import Node

    node = Node(config)
    await node.start_async()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - Windows
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    print(json.dumps({"event": "ready", "node_id": node.node_id, "authority": node.authority,
                      "port": node.port, "api_port": node.api_port, "public_key": node.public_key.hex()}),
          flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping on a signal")
        await node.stop_async("signal")
    print(json.dumps({"event": "stopped", "node_id": node.node_id}), flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    from ..logs import configure_logging

    args.data_dir.mkdir(parents=True, exist_ok=True)
    configure_logging(args.data_dir / "logs", getattr(args, "log_level", "INFO"))
    try:
        return asyncio.run(serve(config_from_args(args)))
    except KeyboardInterrupt:  # pragma: no cover - a second Ctrl+C
        return 130
    except Exception as exc:
        log.exception("the node failed")
        print(json.dumps({"event": "failed", "error": f"{type(exc).__name__}: {exc}"}), file=sys.stderr)
        return 1


def run_diagnostics(args: argparse.Namespace) -> int:
    from .diagnostics import DEFAULT_PEER_TIMEOUT_S, fetch, read_manifest

    all_peers = bool(getattr(args, "all_peers", False))
    peer_timeout = float(getattr(args, "peer_timeout", None) or DEFAULT_PEER_TIMEOUT_S)
    try:
        path = fetch(args.data_dir, args.out, api_port=args.api_port, all_peers=all_peers,
                     peer_timeout=peer_timeout)
    except (OSError, ValueError) as exc:
        print(f"could not get diagnostics from the node on {args.data_dir}: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, object] = {"written": str(path)}
    if all_peers:
        try:
            manifest = read_manifest(path) or {}
        except (OSError, ValueError) as exc:  # the node wrote it; a broken zip is worth saying
            print(f"the zip from the node has no readable manifest: {exc}", file=sys.stderr)
            return 1
        peers = manifest.get("peers", [])
        summary["peers"] = sum(1 for p in peers if p.get("status") == "ok")
        summary["missing"] = [{"node_id": p.get("node_id"), "name": p.get("name"), "reason": p.get("reason")}
                              for p in peers if p.get("status") != "ok"]
        for p in summary["missing"]:  # type: ignore[attr-defined]
            print(f"peer {p['name'] or p['node_id']} is missing: {p['reason']}", file=sys.stderr)
    print(json.dumps(summary))
    return 0
