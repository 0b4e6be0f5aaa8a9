// The scripted test peer and its frame codecs (src/testing/peer.ts, src/testing/frames.ts), and the
// VirtualClock they run on (src/clock.ts).
import { describe, it, expect } from 'vitest';
import { macFromIp } from '../../src/addr.js';
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import {
  buildArp, buildEthernet, buildIpv4, buildTcp, buildTcpFrame, decodeTcpOptions, encodeTcpOptions,
  ETHERTYPE_ARP, flagsToString, internetChecksum, normalizeFlags, parseArp, parseEthernet, parseFlags,
  parseIpv4, parseTcp, parseTcpFrame, IPPROTO_TCP,
} from '../../src/testing/frames.js';
import { Peer } from '../../src/testing/peer.js';

const PEER = '198.18.0.99';
const STACK = '198.18.0.2';

describe('Internet checksum', () => {
  it('matches the RFC 1071 section 3 example', () => {
    // words 0001 f203 f4f5 f6f7: sum ddf2 (with carries), checksum ~ddf2 = 220d
    expect(internetChecksum(Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7))).toBe(0x220d);
  });

  it('pads an odd final byte with zero', () => {
    expect(internetChecksum(Uint8Array.of(0x12))).toBe(~0x1200 & 0xffff);
  });
});

describe('IPv4 build/parse', () => {
  const payload = Uint8Array.of(1, 2, 3, 4, 5);
  it('round-trips every field with a valid header checksum', () => {
    const p = buildIpv4({ src: PEER, dst: STACK, protocol: 17, payload, ttl: 33, id: 0x1234, tos: 0x10, df: false });
    const ip = parseIpv4(p);
    expect(ip).toBeDefined();
    expect(ip?.src).toBe(PEER);
    expect(ip?.dst).toBe(STACK);
    expect(ip?.protocol).toBe(17);
    expect(ip?.ttl).toBe(33);
    expect(ip?.id).toBe(0x1234);
    expect(ip?.tos).toBe(0x10);
    expect(ip?.df).toBe(false);
    expect(ip?.totalLength).toBe(25);
    expect(ip?.checksumOk).toBe(true);
    expect([...(ip?.payload ?? [])]).toEqual([1, 2, 3, 4, 5]);
    expect(internetChecksum(p, 0, 20)).toBe(0);
  });

  it('detects a corrupted header and a forced wrong checksum', () => {
    const p = buildIpv4({ src: PEER, dst: STACK, protocol: 6, payload });
    p[8] = (p[8] as number) - 1; // TTL changed after the checksum was computed
    expect(parseIpv4(p)?.checksumOk).toBe(false);
    const forced = buildIpv4({ src: PEER, dst: STACK, protocol: 6, payload, checksum: 0xbeef });
    expect(parseIpv4(forced)?.checksum).toBe(0xbeef);
    expect(parseIpv4(forced)?.checksumOk).toBe(false);
  });

  it('refuses truncated packets', () => {
    const p = buildIpv4({ src: PEER, dst: STACK, protocol: 6, payload });
    expect(parseIpv4(p.subarray(0, 19))).toBeUndefined();
    expect(parseIpv4(p.subarray(0, 24))).toBeUndefined(); // total length 25 > 24 bytes present
  });
});

describe('TCP build/parse', () => {
  const opts = { mss: 1460, sackOk: true, ts: [0x01020304, 0] as [number, number], wscale: 7 };

  it("encodes options in Linux's SYN order: mss, sackOK, TS, nop, wscale", () => {
    expect([...encodeTcpOptions(opts)]).toEqual([
      2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7,
    ]);
    expect([...encodeTcpOptions({ ts: [1, 2] })]).toEqual([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect([...encodeTcpOptions({ sackOk: true })]).toEqual([1, 1, 4, 2]);
    expect([...encodeTcpOptions({ wscale: 0 })]).toEqual([1, 3, 3, 0]);
  });

  it('round-trips header fields, options and payload with a valid checksum', () => {
    const seg = buildTcp({
      src: PEER, dst: STACK, sport: 40000, dport: 8080, seq: 0xfffffff0, ack: 12345, flags: 'P.',
      win: 512, options: { ...opts, sack: [[10, 20]] }, payload: Uint8Array.of(104, 105),
    });
    const ip = parseIpv4(buildIpv4({ src: PEER, dst: STACK, protocol: IPPROTO_TCP, payload: seg }));
    const t = ip && parseTcp(ip);
    expect(t).toBeDefined();
    expect(t?.sport).toBe(40000);
    expect(t?.dport).toBe(8080);
    expect(t?.seq).toBe(0xfffffff0);
    expect(t?.ack).toBe(12345);
    expect(t?.flags).toBe('P.');
    expect(t?.win).toBe(512);
    expect(t?.options).toEqual({ ...opts, sack: [[10, 20]] });
    expect(t?.optionsMalformed).toBe(false);
    expect([...(t?.payload ?? [])]).toEqual([104, 105]);
    expect(t?.checksumOk).toBe(true);
  });

  it('verifies the checksum over the pseudo header', () => {
    const seg = buildTcp({ src: PEER, dst: STACK, sport: 1, dport: 2, flags: 'S' });
    // the same segment claimed by another source address fails the pseudo-header check
    const ip = parseIpv4(buildIpv4({ src: '198.18.0.98', dst: STACK, protocol: IPPROTO_TCP, payload: seg }));
    expect(ip && parseTcp(ip)?.checksumOk).toBe(false);
    const ok = parseIpv4(buildIpv4({ src: PEER, dst: STACK, protocol: IPPROTO_TCP, payload: seg }));
    expect(ok && parseTcp(ok)?.checksumOk).toBe(true);
    const bad = buildTcp({ src: PEER, dst: STACK, sport: 1, dport: 2, flags: 'S', checksum: 0 });
    const ipBad = parseIpv4(buildIpv4({ src: PEER, dst: STACK, protocol: IPPROTO_TCP, payload: bad }));
    expect(ipBad && parseTcp(ipBad)?.checksumOk).toBe(false);
  });

  it('parses a whole frame and rejects a bad data offset', () => {
    const frame = buildTcpFrame({
      srcMac: macFromIp(PEER), dstMac: macFromIp(STACK), ip: { src: PEER, dst: STACK },
      tcp: { sport: 5, dport: 6, flags: 'S', seq: 9 },
    });
    const p = parseTcpFrame(frame);
    expect(p?.eth.src).toBe('02:00:c6:12:00:63');
    expect(p?.tcp.seq).toBe(9);
    const broken = buildTcpFrame({
      srcMac: macFromIp(PEER), dstMac: macFromIp(STACK), ip: { src: PEER, dst: STACK },
      tcp: { sport: 5, dport: 6, flags: 'S', dataOffset: 15 },
    });
    expect(parseTcpFrame(broken)).toBeUndefined();
  });

  it('flags: tcpdump letters in tcpdump order', () => {
    expect(flagsToString(0x12)).toBe('S.');
    expect(flagsToString(0x19)).toBe('FP.');
    expect(flagsToString(0)).toBe('');
    expect(parseFlags('.S')).toBe(0x12);
    expect(normalizeFlags('.P')).toBe('P.');
    expect(parseFlags('none')).toBe(0);
    expect(() => parseFlags('X')).toThrow(TypeError);
  });

  it('marks malformed options', () => {
    expect(decodeTcpOptions(Uint8Array.of(2, 4, 5)).malformed).toBe(true); // runs past the end
    expect(decodeTcpOptions(Uint8Array.of(3, 2, 1, 0)).malformed).toBe(true); // wscale with length 2
    expect(decodeTcpOptions(Uint8Array.of(1, 1, 0, 9)).malformed).toBe(false); // EOL ends the list
    expect(decodeTcpOptions(Uint8Array.of(30, 3, 7, 0)).options.unknown).toEqual([{ kind: 30, data: Uint8Array.of(7) }]);
  });
});

describe('ARP build/parse', () => {
  it('round-trips', () => {
    const a = { op: 1, senderMac: '02:00:c6:12:00:63', senderIp: PEER, targetMac: '00:00:00:00:00:00', targetIp: STACK };
    expect(parseArp(buildArp(a))).toEqual(a);
    expect(parseArp(buildArp(a).subarray(0, 27))).toBeUndefined();
  });
});

describe('VirtualClock', () => {
  it('runs callbacks in due order, ties in scheduling order, and never by itself', () => {
    const c = new VirtualClock(100);
    const order: string[] = [];
    c.setTimeout(() => order.push(`b@${c.now()}`), 20);
    c.setTimeout(() => order.push(`a@${c.now()}`), 10);
    c.setTimeout(() => order.push(`c@${c.now()}`), 20);
    expect(order).toEqual([]);
    c.advance(15);
    expect(order).toEqual(['a@110']);
    expect(c.now()).toBe(115);
    c.advanceTo(200);
    expect(order).toEqual(['a@110', 'b@120', 'c@120']);
    expect(c.now()).toBe(200);
  });

  it('runs callbacks scheduled during an advance when they fall due before its end', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    c.setTimeout(() => {
      seen.push(c.now());
      c.setTimeout(() => seen.push(c.now()), 5);
    }, 5);
    c.advance(9);
    expect(seen).toEqual([5]);
    c.advance(1);
    expect(seen).toEqual([5, 10]);
  });

  it('cancels, reports pending work, and refuses to go back', () => {
    const c = new VirtualClock();
    let ran = false;
    const h = c.setTimeout(() => {
      ran = true;
    }, 1);
    expect(c.pending).toBe(1);
    expect(c.nextDue()).toBe(1);
    c.clearTimeout(h);
    c.advance(10);
    expect(ran).toBe(false);
    expect(() => c.advanceTo(5)).toThrow(RangeError);
  });

  it('runUntilIdle stops a timer that re-arms forever', () => {
    const c = new VirtualClock();
    const rearm = () => c.setTimeout(rearm, 1);
    rearm();
    expect(() => c.runUntilIdle(50)).toThrow(/still busy after 50/);
    const d = new VirtualClock();
    d.setTimeout(() => undefined, 30);
    expect(d.runUntilIdle()).toBe(1);
    expect(d.now()).toBe(30);
  });
});

describe('Peer', () => {
  function setup() {
    const clock = new VirtualClock();
    const [mine, theirs] = MemoryLink.pair();
    const peer = new Peer({ link: mine, clock, ip: PEER, stackIp: STACK });
    const heard: Uint8Array[] = [];
    theirs.onReceive((f) => heard.push(f));
    return { clock, peer, theirs, heard };
  }

  it('answers ARP requests for its own address and ignores others', async () => {
    const { peer, theirs, heard } = setup();
    const ask = (target: string) =>
      theirs.send(buildEthernet({
        dst: 'ff:ff:ff:ff:ff:ff', src: macFromIp(STACK), type: ETHERTYPE_ARP,
        payload: buildArp({ op: 1, senderMac: '02:00:00:00:00:42', senderIp: STACK, targetMac: '00:00:00:00:00:00', targetIp: target }),
      }));
    ask('198.18.0.77');
    await peer.settle();
    expect(heard).toHaveLength(0);
    ask(PEER);
    await peer.settle();
    expect(heard).toHaveLength(1);
    const eth = parseEthernet(heard[0] as Uint8Array);
    const arp = eth && parseArp(eth.payload);
    expect(arp).toEqual({ op: 2, senderMac: peer.mac, senderIp: PEER, targetMac: '02:00:00:00:00:42', targetIp: STACK });
    expect(peer.stackMac).toBe('02:00:00:00:00:42'); // learnt from the request
  });

  it('sends segments built from its template and the overrides', async () => {
    const { peer, heard } = setup();
    peer.template = { ...peer.template, dport: 8080, win: 1000 };
    peer.send({ flags: 'S', seq: 77, options: { mss: 1400 } });
    await peer.settle();
    const p = parseTcpFrame(heard[0] as Uint8Array);
    expect(p?.eth.dst).toBe(macFromIp(STACK));
    expect(p?.ip.src).toBe(PEER);
    expect(p?.ip.dst).toBe(STACK);
    expect(p?.tcp.dport).toBe(8080);
    expect(p?.tcp.sport).toBe(40000);
    expect(p?.tcp.win).toBe(1000);
    expect(p?.tcp.seq).toBe(77);
    expect(p?.tcp.flags).toBe('S');
    expect(p?.tcp.options.mss).toBe(1400);
    expect(p?.tcp.checksumOk).toBe(true);
    expect(() => peer.send({})).toThrow(/flags are required/);
  });

  function reply(theirs: MemoryLink, tcp: Parameters<typeof buildTcpFrame>[0]['tcp']) {
    theirs.send(buildTcpFrame({ srcMac: macFromIp(STACK), dstMac: macFromIp(PEER), ip: { src: STACK, dst: PEER }, tcp }));
  }

  it('expect() takes the next segment and explains a mismatch', async () => {
    const { peer, theirs } = setup();
    reply(theirs, { sport: 80, dport: 40000, flags: 'S.', seq: 5, ack: 1001, options: { mss: 1460 } });
    const s = await peer.expect({ flags: 'S.', seq: 5, ack: 1001, options: { mss: 1460, wscale: undefined } });
    expect(s.time).toBe(0);
    reply(theirs, { sport: 80, dport: 40000, flags: 'R', seq: 9 });
    await expect(peer.expect({ flags: 'R.' })).rejects.toThrow(/flags \[R\] != \[R\.\]/);
    reply(theirs, { sport: 80, dport: 40000, flags: '.', seq: 9, options: { wscale: 2 } });
    await expect(peer.expect({ options: { wscale: undefined } })).rejects.toThrow(/option wscale present/);
    await expect(peer.expect({ flags: '.' })).rejects.toThrow(/got nothing/);
  });

  it('expect({ within }) and expectNothing() advance the virtual clock timer by timer', async () => {
    const { clock, peer, theirs } = setup();
    // a fake stack that answers 1 s and 3 s from now
    clock.setTimeout(() => reply(theirs, { sport: 80, dport: 40000, flags: 'S.', seq: 1 }), 1000);
    clock.setTimeout(() => reply(theirs, { sport: 80, dport: 40000, flags: 'S.', seq: 1 }), 3000);
    await expect(peer.expect({ flags: 'S.' }, { within: 999 })).rejects.toThrow(/got nothing/);
    const first = await peer.expect({ flags: 'S.' }, { within: 2000 });
    expect(first.time).toBe(1000);
    expect(clock.now()).toBe(1000);
    await expect(peer.expectNothing(3000)).rejects.toThrow(/at 3000 ms/);
    expect((await peer.expect({ flags: 'S.' })).time).toBe(3000);
    await peer.expectNothing(500);
    expect(clock.now()).toBe(3500);
  });

  it('a flow keeps sequence numbers: ISS from the SYN-ACK, rcvNxt and sndNxt advance', async () => {
    const { peer, theirs, heard } = setup();
    const c = peer.flow({ sport: 40001, dport: 80, isn: 0xffffffff });
    c.send({ flags: 'S' });
    expect(c.sndNxt).toBe(0); // wraps
    reply(theirs, { sport: 80, dport: 40001, flags: 'S.', seq: 500, ack: 0 });
    await c.expect({ flags: 'S.' });
    expect(c.iss).toBe(500);
    expect(c.rcvNxt).toBe(501);
    c.send({ flags: 'P.', payload: 'abc' });
    expect(c.sndNxt).toBe(3);
    reply(theirs, { sport: 80, dport: 40001, flags: 'P.', seq: 501, ack: 3, payload: Uint8Array.of(1, 2) });
    await c.expect({ flags: 'P.', payload: Uint8Array.of(1, 2) });
    expect(c.rcvNxt).toBe(503);
    c.send({ flags: '.' });
    await peer.settle();
    const last = parseTcpFrame(heard[heard.length - 1] as Uint8Array);
    expect(last?.tcp.seq).toBe(3);
    expect(last?.tcp.ack).toBe(503);
    // a segment of another flow is not this flow's
    reply(theirs, { sport: 81, dport: 40001, flags: '.', seq: 1 });
    await expect(c.expect({})).rejects.toThrow(/source port 81 != 80/);
  });
});
