// The frame-input fuzzer: fast-check arbitraries for Ethernet / ARP / IPv4 / ICMP / TCP frames
// (structured, with every header field, length, checksum and option byte open to mutation), mutation
// of the captured traffic in test/fuzz/corpus/, and the harness that feeds a batch to a fresh stack
// and checks it afterwards. Used by frames.test.ts (a bounded sample in CI) and long.fuzz.ts (what
// `npm run fuzz -- --seconds N` runs).
//
// One property run = one fresh stack (a personality, a fixed seed, a VirtualClock) joined in memory
// to a scripted Peer (198.18.0.1), holding a listener on port 80, a second one on port 82 with the
// personality's accept filter or TCP_DEFER_ACCEPT, one ESTABLISHED connection from the peer with
// 30000 bytes of the stack's in flight, and a connect() of the stack's own left in SYN-SENT. A run
// is 1..N batches; each batch of frames is materialised against that state (sequence numbers and
// SACK blocks near the live connection's, the SYN-SENT connection's ports and ISS, the listeners, a
// closed port), delivered, the clock advanced (up to 130 s), and then:
//   - the core never aborted (no `error` event, `core.aborted` unset);
//   - WebAssembly memory did not grow (every pool is fixed at init);
//   - counters add up: WtcpInFrames == frames delivered to the stack; IpInReceives and WtcpArpIn ==
//     what the Ethernet headers predict; each IPv4 packet has exactly one IP-level outcome; no
//     counter decreased (TcpCurrEstab is a gauge) or went negative;
//   - a normal connection (SYN, SYN-ACK, ACK, accept()) still completes.
// A fresh stack per run makes each run reproducible from its frames alone, so fast-check can shrink
// a failing batch to the smallest one that still fails (the runner saves it to the corpus).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { macFromIp } from '../../src/addr.js';
import { VirtualClock } from '../../src/clock.js';
import { COUNTERS, type CounterName } from '../../src/core-abi.js';
import { MemoryLink } from '../../src/links/memory.js';
import { PcapWriter } from '../../src/links/pcap.js';
import { Stack, type StackOptions } from '../../src/stack.js';
import {
  buildArp, buildEthernet, buildIpv4, buildTcp, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP,
  finishChecksum, internetChecksum, sum16,
} from '../../src/testing/frames.js';
import { Peer } from '../../src/testing/peer.js';
import { repairChecksums } from '../../src/testing/frames.js';
import { parsePcap } from '../helpers/pcap.js';

export const STACK_IP = '198.18.0.2';
export const PEER_IP = '198.18.0.1';
export const STACK_MAC = macFromIp(STACK_IP);
export const PEER_MAC = macFromIp(PEER_IP);
export const LISTEN_PORT = 80;
export const CLOSED_PORT = 81;
/** a second listener, with the config's accept filter or TCP_DEFER_ACCEPT */
export const FILTERED_PORT = 82;
const CONN_SPORT = 40001;
/** the port the stack's own connect() goes to; the peer never answers, so it stays in SYN-SENT */
const ACTIVE_PEER_PORT = 5000;
const ACTIVE_PEER_ISN = 0x0badcafe;
const STACK_MAC_BYTES = [2, 0, 198, 18, 0, 2];
export const CORPUS_DIR = new URL('./corpus/', import.meta.url).pathname;

// ------------------------------------------------------------------------------------------------
// Personalities the fuzzer runs
// ------------------------------------------------------------------------------------------------

export interface FuzzConfig {
  name: string;
  personality: NonNullable<StackOptions['personality']>;
  sysctls?: StackOptions['sysctls'];
  /** socket options of the second listener (port 82): accept filters, TCP_DEFER_ACCEPT */
  filtered?: (stack: Stack, fd: number) => void;
}

export const FUZZ_CONFIGS: readonly FuzzConfig[] = [
  { name: 'linux-5.4', personality: 'linux-5.4', filtered: (s, fd) => s.bsd.setsockopt(fd, 'IPPROTO_TCP', 'TCP_DEFER_ACCEPT', 5) },
  { name: 'linux-6.18-cookies2', personality: 'linux-6.18', sysctls: { 'net.ipv4.tcp_syncookies': 2, 'net.ipv4.tcp_congestion_control': 'reno' } },
  { name: 'freebsd-12.1', personality: 'freebsd-12.1', filtered: (s, fd) => s.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_ACCEPTFILTER', { name: 'httpready' }) },
  { name: '4.3bsd', personality: '4.3bsd' },
];

// ------------------------------------------------------------------------------------------------
// Frame specifications: what the arbitraries generate, materialised against a live stack
// ------------------------------------------------------------------------------------------------

/** How a checksum field is written: right, off by one bit, zero, or any value. */
export type SumMode = 'ok' | 'broken' | 'zero' | { value: number };

export interface EthSpec {
  dst: 'us' | 'broadcast' | 'multicast' | 'other';
  src: 'peer' | 'random' | 'group';
  randomMac: number;
}

export interface IpSpec {
  src: 'peer' | 'subnet' | 'martian' | 'any';
  srcAny: number;
  dst: 'us' | 'subnet-broadcast' | 'broadcast' | 'other';
  tos: number;
  id: number;
  ttl: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  options: Uint8Array;
  /** overrides applied after building (null = leave as built) */
  versionIhl: number | null;
  totalLength: number | null;
  sum: SumMode;
}

export interface TcpOptionSpec {
  kind: number;
  /** the length byte: null = the right one for the data */
  len: number | null;
  data: Uint8Array;
}

export interface TcpSpec {
  proto: 'tcp';
  eth: EthSpec;
  ip: IpSpec;
  to: 'connection' | 'active' | 'listener' | 'closed' | 'any';
  sport: number;
  dport: number;
  /** sequence / acknowledgment number relative to the live connection's, or absolute */
  seq: { rel: number } | { abs: number };
  ack: { rel: number } | { abs: number };
  flags: number;
  win: number;
  urp: number;
  /** options: a list (lengths right or not), raw bytes, or SACK blocks relative to the acknowledgment base */
  options: TcpOptionSpec[] | { raw: Uint8Array } | { sack: [number, number][]; ts: [number, number] | null };
  payload: Uint8Array;
  dataOffset: number | null;
  sum: SumMode;
}

export interface IcmpSpec {
  proto: 'icmp';
  eth: EthSpec;
  ip: IpSpec;
  type: number;
  code: number;
  body: Uint8Array;
  sum: SumMode;
}

export interface OtherIpSpec {
  proto: 'other';
  eth: EthSpec;
  ip: IpSpec;
  protocol: number;
  body: Uint8Array;
}

export interface ArpSpec {
  proto: 'arp';
  eth: EthSpec;
  htype: number;
  ptype: number;
  hlen: number;
  plen: number;
  op: number;
  sender: 'peer' | 'other' | 'us' | 'zero';
  target: 'us' | 'other' | 'peer';
  trailer: Uint8Array;
  truncate: number | null;
}

export interface RawSpec {
  proto: 'raw';
  /** prefix a plausible Ethernet header (to us, IPv4 or ARP) before the random bytes */
  header: 'none' | 'ipv4' | 'arp';
  bytes: Uint8Array;
}

export interface Mutation {
  op: 'flip' | 'set' | 'truncate' | 'extend' | 'u16';
  pos: number;
  value: number;
  bytes: Uint8Array;
}

export interface CorpusSpec {
  proto: 'corpus';
  file: number;
  frame: number;
  mutations: Mutation[];
  /** move a TCP frame onto the live connection (ports, sequence numbers near its own) */
  retarget: { seq: number; ack: number } | null;
  repair: boolean;
}

/** The previous frame again, `count` times (duplicate ACKs for fast retransmit, duplicated data). */
export interface RepeatSpec {
  proto: 'repeat';
  count: number;
}

export type FrameSpec = TcpSpec | IcmpSpec | OtherIpSpec | ArpSpec | RawSpec | CorpusSpec | RepeatSpec;

/** What a materialised frame may refer to. */
export interface FrameContext {
  conn: { sport: number; snd: number; rcv: number };
  /** the stack's own connect() in SYN-SENT: its port and ISS (the peer never answers it) */
  active: { port: number; iss: number };
  corpus: readonly Uint8Array[][];
}

// --- arbitraries -----------------------------------------------------------------------------------

const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

const sumArb: fc.Arbitrary<SumMode> = fc.oneof(
  { weight: 6, arbitrary: fc.constant('ok' as const) },
  { weight: 2, arbitrary: fc.constant('broken' as const) },
  { weight: 1, arbitrary: fc.constant('zero' as const) },
  { weight: 1, arbitrary: u16.map((value) => ({ value })) },
);

const ethArb: fc.Arbitrary<EthSpec> = fc.record({
  dst: fc.oneof(
    { weight: 12, arbitrary: fc.constant('us' as const) },
    { weight: 1, arbitrary: fc.constantFrom('broadcast' as const, 'multicast' as const, 'other' as const) },
  ),
  src: fc.oneof(
    { weight: 8, arbitrary: fc.constant('peer' as const) },
    { weight: 1, arbitrary: fc.constantFrom('random' as const, 'group' as const) },
  ),
  randomMac: u32,
});

const ipArb: fc.Arbitrary<IpSpec> = fc.record({
  src: fc.oneof(
    { weight: 10, arbitrary: fc.constant('peer' as const) },
    { weight: 1, arbitrary: fc.constantFrom('subnet' as const, 'martian' as const, 'any' as const) },
  ),
  srcAny: u32,
  dst: fc.oneof(
    { weight: 12, arbitrary: fc.constant('us' as const) },
    { weight: 1, arbitrary: fc.constantFrom('subnet-broadcast' as const, 'broadcast' as const, 'other' as const) },
  ),
  tos: u8,
  id: u16,
  ttl: u8,
  df: fc.boolean(),
  mf: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  fragOffset: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 8191 }) }),
  options: fc.oneof({ weight: 8, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: bytes(40) }),
  versionIhl: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: u8 }),
  totalLength: fc.oneof(
    { weight: 8, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.oneof(u16, fc.integer({ min: 0, max: 80 })) },
  ),
  sum: sumArb,
});

/** Option kinds worth hitting: the ones parsed, Fast Open, MD5, MPTCP, experimental, any. */
const optionKindArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 5, 8) },
  { weight: 1, arbitrary: fc.constantFrom(19, 28, 29, 30, 34, 253, 254) },
  { weight: 1, arbitrary: u8 },
);

const tcpOptionArb: fc.Arbitrary<TcpOptionSpec> = fc.record({
  kind: optionKindArb,
  len: fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 3, 4, 10, 40, 255) }, { weight: 1, arbitrary: u8 }),
  data: fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(2, 1, 0, 8, 16, 24, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })) },
    { weight: 1, arbitrary: bytes(38) },
  ),
});

const seqArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0, 1, -1, 1000, -1000, 65535, -65536, 0x7fffffff, -0x80000000).map((rel) => ({ rel })) },
  { weight: 2, arbitrary: fc.integer({ min: -70000, max: 70000 }).map((rel) => ({ rel })) },
  { weight: 1, arbitrary: u32.map((abs) => ({ abs })) },
);

const flagsArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(0x02, 0x12, 0x10, 0x18, 0x11, 0x19, 0x04, 0x14, 0x03, 0x06, 0x07, 0x01, 0x00, 0xff, 0x29, 0xc2) },
  { weight: 2, arbitrary: u8 },
);

const tcpArb: fc.Arbitrary<TcpSpec> = fc.record({
  proto: fc.constant('tcp' as const),
  eth: ethArb,
  ip: ipArb,
  to: fc.constantFrom('connection' as const, 'connection' as const, 'active' as const, 'listener' as const, 'listener' as const, 'closed' as const, 'any' as const),
  sport: u16,
  dport: u16,
  seq: seqArb,
  ack: seqArb,
  flags: flagsArb,
  win: fc.oneof(fc.constantFrom(0, 1, 65535), u16),
  urp: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u16 }),
  options: fc.oneof(
    { weight: 4, arbitrary: fc.array(tcpOptionArb, { maxLength: 6 }) },
    { weight: 1, arbitrary: bytes(40).map((raw) => ({ raw })) },
    {
      weight: 2,
      arbitrary: fc.record({
        sack: fc.array(fc.tuple(fc.integer({ min: -3000, max: 70000 }), fc.integer({ min: -3000, max: 70000 })), { minLength: 1, maxLength: 4 }),
        ts: fc.option(fc.tuple(u32, u32), { nil: null }),
      }),
    },
  ),
  payload: fc.oneof({ weight: 3, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 2, arbitrary: bytes(200) }, { weight: 1, arbitrary: bytes(1460) }),
  dataOffset: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 15 }) }),
  sum: sumArb,
});

/**
 * A well-formed ACK of the live connection as its peer would send one (window unchanged, SACK
 * blocks above SND.UNA or none): repeated, these are duplicate ACKs (fast retransmit, SACK recovery).
 */
const liveAckArb: fc.Arbitrary<TcpSpec> = fc.record({
  ack: fc.constantFrom(0, 0, 0, 1448, 2896, 14480, 30000, 30001, -1),
  sack: fc.option(fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 10 })), { minLength: 1, maxLength: 3 }), { nil: null }),
  ip: ipArb,
}).map(({ ack, sack, ip }) => ({
  proto: 'tcp' as const,
  eth: { dst: 'us' as const, src: 'peer' as const, randomMac: 0 },
  ip: { ...ip, src: 'peer' as const, dst: 'us' as const, versionIhl: null, totalLength: null, sum: 'ok' as const, options: new Uint8Array(0), mf: false, fragOffset: 0 },
  to: 'connection' as const, sport: 0, dport: 0, seq: { rel: 0 }, ack: { rel: ack }, flags: 0x10, win: 65535, urp: 0,
  options: sack ? { sack: sack.map(([at, n]): [number, number] => [1448 * at + 1448, 1448 * (at + n) + 1448]), ts: null } : [],
  payload: new Uint8Array(0), dataOffset: null, sum: 'ok' as const,
}));

const icmpArb: fc.Arbitrary<IcmpSpec> = fc.record({
  proto: fc.constant('icmp' as const),
  eth: ethArb,
  ip: ipArb,
  type: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(8, 0, 3, 11, 5) }, { weight: 1, arbitrary: u8 }),
  code: fc.oneof(fc.constant(0), u8),
  body: fc.oneof({ weight: 4, arbitrary: bytes(64) }, { weight: 1, arbitrary: bytes(1472) }),
  sum: sumArb,
});

const otherIpArb: fc.Arbitrary<OtherIpSpec> = fc.record({
  proto: fc.constant('other' as const),
  eth: ethArb,
  ip: ipArb,
  protocol: fc.oneof(fc.constantFrom(17, 2, 41, 47, 50, 132, 0, 255), u8),
  body: bytes(300),
});

const arpArb: fc.Arbitrary<ArpSpec> = fc.record({
  proto: fc.constant('arp' as const),
  eth: ethArb,
  htype: fc.oneof({ weight: 6, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: u16 }),
  ptype: fc.oneof({ weight: 6, arbitrary: fc.constant(0x0800) }, { weight: 1, arbitrary: u16 }),
  hlen: fc.oneof({ weight: 6, arbitrary: fc.constant(6) }, { weight: 1, arbitrary: u8 }),
  plen: fc.oneof({ weight: 6, arbitrary: fc.constant(4) }, { weight: 1, arbitrary: u8 }),
  op: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(1, 2) }, { weight: 1, arbitrary: u16 }),
  sender: fc.constantFrom('peer' as const, 'peer' as const, 'other' as const, 'us' as const, 'zero' as const),
  target: fc.constantFrom('us' as const, 'us' as const, 'other' as const, 'peer' as const),
  trailer: fc.oneof(fc.constant(new Uint8Array(0)), bytes(40)),
  truncate: fc.oneof({ weight: 6, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 41 }) }),
});

const rawArb: fc.Arbitrary<RawSpec> = fc.record({
  proto: fc.constant('raw' as const),
  header: fc.constantFrom('none' as const, 'ipv4' as const, 'ipv4' as const, 'arp' as const),
  bytes: fc.oneof({ weight: 3, arbitrary: bytes(80) }, { weight: 1, arbitrary: bytes(1600) }),
});

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('flip' as const, 'flip' as const, 'set' as const, 'truncate' as const, 'extend' as const, 'u16' as const),
  pos: fc.nat({ max: 2000 }),
  value: u16,
  bytes: bytes(64),
});

/** A mutated frame of the captured corpus (file and frame indices are taken modulo what exists). */
function corpusArb(): fc.Arbitrary<CorpusSpec> {
  return fc.record({
    proto: fc.constant('corpus' as const),
    file: fc.nat({ max: 1000 }),
    frame: fc.nat({ max: 100000 }),
    mutations: fc.array(mutationArb, { minLength: 0, maxLength: 4 }),
    retarget: fc.oneof(
      { weight: 2, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.record({ seq: fc.integer({ min: -3000, max: 3000 }), ack: fc.integer({ min: -3000, max: 3000 }) }) },
    ),
    repair: fc.boolean(),
  });
}

/** Any frame: structured protocols, random bytes, mutated corpus frames. */
export function frameSpecArb(withCorpus: boolean): fc.Arbitrary<FrameSpec> {
  const parts: fc.WeightedArbitrary<FrameSpec>[] = [
    { weight: 8, arbitrary: tcpArb },
    { weight: 3, arbitrary: liveAckArb },
    { weight: 2, arbitrary: icmpArb },
    { weight: 2, arbitrary: arpArb },
    { weight: 1, arbitrary: otherIpArb },
    { weight: 2, arbitrary: rawArb },
    { weight: 2, arbitrary: fc.record({ proto: fc.constant('repeat' as const), count: fc.integer({ min: 1, max: 4 }) }) },
  ];
  if (withCorpus) parts.push({ weight: 6, arbitrary: corpusArb() });
  return fc.oneof(...parts);
}

export interface Batch {
  frames: FrameSpec[];
  /** clock time to let pass afterwards (timers: retransmissions, TIME-WAIT, ARP, keepalive) */
  waitMs: number;
}

/** A batch: 1..maxFrames frames and how much clock time to let pass afterwards. */
export function batchArb(opts: { maxFrames: number; corpus: boolean }): fc.Arbitrary<Batch> {
  return fc.record({
    frames: fc.array(frameSpecArb(opts.corpus), { minLength: 1, maxLength: opts.maxFrames }),
    waitMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 5000, max: 130_000 })),
  });
}

/** One property run: 1..maxRounds batches against the same stack, each checked. */
export function runArb(opts: { maxFrames: number; corpus: boolean; maxRounds: number }): fc.Arbitrary<Batch[]> {
  return fc.array(batchArb(opts), { minLength: 1, maxLength: opts.maxRounds });
}

// --- materialising -----------------------------------------------------------------------------------

function macString(n: number, group: boolean): string {
  const b = [((n >>> 24) & 0xfe) | 0x02 | (group ? 1 : 0), (n >>> 16) & 255, (n >>> 8) & 255, n & 255, 0x5a, 0xa5];
  return b.map((v) => v.toString(16).padStart(2, '0')).join(':');
}

function ethDst(e: EthSpec): string {
  switch (e.dst) {
    case 'us': return STACK_MAC;
    case 'broadcast': return 'ff:ff:ff:ff:ff:ff';
    case 'multicast': return '01:00:5e:00:00:01';
    default: return macString(e.randomMac, false);
  }
}

function ethSrc(e: EthSpec): string {
  return e.src === 'peer' ? PEER_MAC : macString(e.randomMac ^ 0x5555, e.src === 'group');
}

function ipString(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function ipSrc(s: IpSpec): string {
  switch (s.src) {
    case 'peer': return PEER_IP;
    case 'subnet': return `198.18.0.${[0, 255, 2, 3, 200][s.srcAny % 5]}`;
    case 'martian': return ['0.0.0.0', '127.0.0.1', '224.0.0.1', '255.255.255.255', '240.0.0.1'][s.srcAny % 5] as string;
    default: return ipString(s.srcAny >>> 0);
  }
}

function ipDst(s: IpSpec): string {
  switch (s.dst) {
    case 'us': return STACK_IP;
    case 'subnet-broadcast': return '198.18.0.255';
    case 'broadcast': return '255.255.255.255';
    default: return '198.18.0.7';
  }
}

function applySum(buf: Uint8Array, at: number, right: number, mode: SumMode): void {
  const v = mode === 'ok' ? right : mode === 'broken' ? right ^ 0x0100 : mode === 'zero' ? 0 : mode.value;
  buf[at] = (v >>> 8) & 255;
  buf[at + 1] = v & 255;
}

/** Build the IPv4 packet around `payload` (its L4 checksum already computed) and the Ethernet frame. */
function ipFrame(eth: EthSpec, s: IpSpec, protocol: number, payload: Uint8Array, src: string, dst: string): Uint8Array {
  const opts = s.options.length > 0 ? s.options.subarray(0, s.options.length & ~3) : undefined;
  const ip = buildIpv4({
    src, dst, protocol, payload, ttl: s.ttl, id: s.id, tos: s.tos, df: s.df, mf: s.mf, fragOffset: s.fragOffset,
    ...(opts && opts.length > 0 ? { options: opts } : {}),
  });
  if (s.versionIhl !== null) ip[0] = s.versionIhl;
  if (s.totalLength !== null) {
    ip[2] = (s.totalLength >>> 8) & 255;
    ip[3] = s.totalLength & 255;
  }
  const ihl = ((ip[0] as number) & 15) * 4;
  ip[10] = 0;
  ip[11] = 0;
  const right = ihl >= 20 && ihl <= ip.length ? internetChecksum(ip, 0, ihl) : 0;
  applySum(ip, 10, right, s.sum);
  return buildEthernet({ dst: ethDst(eth), src: ethSrc(eth), type: ETHERTYPE_IPV4, payload: ip });
}

function encodeOptions(o: TcpSpec['options'], ackBase: number): Uint8Array {
  if ('raw' in o) return o.raw.subarray(0, 40);
  if ('sack' in o) {
    // what a receiver holding data above the stack's SND.UNA says: NOP NOP SACK (+ NOP NOP TS)
    const out: number[] = [];
    const be = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
    const blocks = o.sack.slice(0, o.ts ? 3 : 4);
    out.push(1, 1, 5, 2 + 8 * blocks.length);
    for (const [l, r] of blocks) out.push(...be((ackBase + l) >>> 0), ...be((ackBase + r) >>> 0));
    if (o.ts) out.push(1, 1, 8, 10, ...be(o.ts[0]), ...be(o.ts[1]));
    return Uint8Array.from(out.slice(0, 40));
  }
  const out: number[] = [];
  for (const opt of o) {
    if (opt.kind <= 1) {
      out.push(opt.kind);
      continue;
    }
    out.push(opt.kind, opt.len ?? Math.min(255, opt.data.length + 2), ...opt.data);
  }
  return Uint8Array.from(out.slice(0, 40));
}

function tcpFrame(s: TcpSpec, ctx: FrameContext): Uint8Array {
  const src = ipSrc(s.ip);
  const dst = ipDst(s.ip);
  let sport = s.sport;
  let dport = s.dport;
  let seqBase = ctx.conn.snd;
  let ackBase = ctx.conn.rcv;
  if (s.to === 'connection') {
    sport = ctx.conn.sport;
    dport = LISTEN_PORT;
  } else if (s.to === 'active') {
    sport = ACTIVE_PEER_PORT;
    dport = ctx.active.port;
    seqBase = ACTIVE_PEER_ISN;
    ackBase = (ctx.active.iss + 1) >>> 0;
  } else if (s.to === 'listener') {
    dport = (s.dport & 1) === 0 ? LISTEN_PORT : FILTERED_PORT;
  } else if (s.to === 'closed') {
    dport = CLOSED_PORT;
  }
  const rel = (v: { rel: number } | { abs: number }, base: number) => ('rel' in v ? (base + v.rel) >>> 0 : v.abs >>> 0);
  const raw = encodeOptions(s.options, ackBase);
  const seg = buildTcp({
    src, dst, sport, dport, seq: rel(s.seq, seqBase), ack: rel(s.ack, ackBase), flags: s.flags,
    win: s.win, urp: s.urp, rawOptions: raw, payload: s.payload,
    ...(s.dataOffset !== null ? { dataOffset: s.dataOffset } : {}),
  });
  const right = ((seg[16] as number) << 8) | (seg[17] as number);
  applySum(seg, 16, right, s.sum);
  return ipFrame(s.eth, s.ip, IPPROTO_TCP, seg, src, dst);
}

function icmpFrame(s: IcmpSpec): Uint8Array {
  const body = new Uint8Array(4 + s.body.length);
  body[0] = s.type;
  body[1] = s.code;
  body.set(s.body, 4);
  applySum(body, 2, internetChecksum(body), s.sum);
  return ipFrame(s.eth, s.ip, IPPROTO_ICMP, body, ipSrc(s.ip), ipDst(s.ip));
}

function arpFrame(s: ArpSpec): Uint8Array {
  const senderIp = s.sender === 'peer' ? PEER_IP : s.sender === 'us' ? STACK_IP : s.sender === 'zero' ? '0.0.0.0' : '198.18.0.77';
  const targetIp = s.target === 'us' ? STACK_IP : s.target === 'peer' ? PEER_IP : '198.18.0.78';
  const srcMac = ethSrc(s.eth);
  const arp = buildArp({ op: 1, senderMac: srcMac, senderIp, targetMac: '00:00:00:00:00:00', targetIp });
  const dv = new DataView(arp.buffer, arp.byteOffset, arp.byteLength);
  dv.setUint16(0, s.htype);
  dv.setUint16(2, s.ptype);
  arp[4] = s.hlen;
  arp[5] = s.plen;
  dv.setUint16(6, s.op);
  let payload = new Uint8Array(arp.length + s.trailer.length);
  payload.set(arp);
  payload.set(s.trailer, arp.length);
  if (s.truncate !== null) payload = payload.subarray(0, s.truncate);
  const dst = s.eth.dst === 'us' && s.op === 1 ? 'ff:ff:ff:ff:ff:ff' : ethDst(s.eth);
  return buildEthernet({ dst, src: srcMac, type: ETHERTYPE_ARP, payload });
}

function rawFrame(s: RawSpec): Uint8Array {
  if (s.header === 'none') return s.bytes.slice();
  const f = new Uint8Array(14 + s.bytes.length);
  f.set(STACK_MAC_BYTES, 0);
  f.set([2, 0, 198, 18, 0, 1], 6);
  f.set(s.header === 'ipv4' ? [8, 0] : [8, 6], 12);
  f.set(s.bytes, 14);
  if (s.header === 'ipv4' && f.length > 14 && ((f[14] as number) >>> 4) !== 4) f[14] = 0x40 | ((f[14] as number) & 15);
  return f;
}

function corpusFrame(s: CorpusSpec, ctx: FrameContext): Uint8Array {
  const files = ctx.corpus.filter((f) => f.length > 0);
  if (files.length === 0) return new Uint8Array(0);
  const file = files[s.file % files.length] as Uint8Array[];
  let f = (file[s.frame % file.length] as Uint8Array).slice();
  for (const m of s.mutations) {
    const pos = f.length > 0 ? m.pos % f.length : 0;
    switch (m.op) {
      case 'flip':
        if (f.length > 0) f[pos] = (f[pos] as number) ^ (1 << (m.value & 7));
        break;
      case 'set':
        if (f.length > 0) f[pos] = m.value & 255;
        break;
      case 'u16':
        if (pos + 1 < f.length) {
          f[pos] = m.value >>> 8;
          f[pos + 1] = m.value & 255;
        }
        break;
      case 'truncate':
        f = f.slice(0, m.pos % (f.length + 1));
        break;
      case 'extend': {
        const g = new Uint8Array(Math.min(f.length + m.bytes.length, 1514 + 64));
        g.set(f.subarray(0, g.length));
        g.set(m.bytes.subarray(0, g.length - Math.min(f.length, g.length)), Math.min(f.length, g.length));
        f = g;
        break;
      }
    }
  }
  if (s.retarget && f.length >= 54 && f[12] === 8 && f[13] === 0 && f[23] === IPPROTO_TCP) {
    const t = 14 + ((f[14] as number) & 15) * 4;
    if (t + 20 <= f.length) {
      const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
      dv.setUint16(t, ctx.conn.sport);
      dv.setUint16(t + 2, LISTEN_PORT);
      dv.setUint32(t + 4, (ctx.conn.snd + s.retarget.seq) >>> 0);
      dv.setUint32(t + 8, (ctx.conn.rcv + s.retarget.ack) >>> 0);
      f.set([2, 0, 198, 18, 0, 1], 6);
      f.set([198, 18, 0, 1, 198, 18, 0, 2], 26);
    }
  }
  if (s.repair || s.retarget) repairChecksums(f);
  return f;
}

/** The frames of a batch (a `repeat` copies the frame before it; at the start it stands for nothing). */
export function materialiseBatch(specs: readonly FrameSpec[], ctx: FrameContext): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const s of specs) {
    if (s.proto === 'repeat') {
      const prev = out[out.length - 1];
      if (prev) for (let i = 0; i < s.count; i++) out.push(prev.slice());
    } else out.push(materialise(s, ctx));
  }
  return out;
}

/** The bytes of one frame specification against the stack's current state. */
export function materialise(s: Exclude<FrameSpec, RepeatSpec>, ctx: FrameContext): Uint8Array {
  switch (s.proto) {
    case 'tcp': return tcpFrame(s, ctx);
    case 'icmp': return icmpFrame(s);
    case 'other': return ipFrame(s.eth, s.ip, s.protocol, s.body, ipSrc(s.ip), ipDst(s.ip));
    case 'arp': return arpFrame(s);
    case 'raw': return rawFrame(s);
    case 'corpus': return corpusFrame(s, ctx);
  }
}

// ------------------------------------------------------------------------------------------------
// The corpus (test/fuzz/corpus/*.pcap)
// ------------------------------------------------------------------------------------------------

export interface CorpusFile {
  name: string;
  frames: Uint8Array[];
  /** each frame's capture time (ms): replay delivers frames of one time together, keeping the gaps */
  times: number[];
}

/** Every .pcap of the corpus, in name order (captured traffic and saved failures alike). */
export function loadCorpus(dir = CORPUS_DIR): CorpusFile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pcap')).sort();
  } catch {
    return [];
  }
  return names.map((name) => {
    const records = parsePcap(readFileSync(join(dir, name))).records;
    return { name, frames: records.map((r) => r.frame), times: records.map((r) => r.timeMs) };
  });
}

/** A classic pcap file (LINKTYPE_ETHERNET) of `frames` at `times` (ms; default 1 ms apart). */
export function pcapBytes(frames: readonly Uint8Array[], times?: readonly number[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const w = new PcapWriter((c) => chunks.push(c));
  frames.forEach((f, i) => w.write(f, times?.[i] ?? i));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// The harness
// ------------------------------------------------------------------------------------------------

const GAUGES: ReadonlySet<CounterName> = new Set(['TcpCurrEstab']);

/**
 * What the Ethernet header says should happen to a frame at the link layer (assembly/net/link.ts
 * linkInput): a runt or a group source address is malformed, another destination or EtherType is
 * not for us, the rest go to IPv4 or ARP.
 */
function linkOutcome(f: Uint8Array): 'ip' | 'arp' | 'malformed' | 'notForUs' {
  if (f.length < 14) return 'malformed';
  const ours = STACK_MAC_BYTES.every((v, i) => f[i] === v);
  const group = ((f[0] as number) & 1) === 1;
  if (!ours && !group) return 'notForUs';
  if (((f[6] as number) & 1) === 1) return 'malformed';
  const type = ((f[12] as number) << 8) | (f[13] as number);
  return type === ETHERTYPE_IPV4 ? 'ip' : type === ETHERTYPE_ARP ? 'arp' : 'notForUs';
}

/** A failed invariant, with what to reproduce it. */
export class FuzzFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FuzzFailure';
  }
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new FuzzFailure(what);
}

export interface Harness {
  config: FuzzConfig;
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  link: MemoryLink;
  errors: Error[];
  memBytes: number;
  listenFd: number;
  ctx: FrameContext;
  delivered: number;
  deliveredIp: number;
  deliveredArp: number;
  deliveredMalformed: number;
  deliveredNotForUs: number;
  nextPort: number;
}

/** A fresh stack with a listener on port 80, one ESTABLISHED connection from the peer, accepted. */
export async function setup(config: FuzzConfig, corpus: readonly Uint8Array[][], seed = 1): Promise<Harness> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const stack = new Stack({
    personality: config.personality, sysctls: config.sysctls ?? {}, clock, link: a,
    interfaces: [{ ip: `${STACK_IP}/24` }], seed, core: { debug: true },
    limits: { connections: 64, rxBufferBytes: 512 * 1024, arpEntries: 16, listeners: 8 },
  });
  const errors: Error[] = [];
  stack.on('error', (e) => errors.push(e));
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  const h: Harness = {
    config, clock, stack, peer, link: b, errors, memBytes: stack.core.x.memory.buffer.byteLength, listenFd: -1,
    ctx: { conn: { sport: CONN_SPORT, snd: 0, rcv: 0 }, active: { port: 0, iss: 0 }, corpus }, delivered: 0, deliveredIp: 0, deliveredArp: 0, deliveredMalformed: 0, deliveredNotForUs: 0, nextPort: 50000,
  };
  b.onTap((frame, dir) => {
    if (dir !== 'out') return;
    h.delivered++;
    const o = linkOutcome(frame);
    if (o === 'ip') h.deliveredIp++;
    else if (o === 'arp') h.deliveredArp++;
    else if (o === 'malformed') h.deliveredMalformed++;
    else h.deliveredNotForUs++;
  });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(fd, { address: '0.0.0.0', port: LISTEN_PORT });
  stack.bsd.listen(fd, 16);
  h.listenFd = fd;
  const ffd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(ffd, { address: '0.0.0.0', port: FILTERED_PORT });
  stack.bsd.listen(ffd, 4);
  config.filtered?.(stack, ffd); // after listen(): FreeBSD wants a listening socket for SO_ACCEPTFILTER
  const c = await handshake(h, CONN_SPORT, 1000);
  if (!c) throw new Error(`fuzz setup (${config.name}): the first connection did not complete`);
  h.ctx.conn = { sport: CONN_SPORT, snd: c.snd, rcv: c.rcv };
  // data in flight from the stack (the peer does not acknowledge it): fuzzed ACKs and SACK blocks
  // meet a send buffer, a retransmission queue and the congestion controller
  stack.bsd.send(c.fd, new Uint8Array(30000).fill(0x61));
  // an active open the peer leaves unanswered: fuzzed SYN-ACKs, RSTs and the rest reach SYN-SENT
  const afd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.connectAsync(afd, { address: PEER_IP, port: ACTIVE_PEER_PORT }).catch(() => undefined);
  await peer.settle();
  const syn = peer.received.find((s) => s.dport === ACTIVE_PEER_PORT && s.flags === 'S');
  if (!syn) throw new Error(`fuzz setup (${config.name}): the stack's connect() sent no SYN`);
  h.ctx.active = { port: syn.sport, iss: syn.seq };
  peer.received.length = 0;
  return h;
}

/** SYN, SYN-ACK, ACK, accept(): the sequence state, or undefined (with the reason in `why`). */
async function handshake(h: Harness, sport: number, isn: number, why: string[] = []): Promise<{ snd: number; rcv: number; fd: number } | undefined> {
  h.peer.received.length = 0;
  h.peer.send({ flags: 'S', sport, dport: LISTEN_PORT, seq: isn, options: { mss: 1460, sackOk: true, ts: [1, 0], wscale: 7 } });
  let synAck: (typeof h.peer.received)[number] | undefined;
  for (let i = 0; i < 30 && !synAck; i++) {
    await h.peer.wait(100);
    synAck = h.peer.received.find((s) => s.sport === LISTEN_PORT && s.dport === sport && s.flags === 'S.');
  }
  if (!synAck) {
    why.push('no SYN-ACK');
    return undefined;
  }
  if (synAck.ack !== ((isn + 1) >>> 0)) {
    why.push(`SYN-ACK acks ${synAck.ack}, not ${(isn + 1) >>> 0}`);
    return undefined;
  }
  const ts = synAck.options.ts ? { options: { ts: [2, synAck.options.ts[0]] as [number, number] } } : {};
  h.peer.send({ flags: '.', sport, dport: LISTEN_PORT, seq: (isn + 1) >>> 0, ack: (synAck.seq + 1) >>> 0, ...ts });
  await h.peer.wait(10);
  for (let i = 0; i < 8; i++) {
    let got: { fd: number; port: number };
    try {
      got = h.stack.bsd.accept(h.listenFd);
    } catch (e) {
      why.push(`accept(): ${(e as Error).message}`);
      return undefined;
    }
    if (got.port === sport) return { snd: (isn + 1) >>> 0, rcv: (synAck.seq + 1) >>> 0, fd: got.fd };
    h.stack.bsd.close(got.fd); // a connection the fuzz completed: not ours
  }
  why.push('accept() kept returning other connections');
  return undefined;
}

/**
 * Deliver `frames` (materialised), let `waitMs` of clock time pass, and check every invariant.
 * Throws FuzzFailure naming the first one broken.
 */
export async function runBatch(h: Harness, frames: readonly Uint8Array[], waitMs: number): Promise<void> {
  const name = h.config.name;
  const before = h.stack.counters();
  const rx0 = h.stack.rxDropped;
  const d0 = h.delivered;
  const ip0 = h.deliveredIp;
  const arp0 = h.deliveredArp;
  const bad0 = h.deliveredMalformed;
  const nfu0 = h.deliveredNotForUs;
  for (const f of frames) h.link.send(f);
  await h.peer.settle();
  const after = h.stack.counters();
  check(h.errors.length === 0 && !h.stack.core.aborted, `${name}: the core aborted: ${h.errors[0]?.message ?? h.stack.core.aborted?.message}`);
  check(h.stack.core.x.memory.buffer.byteLength === h.memBytes, `${name}: WebAssembly memory grew from ${h.memBytes} to ${h.stack.core.x.memory.buffer.byteLength} bytes`);
  const d = (k: CounterName) => after[k] - before[k];
  const delivered = h.delivered - d0 - (h.stack.rxDropped - rx0);
  check(d('WtcpInFrames') === delivered, `${name}: WtcpInFrames rose by ${d('WtcpInFrames')}, ${delivered} frames were delivered`);
  check(d('IpInReceives') === h.deliveredIp - ip0, `${name}: IpInReceives rose by ${d('IpInReceives')}, the Ethernet headers say ${h.deliveredIp - ip0}`);
  check(d('WtcpArpIn') === h.deliveredArp - arp0, `${name}: WtcpArpIn rose by ${d('WtcpArpIn')}, the Ethernet headers say ${h.deliveredArp - arp0}`);
  // the link layer's own drops are counted; ARP adds its malformed and not-for-us packets on top
  const linkBad = h.deliveredMalformed - bad0;
  const linkNfu = h.deliveredNotForUs - nfu0;
  check(d('WtcpMalformed') >= linkBad && d('WtcpNotForUs') >= linkNfu &&
    d('WtcpMalformed') + d('WtcpNotForUs') <= linkBad + linkNfu + d('WtcpArpIn'),
  `${name}: WtcpMalformed +${d('WtcpMalformed')} / WtcpNotForUs +${d('WtcpNotForUs')}, the Ethernet headers say ${linkBad} malformed, ${linkNfu} not for us (+ at most ${d('WtcpArpIn')} ARP)`);
  const ipOutcomes = d('IpInHdrErrors') + d('IpInAddrErrors') + d('IpReasmReqds') + d('IpInDelivers') + d('IpInUnknownProtos') + d('IpInDiscards');
  check(ipOutcomes === d('IpInReceives'), `${name}: ${d('IpInReceives')} IPv4 packets in, ${ipOutcomes} IP-level outcomes`);
  check(d('TcpInErrs') >= d('TcpInCsumErrors'), `${name}: TcpInCsumErrors above TcpInErrs`);
  check(d('IcmpOutEchoReps') <= d('IcmpInEchos'), `${name}: more echo replies than requests`);
  await h.peer.wait(waitMs);
  const end = h.stack.counters();
  check(h.errors.length === 0 && !h.stack.core.aborted, `${name}: the core aborted in a timer: ${h.errors[0]?.message ?? ''}`);
  check(h.stack.core.x.memory.buffer.byteLength === h.memBytes, `${name}: WebAssembly memory grew in a timer`);
  for (const k of COUNTERS) {
    const v = end[k];
    check(Number.isSafeInteger(v) && v >= 0 && v < 2 ** 40, `${name}: counter ${k} = ${v}`);
    if (!GAUGES.has(k)) check(v >= before[k], `${name}: counter ${k} went down from ${before[k]} to ${v}`);
  }
}

/**
 * A normal connection still completes (the ARP cache re-taught first, as any host would). Completed
 * connections the batch left in the accept queue are accepted and closed first, as a server would;
 * if the SYN gets no answer (a personality without cookies whose queue the batch filled with
 * half-open entries: 4.3BSD), the client tries again as a real one does, until the entries have
 * timed out (4.3BSD's connection-establishment timer is 75 s).
 */
export async function normalConnection(h: Harness): Promise<void> {
  const why: string[] = [];
  let c: { snd: number; rcv: number; fd: number } | undefined;
  for (const pause of [0, 10_000, 30_000, 40_000]) {
    if (pause > 0) await h.peer.wait(pause);
    drainAcceptQueue(h);
    h.peer.sendArpRequest();
    await h.peer.settle();
    const sport = h.nextPort++;
    c = await handshake(h, sport, (sport * 2654435761) >>> 0, why);
    if (c) break;
  }
  check(c !== undefined, `${h.config.name}: a normal connection did not complete after the batch: ${why.join('; ')}\n${h.stack.formatNstat()}`);
  check(h.errors.length === 0 && !h.stack.core.aborted, `${h.config.name}: the core aborted during the check connection`);
}

function drainAcceptQueue(h: Harness): void {
  for (let i = 0; i < 100; i++) {
    try {
      h.stack.bsd.close(h.stack.bsd.accept(h.listenFd).fd);
    } catch {
      return; // EAGAIN, or ECONNABORTED (FreeBSD)
    }
  }
}

/** Every counter summed over the runs so far: how deep the fuzz went (printed by `npm run fuzz`). */
export const fuzzTotals = new Map<string, number>();

export function teardown(h: Harness): void {
  for (const [k, v] of Object.entries(h.stack.counters())) fuzzTotals.set(k, (fuzzTotals.get(k) ?? 0) + v);
  h.peer.close();
  h.stack.close();
}

/**
 * One property run: a fresh stack, the batch, the checks, a normal connection. Returns the frames
 * delivered (for saving a failure).
 */
export async function runSpecBatch(config: FuzzConfig, corpus: readonly Uint8Array[][], rounds: readonly Batch[],
  record?: (frames: Uint8Array[], times: number[]) => void): Promise<void> {
  const h = await setup(config, corpus);
  const all: Uint8Array[] = [];
  const times: number[] = [];
  try {
    for (const batch of rounds) {
      const frames = materialiseBatch(batch.frames, h.ctx);
      all.push(...frames);
      // the clock time of delivery: a saved failure replays with the same gaps (setup is deterministic)
      for (let i = 0; i < frames.length; i++) times.push(h.clock.now());
      record?.(all.slice(), times.slice());
      await runBatch(h, frames, batch.waitMs);
    }
    await normalConnection(h);
  } finally {
    teardown(h);
  }
}

/**
 * Replay raw frames (a corpus file) against a fresh stack and check everything: frames of one
 * capture time form a batch (at most 64), and the clock advances by the gaps between the times.
 */
export async function replayFrames(config: FuzzConfig, frames: readonly Uint8Array[], times?: readonly number[], waitMs = 3000): Promise<void> {
  const h = await setup(config, []);
  try {
    for (let i = 0; i < frames.length;) {
      let j = i + 1;
      while (j < frames.length && j - i < 64 && (times?.[j] ?? j) === (times?.[i] ?? i)) j++;
      const gap = j < frames.length ? Math.max(0, (times?.[j] ?? j) - (times?.[i] ?? i)) : waitMs;
      await runBatch(h, frames.slice(i, j), gap);
      i = j;
    }
    await normalConnection(h);
  } finally {
    teardown(h);
  }
}
