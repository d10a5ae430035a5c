"""A TCP peer for connection tests, run inside a test namespace.

``server HOST PORT``: accept connections, echo every line back.
``client HOST PORT``: connect once; for each line on stdin send it and print ``echo``
if it came back within a second, else ``silence``.
"""

from __future__ import annotations

import socket
import sys
import threading


def serve(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as lsock:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((host, port))
        lsock.listen()
        print("listening", flush=True)
        while True:
            conn, _ = lsock.accept()
            threading.Thread(target=echo, args=(conn,), daemon=True).start()


def echo(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(4096):
            conn.sendall(data)


def client(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.settimeout(1.0)
        print("connected", flush=True)
        for line in sys.stdin:
            try:
                sock.sendall(line.encode())
                got = sock.recv(4096)
                print("echo" if got else "closed", flush=True)
            except (TimeoutError, socket.timeout):
                print("silence", flush=True)
            except OSError as exc:
                print(f"error {exc.errno}", flush=True)
    del family


if __name__ == "__main__":
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    serve(host, port) if mode == "server" else client(host, port)
