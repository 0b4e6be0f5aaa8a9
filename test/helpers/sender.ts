// A stack that sends bulk data to a scripted peer which acknowledges exactly as a test says: for
// the congestion-control and loss-recovery tests (test/unit/congestion.test.ts, sack.test.ts).
// The stack connects (active open) to the peer; the peer's SYN-ACK decides SACK and the MSS.
import { Stack } from '../../src/stack.js';
import { MemoryLink } from '../../src/links/memory.js';
import { VirtualClock } from '../../src/clock.js';
import { Peer, type TcpFlow, type ReceivedSegment } from '../../src/testing/peer.js';
import { CcInfo, ConnField } from '../../src/core.js';

export const STACK_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.99';
export const MSS = 1460;   // no timestamps: the effective MSS is the option's value
export const u32 = (n: number) => n >>> 0;

export interface Sender {
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  f: TcpFlow;
  fd: number;
  conn: number;
  /** first data byte's sequence number (ISS + 1) */
  base: number;
  info(field: CcInfo): number;
  /** every data segment the peer has received so far (and not taken yet) */
  take(): Promise<ReceivedSegment[]>;
  /** ACK from the peer: `ack` and SACK blocks as offsets from `base` */
  ack(ackOff: number, sack?: [number, number][]): void;
}

export async function sender(opts: {
  personality?: 'linux-5.4' | 'freebsd-12.1' | '4.3bsd';
  cc?: string;
  sack?: boolean;
  sysctls?: Record<string, number | string>;
  bytes?: number;
  rtt?: number;
} = {}): Promise<Sender> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality: opts.personality ?? 'linux-5.4', clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 7,
    sysctls: { ...(opts.sysctls ?? {}) },
  });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_SNDBUF', 2 * 1024 * 1024);
  if (opts.cc !== undefined) stack.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_CONGESTION', opts.cc);
  const done = stack.bsd.connectAsync(fd, { address: PEER_IP, port: 80 });
  const lport = stack.bsd.getsockname(fd).port;
  const f = peer.flow({ sport: 80, dport: lport, isn: 1000 });
  const syn = await f.expect({ flags: 'S' }, { within: 50 });
  // an RTT sample from the handshake (RFC 6298): the SYN-ACK comes `rtt` ms after the SYN
  await peer.wait(opts.rtt ?? 100);
  f.send({ flags: 'S.', win: 65535, options: { mss: MSS, wscale: 7, ...(opts.sack === false ? {} : { sackOk: true }) } });
  await f.expect({ flags: '.' }, { within: 10 });
  await done;
  let conn = -1;
  for (let c = 0; c < 64; c++) if (stack.core.x.connGet(c, ConnField.LocalPort) === lport) { conn = c; break; }
  const base = u32(syn.seq + 1);
  if (opts.bytes) {
    const data = new Uint8Array(opts.bytes);
    for (let i = 0; i < data.length; i++) data[i] = i & 255;
    stack.bsd.send(fd, data);
  }
  return {
    clock, stack, peer, f, fd, conn, base,
    info: (field) => stack.core.x.connCcInfo(conn, field),
    take: async () => (await peer.drain()).filter((s) => s.payload.length > 0 || (s.flagBits & 1) !== 0),
    ack: (ackOff, sack) => {
      f.send({
        flags: '.', ack: u32(base + ackOff), win: 65535,
        ...(sack ? { options: { sack: sack.map(([l, r]) => [u32(base + l), u32(base + r)] as [number, number]) } } : {}),
      });
    },
  };
}

/** Offsets (from `base`) of the segments' first bytes. */
export function offsets(s: Sender, segs: ReceivedSegment[]): number[] {
  return segs.map((g) => u32(g.seq - s.base));
}

/**
 * The peer's side of a bulk transfer: remembers the end of every data segment received and not
 * yet acknowledged, and acknowledges them as a test says.
 */
export class AckDriver {
  /** end offsets (from base) of segments received, not yet acknowledged */
  pending: number[] = [];
  /** highest offset acknowledged */
  una = 0;
  constructor(readonly s: Sender) {}
  /** take what the stack has sent since last time */
  async collect(): Promise<ReceivedSegment[]> {
    const segs = await this.s.take();
    for (const g of segs) this.pending.push(u32(g.seq - this.s.base) + g.payload.length);
    return segs;
  }
  /** one round trip: collect, let `rtt` ms pass, ACK up to `limit` segments one ACK each, refill the send buffer */
  async round(rtt: number, limit = Infinity): Promise<number> {
    const segs = await this.collect();
    await this.s.peer.wait(rtt);
    const n = Math.min(limit, this.pending.length);
    for (const end of this.pending.splice(0, n)) {
      if (end > this.una) this.una = end;
      this.s.ack(this.una);
    }
    await this.s.peer.settle();
    this.refill();
    return segs.length;
  }
  /** `k` duplicate ACKs of the current acknowledgement */
  async dup(k: number): Promise<void> {
    for (let i = 0; i < k; i++) this.s.ack(this.una);
    await this.s.peer.settle();
  }
  /** a cumulative ACK up to `off` */
  async ackTo(off: number): Promise<void> {
    this.una = off;
    this.pending = this.pending.filter((e) => e > off);
    this.s.ack(off);
    await this.s.peer.settle();
  }
  refill(): void {
    try { this.s.stack.bsd.send(this.s.fd, new Uint8Array(1 << 20)); } catch { /* the buffer is full */ }
  }
}
