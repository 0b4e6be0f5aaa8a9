// Captures the seed corpus of the frame fuzzer (test/fuzz/corpus/*.pcap) from real traffic: two
// stacks per personality (handshake, data both ways, FIN close), a SYN flood against a small
// backlog with SYN cookies (Linux, FreeBSD) and the queue-limited 4.3BSD listener, ARP and ping.
// Every exchange runs on a VirtualClock with fixed seeds, so a capture is the same each time.
// Run by `npm run fuzz -- --capture` (fuzz/run.mjs → capture.fuzz.ts); the files are committed.
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { Stack, type StackOptions } from '../../src/stack.js';
import { buildEthernet, buildIpv4, ETHERTYPE_IPV4, IPPROTO_ICMP, internetChecksum } from '../../src/testing/frames.js';
import { Peer } from '../../src/testing/peer.js';
import { PEER_IP, PEER_MAC, STACK_IP, STACK_MAC } from './harness.js';

/** Run `p` to completion, stepping the virtual clock from one due callback to the next. */
async function drive<T>(clock: VirtualClock, p: Promise<T>, limitMs = 120_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  let error: unknown;
  p.then((v) => { done = true; value = v; }, (e) => { done = true; error = e; });
  const end = clock.now() + limitMs;
  for (let i = 0; !done && i < 1_000_000; i++) {
    await new Promise((r) => setImmediate(r));
    if (done) break;
    const due = clock.nextDue();
    if (due === undefined || due > end) throw new Error('capture: stalled');
    clock.advanceTo(Math.max(due, clock.now()));
  }
  if (error) throw error;
  return value as T;
}

/** Two stacks (client PEER_IP, server STACK_IP): connect, data both ways, close; every frame recorded. */
async function conversation(personality: NonNullable<StackOptions['personality']>): Promise<Uint8Array[]> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const frames: Uint8Array[] = [];
  a.onTap((f, dir) => {
    if (dir === 'out') frames.push(f.slice());
  });
  b.onTap((f, dir) => {
    if (dir === 'out') frames.push(f.slice());
  });
  const server = new Stack({ personality, clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 11 });
  const client = new Stack({ personality: 'linux-5.4', clock, link: b, interfaces: [{ ip: `${PEER_IP}/24` }], seed: 12 });
  const lfd = server.bsd.socket('AF_INET', 'SOCK_STREAM');
  server.bsd.bind(lfd, { address: '0.0.0.0', port: 80 });
  server.bsd.listen(lfd, 5);
  const cfd = client.bsd.socket('AF_INET', 'SOCK_STREAM');
  await drive(clock, client.bsd.connectAsync(cfd, { address: STACK_IP, port: 80 }));
  const acc = await drive(clock, server.bsd.acceptAsync(lfd));
  const request = new TextEncoder().encode('GET / HTTP/1.0\r\nhost: fuzz\r\n\r\n');
  await drive(clock, client.bsd.sendAsync(cfd, request));
  await drive(clock, server.bsd.recvAsync(acc.fd, 4096));
  const reply = new Uint8Array(4000).map((_, i) => (i * 7) & 255);
  await drive(clock, server.bsd.sendAsync(acc.fd, reply));
  let got = 0;
  while (got < reply.length) got += (await drive(clock, client.bsd.recvAsync(cfd, 65536))).length;
  server.bsd.shutdown(acc.fd, 'SHUT_WR');
  await drive(clock, client.bsd.recvAsync(cfd, 1)); // EOF
  client.bsd.close(cfd);
  server.bsd.close(acc.fd);
  await drive(clock, new Promise<void>((r) => clock.setTimeout(() => r(), 1000)));
  server.close();
  client.close();
  return frames;
}

/** A Peer floods a small-backlog listener with SYNs, then completes one handshake. */
async function synFlood(personality: NonNullable<StackOptions['personality']>, sysctls: StackOptions['sysctls'] = {}): Promise<Uint8Array[]> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const frames: Uint8Array[] = [];
  a.onTap((f, dir) => {
    if (dir === 'in') frames.push(f.slice());
  });
  b.onTap((f, dir) => {
    if (dir === 'in') frames.push(f.slice());
  });
  const server = new Stack({ personality, sysctls, clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 13 });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  const lfd = server.bsd.socket('AF_INET', 'SOCK_STREAM');
  server.bsd.bind(lfd, { address: '0.0.0.0', port: 80 });
  server.bsd.listen(lfd, 2);
  await peer.resolve({ within: 100 }); // else the SYN-ACKs wait for ARP and most are dropped
  for (let i = 0; i < 24; i++) {
    peer.send({ flags: 'S', sport: 30000 + i, dport: 80, seq: 0x1000 * i, options: { mss: 1460, sackOk: true, ts: [100 + i, 0], wscale: 7 } });
  }
  await peer.wait(200);
  // answer some SYN-ACKs (cookie ones among them): completions, overflows, resets
  for (const s of peer.received.splice(0).filter((x) => x.flags === 'S.').slice(0, 6)) {
    peer.send({ flags: '.', sport: s.dport, dport: 80, seq: s.ack, ack: (s.seq + 1) >>> 0, options: s.options.ts ? { ts: [500, s.options.ts[0]] } : {} });
  }
  await peer.wait(3500); // SYN-ACK retransmissions
  peer.send({ flags: 'R', sport: 30020, dport: 80, seq: 0x1000 * 20 + 1 });
  await peer.wait(100);
  peer.close();
  server.close();
  return frames;
}

/** ARP requests and replies, pings (with a large one), a ping to a closed port's neighbour. */
async function arpPing(): Promise<Uint8Array[]> {
  const clock = new VirtualClock();
  const [a, b] = MemoryLink.pair();
  const frames: Uint8Array[] = [];
  b.onTap((f) => frames.push(f.slice()));
  const server = new Stack({ personality: 'linux-5.4', clock, link: a, interfaces: [{ ip: `${STACK_IP}/24` }], seed: 14 });
  const peer = new Peer({ link: b, clock, ip: PEER_IP, stackIp: STACK_IP });
  await peer.resolve({ within: 100 });
  for (const [i, size] of [[1, 56], [2, 0], [3, 1472]] as const) {
    const body = new Uint8Array(8 + size);
    body[0] = 8;
    body[4] = 0x12;
    body[5] = 0x34;
    body[7] = i;
    for (let k = 8; k < body.length; k++) body[k] = k & 255;
    const c = internetChecksum(body);
    body[2] = c >>> 8;
    body[3] = c & 255;
    peer.sendFrame(buildEthernet({ dst: STACK_MAC, src: PEER_MAC, type: ETHERTYPE_IPV4, payload: buildIpv4({ src: PEER_IP, dst: STACK_IP, protocol: IPPROTO_ICMP, payload: body }) }));
    await peer.wait(10);
  }
  // the stack resolving a neighbour itself: a SYN from a new address makes it ARP for it
  peer.send({ flags: 'S', sport: 33000, dport: 80, seq: 1, ip: { src: '198.18.0.3' } });
  await peer.wait(1500);
  peer.close();
  server.close();
  return frames;
}

/** Every corpus file: name → frames. */
export async function captureCorpus(): Promise<Map<string, Uint8Array[]>> {
  const out = new Map<string, Uint8Array[]>();
  out.set('conversation-linux-5.4.pcap', await conversation('linux-5.4'));
  out.set('conversation-linux-6.18.pcap', await conversation('linux-6.18'));
  out.set('conversation-freebsd-12.1.pcap', await conversation('freebsd-12.1'));
  out.set('conversation-4.3bsd.pcap', await conversation('4.3bsd'));
  out.set('synflood-linux-5.4-cookies.pcap', await synFlood('linux-5.4'));
  out.set('synflood-freebsd-12.1.pcap', await synFlood('freebsd-12.1'));
  out.set('synflood-4.3bsd.pcap', await synFlood('4.3bsd'));
  out.set('arp-ping.pcap', await arpPing());
  return out;
}
