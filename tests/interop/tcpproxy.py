"""A loopback TCP relay the suite puts between a client and the server to cut connections.

`sever()` breaks every relayed connection (both sides see EOF/reset) and `block()` makes new
connections close right after accept, so a client keeps retrying but cannot reach the
server: that is how a test makes a session outlive its TCP connection, or expire. It only
ever listens on and connects to the addresses it is given (loopback in this suite).
"""

import socket
import threading


class TcpProxy:
    def __init__(self, target_host, target_port):
        self._target = (target_host, target_port)
        self._lock = threading.Lock()
        self._pairs = []
        self._blocked = False
        self._closed = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = self._listener.getsockname()[1]
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def _accept_loop(self):
        while True:
            try:
                downstream, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    downstream.close()
                    return
                blocked = self._blocked
            if blocked:
                _close_quietly(downstream)
                continue
            try:
                upstream = socket.create_connection(self._target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                _close_quietly(downstream)
                continue
            with self._lock:
                self._pairs.append((downstream, upstream))
                self.accepted += 1
            for src, dst in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()

    def sever(self):
        """Break every connection currently relayed."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                _close_quietly(s)

    def block(self):
        with self._lock:
            self._blocked = True

    def unblock(self):
        with self._lock:
            self._blocked = False

    def close(self):
        with self._lock:
            self._closed = True
        _close_quietly(self._listener)
        self.sever()


def _pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def _close_quietly(s):
    try:
        s.close()
    except OSError:
        pass
