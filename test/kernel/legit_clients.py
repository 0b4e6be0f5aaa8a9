#!/usr/bin/env python3
"""Legitimate kernel TCP clients for test/integration/syn-flood.test.ts.

    legit_clients.py HOST PORT COUNT SPACING_MS TIMEOUT_S

Starts COUNT clients, one every SPACING_MS milliseconds (each in its own thread, so a slow one
does not hold up the next). Each connects to HOST:PORT with a TIMEOUT_S budget for the whole
exchange, sends "hello N\\n", expects the same line back (an echo server), and closes.
Prints one JSON object: {"ok": n, "failed": n, "outcomes": {...}, "latency_ms": [p50, p90, max]}.
"""
import json
import socket
import sys
import threading
import time


def one(i, host, port, timeout, results):
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        msg = ('hello %d\n' % i).encode()
        s.sendall(msg)
        got = b''
        while len(got) < len(msg):
            d = s.recv(100)
            if not d:
                break
            got += d
        results[i] = ('ok' if got == msg else 'bad-echo', (time.monotonic() - t0) * 1000)
    except socket.timeout:
        results[i] = ('timeout', (time.monotonic() - t0) * 1000)
    except OSError as e:
        results[i] = ('errno-%d' % (e.errno or 0), (time.monotonic() - t0) * 1000)
    finally:
        s.close()


def main():
    host, port, count, spacing, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    results = [None] * count
    threads = []
    start = time.monotonic()
    for i in range(count):
        delay = start + i * spacing / 1000.0 - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=one, args=(i, host, port, timeout, results))
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout + 5)
    outcomes = {}
    lat = []
    for r in results:
        k = r[0] if r else 'unfinished'
        outcomes[k] = outcomes.get(k, 0) + 1
        if r and r[0] == 'ok':
            lat.append(r[1])
    lat.sort()
    pick = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1) if lat else None
    print(json.dumps({'ok': outcomes.get('ok', 0), 'failed': count - outcomes.get('ok', 0), 'outcomes': outcomes,
                      'latency_ms': [pick(0.5), pick(0.9), round(lat[-1], 1) if lat else None]}), flush=True)


if __name__ == '__main__':
    main()
