#!/usr/bin/env python3
"""A kernel server for the `wtcp bench queue` validation: listen(BACKLOG) on HOST:PORT, then accept
at RATE per second (0 = never; one accept per 1/RATE s, as the simulator's --accept-rate does with
batch 1), answer each accepted connection with "ok\\n" and close it. Prints "listening" when ready.

usage: queue-server.py HOST PORT BACKLOG RATE
"""
import socket
import sys
import time

host, port, backlog, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((host, port))
ls.listen(backlog)
ls.setblocking(False)
print('listening', flush=True)
if rate <= 0:
    while True:
        time.sleep(3600)
period = 1.0 / rate
nxt = time.monotonic() + period
while True:
    delay = nxt - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    nxt += period
    try:
        c, _ = ls.accept()
    except BlockingIOError:
        continue
    try:
        c.send(b'ok\n')
    except OSError:
        pass
    c.close()
