"""The node's REST API: every endpoint, bad URIs, missing token, oversized bodies."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path
from urllib.parse import quote

import aiohttp
from nacl.signing import VerifyKey
from p2p.node_helpers import memory_config, run, wait_for

from krapition_app.p2p.api import openapi_spec
from krapition_app.p2p.memory import MemoryNetwork
from krapition_app.p2p.node import Node
from krapition_app.p2p.testing import ball

BALL = {"name": "ball-1", "shape": "sphere", "radius": 0.1, "material": "rubber", "position": [1.0, 2.0, 3.0]}


def test_every_endpoint(tmp_path: Path) -> None:
    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, api_port=0))
        b = Node(memory_config(net, tmp_path, "b", 1, read_only=True))
        await a.start_async()
        await b.start_async()
        try:
            await a.connect(b.config.interface, b.port)
            b.set_body(ball("ball-b"))
            base = f"http://127.0.0.1:{a.api_port}"
            token_file = a.data_dir / "api-token"
            assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
            auth = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
            own = a.uri_for("ball-1")
            remote = b.uri_for("ball-b")
            async with aiohttp.ClientSession() as http:
                async def call(method: str, path: str, **kw):  # type: ignore[no-untyped-def]
                    async with http.request(method, base + path, **kw) as r:
                        body = await r.read()
                        return r.status, body

                status, body = await call("GET", "/health")
                assert status == 200 and json.loads(body)["status"] == "ok"
                status, body = await call("GET", "/v1/status")
                st = json.loads(body)
                assert status == 200 and st["node_id"] == a.node_id and st["authority"] == a.authority
                assert st["public_key"] == a.public_key.hex() and st["peers"] == 1
                assert {"head", "tail", "max_size"} <= set(st["chain"]) and "uptime_s" in st
                status, body = await call("GET", "/v1/peers")
                peers = json.loads(body)
                assert peers[0]["node_id"] == b.node_id and peers[0]["state"] == "alive"
                assert {"name", "authority", "fingerprint", "rtt_ms", "clock_offset_ms"} <= set(peers[0])
                # writes need the token
                status, body = await call("PUT", f"/v1/objects/{quote(own, safe='')}", json=BALL)
                assert status == 401 and json.loads(body)["error"] == "no-token"
                status, _ = await call("PUT", f"/v1/objects/{quote(own, safe='')}", json=BALL,
                                       headers={"Authorization": "Bearer nope"})
                assert status == 401
                status, body = await call("PUT", f"/v1/objects/{quote(own, safe='')}", json=BALL,
                                          headers=auth)
                assert status == 200, body
                status, body = await call("GET", f"/v1/objects/{quote(own, safe='')}")
                got = json.loads(body)
                assert status == 200 and got["body"]["position"] == [1.0, 2.0, 3.0]
                assert got["source"] == "local"
                status, body = await call("GET", "/v1/objects?pattern=" + quote("krapition://*/physics/objects/*"))
                assert status == 200 and own in json.loads(body)["uris"]
                # bad input
                status, body = await call("GET", "/v1/objects/" + quote("http://nope/x", safe=""))
                assert status == 400 and json.loads(body)["error"] == "bad-uri"
                status, _ = await call("GET", "/v1/objects?pattern=" + quote("not a pattern"))
                assert status == 400
                status, _ = await call("GET", "/v1/objects/" + quote(a.uri_for("nothing"), safe=""))
                assert status == 404
                status, _ = await call("PUT", f"/v1/objects/{quote(own, safe='')}", data=b"{not json",
                                       headers=auth)
                assert status == 400
                status, _ = await call("PUT", f"/v1/objects/{quote(own, safe='')}",
                                       json={**BALL, "name": "other"}, headers=auth)
                assert status == 400
                status, body = await call("PUT", f"/v1/objects/{quote(own, safe='')}",
                                          data=b"x" * (200 * 1024), headers=auth)
                assert status == 413 and json.loads(body)["error"] == "too-large"
                status, _ = await call("GET", "/v1/nothing-here")
                assert status == 404
                # a remote URI: the read comes from the replica; the owner (read-only) refuses the write
                assert await wait_for(lambda: a.read_local(remote) is not None, 2.0)
                status, body = await call("GET", f"/v1/objects/{quote(remote, safe='')}")
                assert status == 200 and json.loads(body)["source"] == "cache"
                status, body = await call("PUT", f"/v1/objects/{quote(remote, safe='')}",
                                          json={**BALL, "name": "ball-b"}, headers=auth)
                assert status == 403 and json.loads(body)["error"] == "read-only", body
                b.read_only = False
                status, body = await call("PUT", f"/v1/objects/{quote(remote, safe='')}",
                                          json={**BALL, "name": "ball-b"}, headers=auth)
                assert status == 202, body
                assert b.read_local(remote).body.position == (1.0, 2.0, 3.0)  # type: ignore[union-attr]
                status, _ = await call("DELETE", f"/v1/objects/{quote(own, safe='')}")
                assert status == 401
                status, _ = await call("DELETE", f"/v1/objects/{quote(own, safe='')}", headers=auth)
                assert status == 200
                status, _ = await call("DELETE", f"/v1/objects/{quote(own, safe='')}", headers=auth)
                assert status == 404
                # events carry the exact signed bytes: anyone verifies them with the author's key
                status, body = await call("GET", f"/v1/events?author={a.public_key.hex()}&from=0&to=100")
                events = json.loads(body)["events"]
                assert status == 200 and events[0]["seq"] == 0 and events[0]["type"] == "SystemStart"
                key = VerifyKey(a.public_key)
                for event in events:
                    key.verify(bytes.fromhex(event["bytes"]), bytes.fromhex(event["signature"]))
                status, body = await call("GET", f"/v1/events?author={b.public_key.hex()}")
                assert status == 200 and json.loads(body)["events"]
                for bad in ("author=zz", "from=-1", "from=5&to=2", "author=" + "00" * 5):
                    status, _ = await call("GET", "/v1/events?" + bad)
                    assert status == 400, bad
                status, _ = await call("GET", "/v1/events?author=" + "00" * 32)
                assert status == 404
                # metrics, alerts, diagnostics, openapi
                a.monitor.sample()  # type: ignore[union-attr]
                status, body = await call("GET", "/metrics")
                text = body.decode()
                for name in ("krapition_events_per_second", "krapition_peers", "krapition_peer_rtt_seconds",
                             "krapition_event_bytes_in", "krapition_step_seconds", "krapition_cpu_percent",
                             "krapition_memory_bytes"):
                    assert name in text, name
                status, body = await call("GET", "/v1/alerts")
                assert status == 200 and "counts" in json.loads(body)
                status, _ = await call("GET", "/v1/diagnostics")
                assert status == 401
                status, body = await call("GET", "/v1/diagnostics", headers=auth)
                assert status == 200
                names = zipfile.ZipFile(io.BytesIO(body)).namelist()
                assert {"status.json", "metrics.prom", "peers.json", "samples.json"} <= set(names)
                status, body = await call("GET", "/openapi.json")
                assert status == 200 and "/v1/objects/{uri}" in json.loads(body)["paths"]
        finally:
            await a.stop_async()
            await b.stop_async()

    run(main())


def test_openapi_lists_every_route() -> None:
    paths = set(openapi_spec()["paths"])
    assert {"/health", "/metrics", "/v1/status", "/v1/peers", "/v1/objects", "/v1/objects/{uri}",
            "/v1/events", "/v1/diagnostics", "/v1/actions"} <= paths


def test_actions_go_on_our_chain_for_the_owner(tmp_path: Path) -> None:
    """POST /v1/actions: a drag of a peer's body becomes a signed UserAction on our chain, which the
    owner receives (its session applies it); bad actions get a precise 4xx."""
    from krapition_app.model.events import UserAction

    async def main() -> None:
        net = MemoryNetwork()
        a = Node(memory_config(net, tmp_path, "a", 0, api_port=0))
        b = Node(memory_config(net, tmp_path, "b", 1))
        await a.start_async()
        await b.start_async()
        seen: list = []
        b.on_events = seen.extend
        try:
            await a.connect(b.config.interface, b.port)
            b.set_body(ball("ball-b"))
            remote = b.uri_for("ball-b")
            assert await wait_for(lambda: a.read_local(remote) is not None, 2.0)
            base = f"http://127.0.0.1:{a.api_port}/v1/actions"
            auth = {"Authorization": f"Bearer {(a.data_dir / 'api-token').read_text().strip()}"}
            grab = {"action": "grab", "target": remote, "point": [0.0, 0.0, 0.1]}
            async with aiohttp.ClientSession() as http:
                async with http.post(base, json=grab) as r:
                    assert r.status == 401
                for bad, code in (({"action": "spawn", "target": remote}, 400),
                                  ({"action": "grab", "target": remote}, 400),
                                  ({"action": "drag", "target": "not a uri"}, 400),
                                  ({"action": "drag", "target": a.uri_for("no"), "point": [0, 0, 1]}, 404)):
                    async with http.post(base, json=bad, headers=auth) as r:
                        assert r.status == code, (bad, await r.text())
                async with http.post(base, json=grab, headers=auth) as r:
                    assert r.status == 202, await r.text()
                    answer = await r.json()
            assert answer["owner"] == b.authority and answer["seq"] > 0

            def arrived() -> bool:
                return any(e.author == a.public_key and isinstance(e.envelope.payload, UserAction)
                           for e in seen)
            assert await wait_for(arrived, 2.0)
            action = next(e.envelope.payload for e in seen if isinstance(e.envelope.payload, UserAction))
            assert action.action == "grab" and action.target == remote and action.point == (0.0, 0.0, 0.1)
        finally:
            await a.stop_async()
            await b.stop_async()

    run(main())
