// The network layers of the core (assembly/net/*, assembly/wire/*) seen from the wire: Ethernet II
// demultiplexing, ARP (answering, resolving, holding frames, retrying, expiry), IPv4 header checks,
// ICMP echo, TCP input checks and option parsing, and the RST for a closed port (RFC 9293 §3.10.7.1).
// Runs the real core over a MemoryLink and a VirtualClock: each test is a packet trace, with the
// counters (nstat names) it must move.
//
// WTCP_TEST_CORE=/path/x.wasm runs the suite against another build of the core.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { macFromIp } from '../../src/addr.js';
import { VirtualClock } from '../../src/clock.js';
import type { CounterName } from '../../src/core-abi.js';
import { Core, getCoreModule } from '../../src/core.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Stack, type StackOptions } from '../../src/stack.js';
import {
  buildArp, buildEthernet, buildIpv4, buildTcp, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_TCP,
  internetChecksum, parseArp, parseEthernet, parseIpv4, parseTcp, type ArpPacket, type Ipv4Packet,
  type TcpBuild,
} from '../../src/testing/frames.js';
import { Peer } from '../../src/testing/peer.js';

const CORE = process.env.WTCP_TEST_CORE ? { module: readFileSync(process.env.WTCP_TEST_CORE) } : { debug: true };

const STACK = '198.18.0.2';
const PEER = '198.18.0.99';
const GW = '198.18.0.1';
const STACK_MAC = macFromIp(STACK);
const PEER_MAC = macFromIp(PEER);
const GW_MAC = '02:00:0a:0b:0c:01';
const BCAST_MAC = 'ff:ff:ff:ff:ff:ff';
const PORT = 8080;
const CLOSED = 9;

// ------------------------------------------------------------------------------------------------
// Fixture
// ------------------------------------------------------------------------------------------------

interface Rx {
  time: number;
  frame: Uint8Array;
}

interface Env {
  clock: VirtualClock;
  stack: Stack;
  peer: Peer;
  /** every frame the stack sent, as the peer's end of the cable saw it */
  rx: Rx[];
  /** core aborts reported by the stack */
  errors: Error[];
  /** the peer's end of the cable */
  link: MemoryLink;
  /** called for every frame the stack sends (to play other hosts on the segment) */
  hooks: ((frame: Uint8Array) => void)[];
}

function make(opts: {
  answerArp?: boolean;
  peerIp?: string;
  peerMac?: string;
  gateway?: string | null;
  personality?: StackOptions['personality'];
  sysctls?: StackOptions['sysctls'];
  limits?: StackOptions['limits'];
} = {}): Env {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const gateway = opts.gateway === undefined ? GW : opts.gateway;
  const stack = new Stack({
    personality: opts.personality ?? 'linux-5.4',
    sysctls: opts.sysctls ?? {},
    clock,
    link: a,
    interfaces: [{ ip: `${STACK}/24`, ...(gateway !== null ? { gateway } : {}) }],
    seed: 7,
    core: CORE,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
  const errors: Error[] = [];
  stack.on('error', (e) => errors.push(e));
  const rx: Rx[] = [];
  const hooks: ((frame: Uint8Array) => void)[] = [];
  b.onTap((frame, dir) => {
    if (dir !== 'in') return;
    rx.push({ time: clock.now(), frame });
    for (const h of hooks) h(frame);
  });
  const peer = new Peer({
    link: b, clock, ip: opts.peerIp ?? PEER, stackIp: STACK, answerArp: opts.answerArp ?? true,
    ...(opts.peerMac ? { mac: opts.peerMac } : {}),
    template: { dport: PORT },
  });
  return { clock, stack, peer, rx, errors, link: b, hooks };
}

function listen(env: Env, port = PORT, backlog = 16): number {
  const fd = env.stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  env.stack.bsd.bind(fd, { address: '0.0.0.0', port });
  env.stack.bsd.listen(fd, backlog);
  return fd;
}

/** Make both sides know each other's MAC (the peer asks; the stack learns from the request). */
async function resolved(env: Env): Promise<void> {
  await env.peer.resolve({ within: 10 });
  env.rx.length = 0;
}

/** Counters that changed while `fn` ran, and by how much. */
async function delta(env: Env, fn: () => unknown | Promise<unknown>): Promise<Partial<Record<CounterName, number>>> {
  const before = env.stack.counters();
  await fn();
  await env.peer.settle();
  const after = env.stack.counters();
  const d: Partial<Record<CounterName, number>> = {};
  for (const k of Object.keys(after) as CounterName[]) if (after[k] !== before[k]) d[k] = after[k] - before[k];
  return d;
}

/** Take what the stack sent since the last take. */
function take(env: Env): Rx[] {
  return env.rx.splice(0);
}

// --- frames ---------------------------------------------------------------------------------------

function icmp(f: { type?: number; code?: number; id?: number; seq?: number; payload?: Uint8Array; checksum?: number }): Uint8Array {
  const payload = f.payload ?? new Uint8Array(0);
  const p = new Uint8Array(8 + payload.length);
  const dv = new DataView(p.buffer);
  p[0] = f.type ?? 8;
  p[1] = f.code ?? 0;
  dv.setUint16(4, f.id ?? 0x1234);
  dv.setUint16(6, f.seq ?? 1);
  p.set(payload, 8);
  dv.setUint16(2, f.checksum ?? internetChecksum(p));
  return p;
}

interface IpFields {
  src?: string;
  dst?: string;
  ttl?: number;
  mf?: boolean;
  df?: boolean;
  fragOffset?: number;
  options?: Uint8Array;
  checksum?: number;
  dstMac?: string;
  srcMac?: string;
  protocol?: number;
}

function ipFrame(payload: Uint8Array, f: IpFields = {}): Uint8Array {
  const ip = buildIpv4({
    src: f.src ?? PEER, dst: f.dst ?? STACK, protocol: f.protocol ?? IPPROTO_ICMP, payload,
    ...(f.ttl !== undefined ? { ttl: f.ttl } : {}),
    ...(f.mf !== undefined ? { mf: f.mf } : {}),
    ...(f.df !== undefined ? { df: f.df } : {}),
    ...(f.fragOffset !== undefined ? { fragOffset: f.fragOffset } : {}),
    ...(f.options !== undefined ? { options: f.options } : {}),
    ...(f.checksum !== undefined ? { checksum: f.checksum } : {}),
  });
  return buildEthernet({ dst: f.dstMac ?? STACK_MAC, src: f.srcMac ?? PEER_MAC, type: ETHERTYPE_IPV4, payload: ip });
}

function tcpFrame(t: Partial<TcpBuild> & { flags: string | number }, f: IpFields = {}): Uint8Array {
  const seg = buildTcp({ sport: 40000, dport: PORT, seq: 1000, ...t, src: f.src ?? PEER, dst: f.dst ?? STACK });
  return ipFrame(seg, { ...f, protocol: IPPROTO_TCP });
}

function echoFrame(f: IpFields & { id?: number; seq?: number; payload?: Uint8Array; icmpChecksum?: number } = {}): Uint8Array {
  return ipFrame(icmp({
    id: f.id, seq: f.seq, payload: f.payload,
    ...(f.icmpChecksum !== undefined ? { checksum: f.icmpChecksum } : {}),
  }), f);
}

function arpFrame(a: Partial<ArpPacket> & { op: number }, eth: { dst?: string; src?: string } = {}): Uint8Array {
  const arp = buildArp({
    senderMac: PEER_MAC, senderIp: PEER, targetMac: '00:00:00:00:00:00', targetIp: STACK, ...a,
  });
  return buildEthernet({ dst: eth.dst ?? BCAST_MAC, src: eth.src ?? a.senderMac ?? PEER_MAC, type: ETHERTYPE_ARP, payload: arp });
}

// --- parsing what the stack sent --------------------------------------------------------------------

interface ParsedFrame {
  time: number;
  dst: string;
  src: string;
  type: number;
  raw: Uint8Array;
  arp?: ArpPacket;
  ip?: Ipv4Packet;
}

function parse(r: Rx): ParsedFrame {
  const eth = parseEthernet(r.frame);
  if (!eth) throw new Error(`the stack sent a runt frame of ${r.frame.length} bytes`);
  const out: ParsedFrame = { time: r.time, dst: eth.dst, src: eth.src, type: eth.type, raw: r.frame };
  if (eth.type === ETHERTYPE_ARP) out.arp = parseArp(eth.payload);
  if (eth.type === ETHERTYPE_IPV4) out.ip = parseIpv4(eth.payload);
  return out;
}

function parsed(env: Env): ParsedFrame[] {
  return take(env).map(parse);
}

/** A one-line description of a frame the stack sent, for trace comparisons. */
function describeFrame(p: ParsedFrame): string {
  if (p.arp) return `arp ${p.arp.op === 1 ? 'who-has' : 'reply'} ${p.arp.targetIp} tell ${p.arp.senderIp} -> ${p.dst}`;
  if (p.ip?.protocol === IPPROTO_ICMP) return `icmp type ${p.ip.payload[0]} -> ${p.ip.dst} via ${p.dst}`;
  if (p.ip?.protocol === IPPROTO_TCP) {
    const t = parseTcp(p.ip);
    return `tcp ${t?.flags} ${p.ip.src}.${t?.sport} > ${p.ip.dst}.${t?.dport} via ${p.dst}`;
  }
  return `ethertype 0x${p.type.toString(16)}`;
}

function icmpOf(p: ParsedFrame): { type: number; code: number; id: number; seq: number; payload: Uint8Array; checksumOk: boolean } {
  const d = p.ip?.payload;
  if (!d || p.ip?.protocol !== IPPROTO_ICMP) throw new Error(`not an ICMP frame: ${describeFrame(p)}`);
  const dv = new DataView(d.buffer, d.byteOffset, d.byteLength);
  return {
    type: d[0] as number, code: d[1] as number, id: dv.getUint16(4), seq: dv.getUint16(6),
    payload: d.slice(8), checksumOk: internetChecksum(d) === 0,
  };
}

function bytes(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    p[i] = s >>> 24;
  }
  return p;
}

// ------------------------------------------------------------------------------------------------
// Ethernet
// ------------------------------------------------------------------------------------------------

describe('Ethernet II input', () => {
  it('a frame for another unicast MAC is dropped and counted WtcpNotForUs', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ dstMac: '02:00:00:00:00:77' })));
    expect(d).toEqual({ WtcpInFrames: 1, WtcpNotForUs: 1 });
    expect(take(env)).toEqual([]);
  });

  it('an unknown EtherType (IPv6) is dropped without an answer and counted WtcpNotForUs', async () => {
    const env = make();
    await resolved(env);
    const frame = buildEthernet({ dst: STACK_MAC, src: PEER_MAC, type: 0x86dd, payload: bytes(60) });
    const d = await delta(env, () => env.peer.sendFrame(frame));
    expect(d).toEqual({ WtcpInFrames: 1, WtcpNotForUs: 1 });
    expect(take(env)).toEqual([]);
  });

  it('runt frames (shorter than an Ethernet header) are counted WtcpMalformed', async () => {
    const env = make();
    await resolved(env);
    for (const n of [0, 1, 6, 13]) {
      const d = await delta(env, () => env.peer.sendFrame(echoFrame().slice(0, n)));
      expect(d, `${n} bytes`).toEqual({ WtcpInFrames: 1, WtcpMalformed: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('an IPv4 frame shorter than an IPv4 header is an IpInHdrErrors', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame().slice(0, 14 + 19)));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInHdrErrors: 1 });
  });

  it('a group (multicast) source MAC is never valid: WtcpMalformed', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ srcMac: '01:00:5e:00:00:09' })));
    expect(d).toEqual({ WtcpInFrames: 1, WtcpMalformed: 1 });
    expect(take(env)).toEqual([]);
  });

  it('Ethernet padding after the IPv4 total length is ignored (a 60-byte minimum frame)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    const syn = tcpFrame({ flags: 'S', seq: 5000 });
    expect(syn.length).toBe(54);
    const padded = new Uint8Array(60);
    padded.set(syn);
    padded.fill(0xee, 54); // garbage padding: it must not enter the TCP checksum
    env.peer.sendFrame(padded);
    await env.peer.expect({ flags: 'S.', ack: 5001 });
  });
});

// ------------------------------------------------------------------------------------------------
// ARP
// ------------------------------------------------------------------------------------------------

describe('ARP: answering for our address', () => {
  it('a request for our address gets a reply with every field right (RFC 826)', async () => {
    const env = make();
    const d = await delta(env, () => env.peer.sendFrame(arpFrame({ op: 1 })));
    const out = take(env);
    expect(out).toHaveLength(1);
    const f = out[0]!.frame;
    expect(f.length).toBe(42);
    const p = parse(out[0]!);
    expect(p.dst).toBe(PEER_MAC); // unicast back to the asker
    expect(p.src).toBe(STACK_MAC);
    expect(p.type).toBe(ETHERTYPE_ARP);
    // hardware type 1, protocol 0x0800, lengths 6 and 4, op 2
    expect([...f.subarray(14, 22)]).toEqual([0, 1, 8, 0, 6, 4, 0, 2]);
    expect(p.arp).toEqual({ op: 2, senderMac: STACK_MAC, senderIp: STACK, targetMac: PEER_MAC, targetIp: PEER });
    expect(d).toEqual({ WtcpInFrames: 1, WtcpArpIn: 1, WtcpArpReplies: 1, WtcpArpOut: 1, WtcpOutFrames: 1 });
  });

  it('a unicast request (as a re-confirming neighbour sends) is answered too', async () => {
    const env = make();
    env.peer.sendFrame(arpFrame({ op: 1, targetMac: STACK_MAC }, { dst: STACK_MAC }));
    await env.peer.settle();
    expect(parsed(env).map((p) => p.arp)).toEqual([{ op: 2, senderMac: STACK_MAC, senderIp: STACK, targetMac: PEER_MAC, targetIp: PEER }]);
  });

  it('a request from a sender claiming our own address is not answered (a conflict, not a neighbour)', async () => {
    const env = make();
    const d = await delta(env, () => env.peer.sendFrame(arpFrame({ op: 1, senderIp: STACK, senderMac: '02:00:00:00:66:66' })));
    expect(take(env)).toEqual([]);
    expect(d).toEqual({ WtcpInFrames: 1, WtcpArpIn: 1 });
  });

  it('a request for another address gets nothing (counted WtcpNotForUs)', async () => {
    const env = make();
    const d = await delta(env, () => env.peer.sendFrame(arpFrame({ op: 1, targetIp: '198.18.0.3' })));
    expect(take(env)).toEqual([]);
    expect(d).toEqual({ WtcpInFrames: 1, WtcpArpIn: 1, WtcpNotForUs: 1 });
  });

  it('a request for us teaches the stack the asker: its answer then needs no ARP of its own', async () => {
    const env = make({ answerArp: false });
    listen(env);
    await resolved(env);
    env.peer.send({ flags: 'S', seq: 100 });
    await env.peer.expect({ flags: 'S.', ack: 101 });
    expect(env.peer.arp.filter((a) => a.op === 1 && a.senderIp === STACK)).toEqual([]);
  });

  it('an ARP probe (sender address 0.0.0.0) for our address is answered to the probing MAC', async () => {
    const env = make();
    env.peer.sendFrame(arpFrame({ op: 1, senderIp: '0.0.0.0' }));
    await env.peer.settle();
    const out = parsed(env);
    expect(out.map((p) => p.dst)).toEqual([PEER_MAC]);
    expect(out[0]!.arp).toMatchObject({ op: 2, senderIp: STACK, targetMac: PEER_MAC, targetIp: '0.0.0.0' });
  });

  it('malformed ARP (truncated, wrong hardware or protocol type, multicast sender) is counted and ignored', async () => {
    const env = make();
    const good = arpFrame({ op: 1 });
    const bad: [string, Uint8Array][] = [
      ['truncated', good.slice(0, 41)],
      ['htype 6', (() => { const f = good.slice(); f[15] = 6; return f; })()],
      ['ptype 0x86dd', (() => { const f = good.slice(); f[16] = 0x86; f[17] = 0xdd; return f; })()],
      ['hlen 8', (() => { const f = good.slice(); f[18] = 8; return f; })()],
      ['plen 16', (() => { const f = good.slice(); f[19] = 16; return f; })()],
      ['multicast sender MAC', arpFrame({ op: 1, senderMac: '01:00:5e:00:00:01' }, { src: PEER_MAC })],
    ];
    for (const [what, f] of bad) {
      const d = await delta(env, () => env.peer.sendFrame(f));
      expect(d, what).toEqual({ WtcpInFrames: 1, WtcpArpIn: 1, WtcpMalformed: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('an unknown ARP operation is counted WtcpMalformed and gets no answer', async () => {
    const env = make();
    const d = await delta(env, () => env.peer.sendFrame(arpFrame({ op: 9 })));
    expect(d).toMatchObject({ WtcpArpIn: 1, WtcpMalformed: 1 });
    expect(take(env)).toEqual([]);
  });
});

describe('ARP: resolving next hops', () => {
  it('the first frame to a new neighbour waits for ARP: request, reply, then the frame', async () => {
    const env = make();
    listen(env);
    env.peer.send({ flags: 'S', seq: 7000 });
    await env.peer.expect({ flags: 'S.', ack: 7001 });
    const trace = take(env).map(parse);
    expect(trace.map(describeFrame)).toEqual([
      `arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`,
      `tcp S. ${STACK}.${PORT} > ${PEER}.40000 via ${PEER_MAC}`,
    ]);
    // the request: broadcast, target MAC zero, sender = us
    expect(trace[0]!.src).toBe(STACK_MAC);
    expect(trace[0]!.arp).toEqual({ op: 1, senderMac: STACK_MAC, senderIp: STACK, targetMac: '00:00:00:00:00:00', targetIp: PEER });
  });

  it('frames held during resolution are sent in order once the reply arrives', async () => {
    const env = make({ answerArp: false });
    listen(env);
    env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 1 }));                 // -> SYN-ACK
    env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 2, dport: CLOSED }));  // -> RST
    env.peer.sendFrame(echoFrame({ seq: 3 }));                            // -> echo reply
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([`arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`]);
    // the reply comes 500 ms later
    await env.peer.wait(500);
    env.peer.sendFrame(arpFrame({ op: 2, targetMac: STACK_MAC, targetIp: STACK }, { dst: STACK_MAC }));
    await env.peer.settle();
    const out = parsed(env);
    expect(out.map(describeFrame)).toEqual([
      `tcp S. ${STACK}.${PORT} > ${PEER}.40000 via ${PEER_MAC}`,
      `tcp R. ${STACK}.${CLOSED} > ${PEER}.40000 via ${PEER_MAC}`,
      `icmp type 0 -> ${PEER} via ${PEER_MAC}`,
    ]);
    // the held frames are complete: source MAC and checksums right
    for (const p of out) {
      expect(p.src).toBe(STACK_MAC);
      expect(p.ip?.checksumOk).toBe(true);
    }
    expect(icmpOf(out[2]!).checksumOk).toBe(true);
  });

  it('unanswered: a request every second, three in all, then the held frames are dropped and counted', async () => {
    const env = make({ answerArp: false });
    env.peer.sendFrame(echoFrame({ seq: 1 }));
    env.peer.sendFrame(echoFrame({ seq: 2 }));
    const d = await delta(env, () => env.peer.wait(10_000));
    const out = parsed(env);
    expect(out.map((p) => [p.time, describeFrame(p)])).toEqual([
      [0, `arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`],
      [1000, `arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`],
      [2000, `arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`],
    ]);
    expect(d.WtcpArpUnresolved).toBe(2);
    expect(d.WtcpArpOut).toBe(3);
    expect(d.IcmpOutEchoReps).toBe(2); // built and handed to ARP, then lost there
    // the stack has nothing left to do
    expect(env.stack.core.x.nextTimer(env.stack.now())).toBe(-1);
  });

  it('a reply after giving up does not resurrect the dropped frames', async () => {
    const env = make({ answerArp: false });
    env.peer.sendFrame(echoFrame({ seq: 1 }));
    await env.peer.wait(5000);
    take(env);
    env.peer.sendFrame(arpFrame({ op: 2, targetMac: STACK_MAC, targetIp: STACK }, { dst: STACK_MAC }));
    await env.peer.settle();
    expect(take(env)).toEqual([]);
  });

  it('after giving up, a new frame starts a new resolution', async () => {
    const env = make({ answerArp: false });
    env.peer.sendFrame(echoFrame({ seq: 1 }));
    await env.peer.wait(5000);
    take(env);
    env.peer.answerArp = true;
    env.peer.sendFrame(echoFrame({ seq: 2 }));
    await env.peer.settle();
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([
      `arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`,
      `icmp type 0 -> ${PEER} via ${PEER_MAC}`,
    ]);
  });

  it('at most a few frames wait per neighbour; the rest are dropped and counted WtcpArpQueueDrops', async () => {
    const env = make({ answerArp: false });
    for (let i = 0; i < 10; i++) env.peer.sendFrame(echoFrame({ seq: i }));
    const d = await delta(env, () => env.peer.settle());
    const held = 10 - (d.WtcpArpQueueDrops ?? 0);
    expect(held).toBeGreaterThanOrEqual(1);
    expect(held).toBeLessThan(10);
    env.peer.sendFrame(arpFrame({ op: 2, targetMac: STACK_MAC, targetIp: STACK }, { dst: STACK_MAC }));
    await env.peer.settle();
    const replies = parsed(env).filter((p) => p.ip).map((p) => icmpOf(p).seq);
    // the first `held` echoes, in order
    expect(replies).toEqual([...Array(held).keys()]);
  });

  it('an unsolicited ARP reply does not create a cache entry (only requests for us do)', async () => {
    const env = make({ answerArp: false });
    env.peer.sendFrame(arpFrame({ op: 2, targetMac: STACK_MAC, targetIp: STACK }, { dst: STACK_MAC }));
    await env.peer.settle();
    env.peer.sendFrame(echoFrame());
    await env.peer.settle();
    // the echo reply still needs resolving: an ARP request goes out first
    expect(parsed(env).map(describeFrame)).toEqual([`arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`]);
  });

  it('a gratuitous ARP updates an existing entry: later frames go to the new MAC', async () => {
    const env = make();
    await resolved(env);
    const NEW_MAC = '02:00:00:00:99:99';
    env.peer.sendFrame(arpFrame({ op: 1, senderMac: NEW_MAC, targetIp: PEER }));
    await env.peer.settle();
    expect(take(env)).toEqual([]); // not a request for us: no answer
    env.peer.sendFrame(echoFrame({ srcMac: NEW_MAC }));
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([`icmp type 0 -> ${PEER} via ${NEW_MAC}`]);
  });

  it('an ARP packet claiming our own address is not learned', async () => {
    const env = make();
    await resolved(env);
    // someone else claims 198.18.0.2; our own traffic must not start going to them
    env.peer.sendFrame(arpFrame({ op: 1, senderMac: '02:00:00:00:66:66', senderIp: STACK, targetIp: STACK }));
    await env.peer.settle();
    env.peer.sendFrame(echoFrame());
    await env.peer.settle();
    const out = parsed(env).filter((p) => p.ip);
    expect(out.map(describeFrame)).toEqual([`icmp type 0 -> ${PEER} via ${PEER_MAC}`]);
  });
});

describe('ARP: a bounded cache', () => {
  it('when every entry is being resolved, a new neighbour is refused and counted; later it works again', async () => {
    const env = make({ answerArp: false, limits: { arpEntries: 4 } });
    const who = (i: number) => `198.18.0.${10 + i}`;
    const d = await delta(env, () => {
      for (let i = 0; i < 6; i++) env.peer.sendFrame(echoFrame({ src: who(i), srcMac: `02:00:00:00:00:${(16 + i).toString(16)}` }));
    });
    const asked = parsed(env).map((p) => p.arp?.targetIp);
    expect(asked).toEqual([who(0), who(1), who(2), who(3)]);
    expect(d.WtcpArpQueueDrops).toBe(2);
    // after the three tries the entries are freed: the fifth neighbour can be resolved now
    await env.peer.wait(5000);
    take(env);
    env.peer.sendFrame(echoFrame({ src: who(4), srcMac: '02:00:00:00:00:14' }));
    await env.peer.settle();
    expect(parsed(env).map((p) => p.arp?.targetIp)).toEqual([who(4)]);
  });

  it('when the cache is full of resolved entries, one is replaced (round robin: here the first ones)', async () => {
    const env = make({ limits: { arpEntries: 4 } });
    const host = (i: number) => ({ ip: `198.18.0.${10 + i}`, mac: `02:00:00:00:01:${(16 + i).toString(16)}` });
    // six hosts ask for us: each is answered, and the cache keeps four of them
    for (let i = 0; i < 6; i++) env.peer.sendFrame(arpFrame({ op: 1, senderIp: host(i).ip, senderMac: host(i).mac }));
    await env.peer.settle();
    expect(parsed(env).map((p) => p.arp?.targetIp)).toEqual([0, 1, 2, 3, 4, 5].map((i) => host(i).ip));
    // the last four are cached: their echoes are answered at once; the first two need ARP again
    // (newest first: resolving an evicted host evicts another one in turn)
    for (let i = 5; i >= 0; i--) env.peer.sendFrame(echoFrame({ src: host(i).ip, srcMac: host(i).mac }));
    await env.peer.settle();
    expect(parsed(env).map(describeFrame).sort()).toEqual([
      `arp who-has ${host(0).ip} tell ${STACK} -> ${BCAST_MAC}`,
      `arp who-has ${host(1).ip} tell ${STACK} -> ${BCAST_MAC}`,
      ...[2, 3, 4, 5].map((i) => `icmp type 0 -> ${host(i).ip} via ${host(i).mac}`),
    ].sort());
  });
});

describe('ARP: cache expiry', () => {
  it('within 60 s of confirmation the entry is used without asking again', async () => {
    const env = make();
    await resolved(env);
    await env.peer.wait(59_000);
    env.peer.sendFrame(echoFrame());
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([`icmp type 0 -> ${PEER} via ${PEER_MAC}`]);
  });

  it('after 60 s the entry is still used, and re-confirmed with a unicast request', async () => {
    const env = make();
    await resolved(env);
    await env.peer.wait(61_000);
    env.peer.sendFrame(echoFrame());
    await env.peer.settle();
    const out = parsed(env);
    expect(out.map(describeFrame).sort()).toEqual([
      `arp who-has ${PEER} tell ${STACK} -> ${PEER_MAC}`,
      `icmp type 0 -> ${PEER} via ${PEER_MAC}`,
    ].sort());
    // the peer answered: the entry is fresh again for another 60 s
    await env.peer.wait(30_000);
    env.peer.sendFrame(echoFrame({ seq: 2 }));
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([`icmp type 0 -> ${PEER} via ${PEER_MAC}`]);
  });

  it('a stale entry whose neighbour stays silent is dropped after three requests, then resolved afresh', async () => {
    const env = make();
    await resolved(env);
    env.peer.answerArp = false;
    await env.peer.wait(61_000);
    const t0 = env.clock.now();
    env.peer.sendFrame(echoFrame());
    await env.peer.wait(10_000);
    const out = parsed(env);
    expect(out.filter((p) => p.arp).map((p) => p.time - t0)).toEqual([0, 1000, 2000]);
    expect(out.filter((p) => p.ip).map(describeFrame)).toEqual([`icmp type 0 -> ${PEER} via ${PEER_MAC}`]);
    // the entry is gone: the next frame waits for a broadcast request
    env.peer.sendFrame(echoFrame({ seq: 2 }));
    await env.peer.settle();
    expect(parsed(env).map(describeFrame)).toEqual([`arp who-has ${PEER} tell ${STACK} -> ${BCAST_MAC}`]);
  });

  it('a stale entry that is not used costs nothing: no ARP traffic without frames to send', async () => {
    const env = make();
    await resolved(env);
    await env.peer.wait(200_000);
    expect(take(env)).toEqual([]);
  });
});

describe('routing: next hop', () => {
  const REMOTE = '203.0.113.7';

  it('a peer off the subnet is reached through the gateway: ARP for the gateway, frames to its MAC', async () => {
    const env = make({ peerIp: REMOTE, peerMac: GW_MAC });
    listen(env);
    // play the gateway: answer ARP for 198.18.0.1 with GW_MAC
    const asked: string[] = [];
    env.hooks.push((frame) => {
      const a = parse({ time: 0, frame }).arp;
      if (a?.op === 1) {
        asked.push(a.targetIp);
        if (a.targetIp === GW) {
          env.link.send(buildEthernet({
            dst: a.senderMac, src: GW_MAC, type: ETHERTYPE_ARP,
            payload: buildArp({ op: 2, senderMac: GW_MAC, senderIp: GW, targetMac: a.senderMac, targetIp: a.senderIp }),
          }));
        }
      }
    });
    env.peer.send({ flags: 'S', seq: 10 });
    await env.peer.expect({ flags: 'S.', ack: 11, where: (s) => s.eth.dst === GW_MAC && s.ip.dst === REMOTE });
    expect(asked).toEqual([GW]);
  });

  it('no gateway: an off-subnet destination is IpOutNoRoutes and nothing is sent', async () => {
    const env = make({ peerIp: REMOTE, peerMac: GW_MAC, gateway: null });
    listen(env);
    const d = await delta(env, () => env.peer.send({ flags: 'S', seq: 10 }));
    expect(d.IpOutNoRoutes).toBe(1);
    expect(take(env)).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------------
// ICMP
// ------------------------------------------------------------------------------------------------

describe('ICMP echo (ping)', () => {
  for (const size of [0, 1, 56, 57, 1472]) {
    it(`an echo request with ${size} bytes of data gets an echo reply with the same id, sequence and data`, async () => {
      const env = make();
      await resolved(env);
      const payload = bytes(size, size + 1);
      const d = await delta(env, () => env.peer.sendFrame(echoFrame({ id: 0xbeef, seq: 0x0102, payload, ttl: 3 })));
      const out = parsed(env);
      expect(out).toHaveLength(1);
      const p = out[0]!;
      expect(p.dst).toBe(PEER_MAC);
      expect(p.src).toBe(STACK_MAC);
      expect(p.ip).toMatchObject({ src: STACK, dst: PEER, protocol: IPPROTO_ICMP, ttl: 64, checksumOk: true, headerLength: 20 });
      expect(p.ip?.totalLength).toBe(20 + 8 + size);
      const r = icmpOf(p);
      expect(r).toMatchObject({ type: 0, code: 0, id: 0xbeef, seq: 0x0102, checksumOk: true });
      expect(r.payload).toEqual(payload);
      expect(d).toEqual({
        WtcpInFrames: 1, WtcpOutFrames: 1, IpInReceives: 1, IpInDelivers: 1, IpOutRequests: 1,
        IcmpInMsgs: 1, IcmpInEchos: 1, IcmpOutMsgs: 1, IcmpOutEchoReps: 1,
      });
    });
  }

  it('an echo whose reply would not fit one 1514-byte frame is not answered (we do not fragment)', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ payload: bytes(1473) })));
    expect(d).toMatchObject({ IcmpInMsgs: 1, IcmpInEchos: 1 });
    expect(d.IcmpOutEchoReps).toBeUndefined();
    expect(take(env)).toEqual([]);
  });

  it('the reply is not fragmentable-marked like TCP: DF clear, as Linux and FreeBSD send echo replies', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(echoFrame({ df: true }));
    await env.peer.settle();
    const [p] = parsed(env);
    expect(p?.ip?.df).toBe(false);
  });

  it('successive replies carry different IP identification values', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(echoFrame({ seq: 1 }));
    env.peer.sendFrame(echoFrame({ seq: 2 }));
    await env.peer.settle();
    const ids = parsed(env).map((p) => p.ip?.id);
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
  });

  it('an echo sent to a broadcast address gets no reply (icmp_echo_ignore_broadcasts)', async () => {
    const env = make();
    await resolved(env);
    for (const dst of ['198.18.0.255', '255.255.255.255']) {
      const d = await delta(env, () => env.peer.sendFrame(echoFrame({ dst, dstMac: BCAST_MAC })));
      expect(d, dst).toMatchObject({ IcmpInMsgs: 1, IcmpInEchos: 1 });
      expect(d.IcmpOutMsgs, dst).toBeUndefined();
    }
    expect(take(env)).toEqual([]);
  });

  it('an echo to our address inside a broadcast frame is answered, as Linux does (it looks at the IP destination)', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(echoFrame({ dstMac: BCAST_MAC, seq: 4 }));
    await env.peer.settle();
    expect(parsed(env).map((p) => [describeFrame(p), icmpOf(p).seq])).toEqual([[`icmp type 0 -> ${PEER} via ${PEER_MAC}`, 4]]);
  });

  it('an echo to a multicast group gets no reply', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ dst: '224.0.0.1', dstMac: '01:00:5e:00:00:01' })));
    expect(d.IcmpOutMsgs).toBeUndefined();
    expect(take(env)).toEqual([]);
  });

  it('a bad ICMP checksum is counted IcmpInCsumErrors and IcmpInErrors, and not answered', async () => {
    const env = make();
    await resolved(env);
    const good = icmp({ payload: bytes(20) });
    const bad = good.slice();
    bad[12] = (bad[12] as number) ^ 0x40;
    const d = await delta(env, () => env.peer.sendFrame(ipFrame(bad)));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDelivers: 1, IcmpInMsgs: 1, IcmpInErrors: 1, IcmpInCsumErrors: 1 });
    expect(take(env)).toEqual([]);
  });

  it('an ICMP message shorter than its 8-byte header is IcmpInErrors', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(ipFrame(Uint8Array.of(8, 0, 0xf7, 0xff))));
    expect(d).toMatchObject({ IcmpInMsgs: 1, IcmpInErrors: 1 });
    expect(take(env)).toEqual([]);
  });

  it('other ICMP types (echo reply, unreachable) are counted and not answered', async () => {
    const env = make();
    await resolved(env);
    for (const type of [0, 3, 11, 13]) {
      const d = await delta(env, () => env.peer.sendFrame(ipFrame(icmp({ type }))));
      expect(d, `type ${type}`).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDelivers: 1, IcmpInMsgs: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('an echo request with a non-zero code is answered, the code kept (Linux icmp_echo, FreeBSD icmp_reflect)', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(ipFrame(icmp({ code: 5, seq: 9 })));
    await env.peer.settle();
    const out = parsed(env);
    expect(out.map((p) => icmpOf(p))).toMatchObject([{ type: 0, code: 5, seq: 9, checksumOk: true }]);
  });
});

// ------------------------------------------------------------------------------------------------
// IPv4
// ------------------------------------------------------------------------------------------------

describe('IPv4 input checks', () => {
  it('a bad header checksum is IpInHdrErrors and the packet is dropped', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ checksum: 0x1234 })));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInHdrErrors: 1 });
    expect(take(env)).toEqual([]);
  });

  it('a header changed after its checksum was computed is IpInHdrErrors', async () => {
    const env = make();
    await resolved(env);
    const f = echoFrame();
    f[14 + 8] = 1; // TTL
    const d = await delta(env, () => env.peer.sendFrame(f));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInHdrErrors: 1 });
  });

  /** Rewrite a header field of an echo frame and fix the header checksum again. */
  function mangle(edit: (ip: Uint8Array, dv: DataView) => void): Uint8Array {
    const f = echoFrame({ payload: bytes(32) });
    const ip = f.subarray(14);
    const dv = new DataView(ip.buffer, ip.byteOffset, ip.byteLength);
    edit(ip, dv);
    const ihl = Math.max(20, Math.min(60, ((ip[0] as number) & 15) * 4));
    dv.setUint16(10, 0);
    dv.setUint16(10, internetChecksum(ip, 0, Math.min(ihl, ip.length)));
    return f;
  }

  const broken: [string, (ip: Uint8Array, dv: DataView) => void][] = [
    ['version 6', (ip) => { ip[0] = 0x65; }],
    ['version 0', (ip) => { ip[0] = 0x05; }],
    ['IHL 4 (16 bytes)', (ip) => { ip[0] = 0x44; }],
    ['IHL 0', (ip) => { ip[0] = 0x40; }],
    ['IHL 15 beyond the packet', (ip, dv) => { ip[0] = 0x4f; dv.setUint16(2, 40); }],
    ['total length beyond the frame', (_ip, dv) => { dv.setUint16(2, 20 + 8 + 32 + 1); }],
    ['total length 65535', (_ip, dv) => { dv.setUint16(2, 65535); }],
    ['total length shorter than the header', (_ip, dv) => { dv.setUint16(2, 19); }],
    ['total length 0', (_ip, dv) => { dv.setUint16(2, 0); }],
  ];
  for (const [what, edit] of broken) {
    it(`${what}: IpInHdrErrors, dropped`, async () => {
      const env = make();
      await resolved(env);
      const d = await delta(env, () => env.peer.sendFrame(mangle(edit)));
      expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInHdrErrors: 1 });
      expect(take(env)).toEqual([]);
    });
  }

  it('a total length shorter than the frame (but valid) trims the packet to it', async () => {
    const env = make();
    await resolved(env);
    // 32 bytes of echo data, but the IP header says only 8 of them belong to the packet: the ICMP
    // checksum must then be over the first 16 bytes of ICMP only
    const body = icmp({ payload: bytes(8, 3) });
    const f = ipFrame(body);
    const ext = new Uint8Array(f.length + 24);
    ext.set(f);
    ext.fill(0x55, f.length);
    env.peer.sendFrame(ext);
    await env.peer.settle();
    const out = parsed(env);
    expect(out).toHaveLength(1);
    expect(icmpOf(out[0]!).payload).toEqual(bytes(8, 3));
  });

  it('IP options are skipped: a TCP SYN with options gets its SYN-ACK', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    // NOP, router alert (RFC 2113: 0x94 len 4 value 0), EOL padding
    const options = Uint8Array.of(1, 0x94, 4, 0, 0, 0, 0, 0);
    env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 3000, options: { mss: 1400 } }, { options }));
    const sa = await env.peer.expect({ flags: 'S.', ack: 3001 });
    expect(sa.ip.headerLength).toBe(20); // options are not echoed
  });

  it('IP options are skipped: an echo with a 40-byte option area is answered', async () => {
    const env = make();
    await resolved(env);
    const options = new Uint8Array(40).fill(1); // 40 NOPs: IHL 15
    env.peer.sendFrame(echoFrame({ options, seq: 77, payload: bytes(10) }));
    await env.peer.settle();
    const out = parsed(env);
    expect(out).toHaveLength(1);
    expect(icmpOf(out[0]!)).toMatchObject({ type: 0, seq: 77, checksumOk: true });
    expect(icmpOf(out[0]!).payload).toEqual(bytes(10));
  });

  it('fragments (MF set, or a non-zero offset) are counted IpReasmReqds and IpReasmFails, and dropped', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const f of [
      echoFrame({ mf: true, df: false }),
      echoFrame({ fragOffset: 185, df: false }),
      echoFrame({ mf: true, fragOffset: 1, df: false }),
      tcpFrame({ flags: 'S' }, { mf: true, df: false }),
    ]) {
      const d = await delta(env, () => env.peer.sendFrame(f));
      expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpReasmReqds: 1, IpReasmFails: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('DF set with offset 0 is not a fragment', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(echoFrame({ df: true })));
    expect(d.IpReasmReqds).toBeUndefined();
    expect(d.IcmpOutEchoReps).toBe(1);
  });

  it('a packet for another IPv4 address (sent to our MAC) is IpInAddrErrors', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const f of [echoFrame({ dst: '198.18.0.77' }), tcpFrame({ flags: 'S' }, { dst: '10.0.0.1' })]) {
      const d = await delta(env, () => env.peer.sendFrame(f));
      expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInAddrErrors: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('martian sources (broadcast, multicast, 0.0.0.0, loopback, our own address) are IpInAddrErrors', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const src of ['198.18.0.255', '255.255.255.255', '224.0.0.9', '0.0.0.0', '0.1.2.3', '127.0.0.1', STACK]) {
      const d = await delta(env, () => env.peer.sendFrame(echoFrame({ src })));
      expect(d, src).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInAddrErrors: 1 });
      const d2 = await delta(env, () => env.peer.sendFrame(tcpFrame({ flags: 'S' }, { src })));
      expect(d2, `SYN from ${src}`).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInAddrErrors: 1 });
    }
    expect(take(env)).toEqual([]);
  });

  it('an unknown protocol (UDP, here) is IpInUnknownProtos', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(ipFrame(bytes(16), { protocol: 17 })));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInUnknownProtos: 1 });
  });

  it('an incoming TTL of 0 or 1 is accepted (RFC 1122 §3.2.1.7: a host must not discard it)', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(echoFrame({ ttl: 0, seq: 1 }));
    env.peer.sendFrame(echoFrame({ ttl: 1, seq: 2 }));
    await env.peer.settle();
    expect(parsed(env).map((p) => icmpOf(p).seq)).toEqual([1, 2]);
  });

  it('outgoing TTL is net.ipv4.ip_default_ttl, also after a runtime change', async () => {
    const env = make({ sysctls: { 'net.ipv4.ip_default_ttl': 99 } });
    listen(env);
    await resolved(env);
    env.peer.sendFrame(echoFrame());
    env.peer.send({ flags: 'S', seq: 1 });
    await env.peer.settle();
    const sa = await env.peer.expect({ flags: 'S.' });
    expect(sa.ip.ttl).toBe(99);
    const icmpOut = parsed(env).filter((p) => p.ip?.protocol === IPPROTO_ICMP);
    expect(icmpOut.map((p) => p.ip?.ttl)).toEqual([99]);
    env.stack.sysctl.set('net.ipv4.ip_default_ttl', 17);
    env.peer.sendFrame(echoFrame());
    env.peer.send({ flags: 'S', seq: 50, dport: CLOSED });
    await env.peer.settle();
    const rst = await env.peer.expect({ flags: 'R.' });
    expect(rst.ip.ttl).toBe(17);
    expect(parsed(env).filter((p) => p.ip?.protocol === IPPROTO_ICMP).map((p) => p.ip?.ttl)).toEqual([17]);
  });

  it('FreeBSD: outgoing TTL is net.inet.ip.ttl', async () => {
    const env = make({ personality: 'freebsd-12.1', sysctls: { 'net.inet.ip.ttl': 42 } });
    await resolved(env);
    env.peer.sendFrame(echoFrame());
    await env.peer.settle();
    expect(parsed(env).map((p) => p.ip?.ttl)).toEqual([42]);
  });

  it('every header the stack sends is well formed: version 4, IHL 5, checksum right, DF on TCP', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    env.peer.send({ flags: 'S', seq: 1 });
    const sa = await env.peer.expect({ flags: 'S.' });
    const raw = sa.frame.subarray(14);
    expect(raw[0]).toBe(0x45);
    expect(internetChecksum(raw, 0, 20)).toBe(0);
    expect(sa.ip.df).toBe(true);
    expect(sa.ip.mf).toBe(false);
    expect(sa.ip.fragOffset).toBe(0);
  });
});

// ------------------------------------------------------------------------------------------------
// TCP input
// ------------------------------------------------------------------------------------------------

describe('TCP input checks', () => {
  it('a bad TCP checksum is TcpInCsumErrors and TcpInErrs, and gets no answer (listening or closed port)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const dport of [PORT, CLOSED]) {
      const d = await delta(env, () => env.peer.sendFrame(tcpFrame({ flags: 'S', dport, checksum: 0xdead })));
      expect(d, `port ${dport}`).toEqual({
        WtcpInFrames: 1, IpInReceives: 1, IpInDelivers: 1, TcpInCsumErrors: 1, TcpInErrs: 1,
      });
    }
    await env.peer.expectNothing(5000);
  });

  it('the pseudo header is part of the TCP checksum: a segment checksummed for another address fails', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    const seg = buildTcp({ src: '198.18.0.98', dst: STACK, sport: 40000, dport: PORT, flags: 'S', seq: 1 });
    const d = await delta(env, () => env.peer.sendFrame(ipFrame(seg, { protocol: IPPROTO_TCP })));
    expect(d.TcpInCsumErrors).toBe(1);
    await env.peer.expectNothing(1000);
  });

  it('a TCP checksum over an odd-length segment is verified (odd byte padded)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    // a SYN with 1 byte of data: 21-byte segment
    env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 10, payload: Uint8Array.of(0x41), dport: CLOSED }));
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 12 });
  });

  it('a data offset below 5 or beyond the segment is TcpInErrs', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const dataOffset of [0, 4, 6, 15]) {
      const d = await delta(env, () => env.peer.sendFrame(tcpFrame({ flags: 'S', dataOffset })));
      expect(d, `data offset ${dataOffset}`).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDelivers: 1, TcpInErrs: 1 });
    }
    await env.peer.expectNothing(1000);
  });

  it('a TCP segment shorter than 20 bytes is TcpInErrs', async () => {
    const env = make();
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(ipFrame(bytes(19), { protocol: IPPROTO_TCP })));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDelivers: 1, TcpInErrs: 1 });
  });

  it('a TCP segment to a broadcast address gets no RST', async () => {
    const env = make();
    await resolved(env);
    env.peer.sendFrame(tcpFrame({ flags: 'S', dport: CLOSED }, { dst: '198.18.0.255', dstMac: BCAST_MAC }));
    env.peer.sendFrame(tcpFrame({ flags: 'S', dport: CLOSED }, { dst: '255.255.255.255', dstMac: BCAST_MAC }));
    await env.peer.expectNothing(1000);
    expect(take(env)).toEqual([]);
  });

  it('TCP is unicast only: a SYN to a listener at a broadcast or multicast address is discarded (RFC 1122 §4.2.3.10)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    for (const [dst, dstMac] of [
      ['198.18.0.255', STACK_MAC], ['198.18.0.255', BCAST_MAC], ['255.255.255.255', BCAST_MAC],
      ['224.0.0.1', '01:00:5e:00:00:01'],
    ] as const) {
      const d = await delta(env, () => env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 1 }, { dst, dstMac })));
      expect(d, `${dst} via ${dstMac}`).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDiscards: 1 });
    }
    await env.peer.expectNothing(5000);
    expect(take(env)).toEqual([]);
  });

  it('a SYN to our address inside a broadcast frame is discarded too (Linux: pkt_type != PACKET_HOST)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    const d = await delta(env, () => env.peer.sendFrame(tcpFrame({ flags: 'S', seq: 1 }, { dstMac: BCAST_MAC })));
    expect(d).toEqual({ WtcpInFrames: 1, IpInReceives: 1, IpInDiscards: 1 });
    await env.peer.expectNothing(3000);
  });
});

describe('TCP options (RFC 9293 §3.1, RFC 7323, RFC 2018)', () => {
  it('window scale, SACK-permitted and timestamps in a SYN are each reflected in the SYN-ACK', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    env.peer.send({ flags: 'S', seq: 1, sport: 1001, options: { mss: 1460 } });
    const none = await env.peer.expect({ flags: 'S.' });
    expect(none.options.wscale).toBeUndefined();
    expect(none.options.sackOk).toBeUndefined();
    expect(none.options.ts).toBeUndefined();
    expect(none.options.mss).toBeGreaterThan(0);

    env.peer.send({ flags: 'S', seq: 1, sport: 1002, options: { wscale: 7 } });
    expect((await env.peer.expect({ flags: 'S.' })).options.wscale).toBeGreaterThanOrEqual(0);

    env.peer.send({ flags: 'S', seq: 1, sport: 1003, options: { sackOk: true } });
    expect((await env.peer.expect({ flags: 'S.' })).options.sackOk).toBe(true);

    env.peer.send({ flags: 'S', seq: 1, sport: 1004, options: { ts: [0xdeadbeef, 0] } });
    const ts = await env.peer.expect({ flags: 'S.' });
    expect(ts.options.ts?.[1]).toBe(0xdeadbeef); // TSecr echoes our TSval
  });

  it('options are found after NOPs and in any order', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    // NOP NOP TS(10) NOP WS(3) SACKOK(2) NOP MSS(4) = 24 bytes
    const raw = Uint8Array.of(
      1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 0, 1, 3, 3, 2, 4, 2, 1, 2, 4, 5, 0xb4, 0,
    );
    env.peer.send({ flags: 'S', seq: 1, rawOptions: raw });
    const sa = await env.peer.expect({ flags: 'S.' });
    expect(sa.options.ts?.[1]).toBe(9);
    expect(sa.options.sackOk).toBe(true);
    expect(sa.options.wscale).toBeDefined();
  });

  const malformed: [string, number[]][] = [
    ['an option of length 0', [3, 0, 0, 0]],
    ['an option of length 1', [8, 1, 0, 0]],
    ['an option running past the header', [8, 10, 0, 0, 0, 1, 0, 0]],
    ['a kind with no room for its length byte', [1, 1, 1, 8]],
    ['a length of 255', [2, 255, 0, 0]],
    ['an unknown option kind', [99, 4, 0, 0]],
    ['a wrong-size MSS', [2, 3, 5, 0]],
    ['a wrong-size window scale', [3, 4, 7, 0]],
    ['a wrong-size timestamp', [8, 6, 0, 0, 0, 1, 0, 0]],
  ];
  for (const [what, raw] of malformed) {
    it(`${what}: the SYN is still answered, the stack keeps working`, async () => {
      const env = make();
      const fd = listen(env);
      await resolved(env);
      env.peer.send({ flags: 'S', seq: 1, rawOptions: Uint8Array.from(raw) });
      await env.peer.expect({ flags: 'S.', ack: 2 });
      // and a normal connection still completes
      const c = env.peer.flow({ sport: 41000, dport: PORT, isn: 5000 });
      await c.connect({ options: { mss: 1460 } });
      await env.peer.settle();
      expect(env.stack.bsd.accept(fd).port).toBe(41000);
      expect(env.errors).toEqual([]);
    });
  }

  it('options read before a malformed one are kept, options after it are not (Linux tcp_parse_options)', async () => {
    const env = make();
    listen(env);
    await resolved(env);
    // SACK-permitted, then an option claiming 40 bytes, then a timestamp that is never reached
    const raw = Uint8Array.of(4, 2, 30, 40, 8, 10, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0);
    env.peer.send({ flags: 'S', seq: 1, rawOptions: raw });
    const sa = await env.peer.expect({ flags: 'S.' });
    expect(sa.options.sackOk).toBe(true);
    expect(sa.options.ts).toBeUndefined();
  });

  it('the option parser reads each option exactly (test export over segSet)', () => {
    const core = Core.instantiate(getCoreModule(CORE));
    core.init({ listeners: 1, synEntries: 1, connections: 1, synBuckets: 0, rxChunks: 1, arpEntries: 4 }, [1, 2, 3, 4]);
    const x = core.x as unknown as Record<string, (...a: number[]) => number>;
    const mem = () => new Uint8Array(core.x.memory.buffer);
    const at = core.x.scratchPtr();
    const parseOpts = (opts: number[]) => {
      const hlen = 20 + ((opts.length + 3) & ~3);
      const seg = new Uint8Array(hlen + 3);
      seg[12] = (hlen / 4) << 4;
      seg.set(opts, 20);
      mem().set(seg, at);
      x.test_segSet!(at, hlen, seg.length);
      return {
        mss: x.test_optMss!(), ws: x.test_optWs!(), sackOk: x.test_optSackOk!(), ts: x.test_optTs!(),
        tsVal: x.test_optTsVal!() >>> 0, tsEcr: x.test_optTsEcr!() >>> 0,
      };
    };
    const none = { mss: 0, ws: -1, sackOk: 0, ts: 0, tsVal: 0, tsEcr: 0 };
    expect(parseOpts([])).toEqual(none);
    expect(parseOpts([2, 4, 0x05, 0xb4])).toEqual({ ...none, mss: 1460 });
    expect(parseOpts([2, 4, 0xff, 0xff])).toEqual({ ...none, mss: 65535 });
    expect(parseOpts([3, 3, 7])).toEqual({ ...none, ws: 7 });
    expect(parseOpts([3, 3, 200])).toEqual({ ...none, ws: 14 }); // RFC 7323 §2.3: more than 14 is 14
    expect(parseOpts([4, 2])).toEqual({ ...none, sackOk: 1 });
    expect(parseOpts([8, 10, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 7])).toEqual({ ...none, ts: 1, tsVal: 0xdeadbeef, tsEcr: 7 });
    expect(parseOpts([1, 1, 0, 2, 4, 5, 0xb4])).toEqual(none); // EOL ends the list
    expect(parseOpts([2, 4, 1, 0, 3, 0, 4, 2])).toEqual({ ...none, mss: 256 }); // length 0 stops parsing
    expect(parseOpts([4, 2, 2, 1, 3, 3, 7])).toEqual({ ...none, sackOk: 1 }); // length 1 stops parsing
    expect(parseOpts([4, 2, 8, 10, 0, 0])).toEqual({ ...none, sackOk: 1 }); // runs past the header
    expect(parseOpts([1, 1, 1, 2])).toEqual(none); // no room for the length byte
    expect(parseOpts([2, 5, 1, 0, 0, 4, 2])).toEqual({ ...none, sackOk: 1 }); // wrong size skipped by its length
  });
});

describe('segments for no socket: RST (RFC 9293 §3.10.7.1)', () => {
  async function env0() {
    const env = make();
    await resolved(env);
    return env;
  }

  it('a segment with ACK gets <SEQ=SEG.ACK><CTL=RST>', async () => {
    const env = await env0();
    const d = await delta(env, () => env.peer.send({ flags: '.', seq: 100, ack: 0xfffffff0, dport: CLOSED }));
    await env.peer.expect({ flags: 'R', seq: 0xfffffff0, ack: 0, sport: CLOSED, dport: 40000 });
    expect(d).toMatchObject({ TcpInSegs: 1, TcpOutSegs: 1, TcpOutRsts: 1 });
  });

  it('a SYN gets <SEQ=0><ACK=SEG.SEQ+1><CTL=RST,ACK>', async () => {
    const env = await env0();
    env.peer.send({ flags: 'S', seq: 0xffffffff, dport: CLOSED });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 0 });
  });

  it('SYN with data: ACK = SEG.SEQ + SEG.LEN + 1', async () => {
    const env = await env0();
    env.peer.send({ flags: 'S', seq: 500, payload: 'hello', dport: CLOSED });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 506 });
  });

  it('FIN without ACK, data: ACK = SEG.SEQ + SEG.LEN + 1', async () => {
    const env = await env0();
    env.peer.send({ flags: 'F', seq: 500, payload: 'abc', dport: CLOSED });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 504 });
  });

  it('SYN+FIN: ACK = SEG.SEQ + 2', async () => {
    const env = await env0();
    env.peer.send({ flags: 'SF', seq: 500, dport: CLOSED });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 502 });
  });

  it('no flags, data: ACK = SEG.SEQ + SEG.LEN', async () => {
    const env = await env0();
    env.peer.send({ flags: '', seq: 500, payload: 'abcdefg', dport: CLOSED });
    await env.peer.expect({ flags: 'R.', seq: 0, ack: 507 });
  });

  it('data with ACK: <SEQ=SEG.ACK><CTL=RST> regardless of the data', async () => {
    const env = await env0();
    env.peer.send({ flags: 'P.', seq: 500, ack: 77, payload: 'abcdefg', dport: CLOSED });
    await env.peer.expect({ flags: 'R', seq: 77 });
  });

  it('the RST goes back to the segment\'s source port, from its destination port, with no options and no data', async () => {
    const env = await env0();
    env.peer.send({ flags: 'S', seq: 1, sport: 33333, dport: 4444, options: { mss: 1460, ts: [1, 0] } });
    const r = await env.peer.expect({ flags: 'R.', sport: 4444, dport: 33333, len: 0 });
    expect(r.dataOffset).toBe(5);
  });

  it('a RST (with or without ACK) to a closed port gets nothing', async () => {
    const env = await env0();
    env.peer.send({ flags: 'R', seq: 1, dport: CLOSED });
    env.peer.send({ flags: 'R.', seq: 1, ack: 5, dport: CLOSED });
    await env.peer.expectNothing(3000);
  });
});
