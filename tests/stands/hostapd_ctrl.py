"""A stand-in for hostapd's control socket (one interface), replying as hostapd 2.10 does.

What it mirrors (hostapd/ctrl_iface.c, src/ap/ctrl_iface_ap.c): one Unix datagram socket; every reply
goes back to the sender's own bound address; ``PING`` → ``PONG\\n``; ``ATTACH``/``DETACH`` → ``OK\\n``;
``STA-FIRST`` → the first station's MIB (MAC line, then ``key=value`` lines) or an empty datagram when
the table is empty; ``STA-NEXT <mac>`` → the next one, an empty datagram after the last, ``FAIL\\n`` when
``<mac>`` is not (or no longer) in the table; ``STA <mac>`` → its MIB or ``FAIL\\n``; anything else →
``UNKNOWN COMMAND\\n``. Events go to attached clients as ``<3>AP-STA-CONNECTED <mac>`` and
``<3>AP-STA-DISCONNECTED <mac>`` (MSG_INFO is level 3). A restart (``stop`` then ``start``) forgets the
attached clients and removes the socket file meanwhile, as hostapd does.
"""

from __future__ import annotations

import os
import socket
import threading


class HostapdCtrlStand:
    def __init__(self, path: str) -> None:
        self.path = path
        self.stations: dict[str, str] = {}  # MAC → flags, in association order like hostapd's sta_list
        self.attached: set[str] = set()
        self.requests: list[str] = []
        self.errors: dict[str, int] = {}
        self.detached = 0  # clients dropped because they could not keep up
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        # Test hook: a station removed right after the reply to ``STA-FIRST``/``STA-NEXT`` naming it.
        self.leave_during_walk: str | None = None
        self.answering = True  # False: a hostapd that is there but busy (requests go unanswered)

    def start(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(self.path)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        sock, self._sock = self._sock, None
        if self._thread is not None:
            self._thread.join(timeout=2)  # the thread sees ``_sock`` change within its poll interval
        if sock is not None:
            sock.close()
        with self._lock:
            self.attached.clear()
        if os.path.exists(self.path):
            os.unlink(self.path)

    # -- what the radio would do ------------------------------------------------------------------

    def associate(self, mac: str, event: bool = True) -> None:
        with self._lock:
            self.stations[mac] = "[AUTH][ASSOC][AUTHORIZED][WMM]"
        if event:
            self.send_event(f"AP-STA-CONNECTED {mac}")

    def authenticate_only(self, mac: str) -> None:
        """A station in the table that authenticated but never associated."""
        with self._lock:
            self.stations[mac] = "[AUTH]"

    def disassociate(self, mac: str, event: bool = True) -> None:
        with self._lock:
            self.stations.pop(mac, None)
        if event:
            self.send_event(f"AP-STA-DISCONNECTED {mac}")

    def send_event(self, text: str, level: int = 3) -> None:
        """Any unsolicited line, exactly as given after ``<level>`` (tests send malformed ones too)."""
        self.send_raw(f"<{level}>{text}".encode())

    def send_raw(self, data: bytes) -> None:
        """As hostapd's ctrl_iface_send: never blocks (MSG_DONTWAIT), so a client whose queue is full
        misses the event; after more than 10 failures in a row, or at once when its socket is gone, the
        client is detached without being told."""
        sock = self._sock
        if sock is None:
            return
        with self._lock:
            clients = list(self.attached)
        for client in clients:
            try:
                sock.sendto(data, socket.MSG_DONTWAIT, client)
            except OSError as problem:
                with self._lock:
                    self.errors[client] = self.errors.get(client, 0) + 1
                    if self.errors[client] > 10 or isinstance(problem, (FileNotFoundError, PermissionError)):
                        self.attached.discard(client)
                        self.detached += 1
            else:
                self.errors[client] = 0

    # -- the control socket -----------------------------------------------------------------------

    def _mib(self, mac: str) -> str:
        return (f"{mac}\nflags={self.stations[mac]}\naid=1\ncapability=0x421\nlisten_interval=10\n"
                "supported_rates=82 84 8b 96 0c 12 18 24\ntimeout_next=NULLFUNC POLL\nrx_packets=12\n"
                "tx_packets=9\nrx_bytes=1520\ntx_bytes=1105\ninactive_msec=310\nconnected_time=42\n")

    def _answer(self, command: str, sender: str) -> str:
        name, _, argument = command.partition(" ")
        argument = argument.strip().lower()
        with self._lock:
            order = list(self.stations)
            if name == "PING":
                return "PONG\n"
            if name == "ATTACH":
                self.attached.add(sender)
                self.errors[sender] = 0
                return "OK\n"
            if name == "DETACH":
                self.attached.discard(sender)
                return "OK\n"
            if name == "STA-FIRST":
                return self._mib(order[0]) if order else ""
            if name == "STA-NEXT":
                if argument not in self.stations:
                    return "FAIL\n"
                position = order.index(argument) + 1
                return self._mib(order[position]) if position < len(order) else ""
            if name == "STA":
                return self._mib(argument) if argument in self.stations else "FAIL\n"
        return "UNKNOWN COMMAND\n"

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(0.05)
        while self._sock is sock:
            try:
                data, sender = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            command = data.decode("ascii", "replace")
            self.requests.append(command)
            if not self.answering:
                continue
            reply = self._answer(command, sender)
            try:
                sock.sendto(reply.encode(), sender)
            except OSError:
                continue
            leaving = self.leave_during_walk
            if leaving and reply.startswith(leaving + "\n") and command.startswith("STA-"):
                self.leave_during_walk = None
                self.disassociate(leaving)
