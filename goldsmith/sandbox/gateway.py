"""The sandbox gateway: the HTTP endpoint the product's AWS_ENDPOINT_URL points at.

It forwards every request byte for byte to moto and answers with moto's response, and on the way it
names the action (EC2 query ``Action=``, JSON ``X-Amz-Target``), counts and logs it, may inject a fault
(an error, or a NotFound for a resource created a moment ago: EC2's eventual consistency),
drives the instance runtime around the calls that touch machines (gateway_machines), and shows
intermediate states while a resource is in transition (latency). A small control API lives under
``/_sandbox/`` on the same port (see ``ControlApi``). Before any of that, the request's SigV4 signature must
hold for a key of the sandbox (goldsmith.sandbox.gateway_auth): anything else is refused and leaves no trace
but a log line.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from goldsmith.sandbox import moto_transport
from goldsmith.sandbox.credentials import Credentials
from goldsmith.sandbox.faults import Fault, FaultInjector
from goldsmith.sandbox.gateway_auth import Authenticator, KeyRing
from goldsmith.sandbox.gateway_machines import Machines, RuntimeLike
from goldsmith.sandbox.latency import LatencyModel

log = logging.getLogger(__name__)
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade",
              "proxy-authenticate", "proxy-authorization", "content-length"}
SECRET_PARAM = re.compile(r"password|secret|plaintext|userdata|privatekey|keymaterial|ciphertext", re.I)
CREDENTIAL = re.compile(r"Credential=[^/]*/\d+/([^/]+)/([^/]+)/")


@dataclass
class Call:
    """One request as the gateway understands it."""

    service: str
    action: str
    region: str
    params: dict[str, str]
    protocol: str  # "ec2", "query", "json" or "rest"

    @property
    def is_ec2(self) -> bool:
        return self.service == "ec2"


def classify(method: str, path: str, headers: dict[str, str], body: bytes) -> Call:
    """Name the service, action and region of a request without changing it."""
    found = CREDENTIAL.search(headers.get("authorization", ""))
    region, service = (found.group(1), found.group(2)) if found else ("us-east-1", "unknown")
    target = headers.get("x-amz-target")
    if target:
        try:
            params = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in json.loads(body).items()}
        except (ValueError, AttributeError):
            params = {}
        return Call(service, target.rsplit(".", 1)[-1], region, params, "json")
    query = dict(parse_qsl(urlsplit(path).query))
    if "x-www-form-urlencoded" in headers.get("content-type", "") and body:
        query.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    if "Action" in query:
        return Call(service, query["Action"], region, query, "ec2" if service == "ec2" else "query")
    return Call(service, f"{method} {urlsplit(path).path}", region, {}, "rest")


def redact(call: Call) -> dict[str, str]:
    """Parameters safe to keep in the log: secret-looking values and SecureString values replaced."""
    secure = call.params.get("Type") == "SecureString"
    return {k: ("<redacted>" if SECRET_PARAM.search(k) or (secure and k == "Value") else v)
            for k, v in call.params.items()}


class RequestStats:
    """Counts per action (and per region, and per service) and an in-memory request log."""

    def __init__(self, max_log: int = 100_000) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.by_region: dict[str, Counter[str]] = {}
        self.by_service: Counter[str] = Counter()
        self.log: deque[dict[str, Any]] = deque(maxlen=max_log)
        self._seq = 0

    def record(self, call: Call, fault: Fault | None) -> None:
        with self._lock:
            self._seq += 1
            self.counts[call.action] += 1
            self.by_region.setdefault(call.region, Counter())[call.action] += 1
            self.by_service[call.service] += 1
            self.log.append({"seq": self._seq, "time": time.time(), "service": call.service,
                             "action": call.action, "region": call.region, "params": redact(call),
                             "fault": fault.error if fault else None})

    def snapshot(self, region: str | None = None) -> dict[str, Any]:
        with self._lock:
            counts = dict(self.by_region.get(region, Counter()) if region else self.counts)
            regions = {r: dict(c) for r, c in self.by_region.items()}
            services = dict(self.by_service)
        return {"total": sum(counts.values()), "actions": counts, "regions": regions, "services": services}

    def requests(self, action: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.log if action is None or e["action"] == action]

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()
            self.by_region.clear()
            self.by_service.clear()
            self.log.clear()


def internal_error(call: Call, message: str) -> tuple[int, dict[str, str], bytes]:
    """An AWS-shaped 500 for a failure of the sandbox itself (the runtime)."""
    fault = Fault("InternalError", 500, message, "InternalServerError")
    return fault_response(call, fault)


def fault_response(call: Call, fault: Fault) -> tuple[int, dict[str, str], bytes]:
    if call.protocol == "json":
        status = 400 if fault.error == "RequestLimitExceeded" else fault.status
        return status, {"Content-Type": "application/x-amz-json-1.1",
                        "x-amzn-RequestId": str(uuid.uuid4())}, fault.json_body()
    return fault.status, {"Content-Type": "text/xml;charset=UTF-8"}, fault.ec2_body()


class Gateway:
    """The proxy server; ``start`` serves on a background thread, ``stop`` shuts it down."""

    def __init__(self, moto_url: str, runtime: RuntimeLike, *, credentials: Credentials, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        """`moto_url` as goldsmith.sandbox.moto_transport reads it; `credentials` the sandbox's own key, the
        one the gateway signs its own calls to moto with and the only one its control API takes."""
        self.moto_url = moto_url
        self.keys = KeyRing(credentials)
        self.auth = Authenticator(self.keys)
        self.faults = FaultInjector()
        self.latency = LatencyModel()
        self.stats = RequestStats()
        self.machines = Machines(runtime, moto_url, self.latency, credentials)
        self.server = ThreadingHTTPServer((host, port), _handler_class(self))
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(10)

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request to moto as it came (Host header included) and return its answer."""
        conn = moto_transport.connection(self.moto_url, timeout=600)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, data
        finally:
            conn.close()

    def handle(self, method: str, path: str, headers: list[tuple[str, str]],
               body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """One AWS request, end to end."""
        lower = {k.lower(): v for k, v in headers}
        call = classify(method, path, lower, body)
        fault = self.faults.decide(call.action, call.is_ec2, call.region, call.params)
        self.stats.record(call, fault)
        log.debug("%s %s %s%s", call.service, call.action, call.region, f" -> {fault.error}" if fault else "")
        if fault is not None and not fault.lose_answer:
            status, extra, data = fault_response(call, fault)
            return status, list(extra.items()), data
        answer = self._carry_out(call, method, path, headers, body)
        if fault is not None:  # carried out, and its answer lost: the client sees only the error
            status, extra, data = fault_response(call, fault)
            return status, list(extra.items()), data
        return answer

    def _carry_out(self, call: Call, method: str, path: str, headers: list[tuple[str, str]],
                   body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """Forward the call to moto and drive the instance runtime around it; moto's answer, rewritten."""
        context = None
        if call.is_ec2 and self.machines.handles(call.action):
            try:
                context = self.machines.before(call.action, call.region, call.params)
            except Exception as exc:  # moto will answer the bad request itself
                log.debug("before %s: %s", call.action, exc)
        status, out_headers, data = self.forward(method, path, headers, body)
        if call.service in ("iam", "sts"):
            self.keys.learn(call.action, call.params, status, data)
        if call.is_ec2 and status == 200:
            self.faults.created(call.action, call.region, data)
            try:
                self.machines.after(call.action, call.region, call.params, data, context)
            except Exception as exc:
                log.exception("the instance runtime failed during %s", call.action)
                code, extra, data = internal_error(call, f"The sandbox failed during {call.action}: {exc}")
                return code, list(extra.items()), data
            data = self.machines.rewrite(call.action, call.params, data)
            data = self.latency.rewrite(data)
        return status, out_headers, data


def _handler_class(gateway: Gateway) -> type[BaseHTTPRequestHandler]:
    from goldsmith.sandbox.gateway_control import ControlApi

    control = ControlApi(gateway)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: Nagle + delayed ACK cost 40 ms

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("gateway: " + format, *args)

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
                while self.rfile.readline().strip():
                    pass
                return b"".join(chunks)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _serve(self) -> None:
            body = self._body()
            checked = gateway.auth.check(self.command, self.path, list(self.headers.items()), body)
            if isinstance(checked, tuple):  # refused
                status, headers, data = checked
            elif self.path.startswith("/_sandbox/"):
                status, headers, data = control.handle(self.command, self.path, body)
            else:
                try:
                    status, headers, data = gateway.handle(self.command, self.path, list(self.headers.items()),
                                                           body)
                except Exception as exc:  # never leave a client hanging: answer like AWS does
                    log.exception("gateway failure on %s %s", self.command, self.path)
                    call = Call("ec2", "?", "us-east-1", {}, "ec2")
                    status, extra, data = internal_error(call, f"The sandbox failed: {exc}")
                    headers = list(extra.items())
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("server", "date"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

    return Handler
