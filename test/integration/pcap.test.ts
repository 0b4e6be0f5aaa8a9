// Captures of real exchanges between a Stack and the scripted Peer (MemoryLink, VirtualClock),
// written by PcapLink / capturePcapFile (src/links/pcap.ts, pcap-file.ts) and read back by the
// real tools: `tshark -r` and `tcpdump -r` (Debian packages tshark and tcpdump). A missing tool is
// a failure naming its package, never a skip.
// Then FaultLink (src/links/fault.ts) corrupting the frames into the stack: the stack counts every
// damaged frame where Linux would (IpInHdrErrors, TcpInErrs / TcpInCsumErrors) and never aborts.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../src/clock.js';
import { FaultLink, type FaultEvent } from '../../src/links/fault.js';
import { MemoryLink } from '../../src/links/memory.js';
import { capturePcapFile } from '../../src/links/pcap-file.js';
import { PcapLink } from '../../src/links/pcap.js';
import { Stack } from '../../src/stack.js';
import { Peer } from '../../src/testing/peer.js';
import { readPcapFile, tcpFlagString } from '../helpers/pcap.js';

const STACK_IP = '198.18.0.2';
const PEER_IP = '198.18.0.99';
const PORT = 8080;
/** 2026-01-01T00:00:00Z: what clock time 0 stands for in the captures */
const EPOCH = Date.UTC(2026, 0, 1);

const dir = mkdtempSync(join(tmpdir(), 'wtcp-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a capture tool; a missing tool fails the test with the Debian package to install. */
function tool(cmd: 'tshark' | 'tcpdump', args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000, env });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${cmd} is not installed: this test needs the Debian package ${cmd} (apt-get install ${cmd})`);
    }
    throw r.error;
  }
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function newStack(clock: VirtualClock, link: ConstructorParameters<typeof PcapLink>[0]): { stack: Stack; fd: number } {
  const stack = new Stack({ personality: 'linux-6.13', clock, link, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 1 });
  const fd = stack.bsd.socket('AF_INET', 'SOCK_STREAM');
  stack.bsd.bind(fd, { address: '0.0.0.0', port: PORT });
  stack.bsd.listen(fd, 128);
  return { stack, fd };
}

describe('pcap capture of a Stack talking to a Peer, read by tshark and tcpdump', () => {
  const file = join(dir, 'exchange.pcap');
  // ARP who-has / is-at, then the TCP segments in order (tcpdump's flag letters)
  const expectedFlags = ['S', 'S.', '.', 'P.', '.', 'F.', 'F.', '.'];

  it('records the whole exchange, both directions, with virtual-clock timestamps', async () => {
    const clock = new VirtualClock();
    const [a, b] = MemoryLink.pair();
    const cap = capturePcapFile(a, file, { clock, epoch: EPOCH });
    const { stack, fd } = newStack(clock, cap.link);
    const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });

    await peer.resolve({ within: 10 });
    const f = peer.flow({ sport: 40000, dport: PORT, isn: 1000 });
    await f.connect({ options: { mss: 1460, sackOk: true, ts: [100, 0], wscale: 7 } });
    f.send({ flags: 'P.', payload: 'hello', options: { ts: [101, 0] } });
    await f.expect({ flags: '.', ack: 1006 }, { within: 200 });
    await peer.wait(10);
    const conn = stack.bsd.accept(fd);
    expect(new TextDecoder().decode(stack.bsd.recv(conn.fd, 100))).toBe('hello');
    const closedAt = clock.now();
    stack.bsd.close(conn.fd); // active close: FIN from the stack
    await f.expect({ flags: 'F.' }, { within: 100 });
    await peer.wait(5);
    f.send({ flags: 'F.', options: { ts: [102, 0] } });
    await f.expect({ flags: '.' }, { within: 100 });
    stack.close();
    await cap.link.close(); // closes the file too
    expect(cap.file.closed).toBe(true);
    expect(statSync(file).size).toBe(cap.link.writer.bytes);

    // our own reader agrees before the tools are asked
    const parsed = readPcapFile(file);
    expect(parsed.header).toMatchObject({ littleEndian: true, nanoseconds: false, versionMajor: 2, versionMinor: 4, linktype: 1 });
    expect(parsed.records.length).toBe(2 + expectedFlags.length);
    expect(parsed.records.filter((r) => r.tcp).map((r) => tcpFlagString(r.tcp!.flags))).toEqual(expectedFlags);
    expect(parsed.records[0]!.timeUs).toBe(EPOCH * 1000);
    // stamped with the virtual time the FIN went out: when close() was called
    const fin = parsed.records.find((r) => r.tcp && tcpFlagString(r.tcp.flags) === 'F.')!;
    expect(closedAt).toBeGreaterThan(0);
    expect(fin.timeMs - EPOCH).toBe(closedAt);
  });

  it('tshark reads it: 10 frames, nothing malformed, every IP and TCP checksum good, flags in order', () => {
    const summary = tool('tshark', ['-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE']);
    const lines = summary.trim().split('\n');
    expect(lines.length).toBe(10);
    expect(summary.toLowerCase()).not.toContain('malformed');
    expect(summary).toMatch(/ARP .*Who has 198\.18\.0\.2\? Tell 198\.18\.0\.99/);
    expect(summary).toMatch(/ARP .*198\.18\.0\.2 is at 02:00:c6:12:00:02/);

    const fields = tool('tshark', [
      '-r', file, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=/t', '-e', 'frame.number', '-e', 'frame.time_epoch',
      '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'tcp.flags', '-e', '_ws.malformed',
    ]);
    const rows = fields.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBe(10);
    expect(Number(rows[0]![1])).toBe(EPOCH / 1000);
    const tcpRows = rows.filter((r) => r[4] !== '');
    // Wireshark's checksum status 1 = good (PROTO_CHECKSUM_E_GOOD)
    for (const r of tcpRows) expect([r[2], r[3], r[5] ?? '']).toEqual(['1', '1', '']);
    const flagNames: Record<string, string> = { '0x0002': 'S', '0x0012': 'S.', '0x0010': '.', '0x0018': 'P.', '0x0011': 'F.' };
    expect(tcpRows.map((r) => flagNames[r[4]!] ?? r[4])).toEqual(expectedFlags);
  });

  it('tcpdump reads it: 10 packets, the flag sequence S S. . P. . F. F. .', () => {
    const out = tool('tcpdump', ['-nn', '-r', file]);
    const lines = out.trim().split('\n');
    expect(lines.length).toBe(10);
    expect(lines[0]).toMatch(/^00:00:00\.000000 ARP, Request who-has 198\.18\.0\.2 tell 198\.18\.0\.99/);
    expect(lines[1]).toMatch(/ARP, Reply 198\.18\.0\.2 is-at 02:00:c6:12:00:02/);
    const flags = lines.slice(2).map((l) => /Flags \[([^\]]*)\]/.exec(l)?.[1]);
    expect(flags).toEqual(expectedFlags);
    expect(lines[2]).toContain(`${PEER_IP}.40000 > ${STACK_IP}.${PORT}: Flags [S], seq 1000,`);
    expect(lines[3]).toContain(`${STACK_IP}.${PORT} > ${PEER_IP}.40000: Flags [S.]`);
    expect(lines[5]).toContain('length 5');
    expect(out).not.toMatch(/truncated|bad/i);
  });

  it('a missing tool is a failure naming its Debian package, not a skip', () => {
    const noPath = { ...process.env, PATH: join(dir, 'empty') };
    expect(() => tool('tshark', ['-v'], noPath)).toThrow(/tshark is not installed: this test needs the Debian package tshark/);
    expect(() => tool('tcpdump', ['--version'], noPath)).toThrow(/Debian package tcpdump/);
  });

  it('a capture cut short is refused by both tools (the checks above can fail)', () => {
    const cut = join(dir, 'cut.pcap');
    const bytes = readFileSync(file);
    const w = capturePcapFile({ mtu: 1500, send() {}, onReceive() {}, close() {} }, cut, { clock: new VirtualClock() });
    w.file.close();
    // header written by the writer, then a record header promising more bytes than follow
    appendFileSync(cut, bytes.subarray(24, 24 + 16 + 10));
    expect(() => tool('tshark', ['-r', cut])).toThrow(/cut short/);
    expect(() => tool('tcpdump', ['-r', cut])).toThrow(/truncated/);
  });
});

describe('FaultLink timing and loss under a Stack (PcapLink(FaultLink(MemoryLink)))', () => {
  it('10 ms each way: the SYN-ACK comes back 20 ms after the SYN; a lost SYN-ACK is retransmitted at 1 s', async () => {
    const clock = new VirtualClock();
    const [a, b] = MemoryLink.pair();
    const fault = new FaultLink(a, { seed: 3, clock, delay: 10 });
    const chunks: Uint8Array[] = [];
    const cap = new PcapLink(fault, (c) => chunks.push(c), { clock });
    const { stack } = newStack(clock, cap);
    const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
    await peer.resolve({ within: 100 });
    const t0 = clock.now();
    const f = peer.flow({ sport: 41000, dport: PORT, isn: 1 });
    f.send({ flags: 'S', options: { mss: 1460 } });
    await f.expect({ flags: 'S.', ack: 2, time: t0 + 20 }, { within: 100 });
    f.send({ flags: '.' });
    await peer.wait(20);

    // the stack's SYN-ACK to a second SYN is lost: Linux retransmits it after TCP_TIMEOUT_INIT (1 s)
    fault.configure({ delay: 10, tx: { loss: 1 } });
    const g = peer.flow({ sport: 41001, dport: PORT, isn: 1 });
    const t1 = clock.now();
    g.send({ flags: 'S', options: { mss: 1460 } });
    await peer.wait(500);
    expect(peer.received.length).toBe(0);
    expect(fault.counters.tx.lost).toBe(1);
    fault.configure({ delay: 10 });
    await g.expect({ flags: 'S.', ack: 2, time: t1 + 10 + 1000 + 10 }, { within: 1000 });
    stack.close();
  });
});

describe('FaultLink corrupting the frames into a Stack', () => {
  it('single-bit flips: every damaged IPv4 frame is counted (IpInHdrErrors or TcpInErrs), intact SYNs still get SYN-ACKs', async () => {
    const clock = new VirtualClock();
    const [a, b] = MemoryLink.pair();
    const events: FaultEvent[] = [];
    const fault = new FaultLink(a, { seed: 2024, onFault: (e) => events.push({ ...e, frame: e.frame.slice() }) });
    const { stack } = newStack(clock, fault);
    const errors: Error[] = [];
    stack.on('error', (e) => errors.push(e));
    const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
    await peer.resolve({ within: 10 }); // ARP undamaged
    fault.configure({ rx: { corrupt: 0.5 } });
    const before = stack.counters();

    const n = 200;
    for (let i = 0; i < n; i++) {
      peer.send({ flags: 'S', sport: 30000 + i, seq: 1000 * i, options: { mss: 1460, sackOk: true, ts: [i, 0], wscale: 7 }, payload: i % 2 ? '' : 'x'.repeat(i) });
    }
    await peer.wait(10);
    const after = stack.counters();

    // where did each flip land? (bits MSB first: byte = bit >> 3)
    let inIpHeader = 0;
    let inTcp = 0;
    let inPadding = 0;
    const damagedPorts = new Set<number>();
    for (const e of events) {
      expect(e.kind).toBe('corrupt');
      const byte = e.bits![0]! >>> 3;
      const totalLength = (e.frame[16]! << 8) | e.frame[17]!;
      if (byte < 14 + 20) inIpHeader++;
      else if (byte < 14 + totalLength) inTcp++;
      else inPadding++;
      if (byte < 14 + totalLength) damagedPorts.add((e.frame[34]! << 8) | e.frame[35]!);
    }
    expect(events.length).toBe(fault.counters.rx.corrupted);
    expect(inIpHeader).toBeGreaterThan(5);
    expect(inTcp).toBeGreaterThan(50);
    const d = (k: keyof typeof after): number => after[k] - before[k];
    expect(d('IpInHdrErrors')).toBe(inIpHeader);
    expect(d('TcpInErrs')).toBe(inTcp);
    // all but the flips of the data-offset nibble that make the header length impossible
    expect(d('TcpInCsumErrors')).toBeGreaterThan(inTcp - 10);
    expect(d('TcpInCsumErrors')).toBeLessThanOrEqual(inTcp);
    expect(d('TcpInSegs')).toBe(n - inIpHeader - inTcp);

    // every intact SYN was answered, no damaged one was
    const synAcks = (await peer.drain()).filter((s) => s.flags === 'S.');
    expect(synAcks.length).toBe(n - damagedPorts.size);
    for (const s of synAcks) expect(damagedPorts.has(s.dport)).toBe(false);
    expect(inPadding + damagedPorts.size).toBe(events.length);
    expect(stack.core.aborted).toBeUndefined();
    expect(errors).toEqual([]);
    stack.close();
  });

  it('heavy damage to everything (ARP too, 1 to 64 bits a frame) never aborts the stack; it works again once the damage stops', async () => {
    const clock = new VirtualClock();
    const [a, b] = MemoryLink.pair();
    const fault = new FaultLink(a, { seed: 7, clock });
    const chunks: Uint8Array[] = [];
    const cap = new PcapLink(fault, (c) => chunks.push(c), { clock }); // what the stack saw
    const { stack, fd } = newStack(clock, cap);
    const errors: Error[] = [];
    stack.on('error', (e) => errors.push(e));
    const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP, template: { dport: PORT } });
    await peer.resolve({ within: 10 });
    const before = stack.counters();

    for (let bits = 1; bits <= 64; bits *= 2) {
      fault.configure({ rx: { corrupt: { probability: 0.9, bits, offset: 0 }, duplicate: 0.2, reorder: 0.2 } });
      for (let i = 0; i < 50; i++) {
        const f = peer.flow({ sport: 20000 + bits * 100 + i, dport: PORT, isn: i * 7919 });
        f.send({ flags: 'S', options: { mss: 1460, ts: [i, 0] } });
        f.send({ flags: 'P.', ack: 1, payload: 'data', seq: i * 7919 + 1 });
        peer.sendArpRequest();
      }
      await peer.wait(50);
      expect(stack.core.aborted).toBeUndefined();
    }
    const after = stack.counters();
    expect(after.IpInHdrErrors).toBeGreaterThan(before.IpInHdrErrors);
    expect(after.TcpInCsumErrors).toBeGreaterThan(before.TcpInCsumErrors);
    expect(fault.counters.rx.corrupted).toBeGreaterThan(1000);
    // the capture inside the fault link holds exactly what the stack received and sent
    expect(chunks.length).toBe(1 + cap.records);
    expect(cap.records).toBe(fault.counters.rx.delivered + fault.counters.tx.delivered);

    // damage off: a clean handshake and data still work
    fault.configure({});
    fault.flush();
    await peer.drain();
    const f = peer.flow({ sport: 55555, dport: PORT, isn: 5000 });
    await f.connect({ options: { mss: 1460 }, within: 100 });
    f.send({ flags: 'P.', payload: 'ok' });
    await peer.wait(100);
    let conn: { fd: number } | undefined;
    for (;;) {
      let c: { fd: number; port: number };
      try {
        c = stack.bsd.accept(fd);
      } catch {
        break;
      }
      if (c.port === 55555) conn = c;
    }
    expect(conn).toBeDefined();
    expect(new TextDecoder().decode(stack.bsd.recv(conn!.fd, 10))).toBe('ok');
    expect(errors).toEqual([]);
    expect(stack.core.aborted).toBeUndefined();
    stack.close();
  });
});
