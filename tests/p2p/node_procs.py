"""``krapition node`` subprocesses on 127.0.0.1 for the separate-process tests (killed by their pid)."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    def __init__(self, name: str, data_dir: Path, port: int, peers: list[int] = (), *,  # type: ignore[assignment]
                 ready_timeout: float = 30.0) -> None:
        self.name, self.data_dir, self.port, self.peers = name, data_dir, port, list(peers)
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.info: dict[str, Any] = {}
        self.start()

    def start(self) -> None:
        args = [sys.executable, "-m", "krapition_app", "--log-level", "WARNING", "node", "--name", self.name,
                "--interface", "127.0.0.1", "--port", str(self.port), "--api-port", "0",
                "--data-dir", str(self.data_dir), "--no-discovery"]
        for port in self.peers:
            args += ["--peer", f"127.0.0.1:{port}"]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     bufsize=1, env={**os.environ})
        self.info = self._read_line("ready")

    def _read_line(self, event: str) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if not line:
                    break
                with contextlib.suppress(ValueError):
                    data = json.loads(line)
                    if data.get("event") == event:
                        return data  # type: ignore[no-any-return]
        self.kill()
        raise RuntimeError(f"node {self.name} did not say {event!r} in time")

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.info['api_port']}"

    @property
    def authority(self) -> str:
        return str(self.info["authority"])

    def uri(self, name: str) -> str:
        return f"krapition://{self.authority}/physics/objects/{name}"

    def token(self) -> str:
        return (self.data_dir / "api-token").read_text().strip()

    def request(self, method: str, path: str, body: Any = None, *, auth: bool = False,
                timeout: float = 10.0) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def put(self, uri: str, body: dict[str, Any]) -> int:
        return self.request("PUT", "/v1/objects/" + quote(uri, safe=""), body, auth=True)[0]

    def get(self, uri: str) -> tuple[int, Any]:
        return self.request("GET", "/v1/objects/" + quote(uri, safe=""))

    def uris(self) -> list[str]:
        return list(self.request("GET", "/v1/objects")[1]["uris"])

    def heads(self) -> dict[str, int]:
        return {h["author"]: h["next_seq"] for h in self.request("GET", "/v1/heads")[1]["heads"]}

    def rejected(self) -> dict[str, int]:
        return dict(self.request("GET", "/v1/heads")[1]["rejected"])

    def terminate(self, timeout: float = 15.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # SIGKILL to our own child, by its pid
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(10)


def ball(name: str, x: float = 0.0) -> dict[str, Any]:
    return {"name": name, "shape": "sphere", "radius": 0.1, "material": "rubber", "position": [x, 0.0, 1.0]}


def poll(predicate, limit: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
            if predicate():
                return True
        time.sleep(step)
    with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
        return bool(predicate())
    return False
