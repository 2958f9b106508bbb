#!/usr/bin/env python3
"""Waits until a ZooKeeper-protocol server at HOST:PORT answers getData(PATH) with no error,
polling every 10 ms; prints the seconds since START (a unix time, e.g. taken right before the
server was launched). Stdlib only. Used by perf/restart.sh."""
import socket
import struct
import sys
import time


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf
    (n,) = struct.unpack(">i", exact(4))
    return exact(n)


def try_get(host, port, path):
    with socket.create_connection((host, port), timeout=2) as s:
        s.sendall(frame(struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"))
        read_frame(s)
        p = path.encode()
        s.sendall(frame(struct.pack(">ii", 1, 4) + struct.pack(">i", len(p)) + p + b"\0"))
        reply = read_frame(s)
        _xid, _zxid, err = struct.unpack(">iqi", reply[:16])
        return err == 0


def main():
    host, port, path, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if try_get(host, port, path):
                print(f"{time.time() - start:.3f}")
                return 0
        except OSError:
            pass
        time.sleep(0.01)
    print("timeout", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
