"""``diagnostics --all-peers``: every connected peer's bundle over the protocol, in parts under the
frame limit, paced, capped; a peer that refuses or does not answer in time is listed as missing."""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path
from types import SimpleNamespace

import aiohttp
import msgspec
import pytest
from p2p.node_helpers import memory_config, run, start_mesh, stop_all

from krapition_app.model.messages import DataRequest, DataResponse, Message
from krapition_app.p2p.blobs import BLOB_CHUNK, BlobFetchError, BlobLimits, fetch_blob
from krapition_app.p2p.diagnostics import (
    MANIFEST,
    PEER_LOG_TAIL,
    PeerBundle,
    collect_all,
    diagnostics_uri,
    fetch_peer_bundles,
    merge,
    peer_folders,
)
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.protocol.connection import ConnectionConfig
from krapition_app.p2p.transport import TransportConfig


def manifest_of(data: bytes) -> dict:
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read(MANIFEST))


def by_name(manifest: dict) -> dict[str, dict]:
    return {p["name"]: p for p in manifest["peers"]}


def test_all_peers_gathers_each_bundle_and_lists_the_missing(tmp_path: Path) -> None:
    async def main() -> None:
        # frames of at most 128 KiB: every part of a bundle fits one, whatever the bundle's size
        small_frames = TransportConfig(connection=ConnectionConfig(max_frame_size=128 * 1024))
        _, nodes = await start_mesh(tmp_path, ["a", "b", "c", "silent"], transport=small_frames)
        a, b, c, silent = nodes
        try:
            assert b.blobs.chunk <= 64 * 1024  # type: ignore[union-attr]
            # B's log is incompressible and longer than a part: its bundle comes in several parts
            log = os.urandom(PEER_LOG_TAIL + 100_000)
            (b.data_dir / "logs").mkdir(exist_ok=True)
            (b.data_dir / "logs" / "krapition.log").write_bytes(log)
            c.share_diagnostics = False  # refuses: listed with the reason
            swallowed: list[str] = []

            def swallow(peer: object, message: object) -> bool:  # never answers: a timeout
                data = getattr(message, "data", None)
                if isinstance(data, DataRequest) and data.pattern.endswith("/diagnostics"):
                    swallowed.append(data.pattern)
                    return True
                return False

            silent.diagnostics.handle = swallow  # type: ignore[union-attr,method-assign]
            data = await collect_all(a, timeout_s=1.0)
            zf = zipfile.ZipFile(io.BytesIO(data))
            names = set(zf.namelist())
            assert {"status.json", "metrics.prom", MANIFEST} <= names  # our own bundle is all there
            assert json.loads(zf.read("peers/b/status.json"))["node_id"] == b.node_id
            assert {"peers/b/metrics.prom", "peers/b/replication.json"} <= names
            assert zf.read("peers/b/logs/krapition.log") == log[-PEER_LOG_TAIL:]
            assert not any(n.startswith(("peers/c/", "peers/silent/")) for n in names)
            assert b.blobs.served_parts >= PEER_LOG_TAIL // b.blobs.chunk  # type: ignore[union-attr]
            assert len(log) > BLOB_CHUNK
            peers = by_name(manifest_of(data))
            assert peers["b"]["status"] == "ok" and peers["b"]["path"] == "peers/b/"
            assert peers["c"]["status"] == "missing" and peers["c"]["reason"].startswith("refused")
            assert peers["silent"]["status"] == "missing" and peers["silent"]["reason"].startswith("timeout")
            assert swallowed and manifest_of(data)["missing"] == 2
            assert c.refused["refused"] == 1
        finally:
            await stop_all(nodes)

    run(main())


def test_bundle_requests_are_paced_and_answered_by_their_node_only(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b", "c"])
        a, b, c = nodes
        try:
            b.blobs.limits = BlobLimits(requests_per_s=1e-6, requests_burst=1)  # type: ignore[union-attr]
            first = await fetch_peer_bundles(a, timeout_s=5.0)
            assert {p.name: p.data is not None for p in first} == {"b": True, "c": True}
            second = {p.name: p for p in await fetch_peer_bundles(a, timeout_s=5.0)}
            assert second["b"].data is None and second["b"].reason.startswith("rate-limited")
            assert second["c"].data is not None
            # B never answers for C (no relay of someone else's logs)
            with pytest.raises(BlobFetchError) as caught:
                await fetch_blob(a.transport, c.node_id, diagnostics_uri(b.authority),  # type: ignore[arg-type]
                                 max_size=1 << 20)
            assert caught.value.code == "not-owner"
        finally:
            await stop_all(nodes)

    run(main())


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_hostile_bundles_are_listed_not_unpacked() -> None:
    node = SimpleNamespace(node_id="a" * 32, config=SimpleNamespace(name="a"), authority="10.0.0.1:9000")
    own = zip_of({"status.json": b"{}"})
    bundles = [
        PeerBundle("1" * 32, "good", "10.0.0.2:9000", "f1",
                   zip_of({"status.json": b"{}", "logs/x.log": b"l"})),
        PeerBundle("2" * 32, "evil", "10.0.0.3:9000", "f2", zip_of({"../../etc/passwd": b"x"})),
        PeerBundle("3" * 32, "junk", "10.0.0.4:9000", "f3", b"not a zip"),
        PeerBundle("4" * 32, "bomb", "10.0.0.5:9000", "f4", zip_of({f"f{i}": b"" for i in range(300)})),
    ]
    data = merge(node, own, bundles, timeout_s=1.0)
    names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    assert names == {"status.json", MANIFEST, "peers/good/status.json", "peers/good/logs/x.log"}
    peers = by_name(manifest_of(data))
    assert peers["good"]["status"] == "ok"
    for name in ("evil", "junk", "bomb"):
        assert peers[name]["status"] == "missing" and peers[name]["reason"].startswith("invalid bundle")


def test_peer_folders_are_safe_and_unique() -> None:
    def bundle(node_id: str, name: str) -> PeerBundle:
        return PeerBundle(node_id, name, "h:1", "f")

    folders = peer_folders([bundle("n1", "twin"), bundle("n2", "twin"), bundle("n3", "../x y"),
                            bundle("n4", ".."), bundle("n5", "n1"), bundle("n6", "solo")])
    assert folders == {"n1": "n1", "n2": "n2", "n3": "x_y", "n4": "n4", "n5": "n5", "n6": "solo"}


def test_api_diagnostics_with_all_peers(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, api_port=0))
        b = Node(memory_config(net, tmp_path, "b", 1))
        await a.start_async()
        await b.start_async()
        try:
            await a.connect(b.config.interface, b.port)
            base = f"http://127.0.0.1:{a.api_port}/v1/diagnostics"
            auth = {"Authorization": f"Bearer {(a.data_dir / 'api-token').read_text().strip()}"}
            async with aiohttp.ClientSession() as http:
                async with http.get(base + "?all_peers=1&timeout=5", headers=auth) as r:
                    assert r.status == 200 and r.content_type == "application/zip"
                    data = await r.read()
                async with http.get(base + "?all_peers=1") as r:
                    assert r.status == 401
                for bad in ("all_peers=maybe", "all_peers=1&timeout=0", "all_peers=1&timeout=x",
                            "all_peers=1&timeout=1000"):
                    async with http.get(f"{base}?{bad}", headers=auth) as r:
                        assert r.status == 400, bad
                async with http.get(base, headers=auth) as r:  # without all_peers: as before
                    assert MANIFEST not in zipfile.ZipFile(io.BytesIO(await r.read())).namelist()
            assert by_name(manifest_of(data))["b"]["status"] == "ok"
            assert "peers/b/status.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
        finally:
            await stop_all([a, b])

    run(main())


def test_a_bundle_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    async def main() -> None:
        _, nodes = await start_mesh(tmp_path, ["a", "b"])
        a, b = nodes
        try:
            reply = b.transport.reply  # type: ignore[union-attr]

            def corrupt(to: Message, data: object) -> str:  # the bytes change on the way
                if isinstance(data, DataResponse) and data.blob:
                    data = msgspec.structs.replace(data, blob=bytes(len(data.blob)))
                return reply(to, data)  # type: ignore[arg-type]

            b.transport.reply = corrupt  # type: ignore[union-attr,method-assign]
            (bundle,) = await fetch_peer_bundles(a, timeout_s=5.0)
            assert bundle.data is None and bundle.reason.startswith("bad-response"), bundle.reason
        finally:
            await stop_all(nodes)

    run(main())
