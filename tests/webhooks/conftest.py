"""Webhooks test helpers: a real HTTP receiver in a thread, endpoints made
through the services, and the worker run as the beat task runs it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webhooks import delivery, services
from webhooks.models import Endpoint


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the test server got, and what it answers next."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 200
    hang: bool = False  # never answer (until the test ends): a timeout
    released: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(
                    Received(self.path, dict(self.headers.items()), body)
                )
            if receiver.hang:
                receiver.released.wait(10)
                return
            payload = b'{"ok": true}' if receiver.status < 300 else b"boom " * 400
            self.send_response(receiver.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture
def receiver():
    """A real HTTP server on 127.0.0.1 (a free port) that records every POST."""
    box = Receiver(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box
    box.released.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def make_endpoint(db, receiver):
    def make(events=("member.created",), **fields) -> Endpoint:
        fields.setdefault("url", receiver.url)
        return services.endpoint_save(endpoint=Endpoint(events=list(events), **fields))

    return make


def deliver() -> int:
    """One run of the worker, as the every-minute task does it."""
    return delivery.deliveries_deliver_due(limit=100)
