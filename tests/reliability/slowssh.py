"""An SSH server that refuses connections for its first N seconds, at the sandbox's instances' own addresses.

The sandbox answers RunInstances only once the instance's sshd accepts connections, so a bake never
sees a refusing server there. This harness puts a network path in between, without touching the
product: a small HTTP proxy in front of the gateway passes every AWS call through unchanged, and when a
RunInstances answer names new instances, it first makes this host refuse TCP connections to their port 22
(an nftables table of its own: TCP reset, as from a host where nothing listens yet) for N seconds, counting
the refused attempts. A state dir whose sandbox.json names the proxy makes `invoke bake` use it. Needs root
(nft), as the sandbox does.
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from goldsmith.sandbox.credentials import CREDENTIALS_FILE
from goldsmith.sandbox.daemon import INFO_FILE

ADDRESS_RE = re.compile(rb"<privateIpAddress>([0-9.]+)</privateIpAddress>")
_tables = count()


class RefusalWindow:
    """TCP connections to `address`:22 are reset for `refuse_for` seconds from creation; `refused` counts them."""

    def __init__(self, address: str, refuse_for: float) -> None:
        self.address = address
        self.table = f"goldsmith_test_refuse_{next(_tables)}_{int(time.time() * 1000) % 100000}"
        self.created = time.monotonic()
        self.ended_at: float | None = None
        self.refused = 0
        subprocess.run(["nft", "-f", "-"], check=True, text=True, input=(
            f"table inet {self.table} {{\n  chain out {{\n    type filter hook output priority -10; policy accept;\n"
            f"    ip daddr {address} tcp dport 22 tcp flags syn counter reject with tcp reset\n  }}\n}}\n"))
        self._timer = threading.Timer(refuse_for, self.end)
        self._timer.start()

    def end(self) -> None:
        """Read the counter, then let connections through (idempotent)."""
        if self.ended_at is not None:
            return
        self._timer.cancel()
        listed = subprocess.run(["nft", "-j", "list", "table", "inet", self.table], capture_output=True, text=True,
                                check=False)
        if listed.returncode == 0:
            self.refused = sum(item["counter"]["packets"] for item in _expressions(json.loads(listed.stdout))
                               if "counter" in item)
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True, check=False)
        self.ended_at = time.monotonic()


def _expressions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for item in document.get("nftables", []) for e in item.get("rule", {}).get("expr", [])]


class SlowSshProxy:
    """The gateway proxy; `windows` maps each launched instance's address -> its RefusalWindow."""

    def __init__(self, gateway_url: str, refuse_for: float) -> None:
        parts = urlsplit(gateway_url)
        self.upstream = (parts.hostname or "127.0.0.1", int(parts.port or 80))
        self.refuse_for = refuse_for
        self.windows: dict[str, RefusalWindow] = {}
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[Any], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(method, path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, resp.getheaders(), data
        finally:
            conn.close()

    def refuse_at_first(self, answer: bytes) -> None:
        """Open a refusal window for every instance a RunInstances answer names."""
        with self._lock:
            for address in ADDRESS_RE.findall(answer):
                if address.decode() not in self.windows:
                    self.windows[address.decode()] = RefusalWindow(address.decode(), self.refuse_for)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                status, out_headers, data = proxy.forward(self.command, self.path, headers, body)
                if status == 200 and b"Action=RunInstances" in body:
                    proxy.refuse_at_first(data)
                self.send_response(status)
                for key, value in out_headers:
                    if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _any

        return Handler

    def state_dir(self, real_state_dir: Path, where: Path) -> Path:
        """A sandbox state dir naming this proxy as the gateway (same daemon, so `up` reuses it)."""
        info = json.loads((real_state_dir / INFO_FILE).read_text())
        info["gateway_url"] = self.url
        where.mkdir(parents=True, exist_ok=True)
        (where / INFO_FILE).write_text(json.dumps(info))
        shutil.copy2(real_state_dir / CREDENTIALS_FILE, where / CREDENTIALS_FILE)  # the same sandbox's key
        return where

    def close(self) -> None:
        for window in self.windows.values():
            window.end()
        self.server.shutdown()
        self.server.server_close()
