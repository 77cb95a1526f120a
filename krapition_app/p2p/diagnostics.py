"""Diagnostics: one zip of this node's recent logs and metrics (and its peers'), for a bug report.

:func:`collect` runs on the node's loop (``GET /v1/diagnostics``); ``krapition diagnostics OUT.zip
--data-dir DIR`` asks a running node for it through its REST API (the token and port are read from
the data folder). The zip holds ``status.json``, ``peers.json``, ``heads.json``, ``metrics.prom``,
``samples.json`` (the recent one-second samples), ``alerts.json``, ``replication.json``,
``recent_events.json`` and the tail of every log file of the node (``logs/``).

With ``--all-peers`` (``GET /v1/diagnostics?all_peers=1``), :func:`collect_all` also asks every
connected peer for its own bundle over the protocol: a ``DataRequest`` for the peer's
``krapition://<peer authority>/system/nodes/diagnostics``, answered part by part with bytes in
``DataResponse`` (:mod:`.blobs`: parts well under the frame limit, paced per peer, a bundle made at
most once per peer per few seconds). Only authenticated session peers reach that code, a node may
refuse (``NodeConfig.share_diagnostics``), and a bundle is capped (:data:`MAX_PEER_BUNDLE`; the logs
go first). Each peer's files go under ``peers/<name or node id>/``; ``manifest.json`` lists every
peer, and one that did not answer in time (or refused) as ``missing`` with the reason: the zip is
written all the same. Log aggregation without a central server, as the seed asks.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import urllib.request
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlencode

from ..model.messages import DataRequest, Message
from ..model.uri import KrapitionURI
from .auth import authorize
from .blobs import BlobFetchError, BlobServer, fetch_blob
from .peers import PeerInfo

#: bytes of each log file put into the zip (its newest part)
LOG_TAIL = 2 * 1024 * 1024
API_PORT_FILE = "api-port"
DIAGNOSTICS_NAME = "diagnostics"
#: what a peer is sent when it asks for our bundle: the newest part of each log file, and the most
#: the whole bundle may be (beyond it, the logs are left out)
PEER_LOG_TAIL = 512 * 1024
MAX_PEER_BUNDLE = 8 * 1024 * 1024
#: what we take from one peer's bundle when unpacking it: files, and bytes once unpacked
MAX_PEER_FILES = 256
MAX_PEER_UNPACKED = 32 * 1024 * 1024
#: how long the peers get, all together, to send their bundles
DEFAULT_PEER_TIMEOUT_S = 10.0
MANIFEST = "manifest.json"
_DIAGNOSTICS_PATH = f"/system/nodes/{DIAGNOSTICS_NAME}"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def diagnostics_uri(authority: str) -> str:
    """The well-known name of a node's diagnostics bundle (asked of that node only)."""
    return str(KrapitionURI.build(authority, "system", "nodes", DIAGNOSTICS_NAME))


def collect(node: Any, *, log_tail: int = LOG_TAIL, notes: dict[str, Any] | None = None) -> bytes:
    """This node's bundle; ``log_tail`` bytes of each log file (0: none)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("status.json", _json(node.status()))
        zf.writestr("peers.json", _json([asdict(p) for p in node.peers()]))
        zf.writestr("heads.json", _json(node.replicator.head_table()))
        stats = node.replicator.stats
        zf.writestr("replication.json", _json({**asdict(stats), "rejected": dict(stats.rejected),
                                               "refused": dict(node.refused)}))
        zf.writestr("metrics.prom", node.monitor.prometheus_text())
        zf.writestr("samples.json", _json(node.monitor.recent()))
        zf.writestr("alerts.json", _json(node.monitor.recent_alerts()))
        zf.writestr("recent_events.json", _json([
            {"author": e.author.hex(), "seq": e.seq, "type": str(e.type), "uri": e.uri,
             "timestamp_ns": e.timestamp_ns} for e in list(node.recent_events)[-500:]]))
        log_dir = Path(node.data_dir) / "logs"
        if log_tail > 0 and log_dir.is_dir():
            for path in sorted(log_dir.iterdir()):
                if path.is_file():
                    with path.open("rb") as f:
                        size = path.stat().st_size
                        f.seek(max(0, size - log_tail))
                        zf.writestr(f"logs/{path.name}", f.read())
        zf.writestr("collected.json", _json({"time": time.time(), "node_id": node.node_id, **(notes or {})}))
    return buffer.getvalue()


def peer_bundle(node: Any) -> bytes:
    """The bundle we send a peer that asks: shorter log tails, and no logs when over the cap."""
    data = collect(node, log_tail=PEER_LOG_TAIL)
    if len(data) > MAX_PEER_BUNDLE:
        note = f"left out: the bundle was over {MAX_PEER_BUNDLE} bytes"
        data = collect(node, log_tail=0, notes={"logs": note})
    return data


# ---- serving peers --------------------------------------------------------------------------------


class DiagnosticsServer:
    """Answers a peer's DataRequest for our diagnostics bundle (see the module)."""

    def __init__(self, node: Any, blobs: BlobServer) -> None:
        self.node = node
        self.blobs = blobs
        self.served = 0

    def handle(self, peer: PeerInfo, message: Message) -> bool:
        """Serves a request for a diagnostics bundle; False when ``message`` is none."""
        data = message.data
        if not isinstance(data, DataRequest) or not data.pattern.endswith(_DIAGNOSTICS_PATH):
            return False
        transport = self.node.transport
        try:
            uri = KrapitionURI.parse(data.pattern)
        except ValueError as exc:
            transport.nack(message, "invalid", f"bad URI: {exc}")
            return True
        decision = authorize(self.node, uri, "diagnose", session=peer.node_id)
        if not decision:
            # each node answers for itself only: a bundle is never relayed
            transport.nack(message, decision.code, decision.reason)
            self.node.count_refused(decision.code)
            return True

        def produce() -> bytes:
            self.served += 1
            return peer_bundle(self.node)

        # keyed per asker: its parts all come from one bundle, made at most once per keep_s
        self.blobs.serve(peer, message, data, ("diagnostics", peer.node_id), produce,
                         max_size=MAX_PEER_BUNDLE)
        return True


# ---- asking peers ---------------------------------------------------------------------------------


@dataclass
class PeerBundle:
    node_id: str
    name: str
    authority: str
    fingerprint: str
    data: bytes | None = None
    #: why there is no bundle ("timeout: ...", "refused: ...", ...)
    reason: str = ""


async def fetch_peer_bundles(node: Any, *, timeout_s: float = DEFAULT_PEER_TIMEOUT_S) -> list[PeerBundle]:
    """Asks every connected peer for its bundle at once; all of them get ``timeout_s`` together
    (on the transport's clock). A peer that fails comes back with ``data`` None and the reason."""
    transport = node.transport
    deadline = transport.now() + timeout_s

    async def one(peer: PeerInfo) -> PeerBundle:
        out = PeerBundle(peer.node_id, peer.name, peer.authority, peer.fingerprint)
        try:
            out.data = await fetch_blob(transport, peer.node_id, diagnostics_uri(peer.authority),
                                        max_size=MAX_PEER_BUNDLE, timeout_s=timeout_s, deadline=deadline)
        except BlobFetchError as exc:
            out.reason = f"{exc.code}: {exc.reason}"
        except ValueError as exc:  # a peer that told us an authority that is no URI authority
            out.reason = f"invalid: {exc}"
        return out

    peers = list(transport.peers)
    return list(await asyncio.gather(*(one(p) for p in peers)))


def _safe_member(name: str) -> str | None:
    """A peer's zip member name if it is a plain relative path (no "..", no absolute path)."""
    if not name or len(name) > 200 or "\\" in name or not name.isprintable() or name.endswith("/"):
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in path.parts):
        return None
    return str(path)


def _unpack(data: bytes) -> list[tuple[str, bytes]]:
    """The files of a peer's bundle, within :data:`MAX_PEER_FILES` and :data:`MAX_PEER_UNPACKED`
    (read, not trusted from the zip's headers). Raises ValueError with the reason."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise ValueError(f"not a zip: {exc}") from None
    out: list[tuple[str, bytes]] = []
    left = MAX_PEER_UNPACKED
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_PEER_FILES:
            raise ValueError(f"{len(infos)} files, over {MAX_PEER_FILES}")
        for info in infos:
            name = _safe_member(info.filename)
            if name is None:
                raise ValueError(f"a file named {info.filename[:80]!r}")
            try:
                with zf.open(info) as f:
                    content = f.read(left + 1)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                raise ValueError(f"{name} does not unpack: {exc}") from None
            if len(content) > left:
                raise ValueError(f"over {MAX_PEER_UNPACKED} bytes once unpacked")
            left -= len(content)
            out.append((name, content))
    return out


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def peer_folders(bundles: list[PeerBundle]) -> dict[str, str]:
    """node id -> folder under ``peers/``: the peer's name where it is usable and unique, else its
    node id."""
    names = {b.node_id: _UNSAFE.sub("_", b.name).strip("._")[:64] for b in bundles}
    counts: dict[str, int] = {}
    for name in names.values():
        counts[name.lower()] = counts.get(name.lower(), 0) + 1
    node_ids = {b.node_id.lower() for b in bundles}
    out = {}
    for node_id, name in names.items():
        usable = name and counts[name.lower()] == 1 and (name.lower() not in node_ids or name == node_id)
        out[node_id] = name if usable else node_id
    return out


def merge(node: Any, own: bytes, bundles: list[PeerBundle], *, timeout_s: float) -> bytes:
    """Our bundle with every peer's under ``peers/<folder>/`` and ``manifest.json`` saying who is in."""
    buffer = io.BytesIO()
    folders = peer_folders(bundles)
    entries = []
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        with zipfile.ZipFile(io.BytesIO(own)) as mine:
            for info in mine.infolist():
                zf.writestr(info.filename, mine.read(info))
        for bundle in sorted(bundles, key=lambda b: folders[b.node_id]):
            entry: dict[str, Any] = {"node_id": bundle.node_id, "name": bundle.name,
                                     "authority": bundle.authority, "fingerprint": bundle.fingerprint}
            files: list[tuple[str, bytes]] | None = None
            if bundle.data is not None:
                try:
                    files = _unpack(bundle.data)
                except ValueError as exc:
                    bundle.reason = f"invalid bundle: {exc}"
            if files is None:
                entry.update(status="missing", reason=bundle.reason or "no answer")
            else:
                folder = f"peers/{folders[bundle.node_id]}/"
                for name, content in files:
                    zf.writestr(folder + name, content)
                entry.update(status="ok", path=folder, bytes=len(bundle.data or b""), files=len(files))
            entries.append(entry)
        zf.writestr(MANIFEST, _json({
            "node_id": node.node_id, "name": node.config.name, "authority": node.authority,
            "time": time.time(), "all_peers": True, "peer_timeout_s": timeout_s,
            "peers": entries,
            "missing": sum(1 for e in entries if e["status"] == "missing"),
        }))
    return buffer.getvalue()


async def collect_all(node: Any, *, timeout_s: float = DEFAULT_PEER_TIMEOUT_S) -> bytes:
    """Our bundle plus every connected peer's (see the module); runs on the node's loop."""
    bundles = await fetch_peer_bundles(node, timeout_s=timeout_s)
    return merge(node, collect(node), bundles, timeout_s=timeout_s)


# ---- the command line -----------------------------------------------------------------------------


def fetch(data_dir: Path, out: Path, *, api_port: int | None = None, timeout: float = 30.0,
          all_peers: bool = False, peer_timeout: float = DEFAULT_PEER_TIMEOUT_S) -> Path:
    """Asks the node running on ``data_dir`` for its diagnostics zip (with ``all_peers``, its peers'
    too) and writes it to ``out``."""
    from .api import TOKEN_FILE

    data_dir = Path(data_dir)
    token = (data_dir / TOKEN_FILE).read_text(encoding="ascii").strip()
    if api_port is None:
        api_port = int((data_dir / API_PORT_FILE).read_text(encoding="ascii").strip())
    url = f"http://127.0.0.1:{api_port}/v1/diagnostics"
    if all_peers:
        url += "?" + urlencode({"all_peers": "1", "timeout": f"{peer_timeout:g}"})
        timeout = max(timeout, peer_timeout + 30.0)  # the node waits for its peers first
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = response.read()
    out.write_bytes(data)
    return out


def read_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest of a diagnostics zip written with all peers (None without one)."""
    with zipfile.ZipFile(path) as zf:
        if MANIFEST not in zf.namelist():
            return None
        return json.loads(zf.read(MANIFEST))  # type: ignore[no-any-return]
