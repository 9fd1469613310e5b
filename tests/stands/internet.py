"""The simulated internet's public server, run inside the `internet` namespace by tests/stands/netns.py.

On each --address: HTTP on 80 (GET / → 200 "internet ok", /generate_204 → 204), a TCP listener with a
banner on 443 and 853 (HTTPS and DNS-over-TLS ports, which a captive portal must hold back), and a UDP echo
on 443 (QUIC's port). Every request, connection and datagram is logged as one JSON line, flushed at once,
so a test can assert that something never reached the internet. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

BANNER_PORTS = (443, 853)
UDP_ECHO_PORT = 443
HTTP_PORT = 80


class EventLog:
    """JSON lines, one per event, flushed per line: tests read the file while we run."""

    def __init__(self, path: Path) -> None:
        self._handle = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def write(self, **event: Any) -> None:
        line = json.dumps({"time": time.time(), **event})
        with self._lock:
            self._handle.write(line + "\n")
            self._handle.flush()


LOG: EventLog


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


class HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup of our own address; skip it, nothing to resolve here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class HttpServer6(HttpServer):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    server_version = "internet-stand-in/1"
    protocol_version = "HTTP/1.0"
    ROUTES: ClassVar[dict[str, tuple[int, bytes]]] = {"/": (200, b"internet ok\n"), "/generate_204": (204, b"")}

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        status, body = self.ROUTES.get(path, (404, b"not found\n"))
        if path.startswith("/bytes/") and path[7:].isdigit() and int(path[7:]) <= 50_000_000:
            status, body = 200, b"x" * int(path[7:])  # a download of a chosen size, for data quotas
        LOG.write(service="http", method=self.command, path=self.path, host=self.headers.get("Host"),
                  client=self.client_address[0], client_port=self.client_address[1],
                  server=self.server.server_address[0], status=status)
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body and status != 204:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Logged as JSON in _answer instead of to stderr."""


class BannerHandler(socketserver.BaseRequestHandler):
    """Accept, say which port this is, echo what comes until the client closes (or 10 s pass)."""

    def handle(self) -> None:
        local = self.request.getsockname()
        LOG.write(service="tcp", port=local[1], client=self.client_address[0], server=local[0])
        self.request.settimeout(10)
        try:
            self.request.sendall(f"internet tcp {local[1]}\r\n".encode())
            while data := self.request.recv(4096):
                self.request.sendall(data)
        except OSError:
            return


class UdpEchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        local = sock.getsockname()
        LOG.write(service="udp", port=local[1], client=self.client_address[0], client_port=self.client_address[1],
                  server=local[0], size=len(data))
        sock.sendto(data, self.client_address)


def _tcp_server(address: str, port: int) -> socketserver.ThreadingTCPServer:
    server_class = type("TcpServer", (socketserver.ThreadingTCPServer,),
                        {"address_family": _family(address), "daemon_threads": True, "allow_reuse_address": True})
    return server_class((address, port), BannerHandler)


def _udp_server(address: str, port: int) -> socketserver.ThreadingUDPServer:
    server_class = type("UdpServer", (socketserver.ThreadingUDPServer,),
                        {"address_family": _family(address), "daemon_threads": True, "allow_reuse_address": True})
    return server_class((address, port), UdpEchoHandler)


def build_servers(address: str) -> list[socketserver.BaseServer]:
    http_class = HttpServer6 if _family(address) == socket.AF_INET6 else HttpServer
    servers: list[socketserver.BaseServer] = [http_class((address, HTTP_PORT), Handler)]
    servers += [_tcp_server(address, port) for port in BANNER_PORTS]
    servers.append(_udp_server(address, UDP_ECHO_PORT))
    return servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", action="append", required=True, help="address to serve on (repeatable)")
    parser.add_argument("--log", type=Path, required=True, help="JSON-lines log of every hit")
    parser.add_argument("--ready", type=Path, help="file written once every socket is bound")
    args = parser.parse_args(argv)
    global LOG
    LOG = EventLog(args.log)
    servers = [server for address in args.address for server in build_servers(address)]
    for server in servers:
        threading.Thread(target=server.serve_forever, name=f"serve-{server.server_address}", daemon=True).start()
    if args.ready:
        args.ready.write_text("ready\n")
    print(f"serving on {', '.join(args.address)}", flush=True)
    threading.Event().wait()  # until SIGTERM from the harness
    return 0


if __name__ == "__main__":
    sys.exit(main())
