/**
 * Real fault injection in the kernel between this machine's TCP and the stack, 2 MiB each way at
 * once on one connection, sha256 at both ends. Two namespaces created here: a router holding the
 * TAP device (198.18.43.1/24, the stack at .2 in this process, its gateway .1) and forwarding to a
 * veth pair (198.18.44.254/24), and the kernel peer behind it (198.18.44.1/24,
 * test/kernel/bulk_peer.py as the client). The faults are applied in the router's forward path and
 * on its TAP device, so that to both TCPs a dropped segment is a real loss on the wire: a drop in
 * the sender's own output path (postrouting, or a qdisc on the sender's device) is reported back
 * to its TCP, which simply sends the segment again later, not as a retransmission.
 *
 * netem is the usual tool, but this machine's kernel is built without it (CONFIG_NET_SCH_NETEM is
 * not set, and there are no modules: `tc qdisc add ... netem` answers "Specified qdisc kind is
 * unknown"), so the faults are made from what the kernel has, per fault:
 *   - loss: nftables `numgen random mod 1000 < N drop` on the TAP's traffic, both directions
 *     (forward to the TAP: kernel -> stack; forward from it: stack -> kernel);
 *   - delay, jitter and reordering: an htb qdisc on the TAP device with two lanes: most segments
 *     take a 200 Mbit/s lane, a random 10 % (nftables `meta priority set 1:20`) a 10 Mbit/s lane
 *     with a 45,000-byte queue, so they arrive late by 0..36 ms, behind segments sent after them, and
 *     overflow drops some; the bottleneck's queue adds delay to everything;
 *   - duplication: nftables `dup to "<tap>"` on the netdev egress hook of the TAP device;
 *   - corruption: nftables overwriting the TCP checksum field (`@th,128,16 set 0xdead`) of a
 *     random 1 or 2 % of packets: the kernel's transmit path then finishes the checksum over a wrong
 *     seed (CHECKSUM_PARTIAL), so the frame reaches the stack with a bad checksum, and the other way
 *     a mangled field in the router's forward path reaches the kernel's TCP with one.
 * Each rule has an nftables counter. The units differ by direction: the kernel's TCP always builds
 * GSO packets (up to 64 KB, segmented only on the way into the device; `ethtool -K gso off` does
 * not change that, TCP's GSO is software), so kernel -> stack a rule hits a burst of one or more
 * wire segments; stack -> kernel every frame from the TAP device is one segment. Hence: the
 * kernel's TcpInCsumErrors must equal the number of segments corrupted towards it exactly, and the
 * stack's TcpInCsumErrors must be at least the number of packets corrupted towards it (less any the
 * TAP device dropped, its tx_dropped). A third rule changes the TTL of 3 % of the single-segment
 * packets towards the stack without fixing the IP header checksum: the stack's IpInHdrErrors must
 * equal that count exactly. Loss shows in the retransmission counters of both ends.
 * netem would see the same GSO packets (it segments them only to corrupt).
 *
 * Network safety: 198.18.43.0/24 and 198.18.44.0/24, only inside the two namespaces created here,
 * deleted in afterAll.
 * Without root, nft, tc, python3 or /dev/net/tun the test fails with a message, never skips.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createCipheriv } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stack } from '../../src/stack.js';
import { TapLink } from '../../src/links/tap.js';
import {
  assertBenchmarkAddress, checkPrerequisites, createNs, deleteNs, ipNetnsExec, nextId, nsName, readCounters, run, setSysctls,
  spawnInNs, stopAllChildren, tapName, PYTHON, type Child,
} from '../kernel/netns.js';

const HOST = '198.18.43.1'; // the router's side of the TAP device
const STACK = '198.18.43.2';
const ROUTER_VETH = '198.18.44.254';
const PEER = '198.18.44.1'; // the kernel peer, one hop away
const NBYTES = 2 * 1024 * 1024;
const PEER_SCRIPT = fileURLToPath(new URL('../kernel/bulk_peer.py', import.meta.url));
const NFT = '/usr/sbin/nft';
const TC = '/usr/sbin/tc';

let ns = ''; // the router: TAP device, forwarding, nftables and tc
let peerNs = ''; // the kernel peer's TCP
let tap = '';
let link: TapLink | undefined;
let stack: Stack | undefined;
let lfd = -1;
let port = 6000;

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (!existsSync(NFT)) problems.push(`${NFT} not found: apt-get install nftables`);
  if (!existsSync(TC)) problems.push(`${TC} not found: apt-get install iproute2`);
  if (problems.length) throw new Error(`kernel fault-injection test cannot run: ${problems.join('; ')}`);
  for (const a of [HOST, STACK, ROUTER_VETH, PEER]) assertBenchmarkAddress(a);
  const id = nextId();
  ns = nsName('faults', id);
  peerNs = nsName('faultpeer', id);
  await createNs(ns);
  await createNs(peerNs);
  const vr = `wkf${process.pid}r`.slice(0, 15);
  const vp = `wkf${process.pid}p`.slice(0, 15);
  await run('ip', ['-n', ns, 'link', 'add', vr, 'type', 'veth', 'peer', 'name', vp, 'netns', peerNs]);
  await run('ip', ['-n', ns, 'addr', 'add', `${ROUTER_VETH}/24`, 'dev', vr]);
  await run('ip', ['-n', ns, 'link', 'set', vr, 'up']);
  await run('ip', ['-n', peerNs, 'addr', 'add', `${PEER}/24`, 'dev', vp]);
  await run('ip', ['-n', peerNs, 'link', 'set', vp, 'up']);
  await run('ip', ['-n', peerNs, 'route', 'add', 'default', 'via', ROUTER_VETH]);
  await setSysctls(ns, { 'net.ipv4.ip_forward': 1 });
  tap = tapName(id);
  link = await TapLink.open({ name: tap, netns: ns, hostAddress: `${HOST}/24` });
  stack = new Stack({ personality: 'linux-6.18', interfaces: [{ ip: `${STACK}/24`, gateway: HOST }], link });
}, 60_000);

afterAll(async () => {
  await stopAllChildren();
  stack?.close();
  link?.close();
  if (ns) await deleteNs(ns);
  if (peerNs) await deleteNs(peerNs);
}, 60_000);

/** 2 MiB of AES-256-CTR keystream in 256 KiB pieces. */
function* pieces(key: number): Generator<Uint8Array> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, key), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(256 * 1024);
  for (let left = NBYTES; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
}

/** Data both ways on one stack connection: write all then SHUT_WR, read until EOF; sha256 of each. */
async function exchange(st: Stack, fd: number, key: number, onQuarter?: () => void) {
  const bsd = st.bsd;
  const out = { sent: 0, sentSha: '', received: 0, receivedSha: '' };
  await Promise.all([
    (async () => {
      const h = createHash('sha256');
      for (const p of pieces(key)) { h.update(p); out.sent += await bsd.sendAsync(fd, p); }
      bsd.shutdown(fd, 'SHUT_WR');
      out.sentSha = h.digest('hex');
    })(),
    (async () => {
      const h = createHash('sha256');
      for (;;) {
        const d = await bsd.recvAsync(fd, 1 << 20);
        if (d.length === 0) break;
        h.update(d);
        const was = out.received;
        out.received += d.length;
        if (was < NBYTES / 4 && out.received >= NBYTES / 4) onQuarter?.();
      }
      out.receivedSha = h.digest('hex');
    })(),
  ]);
  return out;
}

interface PeerResult {
  sent: number; sent_sha256: string | null; send_error: string | null; received: number; received_sha256: string;
  tcp_info_end: { total_retrans: number; state: number };
}

async function peerResult(child: Child): Promise<PeerResult> {
  await child.waitForLine('its result', (l) => l.startsWith('{"result"'), 120_000);
  return (JSON.parse(child.lines.find((l) => l.startsWith('{"result"'))!) as { result: PeerResult }).result;
}

/** nftables rules in one table (replaced as a whole), and their counters by comment. */
async function nftApply(rules: string): Promise<void> {
  await ipNetnsExec(ns, ['sh', '-c', `nft delete table netdev wtcpf 2>/dev/null; nft delete table ip wtcpf 2>/dev/null; true`]);
  if (!rules) return;
  const file = join(tmpdir(), `wtcp-nft-${process.pid}.nft`);
  writeFileSync(file, rules + '\n');
  try { await ipNetnsExec(ns, [NFT, '-f', file]); } finally { rmSync(file, { force: true }); }
}
async function nftCounters(): Promise<Record<string, number>> {
  const j = JSON.parse(await ipNetnsExec(ns, [NFT, '-j', 'list', 'ruleset'])) as { nftables: Array<{ rule?: { comment?: string; expr: Array<{ counter?: { packets: number } }> } }> };
  const out: Record<string, number> = {};
  for (const x of j.nftables) {
    const r = x.rule;
    if (!r?.comment) continue;
    const c = r.expr.find((e) => e.counter)?.counter;
    if (c) out[r.comment] = (out[r.comment] ?? 0) + c.packets;
  }
  return out;
}
async function tapTxDropped(): Promise<number> {
  const j = JSON.parse(await ipNetnsExec(ns, ['ip', '-s', '-j', 'link', 'show', tap])) as Array<{ stats64: { tx: { dropped: number; packets: number } } }>;
  return j[0]!.stats64.tx.dropped;
}

/** The nftables script: `post` rules on kernel -> stack (postrouting), `pre` on stack -> kernel, `egress` on the netdev egress hook. */
function nftScript(o: { post?: string[]; pre?: string[]; egress?: string[] }): string {
  const lines: string[] = [];
  lines.push('table ip wtcpf {');
  lines.push(`  chain post { type filter hook forward priority 0; oifname "${tap}" ip protocol tcp jump p; }`);
  lines.push('  chain p {', '    counter comment "all-to-stack"', ...(o.post ?? []).map((r) => `    ${r}`), '  }');
  lines.push(`  chain pre { type filter hook forward priority 0; iifname "${tap}" ip protocol tcp jump q; }`);
  lines.push('  chain q {', '    counter comment "all-to-kernel"', ...(o.pre ?? []).map((r) => `    ${r}`), '  }');
  lines.push('}');
  if (o.egress?.length) {
    lines.push('table netdev wtcpf {');
    lines.push('  chain e {', `    type filter hook egress device "${tap}" priority 0;`, ...o.egress.map((r) => `    ${r}`), '  }');
    lines.push('}');
  }
  return lines.join('\n');
}

/** The htb lanes: 1:10 (default) 200 Mbit/s, 1:20 10 Mbit/s with a 45,000-byte queue (at most 36 ms). */
async function htbLanes(): Promise<void> {
  const tc = (args: string) => ipNetnsExec(ns, [TC, ...args.split(' ')]);
  await clearQdisc();
  await tc(`qdisc add dev ${tap} root handle 1: htb default 10 r2q 100`);
  await tc(`class add dev ${tap} parent 1: classid 1:10 htb rate 200mbit burst 15k`);
  await tc(`class add dev ${tap} parent 1: classid 1:20 htb rate 10mbit burst 3k`);
  await tc(`qdisc add dev ${tap} parent 1:10 pfifo limit 200`);
  await tc(`qdisc add dev ${tap} parent 1:20 bfifo limit 45000`);
}
async function clearQdisc(): Promise<void> {
  await ipNetnsExec(ns, [TC, 'qdisc', 'del', 'dev', tap, 'root']).catch(() => undefined);
}

interface Run {
  ms: number;
  stack: Record<string, number>;
  kernel: Record<string, number>;
  nft: Record<string, number>;
  tapTxDropped: number;
  kernelRetrans: number;
}

/** One kernel client -> stack listener connection carrying NBYTES each way under the current faults. */
async function transfer(label: string, onQuarter?: () => void): Promise<Run> {
  const st = stack!;
  const bsd = st.bsd;
  if (lfd < 0) {
    lfd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(lfd, { address: '0.0.0.0', port: 5001 });
    bsd.listen(lfd, 8);
  }
  const s0 = { ...st.counters() } as Record<string, number>;
  const k0 = await readCounters(peerNs);
  const d0 = await tapTxDropped();
  const t0 = performance.now();
  const seed = port++;
  const client = spawnInNs(`kernel client (${label})`, peerNs, PYTHON, [PEER_SCRIPT, 'client', STACK, '5001', String(NBYTES), String(seed), '0']);
  const conn = await bsd.acceptAsync(lfd);
  const [mine, theirs] = await Promise.all([exchange(st, conn.fd, seed & 0xff, onQuarter), peerResult(client)]);
  const ms = Math.round(performance.now() - t0);
  expect(theirs.send_error, `${label}: kernel send`).toBeNull();
  expect(mine.sent, `${label}: stack sent`).toBe(NBYTES);
  expect(theirs.received, `${label}: kernel received`).toBe(NBYTES);
  expect(theirs.received_sha256, `${label}: stack -> kernel sha256`).toBe(mine.sentSha);
  expect(mine.received, `${label}: stack received`).toBe(NBYTES);
  expect(mine.receivedSha, `${label}: kernel -> stack sha256`).toBe(theirs.sent_sha256);
  expect(theirs.tcp_info_end.state, `${label}: kernel socket closed after both FINs`).toBe(7);
  bsd.close(conn.fd);
  await client.exited;
  expect(client.exitCode).toBe(0);
  const s1 = st.counters() as Record<string, number>;
  const k1 = await readCounters(peerNs);
  const diff = (a: Record<string, number>, b: Record<string, number>) => {
    const o: Record<string, number> = {};
    for (const k of Object.keys(b)) if ((b[k] ?? 0) !== (a[k] ?? 0)) o[k] = (b[k] ?? 0) - (a[k] ?? 0);
    return o;
  };
  const r: Run = {
    ms, stack: diff(s0, s1), kernel: diff(k0, k1), nft: await nftCounters(), tapTxDropped: (await tapTxDropped()) - d0,
    kernelRetrans: theirs.tcp_info_end.total_retrans,
  };
  const pick = (o: Record<string, number>, keys: string[]) => Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  console.log(`[kernel-faults] ${label}: ${2 * NBYTES} bytes in ${ms} ms; nft ${JSON.stringify(r.nft)}; tap tx_dropped ${r.tapTxDropped}; kernel retrans ${r.kernelRetrans}; stack ${JSON.stringify(pick(r.stack, ['TcpRetransSegs', 'TcpExtTCPTimeouts', 'TcpExtTCPSackRecovery', 'TcpExtTCPFastRetrans', 'TcpInCsumErrors', 'TcpInErrs', 'IpInHdrErrors', 'IpInCsumErrors', 'IpInDiscards', 'TcpExtTCPSACKReneging', 'WtcpNoMemory', 'TcpExtTCPDSACKRecv', 'TcpExtTCPSpuriousRTOs']))}; kernel ${JSON.stringify(pick(r.kernel, ['TcpInCsumErrors', 'TcpInErrs', 'TcpRetransSegs', 'TcpExtTCPSACKReorder', 'TcpExtTCPDSACKRecv', 'TcpExtTCPDSACKOldSent', 'TcpExtTCPTimeouts']))}`);
  return r;
}

describe('the kernel injects faults on the TAP device; bulk data both ways with the kernel arrives intact', () => {
  it('a clean run first (no faults): the baseline', async () => {
    await nftApply('');
    const r = await transfer('clean');
    expect(r.stack.TcpInCsumErrors ?? 0).toBe(0);
    expect(r.stack.TcpRetransSegs ?? 0).toBe(0);
    expect(stack!.rxDropped, 'frames the stack could not take').toBe(0);
  }, 60_000);

  it('loss: 6 % of the kernel\'s data packets and 2 % of the stack\'s segments dropped; both ends retransmit', async () => {
    await nftApply(nftScript({
      // data only (not bare ACKs), so that every drop costs the kernel a retransmission; the
      // kernel's 2 MiB are only 100..200 GSO packets, hence 6 % (P(no drop at all) < 0.1 %)
      post: ['meta length > 100 numgen random mod 1000 < 60 counter drop comment "loss-to-stack"'],
      pre: ['numgen random mod 1000 < 20 counter drop comment "loss-to-kernel"'],
    }));
    const r = await transfer('loss');
    expect(r.nft['loss-to-stack']).toBeGreaterThan(0);
    expect(r.nft['loss-to-kernel']).toBeGreaterThan(0);
    expect(r.stack.TcpRetransSegs, 'the stack retransmitted what the kernel lost').toBeGreaterThan(0);
    expect(r.kernelRetrans, 'the kernel retransmitted what the stack lost').toBeGreaterThan(0);
    await nftApply('');
  }, 60_000);

  it('delay, jitter and reordering: two htb lanes, 10 % of segments through the slow one', async () => {
    await htbLanes();
    await nftApply(nftScript({ post: ['numgen random mod 1000 < 100 counter meta priority set 1:20 comment "slow-lane"'] }));
    const r = await transfer('reorder/jitter');
    expect(r.nft['slow-lane'], 'packets through the slow lane').toBeGreaterThan(10);
    await nftApply('');
    await clearQdisc();
  }, 60_000);

  it('duplication: 2 % of segments to the stack sent twice (netdev egress dup)', async () => {
    await nftApply(nftScript({ egress: ['ip protocol tcp numgen random mod 1000 < 20 counter dup to "' + tap + '" comment "dup"'] }));
    const r = await transfer('duplication 2 %');
    expect(r.nft.dup).toBeGreaterThan(0);
    await nftApply('');
  }, 60_000);

  it('corruption: 2 % of packets towards the stack and 1 % of segments towards the kernel with a bad TCP checksum, 3 % towards the stack with a bad IP header: counted (TcpInCsumErrors at both ends, IpInHdrErrors), never delivered', async () => {
    await nftApply(nftScript({
      post: [
        'numgen random mod 1000 < 20 counter @th,128,16 set 0xdead meta mark set 1 comment "corrupt-to-stack"',
        // the IP header (TTL changed, its checksum left as it was) of packets the rule above left
        // alone, and only single segments: GSO rewrites each segment's IP checksum
        'meta mark != 1 meta length <= 1500 numgen random mod 1000 < 30 counter @nh,64,8 set 7 comment "iphdr-to-stack"',
      ],
      pre: ['numgen random mod 1000 < 10 counter @th,128,16 set 0xdead comment "corrupt-to-kernel"'],
    }));
    const r = await transfer('corruption');
    const toStack = r.nft['corrupt-to-stack']!;
    const toKernel = r.nft['corrupt-to-kernel']!;
    // a bad IP header checksum: dropped and counted by IP (IpInHdrErrors), never reaching TCP
    expect(r.nft['iphdr-to-stack'] ?? 0).toBeGreaterThan(0);
    expect(r.stack.IpInHdrErrors ?? 0).toBeLessThanOrEqual(r.nft['iphdr-to-stack']!);
    expect(r.stack.IpInHdrErrors ?? 0).toBeGreaterThanOrEqual(r.nft['iphdr-to-stack']! - r.tapTxDropped);
    expect(toStack).toBeGreaterThan(0);
    expect(toKernel).toBeGreaterThan(0);
    // kernel -> stack: TCP always hands GSO packets (several segments) to postrouting, segmented
    // only on the way into the TAP device with the checksum finished from the mangled seed, so
    // one corrupted packet is one or more bad frames: at least as many errors as corrupted packets
    // the TAP device passed on, and none delivered (the sha256 above)
    expect(r.stack.TcpInCsumErrors ?? 0).toBeGreaterThanOrEqual(toStack - r.tapTxDropped);
    expect(r.stack.TcpInErrs ?? 0).toBeGreaterThanOrEqual(r.stack.TcpInCsumErrors ?? 0);
    // stack -> kernel: one frame per segment, so the kernel counted exactly what was corrupted
    expect(r.kernel.TcpInCsumErrors ?? 0).toBe(toKernel);
    expect(r.stack.TcpRetransSegs).toBeGreaterThan(0);
    await nftApply('');
  }, 60_000);

  it('all at once (loss, reordering, jitter, duplication, corruption), then an outage of 1.5 s both ways: the connection recovers', async () => {
    await htbLanes();
    await nftApply(nftScript({
      post: [
        'numgen random mod 1000 < 10 counter drop comment "loss-to-stack"',
        'numgen random mod 1000 < 10 counter @th,128,16 set 0xdead comment "corrupt-to-stack"',
        'numgen random mod 1000 < 100 counter meta priority set 1:20 comment "slow-lane"',
      ],
      pre: ['numgen random mod 1000 < 10 counter drop comment "loss-to-kernel"'],
      egress: ['ip protocol tcp numgen random mod 1000 < 10 counter dup to "' + tap + '" comment "dup"'],
    }));
    // the outage: once a quarter of the kernel's data has arrived, everything is dropped for 1.5 s, both ways
    let outage: Promise<void> = Promise.resolve();
    let outageDrops = 0;
    const startOutage = () => {
      outage = (async () => {
        await ipNetnsExec(ns, [NFT, 'insert', 'rule', 'ip', 'wtcpf', 'p', 'counter', 'drop', 'comment', '"outage"']);
        await ipNetnsExec(ns, [NFT, 'insert', 'rule', 'ip', 'wtcpf', 'q', 'counter', 'drop', 'comment', '"outage"']);
        await new Promise((r) => setTimeout(r, 1500));
        outageDrops = (await nftCounters()).outage ?? 0;
        for (const chain of ['p', 'q']) {
          const j = JSON.parse(await ipNetnsExec(ns, [NFT, '-j', '-a', 'list', 'chain', 'ip', 'wtcpf', chain])) as { nftables: Array<{ rule?: { comment?: string; handle: number } }> };
          const h = j.nftables.find((x) => x.rule?.comment === 'outage')!.rule!.handle;
          await ipNetnsExec(ns, [NFT, 'delete', 'rule', 'ip', 'wtcpf', chain, 'handle', String(h)]);
        }
      })();
    };
    const r = await transfer('all faults + outage', startOutage);
    await outage;
    expect(outageDrops, 'segments dropped by the outage').toBeGreaterThan(0);
    expect(r.ms, 'the transfer spanned the outage').toBeGreaterThan(1500);
    // whichever end had data in flight when the link went dark recovered by retransmission timeout
    expect((r.stack.TcpExtTCPTimeouts ?? 0) + (r.kernel.TcpExtTCPTimeouts ?? 0), 'RTOs at either end').toBeGreaterThan(0);
    expect(r.stack.TcpInCsumErrors ?? 0).toBeGreaterThan(0);
    await nftApply('');
    await clearQdisc();
  }, 60_000);
});
