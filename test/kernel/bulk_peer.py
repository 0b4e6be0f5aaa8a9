#!/usr/bin/env python3
"""A kernel TCP peer for test/integration/kernel-data.test.ts: one connection, data both ways at once.

    bulk_peer.py server HOST PORT NBYTES SEED MAXSEG   # listen on HOST:PORT, accept one connection
    bulk_peer.py client HOST PORT NBYTES SEED MAXSEG   # connect to HOST:PORT

MAXSEG > 0 sets TCP_MAXSEG before listen()/connect(): the MSS the kernel announces in its SYN or
SYN-ACK (and the most it will send). Once the connection is up, a sender thread writes NBYTES of
random.Random(SEED) bytes and then shuts down its writing side, while the main thread reads until
end of stream; both hash what they move (sha256).

Output, one JSON object per line on stdout:
    {"listening": PORT}                                   (server, once listening)
    {"result": {...}}                                     at the end: bytes and sha256 both ways,
        the local and peer addresses, the connection's `ss -tine` entry right after the handshake
        ("ss_established"), TCP_INFO's fields then and after the transfer, before close.
Errors go to stderr and the exit status is 1. Every blocking call has a timeout (no hang).
"""
import hashlib
import json
import random
import socket
import struct
import subprocess
import sys
import threading
import time

TIMEOUT = 120.0


def ss_entry(local, peer):
    """The `ss -tine` entry (state line and info line) of the connection local -> peer, as text.

    -e is needed: iproute2 6.1 (Debian 12) prints the `ts` and `sack` flags only with it.
    """
    out = subprocess.run(['ss', '-tineH'], capture_output=True, text=True, timeout=20).stdout
    lines = out.splitlines()
    want_l = '%s:%d' % local
    want_p = '%s:%d' % peer
    for i, line in enumerate(lines):
        f = line.split()
        if len(f) >= 5 and f[3] == want_l and f[4] == want_p:
            info = []
            for nxt in lines[i + 1:]:
                if nxt[:1] in (' ', '\t'):
                    info.append(nxt.strip())
                else:
                    break
            return line + '\n' + ' '.join(info)
    return None


def tcp_info(s):
    """Fields of TCP_INFO (struct tcp_info, include/uapi/linux/tcp.h; offsets of the x86-64 layout)."""
    raw = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    state, ca_state, retransmits, probes, backoff, options, wscale = struct.unpack_from('7B', raw, 0)
    rto, ato, snd_mss, rcv_mss = struct.unpack_from('4I', raw, 8)
    (total_retrans,) = struct.unpack_from('I', raw, 100)
    bytes_acked, bytes_received = struct.unpack_from('2Q', raw, 120)
    return {
        'state': state,
        'total_retrans': total_retrans,
        'bytes_acked': bytes_acked,  # tcpi_bytes_acked: sequence space acknowledged (SYN and FIN included)
        'bytes_received': bytes_received,
        'options': options,  # TCPI_OPT_TIMESTAMPS 1, TCPI_OPT_SACK 2, TCPI_OPT_WSCALE 4
        'snd_wscale': wscale & 0xF,
        'rcv_wscale': wscale >> 4,
        'snd_mss': snd_mss,
        'rcv_mss': rcv_mss,
    }


def main():
    mode, host, port, nbytes, seed, maxseg = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    if mode == 'server':
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if maxseg > 0:
            ls.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
        ls.bind((host, port))
        ls.listen(4)
        ls.settimeout(TIMEOUT)
        print(json.dumps({'listening': port}), flush=True)
        s, _ = ls.accept()
        ls.close()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if maxseg > 0:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, maxseg)
        s.settimeout(TIMEOUT)
        s.connect((host, port))
    s.settimeout(TIMEOUT)
    local, peer = s.getsockname(), s.getpeername()
    ss_established = ss_entry(local, peer)
    info_established = tcp_info(s)

    sent = {'bytes': 0, 'sha256': None, 'error': None}

    def sender():
        try:
            rnd = random.Random(seed)
            h = hashlib.sha256()
            left = nbytes
            while left > 0:
                b = rnd.randbytes(min(65536, left))
                h.update(b)
                s.sendall(b)
                left -= len(b)
                sent['bytes'] += len(b)
            s.shutdown(socket.SHUT_WR)
            sent['sha256'] = h.hexdigest()
        except Exception as e:  # reported in the result
            sent['error'] = repr(e)

    t = threading.Thread(target=sender)
    t.start()
    h = hashlib.sha256()
    got = 0
    while True:
        d = s.recv(262144)
        if not d:
            break
        h.update(d)
        got += len(d)
    t.join(TIMEOUT)
    # both FINs have been sent; wait (bounded) for the last ACK: the connection is done when the
    # kernel's socket is CLOSE (7: after LAST-ACK, or handed to a TIME-WAIT minisocket)
    deadline = time.monotonic() + TIMEOUT
    info_end = tcp_info(s)
    while info_end['state'] != 7 and time.monotonic() < deadline:
        time.sleep(0.005)
        info_end = tcp_info(s)
    s.close()
    print(json.dumps({'result': {
        'local': '%s:%d' % local,
        'peer': '%s:%d' % peer,
        'sent': sent['bytes'],
        'sent_sha256': sent['sha256'],
        'send_error': sent['error'],
        'received': got,
        'received_sha256': h.hexdigest(),
        'ss_established': ss_established,
        'tcp_info_established': info_established,
        'tcp_info_end': info_end,
    }}), flush=True)


if __name__ == '__main__':
    try:
        main()
    except Exception as e:
        print('bulk_peer: %r' % (e,), file=sys.stderr, flush=True)
        sys.exit(1)
