"""Helpers of the transport and discovery tests (issue 7): paired protocol connections, hellos."""

from __future__ import annotations

import time

from krapition_app.model.messages import Connect, Heartbeat, Message
from krapition_app.p2p.identity import Identity
from krapition_app.p2p.protocol import Connection, ConnectionConfig, HandshakeComplete, Role
from krapition_app.p2p.protocol.handshake import PROTOCOL_VERSION
from krapition_app.p2p.testing import seeded_identity

NOW = 1_700_000_000_000_000_000


def hello(identity: Identity, mid: str = "hello") -> Message:
    return Message(id=mid, data=Connect(protocol_version=PROTOCOL_VERSION, node_id=identity.node_id, name="n",
                                        authority="n.local:9000", public_key=identity.public_key),
                   timestamp_ns=NOW, source=identity.node_id, destination="*")


def beat(identity: Identity, seq: int) -> Message:
    return Message(id=f"hb-{seq}", data=Heartbeat(seq=seq), timestamp_ns=NOW, source=identity.node_id,
                   destination="*")


def pair(config: ConnectionConfig | None = None, responder_config: ConnectionConfig | None = None,
         now: int = NOW) -> tuple[Connection, Connection, Identity, Identity]:
    """An initiator and a responder, handshaken and past their Connect messages."""
    a, b = seeded_identity("net-a"), seeded_identity("net-b")
    ci = Connection(Role.INITIATOR, a, config)
    cr = Connection(Role.RESPONDER, b, responder_config or config)
    cr.receive_data(ci.initiate(now), now)
    events = ci.receive_data(cr.data_to_send(), now)
    assert isinstance(events[0], HandshakeComplete)
    first = ci.data_to_send() + ci.send(hello(a), now)
    cr.receive_data(first, now)
    ci.receive_data(cr.send(hello(b), now), now)
    assert ci.peer_hello is not None and cr.peer_hello is not None
    return ci, cr, a, b


def wall_ns() -> int:
    return time.time_ns()


class PeerProcess:
    """A peer running ``net_peer_proc.py`` in its own process; killed (by its pid) at the end."""

    def __init__(self, *args: str, prefix: tuple[str, ...] = (), lifetime: float = 30.0) -> None:
        import subprocess
        import sys
        from pathlib import Path

        script = Path(__file__).with_name("net_peer_proc.py")
        self.lifetime = lifetime
        self.proc = subprocess.Popen(
            [*prefix, sys.executable, str(script), *args, "--lifetime", str(lifetime)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.lines: list[dict] = []

    def wait_for(self, event: str, timeout: float) -> dict | None:
        """The first ``event`` line within ``timeout`` seconds (None if none came)."""
        import json
        import select

        for line in self.lines:
            if line.get("event") == event:
                return line
        deadline = time.monotonic() + timeout
        stdout = self.proc.stdout
        assert stdout is not None
        while time.monotonic() < deadline:
            ready, _, _ = select.select([stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            text = stdout.readline()
            if not text:
                break
            try:
                line = json.loads(text)
            except ValueError:
                continue
            self.lines.append(line)
            if line.get("event") == event:
                return line
        return None

    def stop(self) -> str:
        import signal
        import subprocess

        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGCONT)
                self.proc.terminate()
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        try:
            _, err = self.proc.communicate(timeout=5)
        except (subprocess.TimeoutExpired, ValueError):
            err = ""
        return err or ""
