#!/usr/bin/env python3
"""Real kernel clients for the `wtcp bench queue` validation (test/integration/queue-validation.test.ts).

usage: queue-load.py HOST PORT N DURATION_S GIVEUP_S ARRIVAL(constant|burst)

Starts N non-blocking connects to HOST:PORT, evenly over DURATION_S (constant) or all at once
(burst), and follows each the way the simulator's clients do: it waits for the handshake, then for
the server's reply; a client not served GIVEUP_S after its connect() gives up and closes.
Prints JSON: {"outcomes": {...}, "latencies": [connect latency in ms of each client that connected]}.
"""
import errno
import json
import selectors
import socket
import sys
import time

host, port, n, duration, giveup, arrival = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
sel = selectors.DefaultSelector()
start = time.monotonic()
arrivals = [start + (i * duration / n if arrival == 'constant' else 0.0) for i in range(n)]
outcomes = {'served': 0, 'refused': 0, 'reset': 0, 'timeout-connect': 0, 'timeout-queue': 0}
latencies = []
active = {}


def finish(c, outcome):
    outcomes[outcome] += 1
    try:
        sel.unregister(c['s'])
    except Exception:
        pass
    c['s'].close()
    del active[c['i']]


i = 0
while i < n or active:
    now = time.monotonic()
    while i < n and arrivals[i] <= now:
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex((host, port))
        c = {'i': i, 's': s, 't0': time.monotonic(), 'state': 'connecting'}
        active[i] = c
        sel.register(s, selectors.EVENT_WRITE, c)
        i += 1
    wait = 0.02
    if i < n:
        wait = min(wait, max(0.0, arrivals[i] - time.monotonic()))
    for key, _ in sel.select(timeout=wait):
        c = key.data
        if c['i'] not in active:
            continue
        s = c['s']
        if c['state'] == 'connecting':
            e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if e == 0:
                latencies.append(round((time.monotonic() - c['t0']) * 1000))
                c['state'] = 'waiting'
                sel.modify(s, selectors.EVENT_READ, c)
            else:
                finish(c, 'refused' if e == errno.ECONNREFUSED else 'timeout-connect' if e == errno.ETIMEDOUT else 'reset')
        else:
            try:
                d = s.recv(64)
                finish(c, 'served' if d else 'reset')
            except (ConnectionResetError, OSError):
                finish(c, 'reset')
    now = time.monotonic()
    for c in list(active.values()):
        if now - c['t0'] >= giveup:
            finish(c, 'timeout-queue' if c['state'] == 'waiting' else 'timeout-connect')

print(json.dumps({'outcomes': outcomes, 'latencies': sorted(latencies)}))
