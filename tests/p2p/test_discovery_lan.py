"""LAN discovery (issue 7): two processes on 127.0.0.1, two network namespaces on a bridge, and
what mDNS may say. Zeroconf only ever runs on loopback or inside namespaces the test creates."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from p2p.net_helpers import PeerProcess
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from krapition_app.p2p.discovery import SERVICE_TYPE, compatibility_hash, parse_service
from krapition_app.p2p.lan import LanNode, LanSettings
from krapition_app.p2p.protocol.handshake import PROTOCOL_VERSION
from krapition_app.p2p.testing import seeded_identity
from krapition_app.p2p.transport import TransportConfig


def _info(name: str, **props: str) -> AsyncServiceInfo:
    return AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}", addresses=[socket.inet_aton("127.0.0.1")],
                            port=9999, properties=props, server=f"{name}.local.")


def test_parse_service_validates_what_mdns_says() -> None:
    ident = seeded_identity("disc-a")
    good = {"pv": str(PROTOCOL_VERSION), "id": ident.node_id, "fp": ident.fingerprint,
            "build": compatibility_hash(), "auth": "a.local:9000"}
    peer = parse_service(_info("a", **good), "a")
    assert peer is not None and peer.compatible and peer.addresses == ("127.0.0.1",) and peer.port == 9999
    old = parse_service(_info("b", **{**good, "pv": "0"}), "b")
    assert old is not None and not old.compatible and "protocol version" in old.reason
    other = parse_service(_info("c", **{**good, "build": "ffffffffffff"}), "c")
    assert other is not None and not other.compatible and "build" in other.reason
    assert parse_service(_info("d", **{**good, "id": "../../etc"}), "d") is None
    assert parse_service(_info("e", **{**good, "fp": "x" * 250}), "e") is None
    assert parse_service(_info("f", pv="1"), "f") is None


def test_two_processes_on_loopback_discover_each_other() -> None:
    tag = uuid.uuid4().hex[:8]
    a = PeerProcess("--seed", f"disc-lo-a-{tag}", "--discover", "127.0.0.1", lifetime=25)
    b = PeerProcess("--seed", f"disc-lo-b-{tag}", "--discover", "127.0.0.1", lifetime=25)
    try:
        ready_a, ready_b = a.wait_for("ready", 15), b.wait_for("ready", 15)
        assert ready_a and ready_b, (a.stop(), b.stop())
        ids = {ready_a["node_id"], ready_b["node_id"]}
        seen_by_a, seen_by_b = set(), set()
        for _ in range(20):
            line = a.wait_for("joined", 0.5)
            if line:
                seen_by_a.add(line["node_id"])
                a.lines.remove(line)
            line = b.wait_for("joined", 0.5)
            if line:
                seen_by_b.add(line["node_id"])
                b.lines.remove(line)
            if ready_b["node_id"] in seen_by_a and ready_a["node_id"] in seen_by_b:
                break
        assert ready_b["node_id"] in seen_by_a and ready_a["node_id"] in seen_by_b, (a.stop(), b.stop())
        assert ids
    finally:
        a.stop()
        b.stop()


def test_incompatible_node_is_listed_not_joined() -> None:
    async def main() -> None:
        stranger = seeded_identity(f"disc-old-{uuid.uuid4().hex[:6]}")
        zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
        info = _info(f"old-{stranger.node_id[:12]}", pv="0", id=stranger.node_id, fp=stranger.fingerprint,
                     build="000000000000", auth="old.local:9000")
        await zc.async_register_service(info, cooperating_responders=True)
        node = LanNode(seeded_identity("disc-me"), TransportConfig(name="me"),
                       LanSettings(discovery_interfaces=("127.0.0.1",)))
        await node.start()
        try:
            for _ in range(100):
                if stranger.node_id in node.incompatible:
                    break
                await asyncio.sleep(0.05)
            assert stranger.node_id in node.incompatible
            assert "protocol version" in node.incompatible[stranger.node_id].reason
            assert stranger.node_id not in node.peers
        finally:
            await node.close()
            await zc.async_unregister_service(info)
            await zc.async_close()

    asyncio.run(asyncio.wait_for(main(), 30))


# ---- two network namespaces joined by a bridge ------------------------------------------------


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def bridged_namespaces() -> Iterator[list[tuple[str, str]]]:
    """Three namespaces: a bridge, and two nodes on it (10.77.x.1 and .2). Removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    tag = f"{os.getpid() % 10000}{uuid.uuid4().hex[:4]}"
    subnet = 64 + os.getpid() % 64
    bridge = f"krp7br{tag}"
    nodes = [(f"krp7a{tag}", f"10.77.{subnet}.1"), (f"krp7b{tag}", f"10.77.{subnet}.2")]
    created: list[str] = []
    try:
        for name in [bridge] + [n for n, _ in nodes]:
            _ip("netns", "add", name)
            created.append(name)
        _ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        _ip("-n", bridge, "link", "set", "br0", "up")
        for i, (name, address) in enumerate(nodes):
            _ip("-n", bridge, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("-n", bridge, "link", "set", f"v{i}", "master", "br0")
            _ip("-n", bridge, "link", "set", f"v{i}", "up")
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        stderr = getattr(exc, "stderr", b"") or b""
        why = stderr.decode(errors="replace").strip() or str(exc)
        pytest.skip(f"cannot build the test namespaces here: {why}")
    try:
        yield nodes
    finally:
        for name in created:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


def test_two_namespaces_on_a_bridge_discover_each_other(bridged_namespaces: list[tuple[str, str]]) -> None:
    procs = [PeerProcess("--seed", f"disc-ns-{name}", "--listen", address, "--discover", address,
                         prefix=("ip", "netns", "exec", name), lifetime=25)
             for name, address in bridged_namespaces]
    try:
        ready = [p.wait_for("ready", 15) for p in procs]
        assert all(ready), [p.stop() for p in procs]
        for me, other in ((0, 1), (1, 0)):
            line = procs[me].wait_for("joined", 15)
            assert line is not None and line["node_id"] == ready[other]["node_id"], procs[me].stop()
    finally:
        for p in procs:
            p.stop()
