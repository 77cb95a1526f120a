"""An in-memory network for tests: many transports in one process, no sockets (as Trio's
``testing._memory_streams``).

:class:`MemoryNetwork` has the two calls the transport needs (``start_server``, ``open_connection``);
each connection is a pair of bounded pipes, so a peer that does not read makes the writer's
``drain()`` wait, exactly as a full TCP window does. With a :class:`~.clock.MockClock` and
``auto_tick=False``, tests move time themselves and call ``Transport.poll()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class _Pipe:
    def __init__(self, capacity: int) -> None:
        self.buffer = bytearray()
        self.capacity = capacity
        self.closed = False
        self.readable = asyncio.Event()
        self.writable = asyncio.Event()
        self.writable.set()

    def _update(self) -> None:
        if self.buffer or self.closed:
            self.readable.set()
        else:
            self.readable.clear()
        if len(self.buffer) < self.capacity or self.closed:
            self.writable.set()
        else:
            self.writable.clear()


class MemoryReader:
    def __init__(self, pipe: _Pipe) -> None:
        self._pipe = pipe
        #: set by a test to stop reading (a peer that stalls)
        self.paused = False

    async def read(self, n: int) -> bytes:
        pipe = self._pipe
        while self.paused and not pipe.closed:
            await asyncio.sleep(0.005)
        while True:
            await pipe.readable.wait()
            if pipe.buffer:
                data = bytes(pipe.buffer[:n])
                del pipe.buffer[:n]
                pipe._update()
                return data
            if pipe.closed:
                return b""


class MemoryWriter:
    def __init__(self, pipe: _Pipe, back: _Pipe, peername: tuple[str, int]) -> None:
        self._pipe = pipe
        self._back = back
        self._peername = peername

    def write(self, data: bytes) -> None:
        if self._pipe.closed:
            raise ConnectionResetError("the memory pipe is closed")
        self._pipe.buffer += data
        self._pipe._update()

    async def drain(self) -> None:
        if self._pipe.closed:
            raise ConnectionResetError("the memory pipe is closed")
        await self._pipe.writable.wait()

    def close(self) -> None:
        for pipe in (self._pipe, self._back):
            pipe.closed = True
            pipe._update()

    def is_closing(self) -> bool:
        return self._pipe.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._peername if name == "peername" else default


def memory_stream_pair(capacity: int = 1 << 20, *, a_name: tuple[str, int] = ("10.0.0.1", 40000),
                       b_name: tuple[str, int] = ("10.0.0.2", 9000)) -> tuple[Any, Any, Any, Any]:
    """``(a_reader, a_writer, b_reader, b_writer)``: what a writes, b reads, and back."""
    a_to_b, b_to_a = _Pipe(capacity), _Pipe(capacity)
    return (MemoryReader(b_to_a), MemoryWriter(a_to_b, b_to_a, b_name),
            MemoryReader(a_to_b), MemoryWriter(b_to_a, a_to_b, a_name))


class MemoryNetwork:
    """Hosts are names ("10.0.0.1"); each transport makes its own :class:`MemoryNetwork.Host` view."""

    def __init__(self, capacity: int = 1 << 20) -> None:
        self.capacity = capacity
        self.listeners: dict[tuple[str, int], Callable[[Any, Any], Awaitable[None]]] = {}
        self._next_port = 40000

    def host(self, address: str) -> MemoryHost:
        return MemoryHost(self, address)


class _Server:
    def __init__(self, network: MemoryNetwork, key: tuple[str, int]) -> None:
        self._network, self._key = network, key

    def close(self) -> None:
        self._network.listeners.pop(self._key, None)

    async def wait_closed(self) -> None:
        return None


class MemoryHost:
    def __init__(self, network: MemoryNetwork, address: str) -> None:
        self.network = network
        self.address = address

    async def start_server(self, handler: Callable[[Any, Any], Awaitable[None]], host: str,
                           port: int) -> tuple[Any, int]:
        net = self.network
        if port == 0:
            net._next_port += 1
            port = net._next_port
        key = (self.address, port)
        if key in net.listeners:
            raise OSError(f"{self.address}:{port} is in use")
        net.listeners[key] = handler
        return _Server(net, key), port

    async def open_connection(self, host: str, port: int) -> tuple[Any, Any]:
        handler = self.network.listeners.get((host, port))
        if handler is None:
            raise ConnectionRefusedError(f"nothing listens on {host}:{port}")
        self.network._next_port += 1
        a_reader, a_writer, b_reader, b_writer = memory_stream_pair(
            self.network.capacity, a_name=(self.address, self.network._next_port), b_name=(host, port))
        asyncio.get_running_loop().create_task(handler(b_reader, b_writer))
        return a_reader, a_writer
