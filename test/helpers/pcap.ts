/**
 * A small reader for classic libpcap files (what `tcpdump -w` writes), for tests.
 *
 * Owns: the file format (24-byte global header, 16-byte record headers, either byte order, micro- or
 * nanosecond magic), LINKTYPE_ETHERNET (1) frames, and just enough Ethernet / 802.1Q / IPv4 / TCP
 * parsing to describe a segment: addresses, ports, flags, seq, ack, window, options (kinds and
 * values), payload length, timestamp. Everything else (ARP, IPv6, UDP, fragments) is kept as a raw
 * record with `tcp` undefined.
 * Called by: the kernel-comparison harness (test/kernel/) and any test that wants to read a capture.
 *
 * Checked once, then read freely: each layer's length is validated before its fields are read.
 */
import { readFileSync } from 'node:fs';

/** pcap global header magic numbers, as read in the file's own byte order */
const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
export const LINKTYPE_ETHERNET = 1;

const ETH_HEADER_LEN = 14;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_VLAN = 0x8100;
const IPV4_MIN_HEADER_LEN = 20;
const IPPROTO_TCP = 6;
const TCP_MIN_HEADER_LEN = 20;

/** TCP flag bits as in the header's 13th byte: the scripted peer's frame module defines them once */
import { TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR } from '../../src/testing/frames.js';
export { TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR };

/** option kinds (RFC 9293 §3.2, RFC 7323, RFC 2018, RFC 7413) */
export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERM = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;
export const TCPOPT_FASTOPEN = 34;

export interface PcapHeader {
  /** true if the file was written little-endian */
  littleEndian: boolean;
  /** true for the nanosecond-resolution magic */
  nanoseconds: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linktype: number;
}

export interface TcpOption {
  kind: number;
  /** the option's data bytes (after kind and length); empty for NOP/EOL */
  data: Uint8Array;
}

/** Decoded values of the options a SYN or SYN-ACK usually carries. */
export interface TcpOptionValues {
  mss?: number;
  wscale?: number;
  sackPermitted?: boolean;
  tsVal?: number;
  tsEcr?: number;
  /** SACK blocks as [left, right) pairs */
  sack?: Array<[number, number]>;
}

export interface TcpSegment {
  srcMac: string;
  dstMac: string;
  src: string;
  dst: string;
  ttl: number;
  ipId: number;
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** the flags byte (TCP_SYN | TCP_ACK ...) */
  flags: number;
  window: number;
  /** options in wire order, NOP and EOL excluded */
  options: TcpOption[];
  /** kinds of `options`, in wire order */
  optionKinds: number[];
  optionValues: TcpOptionValues;
  /** TCP payload bytes (from the IP total length, so not affected by the snap length) */
  payloadLength: number;
  /** true if the options were malformed (parsing stopped at the bad one) */
  badOptions: boolean;
}

export interface PcapRecord {
  /** capture time in microseconds since the epoch (nanosecond files are rounded down) */
  timeUs: number;
  /** capture time in milliseconds since the epoch, fractional */
  timeMs: number;
  /** bytes captured (may be less than origLength) */
  capturedLength: number;
  origLength: number;
  frame: Uint8Array;
  /** set for IPv4/TCP frames whose headers were captured whole */
  tcp?: TcpSegment;
}

export interface PcapFile {
  header: PcapHeader;
  records: PcapRecord[];
}

export class PcapFormatError extends Error {
  constructor(message: string) {
    super(`pcap: ${message}`);
    this.name = 'PcapFormatError';
  }
}

function mac(b: Uint8Array, off: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(b[off + i]!.toString(16).padStart(2, '0'));
  return parts.join(':');
}

function ipv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** Parses a classic pcap file held in memory. Truncated trailing records (a capture cut short) are ignored. */
export function parsePcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < GLOBAL_HEADER_LEN) throw new PcapFormatError(`file too short (${bytes.length} bytes)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  const magicLe = dv.getUint32(0, true);
  const magicBe = dv.getUint32(0, false);
  if (magicLe === MAGIC_MICRO || magicLe === MAGIC_NANO) {
    littleEndian = true;
    nanoseconds = magicLe === MAGIC_NANO;
  } else if (magicBe === MAGIC_MICRO || magicBe === MAGIC_NANO) {
    littleEndian = false;
    nanoseconds = magicBe === MAGIC_NANO;
  } else {
    throw new PcapFormatError(
      `bad magic 0x${magicBe.toString(16)} (pcapng and other formats are not supported)`,
    );
  }
  const header: PcapHeader = {
    littleEndian,
    nanoseconds,
    versionMajor: dv.getUint16(4, littleEndian),
    versionMinor: dv.getUint16(6, littleEndian),
    snaplen: dv.getUint32(16, littleEndian),
    // the upper bits may hold an FCS length (pcap-linktype(7)); the link type is the low 16 bits
    linktype: dv.getUint32(20, littleEndian) & 0xffff,
  };
  const records: PcapRecord[] = [];
  let off = GLOBAL_HEADER_LEN;
  while (off + RECORD_HEADER_LEN <= bytes.length) {
    const sec = dv.getUint32(off, littleEndian);
    const frac = dv.getUint32(off + 4, littleEndian);
    const inclLen = dv.getUint32(off + 8, littleEndian);
    const origLen = dv.getUint32(off + 12, littleEndian);
    const start = off + RECORD_HEADER_LEN;
    if (start + inclLen > bytes.length) break; // capture cut short while writing
    const frame = bytes.subarray(start, start + inclLen);
    const fracUs = nanoseconds ? Math.floor(frac / 1000) : frac;
    const timeUs = sec * 1_000_000 + fracUs;
    const rec: PcapRecord = {
      timeUs,
      timeMs: sec * 1000 + (nanoseconds ? frac / 1e6 : frac / 1e3),
      capturedLength: inclLen,
      origLength: origLen,
      frame,
    };
    if (header.linktype === LINKTYPE_ETHERNET) {
      const tcp = parseEthernetTcp(frame);
      if (tcp) rec.tcp = tcp;
    }
    records.push(rec);
    off = start + inclLen;
  }
  return { header, records };
}

export function readPcapFile(path: string): PcapFile {
  return parsePcap(readFileSync(path));
}

/** Parses an Ethernet II frame (optionally one 802.1Q tag) carrying IPv4/TCP; undefined for anything else. */
export function parseEthernetTcp(frame: Uint8Array): TcpSegment | undefined {
  if (frame.length < ETH_HEADER_LEN) return undefined;
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  let ethType = dv.getUint16(12);
  let ipOff = ETH_HEADER_LEN;
  if (ethType === ETHERTYPE_VLAN) {
    if (frame.length < ETH_HEADER_LEN + 4) return undefined;
    ethType = dv.getUint16(16);
    ipOff += 4;
  }
  if (ethType !== ETHERTYPE_IPV4) return undefined;
  if (frame.length < ipOff + IPV4_MIN_HEADER_LEN) return undefined;
  const verIhl = frame[ipOff]!;
  if (verIhl >> 4 !== 4) return undefined;
  const ihl = (verIhl & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER_LEN || frame.length < ipOff + ihl) return undefined;
  const totalLength = dv.getUint16(ipOff + 2);
  const fragField = dv.getUint16(ipOff + 6);
  if ((fragField & 0x1fff) !== 0) return undefined; // a non-first fragment has no TCP header
  if (frame[ipOff + 9] !== IPPROTO_TCP) return undefined;
  const tcpOff = ipOff + ihl;
  if (frame.length < tcpOff + TCP_MIN_HEADER_LEN) return undefined;
  const dataOffset = (frame[tcpOff + 12]! >> 4) * 4;
  if (dataOffset < TCP_MIN_HEADER_LEN || frame.length < tcpOff + dataOffset) return undefined;
  if (totalLength < ihl + dataOffset) return undefined;

  // Headers are whole: read freely from here on.
  const options: TcpOption[] = [];
  const optionValues: TcpOptionValues = {};
  let badOptions = false;
  let o = tcpOff + TCP_MIN_HEADER_LEN;
  const end = tcpOff + dataOffset;
  while (o < end) {
    const kind = frame[o]!;
    if (kind === TCPOPT_EOL) break;
    if (kind === TCPOPT_NOP) {
      o++;
      continue;
    }
    if (o + 1 >= end) {
      badOptions = true;
      break;
    }
    const len = frame[o + 1]!;
    if (len < 2 || o + len > end) {
      badOptions = true;
      break;
    }
    const data = frame.subarray(o + 2, o + len);
    options.push({ kind, data });
    const odv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (kind === TCPOPT_MSS && len === 4) optionValues.mss = odv.getUint16(0);
    else if (kind === TCPOPT_WSCALE && len === 3) optionValues.wscale = data[0]!;
    else if (kind === TCPOPT_SACK_PERM && len === 2) optionValues.sackPermitted = true;
    else if (kind === TCPOPT_TIMESTAMP && len === 10) {
      optionValues.tsVal = odv.getUint32(0);
      optionValues.tsEcr = odv.getUint32(4);
    } else if (kind === TCPOPT_SACK && (len - 2) % 8 === 0) {
      const blocks: Array<[number, number]> = [];
      for (let i = 0; i < len - 2; i += 8) blocks.push([odv.getUint32(i), odv.getUint32(i + 4)]);
      optionValues.sack = blocks;
    }
    o += len;
  }

  return {
    srcMac: mac(frame, 6),
    dstMac: mac(frame, 0),
    src: ipv4(frame, ipOff + 12),
    dst: ipv4(frame, ipOff + 16),
    ttl: frame[ipOff + 8]!,
    ipId: dv.getUint16(ipOff + 4),
    srcPort: dv.getUint16(tcpOff),
    dstPort: dv.getUint16(tcpOff + 2),
    seq: dv.getUint32(tcpOff + 4),
    ack: dv.getUint32(tcpOff + 8),
    flags: frame[tcpOff + 13]!,
    window: dv.getUint16(tcpOff + 14),
    options,
    optionKinds: options.map((x) => x.kind),
    optionValues,
    payloadLength: totalLength - ihl - dataOffset,
    badOptions,
  };
}

/** tcpdump-style flag string: "S", "S.", "R", "R.", "P.", "F.", "." */
export function tcpFlagString(flags: number): string {
  let s = '';
  if (flags & TCP_SYN) s += 'S';
  if (flags & TCP_FIN) s += 'F';
  if (flags & TCP_PSH) s += 'P';
  if (flags & TCP_RST) s += 'R';
  if (flags & TCP_URG) s += 'U';
  if (flags & TCP_ECE) s += 'E';
  if (flags & TCP_CWR) s += 'W';
  if (flags & TCP_ACK) s += '.';
  return s || 'none';
}

const OPTION_NAMES: Record<number, string> = {
  [TCPOPT_MSS]: 'mss',
  [TCPOPT_WSCALE]: 'wscale',
  [TCPOPT_SACK_PERM]: 'sackOK',
  [TCPOPT_SACK]: 'sack',
  [TCPOPT_TIMESTAMP]: 'TS',
  [TCPOPT_FASTOPEN]: 'tfo',
};

/** "mss,sackOK,TS,wscale" for a list of kinds, as tcpdump names them */
export function tcpOptionNames(kinds: readonly number[]): string {
  return kinds.map((k) => OPTION_NAMES[k] ?? `opt${k}`).join(',');
}
