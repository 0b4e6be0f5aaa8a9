/**
 * A scripted packet peer for tests: a fake host with its own MAC and IPv4 address on one end of a
 * link (usually a MemoryLink whose other end is a Stack). Tests read like packet traces (STYLE.md):
 *
 *   const c = peer.flow({ sport: 40000, dport: 8080, isn: 1000 });
 *   c.send({ flags: 'S', options: { mss: 1460 } });
 *   await c.expect({ flags: 'S.', ack: 1001 });          // captures the stack's ISS as c.iss
 *   c.send({ flags: '.' });                                // seq/ack from the bookkeeping
 *   await peer.expectNothing(3000);                        // advances the VirtualClock 3 s
 *
 * The peer answers ARP requests for its own address, learns the stack's MAC from its ARP traffic,
 * builds frames with correct checksums (or any fields you override), and parses what it receives.
 * `expect()` takes the NEXT TCP segment received and checks it against the fields given; it never
 * skips segments. On a VirtualClock, waiting (`within`, `expectNothing`, `wait`) advances the clock
 * timer by timer, letting the event loop run after each, so every received segment is stamped with
 * the virtual time it was sent at. On a RealClock it waits for real.
 */

import { isIPv4, macFromIp } from '../addr.js';
import { macrotask, VirtualClock, type Clock } from '../clock.js';
import type { Link } from '../links/link.js';
import {
  buildArp,
  buildEthernet,
  buildTcpFrame,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  formatSegment,
  normalizeFlags,
  parseArp,
  parseEthernet,
  parseIpv4,
  parseTcp,
  TCP_ACK,
  TCP_FIN,
  TCP_SYN,
  type ArpPacket,
  type Ipv4Packet,
  type TcpOptions,
  type TcpSegment,
  IPPROTO_TCP,
} from './frames.js';

export interface PeerOptions {
  link: Link;
  clock: Clock;
  /** the peer's own address, e.g. '198.18.0.99' */
  ip: string;
  /** default: derived from `ip` like the stack derives its own (02:00 + the address bytes) */
  mac?: string;
  /** the stack's address */
  stackIp: string;
  /** default: the stack's derived default MAC; updated from the stack's ARP traffic */
  stackMac?: string;
  /** answer ARP requests for `ip` (default true) */
  answerArp?: boolean;
  /** defaults for every segment sent (sport, dport, win, ...) */
  template?: Partial<SegmentTemplate>;
}

/** Everything `send()` can set; unset fields come from the peer's template. */
export interface SegmentTemplate {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** tcpdump letters: 'S', 'S.', '.', 'P.', 'F.', 'R', 'R.', 'SF', '' */
  flags: string;
  win: number;
  urp: number;
  options: TcpOptions;
  /** exact option bytes instead of `options` */
  rawOptions: Uint8Array;
  /** bytes, or a string sent as latin-1 */
  payload: Uint8Array | string;
  /** TCP checksum to write instead of the right one */
  checksum: number;
  dataOffset: number;
  ip: { src?: string; dst?: string; ttl?: number; id?: number; tos?: number; df?: boolean; checksum?: number };
  /** destination MAC instead of the stack's */
  dstMac: string;
}

/** A TCP segment the peer received, with when and how it arrived. */
export interface ReceivedSegment extends TcpSegment {
  /** clock time of arrival */
  time: number;
  ip: Ipv4Packet;
  eth: { src: string; dst: string };
  /** the frame as received */
  frame: Uint8Array;
  /** tcpdump-like line */
  text: string;
}

/** What `expect()` checks; every field given must match. */
export interface SegmentMatch {
  flags?: string;
  seq?: number;
  ack?: number;
  win?: number;
  sport?: number;
  dport?: number;
  urp?: number;
  /** payload bytes, a latin-1 string, or just its length */
  payload?: Uint8Array | string;
  len?: number;
  /** each key given must equal; a key given as undefined must be absent */
  options?: Partial<TcpOptions>;
  /** arrival time, exact (virtual clocks) */
  time?: number;
  /** any further check; return false or throw to fail */
  where?: (seg: ReceivedSegment) => boolean | void;
}

export interface ExpectOptions {
  /** how long to wait for the segment (ms of clock time); default 0: it must already have been sent */
  within?: number;
}

const DEFAULT_TEMPLATE: Partial<SegmentTemplate> = { sport: 40000, dport: 80, win: 65535 };

function toBytes(p: Uint8Array | string | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  if (typeof p !== 'string') return p;
  const out = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p.charCodeAt(i) & 255;
  return out;
}

export class Peer {
  readonly ip: string;
  readonly mac: string;
  readonly stackIp: string;
  stackMac: string;
  readonly clock: Clock;
  readonly link: Link;
  /** defaults for send() */
  template: Partial<SegmentTemplate>;
  /** TCP segments received and not yet consumed by expect() */
  readonly received: ReceivedSegment[] = [];
  /** every ARP packet received */
  readonly arp: (ArpPacket & { time: number })[] = [];
  /** frames that were neither ARP nor TCP to us (ICMP, other destinations, malformed) */
  readonly other: { time: number; frame: Uint8Array }[] = [];
  /** every segment this peer sent, for traces */
  readonly sent: { time: number; frame: Uint8Array }[] = [];
  answerArp: boolean;
  #closed = false;

  constructor(opts: PeerOptions) {
    if (!isIPv4(opts.ip)) throw new TypeError(`Peer ip must be a dotted quad, got ${String(opts.ip)}`);
    if (!isIPv4(opts.stackIp)) throw new TypeError(`Peer stackIp must be a dotted quad, got ${String(opts.stackIp)}`);
    this.ip = opts.ip;
    this.mac = opts.mac ?? macFromIp(opts.ip);
    this.stackIp = opts.stackIp;
    this.stackMac = opts.stackMac ?? macFromIp(opts.stackIp);
    this.clock = opts.clock;
    this.link = opts.link;
    this.answerArp = opts.answerArp ?? true;
    this.template = { ...DEFAULT_TEMPLATE, ...opts.template };
    this.link.onReceive((frame) => this.#receive(frame.slice()));
  }

  // --- sending ---------------------------------------------------------------------------------------

  /** Build and send one TCP segment; returns the frame sent. */
  send(fields: Partial<SegmentTemplate> = {}): Uint8Array {
    const t = { ...this.template, ...fields };
    if (t.flags === undefined) throw new TypeError('Peer.send: flags are required (e.g. "S", "S.", ".", "R")');
    const frame = buildTcpFrame({
      srcMac: this.mac,
      dstMac: t.dstMac ?? this.stackMac,
      ip: {
        src: t.ip?.src ?? this.ip,
        dst: t.ip?.dst ?? this.stackIp,
        ...(t.ip?.ttl !== undefined ? { ttl: t.ip.ttl } : {}),
        ...(t.ip?.id !== undefined ? { id: t.ip.id } : {}),
        ...(t.ip?.tos !== undefined ? { tos: t.ip.tos } : {}),
        ...(t.ip?.df !== undefined ? { df: t.ip.df } : {}),
        ...(t.ip?.checksum !== undefined ? { checksum: t.ip.checksum } : {}),
      },
      tcp: {
        sport: t.sport ?? 40000,
        dport: t.dport ?? 80,
        seq: t.seq ?? 0,
        ack: t.ack ?? 0,
        flags: t.flags,
        win: t.win ?? 65535,
        ...(t.urp !== undefined ? { urp: t.urp } : {}),
        ...(t.options !== undefined ? { options: t.options } : {}),
        ...(t.rawOptions !== undefined ? { rawOptions: t.rawOptions } : {}),
        payload: toBytes(t.payload),
        ...(t.checksum !== undefined ? { checksum: t.checksum } : {}),
        ...(t.dataOffset !== undefined ? { dataOffset: t.dataOffset } : {}),
      },
    });
    this.sendFrame(frame);
    return frame;
  }

  /** Send raw bytes as a frame. */
  sendFrame(frame: Uint8Array): void {
    if (this.#closed) throw new Error('Peer is closed');
    this.sent.push({ time: this.clock.now(), frame: frame.slice() });
    this.link.send(frame);
  }

  /** Broadcast an ARP request for `targetIp` (default: the stack's address). */
  sendArpRequest(targetIp: string = this.stackIp): void {
    const arp = buildArp({ op: 1, senderMac: this.mac, senderIp: this.ip, targetMac: '00:00:00:00:00:00', targetIp });
    this.sendFrame(buildEthernet({ dst: 'ff:ff:ff:ff:ff:ff', src: this.mac, type: ETHERTYPE_ARP, payload: arp }));
  }

  /** ARP for the stack and return its MAC (also stored in `stackMac`). */
  async resolve(opts: ExpectOptions = {}): Promise<string> {
    const before = this.arp.length;
    this.sendArpRequest();
    const found = await this.#waitFor(() => this.arp.slice(before).some((a) => a.op === 2 && a.senderIp === this.stackIp), opts.within ?? 0);
    if (!found) throw new Error(`Peer.resolve: no ARP reply from ${this.stackIp}`);
    return this.stackMac;
  }

  /** Sequence bookkeeping for one connection of this peer. */
  flow(f: { sport: number; dport: number; isn?: number }): TcpFlow {
    return new TcpFlow(this, f.sport, f.dport, f.isn ?? 1000);
  }

  // --- expecting ---------------------------------------------------------------------------------------

  /** Let the event loop run so that frames in flight (microtasks) arrive. */
  async settle(): Promise<void> {
    await macrotask();
    await macrotask();
  }

  /**
   * The next TCP segment received, checked against `match`. Waits up to `within` ms of clock time
   * (default 0: only what has already been sent). Throws, naming what came instead, otherwise.
   */
  async expect(match: SegmentMatch = {}, opts: ExpectOptions = {}): Promise<ReceivedSegment> {
    const got = await this.#waitFor(() => this.received.length > 0, opts.within ?? 0);
    if (!got) {
      throw new Error(`expected ${describeMatch(match)} within ${opts.within ?? 0} ms, got nothing (now ${this.clock.now()})`);
    }
    const seg = this.received.shift() as ReceivedSegment;
    const why = mismatch(seg, match);
    if (why) throw new Error(`expected ${describeMatch(match)}, got ${seg.text} at ${seg.time} ms: ${why}`);
    return seg;
  }

  /**
   * Nothing (no TCP segment) may arrive for `ms` of clock time (spec notation ∅, default 3 s).
   * Advances a VirtualClock by exactly `ms`.
   */
  async expectNothing(ms = 3000): Promise<void> {
    await this.settle();
    if (this.received.length > 0) {
      throw new Error(`expected nothing, but ${this.received.length} segment(s) were waiting: ${this.received.map((s) => `${s.text} at ${s.time} ms`).join('; ')}`);
    }
    const deadline = this.clock.now() + ms;
    const got = await this.#waitFor(() => this.received.length > 0, ms);
    if (got) {
      const s = this.received[0] as ReceivedSegment;
      throw new Error(`expected nothing for ${ms} ms, got ${s.text} at ${s.time} ms`);
    }
    if (this.clock instanceof VirtualClock && this.clock.now() < deadline) this.clock.advanceTo(deadline);
  }

  /** Let `ms` of clock time pass (running the stack's timers), collecting whatever arrives. */
  async wait(ms: number): Promise<void> {
    const deadline = this.clock.now() + ms;
    await this.#waitFor(() => false, ms);
    if (this.clock instanceof VirtualClock && this.clock.now() < deadline) this.clock.advanceTo(deadline);
  }

  /** Take every received segment (after letting frames in flight arrive). */
  async drain(): Promise<ReceivedSegment[]> {
    await this.settle();
    return this.received.splice(0);
  }

  close(): void {
    this.#closed = true;
    this.link.onReceive(null);
  }

  /**
   * Wait until `done()` or until `ms` of clock time have passed. VirtualClock: run its callbacks one
   * due time at a time, settling after each; stops right after the callback that made done() true
   * (so the clock shows the arrival time). RealClock: poll every 5 ms of real time.
   */
  async #waitFor(done: () => boolean, ms: number): Promise<boolean> {
    await this.settle();
    if (done()) return true;
    const clock = this.clock;
    const deadline = clock.now() + ms;
    if (clock instanceof VirtualClock) {
      for (let steps = 0; ; steps++) {
        const due = clock.nextDue();
        if (due === undefined || due > deadline) break;
        if (steps >= 100_000) throw new Error(`Peer: the clock's timers keep firing (still at ${clock.now()} ms after ${steps} callbacks)`);
        clock.advanceTo(Math.max(due, clock.now()));
        await this.settle();
        if (done()) return true;
      }
      return false;
    }
    while (clock.now() < deadline) {
      await new Promise((r) => globalThis.setTimeout(r, Math.min(5, Math.max(0, deadline - clock.now()))));
      if (done()) return true;
    }
    await this.settle();
    return done();
  }

  // --- receiving ---------------------------------------------------------------------------------------

  #receive(frame: Uint8Array): void {
    const time = this.clock.now();
    const eth = parseEthernet(frame);
    if (!eth) {
      this.other.push({ time, frame });
      return;
    }
    const forUs = eth.dst === this.mac || eth.dst === 'ff:ff:ff:ff:ff:ff';
    if (eth.type === ETHERTYPE_ARP) {
      const arp = parseArp(eth.payload);
      if (!arp) {
        this.other.push({ time, frame });
        return;
      }
      this.arp.push({ ...arp, time });
      if (arp.senderIp === this.stackIp) this.stackMac = arp.senderMac;
      if (arp.op === 1 && arp.targetIp === this.ip && this.answerArp && !this.#closed) {
        const reply = buildArp({ op: 2, senderMac: this.mac, senderIp: this.ip, targetMac: arp.senderMac, targetIp: arp.senderIp });
        this.link.send(buildEthernet({ dst: arp.senderMac, src: this.mac, type: ETHERTYPE_ARP, payload: reply }));
      }
      return;
    }
    if (!forUs || eth.type !== ETHERTYPE_IPV4) {
      this.other.push({ time, frame });
      return;
    }
    const ip = parseIpv4(eth.payload);
    const tcp = ip && ip.protocol === IPPROTO_TCP ? parseTcp(ip) : undefined;
    if (!ip || !tcp) {
      this.other.push({ time, frame });
      return;
    }
    this.received.push({ ...tcp, time, ip, eth: { src: eth.src, dst: eth.dst }, frame, text: formatSegment(ip, tcp) });
  }
}

/**
 * One connection's sequence numbers as the peer sees them: `isn` (ours), `iss` (the stack's, captured
 * from its SYN-ACK), `sndNxt` / `rcvNxt` advanced by what is sent and expected.
 */
export class TcpFlow {
  readonly peer: Peer;
  readonly sport: number;
  readonly dport: number;
  readonly isn: number;
  /** the stack's initial sequence number, once a SYN from it was expected */
  iss: number | undefined;
  sndNxt: number;
  rcvNxt: number | undefined;

  constructor(peer: Peer, sport: number, dport: number, isn: number) {
    this.peer = peer;
    this.sport = sport;
    this.dport = dport;
    this.isn = isn >>> 0;
    this.sndNxt = this.isn;
  }

  /**
   * Send on this flow: seq defaults to sndNxt, ack to rcvNxt when the ACK flag is set. sndNxt then
   * advances by the payload length plus one for SYN and for FIN (a RST advances nothing).
   */
  send(fields: Partial<SegmentTemplate> & { flags: string }): Uint8Array {
    const bits = flagBits(fields.flags);
    const seq = fields.seq ?? this.sndNxt;
    const ack = fields.ack ?? (bits & TCP_ACK ? this.#rcvNxtOrThrow() : 0);
    const frame = this.peer.send({ ...fields, sport: this.sport, dport: this.dport, seq, ack });
    const len = toBytes(fields.payload).length + (bits & TCP_SYN ? 1 : 0) + (bits & TCP_FIN ? 1 : 0);
    if (fields.seq === undefined || fields.seq === this.sndNxt) this.sndNxt = (seq + len) >>> 0;
    return frame;
  }

  /**
   * Expect the peer's next segment to belong to this flow and match. A segment with SYN sets `iss`
   * and rcvNxt; data and FIN advance rcvNxt.
   */
  async expect(match: SegmentMatch = {}, opts: ExpectOptions = {}): Promise<ReceivedSegment> {
    const seg = await this.peer.expect({ ...match, sport: this.dport, dport: this.sport }, opts);
    const syn = (seg.flagBits & TCP_SYN) !== 0;
    if (syn) {
      this.iss = seg.seq;
      this.rcvNxt = (seg.seq + 1) >>> 0;
    }
    const start = syn ? (seg.seq + 1) >>> 0 : seg.seq;
    if (this.rcvNxt === undefined || start === this.rcvNxt) {
      this.rcvNxt = (start + seg.payload.length + (seg.flagBits & TCP_FIN ? 1 : 0)) >>> 0;
    }
    return seg;
  }

  /** SYN, expect SYN-ACK (ack = isn + 1), ACK. Returns the SYN-ACK. */
  async connect(opts: { options?: TcpOptions; win?: number; within?: number } = {}): Promise<ReceivedSegment> {
    this.send({ flags: 'S', ...(opts.options ? { options: opts.options } : {}), ...(opts.win !== undefined ? { win: opts.win } : {}) });
    const synAck = await this.expect({ flags: 'S.', ack: (this.isn + 1) >>> 0 }, { within: opts.within ?? 0 });
    this.send({ flags: '.', ...(opts.win !== undefined ? { win: opts.win } : {}) });
    return synAck;
  }

  #rcvNxtOrThrow(): number {
    if (this.rcvNxt === undefined) {
      throw new Error('TcpFlow.send: ACK flag set but the stack\'s ISS is not known yet; expect its SYN-ACK first or pass ack');
    }
    return this.rcvNxt;
  }
}

function flagBits(flags: string): number {
  let b = 0;
  for (const ch of flags) {
    if (ch === 'S') b |= TCP_SYN;
    else if (ch === 'F') b |= TCP_FIN;
    else if (ch === '.') b |= TCP_ACK;
  }
  return b;
}

function describeMatch(m: SegmentMatch): string {
  const parts: string[] = [];
  if (m.flags !== undefined) parts.push(`[${m.flags === '' ? 'none' : m.flags}]`);
  if (m.seq !== undefined) parts.push(`seq ${m.seq}`);
  if (m.ack !== undefined) parts.push(`ack ${m.ack}`);
  if (m.win !== undefined) parts.push(`win ${m.win}`);
  if (m.sport !== undefined || m.dport !== undefined) parts.push(`ports ${m.sport ?? '*'} > ${m.dport ?? '*'}`);
  if (m.len !== undefined) parts.push(`length ${m.len}`);
  if (m.options !== undefined) parts.push(`options ${JSON.stringify(m.options)}`);
  if (m.time !== undefined) parts.push(`at ${m.time} ms`);
  return parts.length > 0 ? `a segment ${parts.join(' ')}` : 'a segment';
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return a.length === b.length && a.every((x, i) => x === b[i]);
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return false;
}

/** Why `seg` does not match `m`, or undefined if it does. */
export function mismatch(seg: ReceivedSegment, m: SegmentMatch): string | undefined {
  if (m.flags !== undefined && seg.flags !== normalizeFlags(m.flags)) return `flags [${seg.flags}] != [${normalizeFlags(m.flags)}]`;
  if (m.seq !== undefined && seg.seq !== m.seq >>> 0) return `seq ${seg.seq} != ${m.seq >>> 0}`;
  if (m.ack !== undefined && seg.ack !== m.ack >>> 0) return `ack ${seg.ack} != ${m.ack >>> 0}`;
  if (m.win !== undefined && seg.win !== m.win) return `win ${seg.win} != ${m.win}`;
  if (m.sport !== undefined && seg.sport !== m.sport) return `source port ${seg.sport} != ${m.sport}`;
  if (m.dport !== undefined && seg.dport !== m.dport) return `destination port ${seg.dport} != ${m.dport}`;
  if (m.urp !== undefined && seg.urp !== m.urp) return `urgent pointer ${seg.urp} != ${m.urp}`;
  if (m.len !== undefined && seg.payload.length !== m.len) return `length ${seg.payload.length} != ${m.len}`;
  if (m.payload !== undefined && !sameValue(seg.payload, toBytes(m.payload))) return `payload differs (${seg.payload.length} bytes received)`;
  if (m.time !== undefined && seg.time !== m.time) return `arrived at ${seg.time} ms, not ${m.time} ms`;
  if (m.options !== undefined) {
    for (const key of Object.keys(m.options) as (keyof TcpOptions)[]) {
      const want = m.options[key];
      const have = seg.options[key];
      if (want === undefined) {
        if (have !== undefined) return `option ${key} present (${JSON.stringify(have)}), expected absent`;
      } else if (!sameValue(have, want)) {
        return `option ${key} is ${JSON.stringify(have)}, expected ${JSON.stringify(want)}`;
      }
    }
  }
  if (!seg.checksumOk) return 'bad TCP checksum';
  if (!seg.ip.checksumOk) return 'bad IPv4 header checksum';
  if (m.where) {
    const r = m.where(seg);
    if (r === false) return 'custom check failed';
  }
  return undefined;
}

/** The address tests give the peer by default (no kernel owns it: see TOOLCHAIN.md). */
export const DEFAULT_PEER_IP = '198.18.0.99';
