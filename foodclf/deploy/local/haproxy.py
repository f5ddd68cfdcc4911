"""An HAProxy in front of local replicas: the Service of a one-machine deployment.

    with Balancer(slots=8) as lb:          # listens on lb.url, no server yet
        lb.join(1, port)                   # slot 1 -> 127.0.0.1:port, health-checked on /ping
        lb.drain(1)                        # no new requests; waits for those inside to finish
        lb.leave(1)                        # out of the rotation (maintenance)
        lb.stats()                         # per server: requests sent, in flight, status

Servers come from a ``server-template`` of ``slots`` entries, all in maintenance at start; the
runtime API (a unix socket in the config's temporary folder) sets a slot's address and state, so
replicas join and leave without a reload. Health checks ask ``GET /ping`` every second, as the
Deployment's readiness probe does, and take a server out after two failures.

Balancing: ``random(1)`` by default: one uniform random draw per request, as kube-proxy's
iptables rules pick an endpoint and as the simulation (foodclf.deploy.engine) models it.
HAProxy's plain ``random`` draws twice and takes the less loaded server (power of two choices),
which would hide the queueing that random placement causes; ``roundrobin`` spreads even better.
HTTP mode balances every request anew, also on a kept-alive client connection.
"""
from __future__ import annotations

import csv
import io
import logging
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from foodclf.errors import FoodclfError
from foodclf.serve.launch import free_port

log = logging.getLogger(__name__)

BACKEND = "replicas"
SERVER = "r"  # slot i is server "r<i>" (server-template numbering starts at 1)
BALANCES = ("random(1)", "roundrobin", "leastconn", "random")


class BalancerError(FoodclfError):
    """HAProxy is missing, does not start, or refuses a runtime command."""


def haproxy_unavailable_reason() -> str | None:
    """Why no HAProxy can run here (a test's skip reason), or None."""
    if shutil.which("haproxy") is None:
        return "haproxy not found on PATH (Debian package: haproxy)"
    return None


@dataclass(frozen=True)
class ServerStats:
    """One slot as HAProxy's ``show stat`` reports it."""
    slot: int
    status: str          # UP, DOWN, MAINT, DRAIN, "no check" ...
    in_flight: int       # scur: current sessions (requests being served, HTTP mode)
    requests: int        # stot: requests sent there so far
    address: str


def haproxy_config(port: int, socket_path: Path, slots: int, balance: str, timeout_s: float) -> str:
    """The configuration: one frontend on 127.0.0.1:port, one backend of ``slots`` template servers."""
    if balance not in BALANCES:
        raise BalancerError(f"balance {balance!r}: choose one of {', '.join(BALANCES)}")
    timeout_ms = round(timeout_s * 1000)
    return f"""global
    maxconn 4096
    stats socket {socket_path} mode 600 level admin
    stats timeout 10s

defaults
    mode http
    timeout connect 2s
    timeout client {timeout_ms}ms
    timeout server {timeout_ms}ms
    timeout queue {timeout_ms}ms
    option redispatch
    retries 1

frontend service
    bind 127.0.0.1:{port}
    default_backend {BACKEND}

backend {BACKEND}
    balance {balance}
    option httpchk GET /ping
    http-check expect status 200
    default-server check inter 1s fall 2 rise 1
    server-template {SERVER} 1-{slots} 127.0.0.1:1 disabled
"""


class Balancer:
    """A running HAProxy (its own process, stopped on exit) and its runtime API."""

    def __init__(self, slots: int = 8, balance: str = "random(1)", port: int | None = None,
                 timeout_s: float = 120.0):
        self.slots, self.balance, self.timeout_s = slots, balance, timeout_s
        self.port = port
        self.process: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.socket_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Balancer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> Balancer:
        reason = haproxy_unavailable_reason()
        if reason:
            raise BalancerError(reason)
        self._tmp = tempfile.TemporaryDirectory(prefix="foodclf-haproxy-")
        folder = Path(self._tmp.name)
        self.socket_path = folder / "admin.sock"
        self.port = self.port or free_port()
        config = folder / "haproxy.cfg"
        config.write_text(haproxy_config(self.port, self.socket_path, self.slots, self.balance, self.timeout_s))
        try:
            check = subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], capture_output=True, text=True)
            if check.returncode != 0:
                raise BalancerError(f"HAProxy rejects {config}:\n{check.stdout}{check.stderr}")
            # -db: stay in the foreground, so stop() owns the one process; its log goes to a file.
            self._log = open(folder / "haproxy.log", "wb")
            self.process = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=self._log,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            self._wait_for_socket()
        except BaseException:
            self.stop()
            raise
        log.info("HAProxy pid %d on %s (%s, %d slots)", self.process.pid, self.url, self.balance, self.slots)
        return self

    def stop(self) -> None:
        """Stop HAProxy and remove its folder; safe to call twice."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
            self._log.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # ---- the runtime API ---------------------------------------------------------------
    def command(self, line: str) -> str:
        """Send one runtime API command; its answer (an answer that reports an error raises)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.socket_path))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        answer = b"".join(chunks).decode()
        if any(word in answer for word in ("Unknown command", "No such", "Require ", "not found", "invalid")):
            raise BalancerError(f"HAProxy refused {line!r}: {answer.strip()}")
        return answer

    def join(self, slot: int, port: int) -> None:
        """Point slot ``slot`` at 127.0.0.1:``port`` and put it into the rotation (its health
        checks decide from then on whether it gets requests)."""
        self._check_slot(slot)
        self.command(f"set server {BACKEND}/{SERVER}{slot} addr 127.0.0.1 port {port}")
        self.command(f"set server {BACKEND}/{SERVER}{slot} state ready")

    def wait_up(self, slot: int, timeout_s: float = 30.0) -> None:
        """Until HAProxy's health checks see slot ``slot`` UP."""
        deadline = time.monotonic() + timeout_s
        while (status := self.stats()[slot].status) != "UP":
            if time.monotonic() > deadline:
                raise BalancerError(f"slot {slot} is {status}, not UP, {timeout_s:.0f} s after joining")
            time.sleep(0.1)

    def drain(self, slot: int, timeout_s: float = 60.0) -> None:
        """No new requests to slot ``slot``; returns once the requests it holds are answered."""
        self._check_slot(slot)
        self.command(f"set server {BACKEND}/{SERVER}{slot} state drain")
        deadline = time.monotonic() + timeout_s
        while self.stats()[slot].in_flight > 0:
            if time.monotonic() > deadline:
                log.warning("slot %d still holds requests %.0f s after draining began", slot, timeout_s)
                return
            time.sleep(0.1)

    def undrain(self, slot: int) -> None:
        """Put a drained slot back into the rotation."""
        self._check_slot(slot)
        self.command(f"set server {BACKEND}/{SERVER}{slot} state ready")

    def leave(self, slot: int) -> None:
        """Take slot ``slot`` out of the rotation and its health checks off (maintenance)."""
        self._check_slot(slot)
        self.command(f"set server {BACKEND}/{SERVER}{slot} state maint")

    def stats(self) -> dict[int, ServerStats]:
        """Every slot's status and counters, from ``show stat``."""
        text = self.command("show stat").lstrip("# ")
        rows = {}
        for row in csv.DictReader(io.StringIO(text)):
            if row["pxname"] == BACKEND and row["svname"].startswith(SERVER):
                slot = int(row["svname"][len(SERVER):])
                rows[slot] = ServerStats(slot, row["status"], int(row["scur"] or 0), int(row["stot"] or 0),
                                         row.get("addr", ""))
        return rows

    def _check_slot(self, slot: int) -> None:
        if not 1 <= slot <= self.slots:
            raise BalancerError(f"slot {slot}: this balancer has slots 1 to {self.slots}")

    def _wait_for_socket(self, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                text = (Path(self._tmp.name) / "haproxy.log").read_text(errors="replace")
                raise BalancerError(f"HAProxy exited with code {self.process.returncode}:\n{text[-2000:]}")
            try:
                self.command("show info")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise BalancerError(f"HAProxy's runtime socket did not answer within {timeout_s:.0f} s") from None
                time.sleep(0.05)
