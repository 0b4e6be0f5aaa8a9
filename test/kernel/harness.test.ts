/**
 * Unit tests of the kernel-comparison harness's pure parts (no root, no namespaces): the pcap reader,
 * the normalisation, the comparison rules and the Linux 6.13+ prediction.
 */
import { describe, expect, it } from 'vitest';
import {
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  TCPOPT_MSS,
  TCPOPT_SACK_PERM,
  TCPOPT_TIMESTAMP,
  TCPOPT_WSCALE,
  parsePcap,
  tcpFlagString,
} from '../helpers/pcap.js';
import { splitConnections, synRanks, type NormSegment } from './analyse.js';
import { compareRuns, compareSegments, formatRunDiff } from './compare.js';
import type { ConnectionResult, ScenarioRun } from './run-scenario.js';
import { expectLinux613, scenarioMatrix, type Scenario } from './scenarios.js';

/** Ethernet + IPv4 + TCP frame builder (checksums left zero). */
function frame(o: {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  win?: number;
  options?: number[];
  payload?: number;
}): Uint8Array {
  const opts = o.options ?? [];
  const optLen = (opts.length + 3) & ~3;
  const tcpLen = 20 + optLen;
  const payload = o.payload ?? 0;
  const ipLen = 20 + tcpLen + payload;
  const b = new Uint8Array(14 + ipLen);
  const dv = new DataView(b.buffer);
  b.set([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1], 0);
  dv.setUint16(12, 0x0800);
  b[14] = 0x45;
  dv.setUint16(16, ipLen);
  b[22] = 64;
  b[23] = 6;
  b.set(o.src.split('.').map(Number), 26);
  b.set(o.dst.split('.').map(Number), 30);
  const t = 34;
  dv.setUint16(t, o.sport);
  dv.setUint16(t + 2, o.dport);
  dv.setUint32(t + 4, o.seq >>> 0);
  dv.setUint32(t + 8, o.ack >>> 0);
  b[t + 12] = (tcpLen / 4) << 4;
  b[t + 13] = o.flags;
  dv.setUint16(t + 14, o.win ?? 64240);
  // checksum left zero: the reader does not verify it
  b.set(opts, t + 20);
  for (let i = opts.length; i < optLen; i++) b[t + 20 + i] = 1; // NOP padding
  return b;
}

/** A classic little-endian microsecond pcap file of `frames` at the given epoch-ms times. */
function pcapFile(frames: Array<{ ms: number; bytes: Uint8Array }>): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.bytes.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 262144, true);
  dv.setUint32(20, 1, true);
  let off = 24;
  for (const f of frames) {
    dv.setUint32(off, Math.floor(f.ms / 1000), true);
    dv.setUint32(off + 4, Math.round((f.ms % 1000) * 1000), true);
    dv.setUint32(off + 8, f.bytes.length, true);
    dv.setUint32(off + 12, f.bytes.length, true);
    out.set(f.bytes, off + 16);
    off += 16 + f.bytes.length;
  }
  return out;
}

const SYN_OPTS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
const CLI = '198.18.10.1';
const SRV = '198.18.10.2';
const T0 = 1_700_000_000_000;

describe('pcap reader', () => {
  it('reads the global header, records, and an IPv4/TCP SYN with options', () => {
    const syn = frame({ src: CLI, dst: SRV, sport: 41000, dport: 8080, seq: 1000, ack: 0, flags: TCP_SYN, options: SYN_OPTS });
    const f = parsePcap(pcapFile([{ ms: T0 + 0.25, bytes: syn }]));
    expect(f.header).toMatchObject({ littleEndian: true, nanoseconds: false, linktype: 1, snaplen: 262144 });
    expect(f.records).toHaveLength(1);
    const r = f.records[0]!;
    expect(r.timeUs).toBe(T0 * 1000 + 250);
    expect(r.tcp).toMatchObject({
      src: CLI,
      dst: SRV,
      srcPort: 41000,
      dstPort: 8080,
      seq: 1000,
      flags: TCP_SYN,
      window: 64240,
      payloadLength: 0,
      optionKinds: [TCPOPT_MSS, TCPOPT_SACK_PERM, TCPOPT_TIMESTAMP, TCPOPT_WSCALE],
      optionValues: { mss: 1460, sackPermitted: true, tsVal: 1, tsEcr: 0, wscale: 7 },
      badOptions: false,
    });
  });

  it('reads big-endian and nanosecond files, and ignores a truncated last record', () => {
    const syn = frame({ src: CLI, dst: SRV, sport: 1, dport: 2, seq: 5, ack: 0, flags: TCP_SYN, payload: 3 });
    const le = pcapFile([{ ms: T0, bytes: syn }]);
    const be = new Uint8Array(le.length + 20);
    const dv = new DataView(be.buffer);
    dv.setUint32(0, 0xa1b23c4d); // nanosecond magic, big-endian
    dv.setUint16(4, 2);
    dv.setUint16(6, 4);
    dv.setUint32(16, 65535);
    dv.setUint32(20, 1);
    dv.setUint32(24, T0 / 1000);
    dv.setUint32(28, 123456789);
    dv.setUint32(32, syn.length);
    dv.setUint32(36, syn.length);
    be.set(syn, 40);
    dv.setUint32(40 + syn.length + 8, 1000); // a record header promising more bytes than remain
    const f = parsePcap(be.subarray(0, 40 + syn.length + 16));
    expect(f.header.nanoseconds).toBe(true);
    expect(f.header.littleEndian).toBe(false);
    expect(f.records).toHaveLength(1);
    expect(f.records[0]!.timeUs).toBe(T0 * 1000 + 123456);
    expect(f.records[0]!.tcp?.payloadLength).toBe(3);
  });

  it('rejects other formats', () => {
    expect(() => parsePcap(new Uint8Array(24))).toThrow(/bad magic/);
    expect(() => parsePcap(new Uint8Array(3))).toThrow(/too short/);
  });

  it('names flags like tcpdump', () => {
    expect(tcpFlagString(TCP_SYN | TCP_ACK)).toBe('S.');
    expect(tcpFlagString(TCP_RST)).toBe('R');
    expect(tcpFlagString(TCP_ACK)).toBe('.');
  });
});

describe('per-connection normalisation', () => {
  it('splits by client port, times from the first SYN, seq/ack relative to the ISNs', () => {
    const c = 0xfffffff0; // client ISN near the wrap
    const s = 5000;
    const frames = [
      { ms: T0, bytes: frame({ src: CLI, dst: SRV, sport: 41001, dport: 8080, seq: c, ack: 0, flags: TCP_SYN, options: SYN_OPTS }) },
      { ms: T0 + 2, bytes: frame({ src: CLI, dst: SRV, sport: 41000, dport: 8080, seq: 7, ack: 0, flags: TCP_SYN }) },
      { ms: T0 + 100, bytes: frame({ src: SRV, dst: CLI, sport: 8080, dport: 41001, seq: s, ack: c + 1, flags: TCP_SYN | TCP_ACK, options: SYN_OPTS }) },
      { ms: T0 + 100.5, bytes: frame({ src: CLI, dst: SRV, sport: 41001, dport: 8080, seq: c + 1, ack: s + 1, flags: TCP_ACK, payload: 8 }) },
      { ms: T0 + 201, bytes: frame({ src: SRV, dst: CLI, sport: 8080, dport: 41001, seq: s + 1, ack: 0, flags: TCP_RST }) },
      { ms: T0 + 300, bytes: frame({ src: SRV, dst: '198.18.10.9', sport: 8080, dport: 41001, seq: 1, ack: 0, flags: TCP_RST }) },
    ];
    const conns = splitConnections(parsePcap(pcapFile(frames)), CLI, SRV, 8080, [41000, 41001]);
    const a = conns.get(41001)!;
    expect(a.clientIsn).toBe(c);
    expect(a.serverIsn).toBe(s);
    expect(a.server.map((x) => [x.flags, x.seq, x.ack, x.len, Math.round(x.t)])).toEqual([
      ['S.', 0, 1, 0, 100],
      ['R', 1, null, 0, 201],
    ]);
    expect(a.server[0]!.optionKinds).toEqual([2, 3, 4, 8]);
    expect(a.client.map((x) => [x.flags, x.seq, x.ack, x.len])).toEqual([
      ['S', 0, null, 0],
      ['.', 1, 1, 8],
    ]);
    const ranks = synRanks([...conns.values()]);
    expect(ranks.get(41001)).toBe(0);
    expect(ranks.get(41000)).toBe(1);
  });
});

function seg(t: number, flags: string, seq = 0, ack: number | null = 1, optionKinds: number[] = []): NormSegment {
  return { t, flags, seq, ack, len: 0, optionKinds, window: 0 };
}

describe('comparison rules', () => {
  it('accepts time differences within 150 ms + 15 % and nothing more', () => {
    expect(compareSegments([seg(3100, 'S.')], [seg(3000, 'S.')], 10_000).equal).toBe(true);
    expect(compareSegments([seg(3700, 'S.')], [seg(3000, 'S.')], 10_000).equal).toBe(true);
    expect(compareSegments([seg(3800, 'S.')], [seg(3000, 'S.')], 10_000).equal).toBe(false);
    expect(compareSegments([seg(100, 'S.')], [seg(300, 'S.')], 10_000).equal).toBe(false);
  });

  it('compares flags, relative seq/ack and option kinds', () => {
    expect(compareSegments([seg(100, 'R', 1, null)], [seg(100, 'R.', 1, 1)], 5000).equal).toBe(false);
    expect(compareSegments([seg(100, 'S.', 0, 1, [2, 4])], [seg(100, 'S.', 0, 1, [2])], 5000).equal).toBe(false);
  });

  it('lets a segment near the end of observation be present on one side only', () => {
    expect(compareSegments([seg(100, 'S.'), seg(3900, 'S.')], [seg(100, 'S.')], 4100).equal).toBe(true);
    expect(compareSegments([seg(100, 'S.'), seg(1100, 'S.')], [seg(100, 'S.')], 4100).equal).toBe(false);
  });

  it('reports differing connections side by side', () => {
    const sc: Scenario = { id: 'pre-b1-abort0', backlog: 1, mode: 'prefilled', abortOnOverflow: 0, clients: 2, prefill: 1 };
    const conn = (rank: number, outcome: 'established' | 'timeout', server: NormSegment[]): ConnectionResult => ({
      index: rank,
      localPort: 41000 + rank,
      rank,
      report: { index: rank, localPort: 41000 + rank, outcome, connectMs: 100, startMs: 0 },
      capture: { localPort: 41000 + rank, firstSynEpochMs: T0, server, client: [seg(0, 'S', 0, null)] },
      horizonMs: 4100,
      lateServerSegments: 0,
    });
    const run = (target: 'kernel' | 'stack', c: ConnectionResult[]): ScenarioRun => ({
      target,
      scenario: sc,
      connections: c,
      burst: { clean: true, detail: '' },
      settings: {},
      diagnostics: {},
      pcapPath: `/tmp/${target}.pcap`,
      durationMs: 0,
      clientStderr: '',
      disturbance: { clientLoopMs: 0, delayLateMs: 0, stackLoopMs: 0 },
    });
    const k = run('kernel', [conn(0, 'established', [seg(100, 'S.'), seg(201, '.', 1, 9)]), conn(1, 'established', [seg(100, 'S.'), seg(1100, 'S.'), seg(3100, 'S.')])]);
    const s = run('stack', [conn(0, 'established', [seg(100, 'S.'), seg(201, '.', 1, 9)]), conn(1, 'timeout', [])]);
    const d = compareRuns(k, s);
    expect(d.equal).toBe(false);
    expect(d.connections.map((c) => c.outcomeEqual && c.segments.equal)).toEqual([true, false]);
    const text = formatRunDiff(d, k, s);
    expect(text).toContain('connection rank 1');
    expect(text).toContain('outcome: kernel established | stack timeout   <-- differs');
    expect(text).toContain('missing from the stack');
    expect(text).not.toContain('connection rank 0');
  });
});

describe('Linux 6.13+ prediction', () => {
  const fates = (id: string): string[] => expectLinux613(scenarioMatrix().find((s) => s.id === id)!);
  it('sequential: backlog + 1 accepted, the rest dropped at the SYN', () => {
    expect(fates('seq-b0-abort0')).toEqual(['accepted', 'syn-dropped', 'syn-dropped']);
    expect(fates('seq-b3-abort1')).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'syn-dropped', 'syn-dropped']);
  });
  it('concurrent: backlog + 1 requests, cookies after that, cookie ACKs overflow silently', () => {
    expect(fates('conc-b1-abort1')).toEqual(['accepted', 'accepted', 'cookie-overflow', 'cookie-overflow']);
  });
  it('prefilled: the last real request overflows at its third ACK (RST only with abort_on_overflow)', () => {
    expect(fates('pre-b1-abort0')).toEqual(['accepted', 'accepted', 'request-overflow-keep', 'cookie-overflow']);
    expect(fates('pre-b1-abort1')).toEqual(['accepted', 'accepted', 'request-overflow-reset', 'cookie-overflow']);
    expect(fates('pre-b0-abort1')).toEqual(['accepted', 'syn-dropped', 'syn-dropped']);
  });
});
