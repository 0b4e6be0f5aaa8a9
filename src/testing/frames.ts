/**
 * Ethernet / ARP / IPv4 / TCP frame building and parsing for tests and tools, in plain TypeScript
 * (the stack's own wire code is in assembly/wire). Every builder computes correct checksums unless
 * told to write a given (wrong) one; every parser checks lengths once, verifies checksums and
 * returns a record, never throws on malformed input (returns undefined).
 *
 * Who calls it: src/testing/peer.ts (the scripted peer), unit tests, pcap tools.
 */

import { formatIPv4, formatMac, parseIPv4, parseMac } from '../addr.js';

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;

const ETH_HLEN = 14;
const IP_HLEN = 20;
const TCP_HLEN = 20;

// ------------------------------------------------------------------------------------------------
// Checksum
// ------------------------------------------------------------------------------------------------

/** 32-bit running sum of 16-bit big-endian words over data[start, end) (odd tail padded with 0). */
export function sum16(data: Uint8Array, start = 0, end = data.length, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (i < end) sum += (data[i] as number) << 8;
  return sum;
}

/** Fold a running sum and complement it: the Internet checksum (RFC 1071). */
export function finishChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** The Internet checksum of data[start, end). */
export function internetChecksum(data: Uint8Array, start = 0, end = data.length): number {
  return finishChecksum(sum16(data, start, end));
}

function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

// ------------------------------------------------------------------------------------------------
// Ethernet
// ------------------------------------------------------------------------------------------------

export interface EthernetFrame {
  dst: string;
  src: string;
  type: number;
  payload: Uint8Array;
}

export function buildEthernet(f: { dst: string; src: string; type: number; payload: Uint8Array }): Uint8Array {
  const out = new Uint8Array(ETH_HLEN + f.payload.length);
  out.set(parseMac(f.dst, 'destination MAC'), 0);
  out.set(parseMac(f.src, 'source MAC'), 6);
  out[12] = (f.type >>> 8) & 255;
  out[13] = f.type & 255;
  out.set(f.payload, ETH_HLEN);
  return out;
}

export function parseEthernet(frame: Uint8Array): EthernetFrame | undefined {
  if (frame.length < ETH_HLEN) return undefined;
  return {
    dst: formatMac(frame.subarray(0, 6)),
    src: formatMac(frame.subarray(6, 12)),
    type: ((frame[12] as number) << 8) | (frame[13] as number),
    payload: frame.subarray(ETH_HLEN),
  };
}

// ------------------------------------------------------------------------------------------------
// ARP (Ethernet / IPv4 only)
// ------------------------------------------------------------------------------------------------

export interface ArpPacket {
  /** 1 request, 2 reply */
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

export function buildArp(a: ArpPacket): Uint8Array {
  const p = new Uint8Array(28);
  const dv = new DataView(p.buffer);
  dv.setUint16(0, 1); // htype Ethernet
  dv.setUint16(2, ETHERTYPE_IPV4);
  p[4] = 6;
  p[5] = 4;
  dv.setUint16(6, a.op);
  p.set(parseMac(a.senderMac), 8);
  dv.setUint32(14, parseIPv4(a.senderIp));
  p.set(parseMac(a.targetMac), 18);
  dv.setUint32(24, parseIPv4(a.targetIp));
  return p;
}

export function parseArp(payload: Uint8Array): ArpPacket | undefined {
  if (payload.length < 28) return undefined;
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (dv.getUint16(0) !== 1 || dv.getUint16(2) !== ETHERTYPE_IPV4 || payload[4] !== 6 || payload[5] !== 4) return undefined;
  return {
    op: dv.getUint16(6),
    senderMac: formatMac(payload.subarray(8, 14)),
    senderIp: formatIPv4(dv.getUint32(14)),
    targetMac: formatMac(payload.subarray(18, 24)),
    targetIp: formatIPv4(dv.getUint32(24)),
  };
}

// ------------------------------------------------------------------------------------------------
// IPv4
// ------------------------------------------------------------------------------------------------

export interface Ipv4Packet {
  src: string;
  dst: string;
  protocol: number;
  ttl: number;
  id: number;
  tos: number;
  df: boolean;
  mf: boolean;
  fragOffset: number;
  headerLength: number;
  totalLength: number;
  checksum: number;
  checksumOk: boolean;
  options: Uint8Array;
  payload: Uint8Array;
}

export interface Ipv4Build {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  id?: number;
  tos?: number;
  /** default true */
  df?: boolean;
  mf?: boolean;
  fragOffset?: number;
  /** raw IP options, padded to 4 bytes with zeros */
  options?: Uint8Array;
  /** write this header checksum instead of the right one */
  checksum?: number;
}

export function buildIpv4(b: Ipv4Build): Uint8Array {
  const opts = b.options ?? new Uint8Array(0);
  const optLen = (opts.length + 3) & ~3;
  const hlen = IP_HLEN + optLen;
  const total = hlen + b.payload.length;
  const p = new Uint8Array(total);
  const dv = new DataView(p.buffer);
  p[0] = 0x40 | (hlen >>> 2);
  p[1] = b.tos ?? 0;
  dv.setUint16(2, total & 0xffff);
  dv.setUint16(4, b.id ?? 0);
  const frag = ((b.df ?? true) ? 0x4000 : 0) | (b.mf ? 0x2000 : 0) | ((b.fragOffset ?? 0) & 0x1fff);
  dv.setUint16(6, frag);
  p[8] = b.ttl ?? 64;
  p[9] = b.protocol;
  dv.setUint32(12, parseIPv4(b.src, 'source address'));
  dv.setUint32(16, parseIPv4(b.dst, 'destination address'));
  p.set(opts, IP_HLEN);
  dv.setUint16(10, b.checksum ?? internetChecksum(p, 0, hlen));
  p.set(b.payload, hlen);
  return p;
}

export function parseIpv4(data: Uint8Array): Ipv4Packet | undefined {
  if (data.length < IP_HLEN || (data[0] as number) >>> 4 !== 4) return undefined;
  const hlen = ((data[0] as number) & 15) * 4;
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const total = dv.getUint16(2);
  if (hlen < IP_HLEN || total < hlen || total > data.length) return undefined;
  const frag = dv.getUint16(6);
  return {
    src: formatIPv4(dv.getUint32(12)),
    dst: formatIPv4(dv.getUint32(16)),
    protocol: data[9] as number,
    ttl: data[8] as number,
    id: dv.getUint16(4),
    tos: data[1] as number,
    df: (frag & 0x4000) !== 0,
    mf: (frag & 0x2000) !== 0,
    fragOffset: frag & 0x1fff,
    headerLength: hlen,
    totalLength: total,
    checksum: dv.getUint16(10),
    checksumOk: internetChecksum(data, 0, hlen) === 0,
    options: data.subarray(IP_HLEN, hlen),
    payload: data.subarray(hlen, total),
  };
}

// ------------------------------------------------------------------------------------------------
// TCP
// ------------------------------------------------------------------------------------------------

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

/** tcpdump's flag letters, in tcpdump's order (print-tcp.c tcp_flag_values). */
const FLAG_LETTERS: readonly [number, string][] = [
  [TCP_FIN, 'F'], [TCP_SYN, 'S'], [TCP_RST, 'R'], [TCP_PSH, 'P'], [TCP_ACK, '.'],
  [TCP_URG, 'U'], [TCP_ECE, 'E'], [TCP_CWR, 'W'],
];

/** Flag bits → tcpdump string: 'S', 'S.', '.', 'R.', 'FP.'; no flags → ''. */
export function flagsToString(bits: number): string {
  let s = '';
  for (const [bit, letter] of FLAG_LETTERS) if (bits & bit) s += letter;
  return s;
}

/** tcpdump string → flag bits, letters in any order; '' or 'none' = 0. Throws on unknown letters. */
export function parseFlags(s: string): number {
  if (s === '' || s === 'none') return 0;
  let bits = 0;
  for (const ch of s) {
    const entry = FLAG_LETTERS.find(([, l]) => l === ch);
    if (!entry) throw new TypeError(`unknown TCP flag letter "${ch}" in "${s}" (use F S R P . U E W)`);
    bits |= entry[0];
  }
  return bits;
}

/** Canonical (tcpdump-ordered) form of a flag string, so 'AS'-style inputs compare correctly. */
export function normalizeFlags(s: string): string {
  return flagsToString(parseFlags(s));
}

export interface TcpOptions {
  mss?: number;
  wscale?: number;
  sackOk?: boolean;
  /** [TSval, TSecr] */
  ts?: [number, number];
  /** SACK blocks [left, right) */
  sack?: [number, number][];
  /** options of other kinds, in order */
  unknown?: { kind: number; data: Uint8Array }[];
}

/**
 * Encode options in Linux's SYN order: MSS, SACK-permitted + timestamps (or NOP NOP + either),
 * NOP + window scale, NOP NOP + SACK blocks, then unknown ones; padded with EOL to 4 bytes.
 */
export function encodeTcpOptions(o: TcpOptions): Uint8Array {
  const b: number[] = [];
  if (o.mss !== undefined) b.push(2, 4, (o.mss >>> 8) & 255, o.mss & 255);
  const ts = o.ts;
  const tsBytes = (v: number) => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  if (o.sackOk && ts) b.push(4, 2, 8, 10, ...tsBytes(ts[0]), ...tsBytes(ts[1]));
  else if (ts) b.push(1, 1, 8, 10, ...tsBytes(ts[0]), ...tsBytes(ts[1]));
  else if (o.sackOk) b.push(1, 1, 4, 2);
  if (o.wscale !== undefined) b.push(1, 3, 3, o.wscale & 255);
  if (o.sack && o.sack.length > 0) {
    b.push(1, 1, 5, 2 + 8 * o.sack.length);
    for (const [l, r] of o.sack) b.push(...tsBytes(l), ...tsBytes(r));
  }
  for (const u of o.unknown ?? []) b.push(u.kind, u.data.length + 2, ...u.data);
  while (b.length % 4 !== 0) b.push(0);
  return Uint8Array.from(b);
}

/** Decode options; `malformed` when a length runs past the end or is too short. */
export function decodeTcpOptions(raw: Uint8Array): { options: TcpOptions; malformed: boolean } {
  const o: TcpOptions = {};
  let i = 0;
  const u32 = (at: number) =>
    (((raw[at] as number) << 24) | ((raw[at + 1] as number) << 16) | ((raw[at + 2] as number) << 8) | (raw[at + 3] as number)) >>> 0;
  while (i < raw.length) {
    const kind = raw[i] as number;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    if (i + 1 >= raw.length) return { options: o, malformed: true };
    const len = raw[i + 1] as number;
    if (len < 2 || i + len > raw.length) return { options: o, malformed: true };
    switch (kind) {
      case 2:
        if (len !== 4) return { options: o, malformed: true };
        o.mss = ((raw[i + 2] as number) << 8) | (raw[i + 3] as number);
        break;
      case 3:
        if (len !== 3) return { options: o, malformed: true };
        o.wscale = raw[i + 2] as number;
        break;
      case 4:
        if (len !== 2) return { options: o, malformed: true };
        o.sackOk = true;
        break;
      case 5: {
        const blocks: [number, number][] = [];
        for (let j = i + 2; j + 8 <= i + len; j += 8) blocks.push([u32(j), u32(j + 4)]);
        o.sack = blocks;
        break;
      }
      case 8:
        if (len !== 10) return { options: o, malformed: true };
        o.ts = [u32(i + 2), u32(i + 6)];
        break;
      default:
        (o.unknown ??= []).push({ kind, data: raw.slice(i + 2, i + len) });
    }
    i += len;
  }
  return { options: o, malformed: false };
}

export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  /** tcpdump style: 'S', 'S.', '.', 'R', 'R.', 'P.', 'F.'; '' for no flags */
  flags: string;
  flagBits: number;
  win: number;
  urp: number;
  dataOffset: number;
  options: TcpOptions;
  optionsMalformed: boolean;
  rawOptions: Uint8Array;
  payload: Uint8Array;
  checksum: number;
  checksumOk: boolean;
}

export interface TcpBuild {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  /** tcpdump letters ('S', 'S.', 'P.') or bits */
  flags: string | number;
  win?: number;
  urp?: number;
  options?: TcpOptions;
  /** exact option bytes (padded to 4 with EOL), instead of `options` */
  rawOptions?: Uint8Array;
  payload?: Uint8Array;
  /** write this checksum instead of the right one */
  checksum?: number;
  /** override the data offset field (in 32-bit words), for malformed-header tests */
  dataOffset?: number;
}

/** A TCP header + payload with the checksum over the IPv4 pseudo header. */
export function buildTcp(b: TcpBuild): Uint8Array {
  const raw = b.rawOptions ?? encodeTcpOptions(b.options ?? {});
  const optLen = (raw.length + 3) & ~3;
  if (optLen > 40) throw new RangeError(`TCP options take ${optLen} bytes; at most 40 fit`);
  const hlen = TCP_HLEN + optLen;
  const payload = b.payload ?? new Uint8Array(0);
  const seg = new Uint8Array(hlen + payload.length);
  const dv = new DataView(seg.buffer);
  checkPort(b.sport, 'sport');
  checkPort(b.dport, 'dport');
  dv.setUint16(0, b.sport);
  dv.setUint16(2, b.dport);
  dv.setUint32(4, (b.seq ?? 0) >>> 0);
  dv.setUint32(8, (b.ack ?? 0) >>> 0);
  const flags = typeof b.flags === 'number' ? b.flags : parseFlags(b.flags);
  seg[12] = ((b.dataOffset ?? hlen >>> 2) & 15) << 4;
  seg[13] = flags & 255;
  dv.setUint16(14, b.win ?? 65535);
  dv.setUint16(18, b.urp ?? 0);
  seg.set(raw, TCP_HLEN);
  seg.set(payload, hlen);
  const src = parseIPv4(b.src, 'source address');
  const dst = parseIPv4(b.dst, 'destination address');
  const sum = finishChecksum(sum16(seg, 0, seg.length, pseudoHeaderSum(src, dst, IPPROTO_TCP, seg.length)));
  dv.setUint16(16, b.checksum ?? sum);
  return seg;
}

/** Parse the TCP segment carried by an IPv4 packet (checksum verified against its addresses). */
export function parseTcp(ip: Ipv4Packet): TcpSegment | undefined {
  const d = ip.payload;
  if (d.length < TCP_HLEN) return undefined;
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  const off = ((d[12] as number) >>> 4) * 4;
  if (off < TCP_HLEN || off > d.length) return undefined;
  const rawOptions = d.subarray(TCP_HLEN, off);
  const { options, malformed } = decodeTcpOptions(rawOptions);
  const sum = sum16(d, 0, d.length, pseudoHeaderSum(parseIPv4(ip.src), parseIPv4(ip.dst), IPPROTO_TCP, d.length));
  const flagBits = d[13] as number;
  return {
    sport: dv.getUint16(0),
    dport: dv.getUint16(2),
    seq: dv.getUint32(4),
    ack: dv.getUint32(8),
    flags: flagsToString(flagBits),
    flagBits,
    win: dv.getUint16(14),
    urp: dv.getUint16(18),
    dataOffset: off >>> 2,
    options,
    optionsMalformed: malformed,
    rawOptions,
    payload: d.subarray(off),
    checksum: dv.getUint16(16),
    checksumOk: finishChecksum(sum) === 0,
  };
}

/** A whole Ethernet + IPv4 + TCP frame. */
export function buildTcpFrame(f: {
  srcMac: string;
  dstMac: string;
  ip: Omit<Ipv4Build, 'protocol' | 'payload'>;
  tcp: Omit<TcpBuild, 'src' | 'dst'>;
}): Uint8Array {
  const tcp = buildTcp({ ...f.tcp, src: f.ip.src, dst: f.ip.dst });
  const ip = buildIpv4({ ...f.ip, protocol: IPPROTO_TCP, payload: tcp });
  return buildEthernet({ dst: f.dstMac, src: f.srcMac, type: ETHERTYPE_IPV4, payload: ip });
}

/** Parse an Ethernet frame down to TCP; undefined unless it is a well-formed IPv4 TCP frame. */
export function parseTcpFrame(frame: Uint8Array): { eth: EthernetFrame; ip: Ipv4Packet; tcp: TcpSegment } | undefined {
  const eth = parseEthernet(frame);
  if (!eth || eth.type !== ETHERTYPE_IPV4) return undefined;
  const ip = parseIpv4(eth.payload);
  if (!ip || ip.protocol !== IPPROTO_TCP) return undefined;
  const tcp = parseTcp(ip);
  if (!tcp) return undefined;
  return { eth, ip, tcp };
}

/** tcpdump -n -S style one-liner: "198.18.0.2.8080 > 198.18.0.99.40000: Flags [S.], seq 1, ack 2, win 64240, options [mss 1460], length 0". */
export function formatSegment(ip: { src: string; dst: string }, t: TcpSegment): string {
  const parts = [`Flags [${t.flags === '' ? 'none' : t.flags}]`];
  const len = t.payload.length;
  if (t.flagBits & (TCP_SYN | TCP_FIN | TCP_RST) || len > 0) parts.push(len > 0 ? `seq ${t.seq}:${(t.seq + len) >>> 0}` : `seq ${t.seq}`);
  if (t.flagBits & TCP_ACK) parts.push(`ack ${t.ack}`);
  parts.push(`win ${t.win}`);
  const o: string[] = [];
  if (t.options.mss !== undefined) o.push(`mss ${t.options.mss}`);
  if (t.options.sackOk) o.push('sackOK');
  if (t.options.ts) o.push(`TS val ${t.options.ts[0]} ecr ${t.options.ts[1]}`);
  if (t.options.wscale !== undefined) o.push(`wscale ${t.options.wscale}`);
  if (t.options.sack) o.push(`sack ${t.options.sack.length} ${t.options.sack.map(([l, r]) => `{${l}:${r}}`).join('')}`);
  if (o.length > 0) parts.push(`options [${o.join(',')}]`);
  parts.push(`length ${len}`);
  return `${ip.src}.${t.sport} > ${ip.dst}.${t.dport}: ${parts.join(', ')}`;
}

function checkPort(p: number, what: string): void {
  if (!Number.isInteger(p) || p < 0 || p > 65535) throw new RangeError(`${what} must be an integer 0..65535, got ${p}`);
}

/** Recompute, in place, the IPv4 header checksum and the TCP/ICMP checksum of a (possibly mangled) frame (fuzzing). */
export function repairChecksums(f: Uint8Array): void {
  if (f.length < 34 || f[12] !== 8 || f[13] !== 0) return;
  const ip = f.subarray(14);
  const ihl = ((ip[0] as number) & 15) * 4;
  if (ihl < 20 || ihl > ip.length) return;
  ip[10] = 0;
  ip[11] = 0;
  const hc = internetChecksum(ip, 0, ihl);
  ip[10] = hc >>> 8;
  ip[11] = hc & 255;
  const total = ((ip[2] as number) << 8) | (ip[3] as number);
  const end = Math.min(total, ip.length);
  if (end <= ihl) return;
  const body = ip.subarray(ihl, end);
  if (ip[9] === IPPROTO_TCP && body.length >= 18) {
    body[16] = 0;
    body[17] = 0;
    const pseudo = Uint8Array.of(...ip.subarray(12, 20), 0, 6, (body.length >>> 8) & 255, body.length & 255);
    const c = finishChecksum(sum16(body, 0, body.length, sum16(pseudo)));
    body[16] = c >>> 8;
    body[17] = c & 255;
  } else if (ip[9] === IPPROTO_ICMP && body.length >= 4) {
    body[2] = 0;
    body[3] = 0;
    const c = internetChecksum(body);
    body[2] = c >>> 8;
    body[3] = c & 255;
  }
}
