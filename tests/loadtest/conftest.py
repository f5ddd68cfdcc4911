"""Local HTTP servers for the load tests: http.server threads on free 127.0.0.1 ports answering one
fixed status, a port nobody listens on, and a photo the servers never decode."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.bodies += 1
        body = b'{"Bread": 0.9}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve(status: int) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.bodies = 0
    server.url = f"http://127.0.0.1:{server.server_address[1]}/predictions/food"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def running(status: int):
    """A server answering ``status`` for the fixture's test, shut down afterwards."""
    server = serve(status)
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def ok_server():
    yield from running(200)


@pytest.fixture
def busy_server():
    """Answers 503, as TorchServe does when its job queue is full."""
    yield from running(503)


@pytest.fixture
def half_busy_server():
    """Every other request answers 503 (a full queue), the others 200."""
    server = serve(200)
    handler = server.RequestHandlerClass

    def status(self):
        self.server.bodies += 1
        return 503 if self.server.bodies % 2 else 200

    def do_post(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        code = status(self)
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    handler.do_POST = do_post
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again on exit: connections are refused
    return f"http://127.0.0.1:{port}/predictions/food"


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8\xff" + bytes(2000))  # the local servers never decode it
    return path


@pytest.fixture
def loadtest_data() -> dict:
    """A valid loadtest.json's content (fixed mode, one stage, server not sampled)."""
    stage = {"index": 1, "users": 1, "delay_s": 0.0, "duration_s": 2.0, "successes": 4, "failures": 1,
             "availability": 0.8, "transaction_rate": 2.0, "response_time_s": 0.5, "p50_s": 0.5,
             "p95_s": 0.5, "p99_s": 0.5, "longest_s": 0.5, "cpu_cores": None, "pss_mb": None, "pss_mb_peak": None,
             "client_cpu_cores": 0.1, "errors": {"http_503": 1}}
    overall = {k: v for k, v in stage.items() if k not in ("index", "users", "delay_s")}
    return {"schema_version": 3, "created": "2026-11-29T07:00:00+00:00", "url": "http://127.0.0.1:1/p",
            "model": "m", "image": "p.jpg", "mode": "fixed", "profile": None, "time_scale": 1.0,
            "request_timeout_s": 30.0, "stages": [stage], "overall": overall,
            "server": {"cpu_cores_mean": None, "cpu_cores_max": None, "pss_mb_mean": None,
                       "pss_mb_peak": None, "rss_mb_peak": None, "uss_mb_peak": None, "samples": 0, "pids": [],
                       "peak_processes": []},
            "timeseries_csv": "loadtest.csv"}
