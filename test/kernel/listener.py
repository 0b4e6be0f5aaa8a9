#!/usr/bin/python3
"""Kernel-side listener for the kernel-comparison harness (test/kernel/kernel-target.ts).

Binds ADDRESS:PORT, calls listen(BACKLOG) and NEVER accepts, so the accept queue fills exactly as the
kernel's listen path decides. Prints "ready" once listening and stays until killed (SIGTERM/SIGKILL).
Run it inside the server namespace: `ip netns exec NS python3 listener.py ADDRESS PORT BACKLOG`.

Python rather than Node: Node's libuv accepts one connection as soon as the listener is readable
(uv__server_io), which would take a connection out of the accept queue.
"""
import signal
import socket
import sys


def main() -> None:
    address, port, backlog = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((address, port))
    s.listen(backlog)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
