"""The node's local REST API (the seed's endpoint server): aiohttp on the node's asyncio loop.

Bound to 127.0.0.1 by default; JSON in and out. Anything that changes state (PUT, DELETE) and the
diagnostics need ``Authorization: Bearer <token>``, the token being the content of
``<data-dir>/api-token`` (made with mode 0600 on first start). Errors are JSON
``{"error": code, "reason": text}`` with 400 (malformed), 401 (no or wrong token), 403 (refused by
the owner), 404 (unknown URI or path), 413 (body too large), 502/504 (the owner unreachable).
The OpenAPI description is ``openapi.json`` beside this file, served at ``/openapi.json``.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import msgspec
from aiohttp import web

from ..model.events import UserAction
from ..model.scene import BodySpec
from ..model.uri import KrapitionURI, URIPattern
from .chain import decode_trusted
from .errors import DataNotFoundError, InvalidCommandError
from .monitoring import CONTENT_TYPE
from .protocol.errors import NackError
from .routing import RouteError

log = logging.getLogger(__name__)

TOKEN_FILE = "api-token"
MAX_BODY = 64 * 1024
MAX_EVENTS = 1000
#: the most a diagnostics request waits for the peers (``?all_peers=1&timeout=S``)
MAX_PEER_TIMEOUT_S = 120.0
_FLAGS = {"0": False, "false": False, "no": False, "1": True, "true": True, "yes": True}
_NACK_STATUS = {"read-only": 403, "not-owner": 403, "no-session": 403, "not-found": 404, "invalid": 400}


def load_or_create_token(data_dir: Path) -> str:
    """The API token of this data folder: read, or made with mode 0600 on first start."""
    path = Path(data_dir) / TOKEN_FILE
    try:
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    os.chmod(path, 0o600)
    return token


def openapi_spec() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def _error(status: int, code: str, reason: str) -> web.Response:
    return web.json_response({"error": code, "reason": reason}, status=status)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)  # type: ignore[no-any-return]
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too-large", f"the body is over {MAX_BODY} bytes")
    except web.HTTPNotFound:
        return _error(404, "not-found", f"no endpoint {request.path}")
    except web.HTTPMethodNotAllowed:
        return _error(405, "method-not-allowed", f"{request.method} is not allowed on {request.path}")
    except web.HTTPException:
        raise
    except Exception as exc:
        log.exception("REST API handler failed on %s %s", request.method, request.path)
        return _error(500, "internal", type(exc).__name__)


class ApiServer:
    def __init__(self, node: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.node = node
        self.host = host
        self.port = port
        self.token = load_or_create_token(node.data_dir)
        self.runner: web.AppRunner | None = None
        self.app = self._make_app()

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[_errors])
        app.router.add_get("/health", self.health)
        app.router.add_get("/openapi.json", self.openapi)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/v1/status", self.status)
        app.router.add_get("/v1/peers", self.peers)
        app.router.add_get("/v1/objects", self.list_objects)
        app.router.add_get("/v1/objects/{uri:.+}", self.get_object)
        app.router.add_put("/v1/objects/{uri:.+}", self.put_object)
        app.router.add_delete("/v1/objects/{uri:.+}", self.delete_object)
        app.router.add_post("/v1/actions", self.action)
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/alerts", self.alerts)
        app.router.add_get("/v1/heads", self.heads)
        app.router.add_get("/v1/diagnostics", self.diagnostics)
        return app

    async def start(self) -> int:
        self.runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("REST API on http://%s:%d (token in %s)", self.host, self.port,
                 Path(self.node.data_dir) / TOKEN_FILE)
        return self.port

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None

    # ---- helpers -----------------------------------------------------------------------------

    def _authorised(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        if not header:
            return _error(401, "no-token", "this request needs 'Authorization: Bearer <token>' "
                          f"(the token is in {Path(self.node.data_dir) / TOKEN_FILE})")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            return _error(401, "bad-token", "the bearer token is not this node's API token")
        return None

    @staticmethod
    def _uri(request: web.Request) -> KrapitionURI | web.Response:
        text = request.match_info["uri"]
        raw = request.raw_path.split("?", 1)[0]
        prefix = "/v1/objects/"
        if raw.startswith(prefix):
            text = unquote(raw[len(prefix):])
        try:
            uri = KrapitionURI.parse(text)
        except ValueError as exc:
            return _error(400, "bad-uri", f"{text!r} is not a Krapition URI: {exc}")
        return uri

    def _object_json(self, found: Any) -> dict[str, Any]:
        return {"uri": found.uri, "seq": found.seq, "source": found.source,
                "stale": found.stale or self.node.is_stale(found.uri),
                "body": None if found.body is None else msgspec.to_builtins(found.body)}

    # ---- endpoints ------------------------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "node_id": self.node.node_id})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_spec())

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.node.monitor.prometheus_text()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response(self.node.status())

    async def peers(self, request: web.Request) -> web.Response:
        out = [{"node_id": p.node_id, "name": p.name, "authority": p.authority, "fingerprint": p.fingerprint,
                "state": str(p.liveness.value if hasattr(p.liveness, "value") else p.liveness),
                "rtt_ms": p.rtt_ms_median, "clock_offset_ms": p.clock_offset_ms, "address": p.address}
               for p in self.node.peers()]
        return web.json_response(out)

    async def list_objects(self, request: web.Request) -> web.Response:
        pattern = request.query.get("pattern", "krapition://*/physics/objects/*")
        try:
            parsed = URIPattern.parse(pattern)
        except ValueError as exc:
            return _error(400, "bad-pattern", f"{pattern!r} is not a URI pattern: {exc}")
        return web.json_response({"pattern": str(parsed), "uris": self.node.data.list_data(parsed)})

    async def get_object(self, request: web.Request) -> web.Response:
        uri = self._uri(request)
        if isinstance(uri, web.Response):
            return uri
        found = await self.node.read(str(uri))
        if found is None:
            return _error(404, "unknown-uri", f"no value is known for {uri}")
        return web.json_response(self._object_json(found))

    async def put_object(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        uri = self._uri(request)
        if isinstance(uri, web.Response):
            return uri
        raw = await request.read()
        try:
            body = msgspec.json.decode(raw, type=BodySpec)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _error(400, "bad-body", f"the body is not one scene body object: {exc}")
        return await self._write(uri, body)

    async def delete_object(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        uri = self._uri(request)
        if isinstance(uri, web.Response):
            return uri
        if self.node.owns(uri) and self.node.read_local(str(uri)) is None:
            return _error(404, "unknown-uri", f"no value is known for {uri}")
        return await self._write(uri, None)

    async def _write(self, uri: KrapitionURI, body: BodySpec | None) -> web.Response:
        try:
            outcome = await self.node.write(str(uri), body)
        except NackError as exc:
            return _error(_NACK_STATUS.get(exc.code, 409), exc.code, exc.reason)
        except RouteError as exc:
            return _error(504 if exc.code == "timeout" else 502, exc.code, exc.reason)
        except DataNotFoundError as exc:
            return _error(404, "unknown-uri", str(exc))
        except (InvalidCommandError, ValueError) as exc:
            return _error(400, "invalid", str(exc))
        if outcome == "applied":
            return web.json_response({"uri": str(uri), "status": "applied"}, status=200)
        return web.json_response({"uri": str(uri), "status": "accepted", "owner": str(uri.authority)},
                                 status=202)

    async def action(self, request: web.Request) -> web.Response:
        """A user action (grab, drag, release) on any body, ours or a peer's: it goes on our chain as
        a signed UserAction; the body's owner applies it (first grab wins) and its motion events
        carry the result to every node."""
        refused = self._authorised(request)
        if refused is not None:
            return refused
        raw = await request.read()
        try:
            action = msgspec.json.decode(raw, type=UserAction)
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            return _error(400, "bad-action", f"the body is not one user action: {exc}")
        if action.action not in ("grab", "drag", "release") or action.target is None:
            return _error(400, "bad-action", "an action is grab, drag or release, with a target URI")
        if action.action == "grab" and action.point is None:
            return _error(400, "bad-action", "a grab needs the grabbed point")
        if (await self.node.read(action.target)) is None:
            return _error(404, "unknown-uri", f"no value is known for {action.target}")
        event = self.node.publish(action)
        return web.json_response({"status": "published", "id": event.id.hex(), "seq": event.seq,
                                  "owner": str(KrapitionURI.parse(action.target).authority)}, status=202)

    async def events(self, request: web.Request) -> web.Response:
        q = request.query
        try:
            author = bytes.fromhex(q.get("author", self.node.public_key.hex()))
            if len(author) != 32:
                raise ValueError("an author is a 32-byte public key in hex")
            start = int(q.get("from", "0"))
            end = int(q["to"]) if "to" in q else None
            limit = min(int(q.get("limit", str(MAX_EVENTS))), MAX_EVENTS)
            if start < 0 or (end is not None and end < start) or limit < 1:
                raise ValueError("need 0 <= from <= to and limit >= 1")
        except (ValueError, KeyError) as exc:
            return _error(400, "bad-query", str(exc))
        if self.node.store.author(author) is None:
            return _error(404, "unknown-author", f"no chain of author {author.hex()[:16]}... is held here")
        out = []
        for raw in self.node.store.raw_events(author, start, end):
            event = decode_trusted(raw)
            out.append({"id": event.id.hex(), "seq": event.seq, "type": str(event.type), "uri": event.uri,
                        "timestamp_ns": event.timestamp_ns, "bytes": event.envelope_bytes.hex(),
                        "signature": event.signature.hex()})
            if len(out) >= limit:
                break
        return web.json_response({"author": author.hex(), "events": out})

    async def heads(self, request: web.Request) -> web.Response:
        stats = self.node.replicator.stats
        return web.json_response({"heads": self.node.replicator.head_table(),
                                  "rejected": dict(stats.rejected), "duplicates": stats.duplicates})

    async def alerts(self, request: web.Request) -> web.Response:
        return web.json_response({"counts": self.node.monitor.alert_counts,
                                  "alerts": self.node.monitor.recent_alerts()})

    async def diagnostics(self, request: web.Request) -> web.Response:
        refused = self._authorised(request)
        if refused is not None:
            return refused
        from .diagnostics import DEFAULT_PEER_TIMEOUT_S, collect, collect_all

        q = request.query
        flag = q.get("all_peers", "0").lower()
        if flag not in _FLAGS:
            return _error(400, "bad-query", f"all_peers must be one of {', '.join(sorted(_FLAGS))}")
        try:
            timeout = float(q.get("timeout", str(DEFAULT_PEER_TIMEOUT_S)))
            if not 0 < timeout <= MAX_PEER_TIMEOUT_S:
                raise ValueError(f"timeout must be within 0 .. {MAX_PEER_TIMEOUT_S} seconds")
        except ValueError as exc:
            return _error(400, "bad-query", str(exc))
        if _FLAGS[flag]:
            data = await collect_all(self.node, timeout_s=timeout)
        else:
            data = collect(self.node)
        return web.Response(body=data, content_type="application/zip",
                            headers={"Content-Disposition": 'attachment; filename="diagnostics.zip"'})
