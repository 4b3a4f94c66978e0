"""An SSH server that refuses connections for its first N seconds, in front of the sandbox's instances.

The sandbox answers RunInstances only once the instance's sshd accepts connections, so a bake never
sees a refusing server there. This harness puts a network path in between, without touching the
product: a small HTTP proxy in front of the gateway passes every AWS call through unchanged, but
answers "where does instance i-... listen?" with the port of a relay that listens only after N
seconds (until then, connecting is refused: nothing listens) and then relays bytes to the real sshd.
A state dir whose sandbox.json names the proxy makes `invoke bake` use it.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from goldsmith.sandbox.credentials import CREDENTIALS_FILE
from goldsmith.sandbox.daemon import INFO_FILE

ENDPOINT_RE = re.compile(r"^/_sandbox/instances/(i-[0-9a-f]+)/endpoint$")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := src.recv(65536):
            dst.sendall(data)
    with contextlib.suppress(OSError):
        dst.shutdown(socket.SHUT_WR)


class LateRelay:
    """Listens on `port` only `refuse_for` seconds after creation, then relays to the target port."""

    def __init__(self, target_port: int, refuse_for: float) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.created = time.monotonic()
        self.listening_at: float | None = None
        self.accepted = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, args=(refuse_for,), daemon=True).start()

    def _serve(self, refuse_for: float) -> None:
        if self._stop.wait(refuse_for):
            return
        with socket.create_server(("127.0.0.1", self.port)) as server:
            server.settimeout(0.2)
            self.listening_at = time.monotonic()
            while not self._stop.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                self.accepted += 1
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=_pipe, args=(a, b), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


class SlowSshProxy:
    """The gateway proxy; `relays` maps instance id -> its LateRelay."""

    def __init__(self, gateway_url: str, refuse_for: float) -> None:
        parts = urlsplit(gateway_url)
        self.upstream = (parts.hostname or "127.0.0.1", int(parts.port or 80))
        self.refuse_for = refuse_for
        self.relays: dict[str, LateRelay] = {}
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

    def relay_for(self, instance_id: str, real_port: int) -> LateRelay:
        with self._lock:
            if instance_id not in self.relays:
                self.relays[instance_id] = LateRelay(real_port, self.refuse_for)
            return self.relays[instance_id]

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
                match = ENDPOINT_RE.match(self.path)
                if match and status == 200:
                    relay = proxy.relay_for(match.group(1), int(json.loads(data)["port"]))
                    data = json.dumps({"host": "127.0.0.1", "port": relay.port}).encode()
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
        for relay in self.relays.values():
            relay.stop()
        self.server.shutdown()
        self.server.server_close()
