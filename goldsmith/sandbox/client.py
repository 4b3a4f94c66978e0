"""A typed client of the gateway's control API (``/_sandbox/``).

The gateway takes control requests only when they are signed (SigV4, as any AWS request) with the sandbox's
own key, the one in STATE_DIR/credentials.json: counts, faults and instances are the sandbox's owner's
business alone.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from goldsmith.errors import EnvironmentProblem
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.sigv4 import sign

SIGNING_REGION = "us-east-1"
SIGNING_SERVICE = "sandbox"  # the credential scope's service of a control request


class SandboxClient:
    """Talks to one running sandbox gateway, e.g. ``SandboxClient(info.gateway_url, info.credentials)``."""

    def __init__(self, url: str, credentials: Credentials, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.credentials = credentials
        self.timeout = timeout

    def _call(self, method: str, route: str, payload: Any = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        url = f"{self.url}/_sandbox/{route}"
        headers = sign(method, url, data or b"", {"Content-Type": "application/json"},
                       self.credentials.access_key_id, self.credentials.secret_access_key, SIGNING_REGION,
                       SIGNING_SERVICE)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            raise EnvironmentProblem(f"the sandbox refused {method} /_sandbox/{route}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise EnvironmentProblem(f"the sandbox at {self.url} is not answering ({exc}); start it with "
                                     "`python -m goldsmith.sandbox up`") from exc

    def health(self) -> dict[str, Any]:
        return dict(self._call("GET", "health"))

    def counts(self, region: str | None = None) -> dict[str, int]:
        """Requests per action since the last reset (optionally of one region)."""
        route = f"counts?region={region}" if region else "counts"
        return {str(k): int(v) for k, v in self._call("GET", route)["actions"].items()}

    def service_counts(self) -> dict[str, int]:
        """Requests per service (ec2, iam, sts, ...) since the last reset."""
        return {str(k): int(v) for k, v in self._call("GET", "counts")["services"].items()}

    def reset_counts(self) -> None:
        self._call("POST", "counts/reset", {})

    def requests(self, action: str | None = None) -> list[dict[str, Any]]:
        """The request log (action, region, parameters with secrets redacted), oldest first."""
        route = f"requests?action={action}" if action else "requests"
        return list(self._call("GET", route))

    def set_faults(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        """Rules like ``{"action": "CopyImage", "error": "InternalError", "nth": 2}`` or ``rate`` (with
        ``"lose_answer": true``: carried out, then answered with the error), or
        ``{"kind": "not_found_after_create", "action": "RunInstances", "seconds": 1.0}`` (see faults.py)."""
        self._call("PUT", "faults", {"rules": rules, "seed": seed})

    def clear_faults(self) -> None:
        self.set_faults([])

    def set_latency(self, profile: str, scale: float = 1.0) -> None:
        """``instant`` (default) or ``aws`` (scaled-down AWS timings) times ``scale``."""
        self._call("PUT", "latency", {"profile": profile, "scale": scale})

    def latency(self) -> dict[str, Any]:
        """The latency profile, its scale, and its time_scale (sandbox seconds per AWS second, scale included)."""
        return dict(self._call("GET", "latency"))

    def transitions(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Every transition the latency model made since `since` (wall time): resource, state, action, start,
        end, seconds, and the bytes it was sized by."""
        return list(self._call("GET", f"latency/transitions?since={since}"))

    def instances(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "instances"))

    def endpoint(self, instance_id: str) -> tuple[str, int]:
        """Where the instance's sshd listens: its address on the sandbox network, port 22 (as on EC2)."""
        data = self._call("GET", f"instances/{instance_id}/endpoint")
        return str(data["host"]), int(data["port"])

    def snapshots(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "snapshots"))
