"""The gateway's control API under ``/_sandbox/`` (JSON in, JSON out), used by tests and benchmarks.

GET health | GET counts[?region=R] | POST counts/reset | GET requests[?action=X] | GET/PUT faults |
GET/PUT latency | GET latency/transitions[?since=T] | GET instances | GET instances/<id>/endpoint | GET snapshots
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from goldsmith.errors import GoldsmithError

if TYPE_CHECKING:
    from goldsmith.sandbox.gateway import Gateway

Response = tuple[int, list[tuple[str, str]], bytes]


def _json(status: int, data: Any) -> Response:
    return status, [("Content-Type", "application/json")], json.dumps(data, default=str).encode()


class ControlApi:
    """Routes control requests to the gateway's parts."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def handle(self, method: str, path: str, body: bytes) -> Response:
        parts = urlsplit(path)
        route = parts.path.removeprefix("/_sandbox/").strip("/")
        query = dict(parse_qsl(parts.query))
        try:
            payload = json.loads(body) if body else {}
            return self._route(method, route, query, payload)
        except (GoldsmithError, ValueError, TypeError) as exc:
            return _json(400, {"error": str(exc)})

    def _route(self, method: str, route: str, query: dict[str, str], payload: Any) -> Response:
        g = self.gateway
        if (method, route) == ("GET", "health"):
            return _json(200, {"status": "ok", "moto": g.moto_url})
        if (method, route) == ("GET", "counts"):
            return _json(200, g.stats.snapshot(query.get("region")))
        if (method, route) == ("POST", "counts/reset"):
            g.stats.reset()
            return _json(200, {"reset": True})
        if (method, route) == ("GET", "requests"):
            return _json(200, g.stats.requests(query.get("action")))
        if route == "faults":
            if method == "PUT":
                g.faults.configure(dict(payload))
            return _json(200, g.faults.describe())
        if (method, route) == ("GET", "latency/transitions"):
            return _json(200, g.latency.transitions(float(query.get("since", "0") or 0)))
        if route == "latency":
            if method == "PUT":
                g.latency.configure(str(payload.get("profile", "instant")), float(payload.get("scale", 1.0)))
            return _json(200, g.latency.describe())
        if (method, route) == ("GET", "instances"):
            return _json(200, g.machines.instances())
        if (method, route) == ("GET", "snapshots"):
            return _json(200, g.machines.snapshots())
        if method == "GET" and route.startswith("instances/") and route.endswith("/endpoint"):
            instance_id = route.split("/")[1]
            endpoint = g.machines.endpoint(instance_id)
            if endpoint is None:
                return _json(404, {"error": f"instance {instance_id} is not running in the sandbox"})
            return _json(200, {"host": endpoint[0], "port": endpoint[1]})
        return _json(404, {"error": f"no control route {method} /_sandbox/{route}"})
