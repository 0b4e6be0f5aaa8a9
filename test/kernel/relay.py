#!/usr/bin/python3
"""A one-way delay line between two interfaces, for the kernel-comparison harness.

Forwards every Ethernet frame between IF_CLIENT and IF_SERVER through AF_PACKET sockets (an L2
wire, like a bridge): frames from the client side are held DELAY_MS milliseconds (FIFO, so their
order is kept), frames from the server side are forwarded at once. Run it in a namespace of its own
whose interfaces have no addresses, so no kernel there answers anything:

    ip netns exec RELAY_NS python3 relay.py IF_CLIENT IF_SERVER DELAY_MS

Why: "concurrent" scenarios must be deterministic. On a plain veth pair a handshake often completes
inside the client's own connect() system call (softirq on the same CPU), so the interleaving of SYNs
and third ACKs at the server depends on scheduling. With a client->server delay longer than the
time the client needs to issue all its connects, every SYN reaches the server, in the client's send
order, before any third ACK. The stack target gets the same delay from a Link wrapper
(test/kernel/delay-link.ts). This kernel has no sch_netem, hence this relay.

Checksums: the veth peers offload TCP checksums (CHECKSUM_PARTIAL), so a frame read here may carry
only the pseudo-header sum; the relay recomputes the TCP checksum of every IPv4/TCP frame it
forwards (a correct checksum recomputes to itself).

Prints "ready" when both sockets are bound; exits on SIGTERM, printing one line
"relay-stats {json}" to stderr (frames each way, errors, maxLateMs).
"""
import collections
import json
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def open_if(name: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((name, 0))
    s.setblocking(False)
    return s


def csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return (~total) & 0xFFFF


def fix_tcp_checksum(frame: bytes) -> bytes:
    if len(frame) < 34:
        return frame
    off = 14
    ethertype = struct.unpack_from("!H", frame, 12)[0]
    if ethertype == 0x8100:
        off = 18
        ethertype = struct.unpack_from("!H", frame, 16)[0]
    if ethertype != 0x0800 or len(frame) < off + 20:
        return frame
    ihl = (frame[off] & 0x0F) * 4
    total_len = struct.unpack_from("!H", frame, off + 2)[0]
    frag = struct.unpack_from("!H", frame, off + 6)[0]
    if frame[off + 9] != 6 or (frag & 0x3FFF) != 0 or len(frame) < off + total_len:
        return frame
    tcp_off = off + ihl
    tcp_len = total_len - ihl
    if tcp_len < 20:
        return frame
    seg = bytearray(frame[tcp_off:tcp_off + tcp_len])
    seg[16:18] = b"\0\0"
    pseudo = frame[off + 12:off + 20] + struct.pack("!BBH", 0, 6, tcp_len)
    struct.pack_into("!H", seg, 16, csum(pseudo + bytes(seg)))
    return frame[:tcp_off] + bytes(seg) + frame[tcp_off + tcp_len:]


def main() -> None:
    if_client, if_server, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    delay = delay_ms / 1000.0
    a = open_if(if_client)
    b = open_if(if_server)
    held = collections.deque()  # (release time, frame) from the client side
    counts = {"c2s": 0, "s2c": 0, "errors": 0, "maxLateMs": 0.0}

    def stop(*_):
        # one JSON line: the harness reads maxLateMs (how late the relay released a held frame, i.e.
        # how much a busy host disturbed the delay line)
        counts["maxLateMs"] = round(counts["maxLateMs"], 1)
        sys.stderr.write("relay-stats %s\n" % json.dumps(counts))
        sys.stderr.flush()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write("ready\n")
    sys.stdout.flush()

    while True:
        now = time.monotonic()
        while held and held[0][0] <= now:
            due, frame = held.popleft()
            counts["maxLateMs"] = max(counts["maxLateMs"], (now - due) * 1000.0)
            try:
                b.send(frame)
                counts["c2s"] += 1
            except OSError:
                counts["errors"] += 1
        timeout = None if not held else max(0.0, held[0][0] - time.monotonic())
        readable, _, _ = select.select([a, b], [], [], timeout)
        for s in readable:
            while True:
                try:
                    frame, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue
                frame = fix_tcp_checksum(frame)
                if s is a:
                    held.append((time.monotonic() + delay, frame))
                else:
                    try:
                        a.send(frame)
                        counts["s2c"] += 1
                    except OSError:
                        counts["errors"] += 1


if __name__ == "__main__":
    main()
