"""HTTP plumbing of the fake ComfyUI server: responses, faults, and a threaded keep-alive server applying them."""

from __future__ import annotations

import json
import re
import socket
import struct
import sys
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Protocol

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
FAULT_KINDS = ("delay", "status", "truncated", "html", "reset")
AIOHTTP_500 = "500 Internal Server Error\n\nServer got itself in trouble"


class Response(NamedTuple):
    """What the server sends back for one request."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: Mapping[str, str] = {}


class Logged(NamedTuple):
    """One request as received: method, path with query, header names lower-cased."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Fault:
    """A misbehaviour applied to matching requests, `remaining` more times (None: forever)."""

    kind: str
    pattern: re.Pattern[str] | None
    job_id: str | None
    method: str | None
    remaining: int | None
    options: dict[str, Any]

    def matches(self, method: str, path: str) -> bool:
        """Return whether this fault applies to a request (`path` includes the query)."""
        if self.method is not None and method != self.method:
            return False
        if self.job_id is not None and self.job_id not in path:
            return False
        return self.pattern is None or self.pattern.search(path) is not None


def take_fault(faults: list[Fault], method: str, target: str) -> Fault | None:
    """The first fault that applies to a request, using up one of its times (call with the owner's lock held)."""
    for fault in faults:
        if fault.matches(method, target):
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
            return fault
    return None


def phrase(status: int) -> str:
    """Return the reason phrase of an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def json_response(value: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Return a JSON response encoded the way aiohttp's `json_response` does."""
    return Response(status, json.dumps(value).encode(), JSON_TYPE, dict(headers or {}))


def text_response(status: int, text: str, content_type: str = TEXT_TYPE) -> Response:
    """Return a plain-text (or other text) response."""
    return Response(status, text.encode(), content_type)


def html_page(status: int) -> str:
    """Return what a proxy in front of the server might answer: an nginx error page, or a sign-in page for 200."""
    if status == 200:
        return ("<!DOCTYPE html><html><head><title>Sign in</title></head><body><h1>Sign in to continue</h1>"
                "<form method=\"post\"><input name=\"user\"><input type=\"password\" name=\"pw\"></form></body></html>")
    text = f"{status} {phrase(status)}"
    return (f"<html>\r\n<head><title>{text}</title></head>\r\n<body>\r\n<center><h1>{text}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")


def fault_response(fault: Fault, default: Callable[[int], Response]) -> Response:
    """Return the response of a `status` or `html` fault; `default(status)` gives the body when none was set."""
    options = fault.options
    if fault.kind == "html":
        status = int(options.get("status", 502))
        return text_response(status, html_page(status), HTML_TYPE)
    status = int(options.get("code", 503))
    headers = {"Retry-After": str(options["retry_after"])} if options.get("retry_after") is not None else {}
    body = options.get("body")
    if isinstance(body, (dict, list)):
        return json_response(body, status, headers)
    if isinstance(body, str):
        return Response(status, body.encode(), TEXT_TYPE, headers)
    plain = default(status)
    return Response(status, plain.body, plain.content_type, headers)


class Backend(Protocol):
    """What the HTTP layer needs from the server double behind it."""

    delay: float
    verbose: bool

    def record(self, method: str, target: str, headers: Mapping[str, str]) -> Fault | None:
        """Log a request; return the fault to apply to it, if any."""

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        """Answer a request."""

    def error_response(self, status: int) -> Response:
        """Return the dialect's plain error response for a status."""

    def pause(self, seconds: float) -> None:
        """Sleep, but wake up when the server stops."""

    def crashed(self, report: str) -> None:
        """Keep the traceback of a crash inside `respond`."""

    def connected(self) -> None:
        """Count one accepted TCP connection."""


class ThreadedServer(ThreadingHTTPServer):
    """A thread per connection; daemon threads, so a request sleeping in a delay never blocks shutdown."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.backend.connected()
        super().process_request(request, client_address)


def serve_in_thread(backend: Backend, port: int, name: str) -> tuple[ThreadedServer, threading.Thread]:
    """Bind 127.0.0.1:`port` (0: a free one) and serve `backend` in a daemon thread."""
    httpd = ThreadedServer(("127.0.0.1", port), backend)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, name=name, daemon=True)
    thread.start()
    return httpd, thread


def stop_serving(httpd: ThreadedServer | None, thread: threading.Thread | None) -> None:
    """Stop a server started by `serve_in_thread` and close its socket."""
    if httpd is not None:
        httpd.shutdown()
        httpd.server_close()
    if thread is not None:
        thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request into a `Backend.respond` call, applying faults on the way out."""

    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    server: ThreadedServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle plus delayed ACKs add ~40 ms per request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:  # http.server's naming
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def _serve(self, method: str) -> None:
        backend = self.server.backend
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        fault = backend.record(method, self.path, headers)
        backend.pause(backend.delay)
        if fault is not None and fault.kind == "delay":
            backend.pause(float(fault.options.get("seconds", 1.0)))
            fault = None
        if fault is not None and fault.kind == "reset":
            self._reset()
            return
        if fault is not None and fault.kind in ("status", "html"):
            response = fault_response(fault, backend.error_response)
        else:
            try:
                response = backend.respond(method, self.path, headers, body)
            except Exception:  # a bug in the fake must show up in the test, not kill the thread
                backend.crashed(traceback.format_exc())
                response = text_response(500, AIOHTTP_500)
        if fault is not None and fault.kind == "truncated":
            self._send(response, truncate=True, keep=fault.options.get("keep"))
        else:
            self._send(response, head_only=method == "HEAD")

    def _send(self, response: Response, *, truncate: bool = False, keep: int | None = None,
              head_only: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        if "Content-Length" not in response.headers:  # a response may announce a wrong length on purpose
            self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head_only:
            return
        if truncate:
            cut = keep if keep is not None else len(response.body) // 2
            self.wfile.write(response.body[:max(0, min(cut, len(response.body) - 1))])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(response.body)

    def _reset(self) -> None:
        """Close the connection abortively: SO_LINGER 0 makes close() send a RST."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.backend.verbose:
            sys.stderr.write(f"fakecomfy: {self.address_string()} {format % args}\n")
