/**
 * The stack against this machine's own Linux kernel, data both ways: a TAP device moved into a
 * network namespace this test creates, the kernel's TCP on the other side (python3 sockets in the
 * namespace, test/kernel/bulk_peer.py).
 *
 * Two connections at once, each carrying 4 MiB in each direction at the same time:
 *   - a kernel client connects to a listener on the stack (the stack sends the SYN-ACK);
 *   - the stack connects to a kernel listener (the stack sends the SYN).
 * Both ends hash what they send and what they receive (sha256), and the digests must agree.
 *
 * Options, from both ends:
 *   - the kernel's view: `ss -tine` for each connection (iproute2 6.1 shows ts/sack only with -e) (`wscale:snd,rcv`, `ts`, `sack`, `mss:`), and
 *     TCP_INFO (tcpi_options, snd_wscale/rcv_wscale, snd_mss) read by the peer script;
 *   - the stack's view: the SYN and SYN-ACK in a capture of the TAP link (PcapLink to a file, read
 *     back with tcpdump), the largest segment the stack sent and its connection fields (effective
 *     MSS, the peer's window in bytes, i.e. scaled).
 * The kernel sockets set TCP_MAXSEG (1200 on the client, 1300 on the listener), below what the link
 * allows, so that honouring the kernel's MSS is visible: the stack must never send more than the
 * kernel's MSS less the 12 bytes of the timestamp option.
 *
 * Network safety: only 198.18.31.0/24, only inside the namespace created here, deleted in afterAll.
 * Without root, iproute2, tcpdump, python3 or /dev/net/tun the test fails with a message (never skips).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, createCipheriv } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Stack } from '../../src/stack.js';
import { TapLink } from '../../src/links/tap.js';
import { capturePcapFile } from '../../src/links/pcap-file.js';
import type { PcapLink } from '../../src/links/pcap.js';
import type { PcapFileWriter } from '../../src/links/pcap-file.js';
import { ConnField, ConnState } from '../../src/core.js';
import { linuxRcvWscale } from '../../src/sysctl.js';
import {
  assertBenchmarkAddress, checkPrerequisites, createNs, deleteNs, getSysctls, ipNetnsExec, nextId, nsName, run,
  spawnInNs, stopAllChildren, tapName, PYTHON, type Child,
} from '../kernel/netns.js';

const HOST = '198.18.31.1'; // the kernel's side of the TAP device, in the namespace
const STACK = '198.18.31.2';
const STACK_PORT = 5001; // the stack's listener (the kernel is the client)
const KERNEL_PORT = 5002; // the kernel's listener (the stack is the client)
const NBYTES = 4 * 1024 * 1024;
const CLIENT_MAXSEG = 1200;
const SERVER_MAXSEG = 1300;
const TS_OPTION = 12; // NOP NOP TS: what every segment carries once timestamps are on
const PEER_SCRIPT = fileURLToPath(new URL('../kernel/bulk_peer.py', import.meta.url));

let ns = '';
let dir = '';
let tap: TapLink | undefined;
let cap: { link: PcapLink; file: PcapFileWriter } | undefined;
let stack: Stack | undefined;

beforeAll(async () => {
  const problems = await checkPrerequisites();
  if (problems.length) throw new Error(`kernel data test cannot run: ${problems.join('; ')}`);
  for (const a of [HOST, STACK]) assertBenchmarkAddress(a);
  const id = nextId();
  ns = nsName('data', id);
  await createNs(ns);
  dir = mkdtempSync(join(tmpdir(), 'wtcp-kdata-'));
  tap = await TapLink.open({ name: tapName(id), netns: ns, hostAddress: `${HOST}/24` });
  // headers only (Ethernet 14 + IP 20 + TCP up to 60): the file stays small
  cap = capturePcapFile(tap, join(dir, 'tap.pcap'), { snaplen: 128 });
  stack = new Stack({ personality: 'linux-6.18', interfaces: [{ ip: `${STACK}/24` }], link: cap.link });
}, 60_000);

afterAll(async () => {
  await stopAllChildren();
  stack?.close();
  await cap?.link.close(); // closes the TAP link and the file
  if (ns) await deleteNs(ns);
  if (dir && !process.env.KEEP_CAPTURE) rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** 4 MiB of AES-256-CTR keystream in 256 KiB pieces, hashed as produced. */
function* pieces(key: number): Generator<Uint8Array> {
  const cipher = createCipheriv('aes-256-ctr', Buffer.alloc(32, key), Buffer.alloc(16, 0));
  const zeros = Buffer.alloc(256 * 1024);
  for (let left = NBYTES; left > 0; left -= zeros.length) yield cipher.update(zeros.subarray(0, Math.min(left, zeros.length)));
}

interface StackSide {
  sent: number;
  sentSha: string;
  received: number;
  receivedSha: string;
  /** the peer's window in bytes (ConnField.SendWindow), sampled whenever data arrived */
  windows: number[];
  mss: number;
}

/** Data both ways on one stack connection: a writer (then shutdown SHUT_WR) and a reader until EOF. */
async function exchange(st: Stack, fd: number, key: number): Promise<StackSide> {
  const bsd = st.bsd;
  const conn = bsd.connIndex(fd);
  const out: StackSide = { sent: 0, sentSha: '', received: 0, receivedSha: '', windows: [], mss: st.core.x.connGet(conn, ConnField.Mss) };
  const writer = (async () => {
    const h = createHash('sha256');
    for (const p of pieces(key)) {
      h.update(p);
      out.sent += await bsd.sendAsync(fd, p);
    }
    bsd.shutdown(fd, 'SHUT_WR');
    out.sentSha = h.digest('hex');
  })();
  const reader = (async () => {
    const h = createHash('sha256');
    for (;;) {
      const d = await bsd.recvAsync(fd, 1 << 20);
      if (d.length === 0) break;
      out.windows.push(st.core.x.connGet(conn, ConnField.SendWindow));
      h.update(d);
      out.received += d.length;
    }
    out.receivedSha = h.digest('hex');
  })();
  await Promise.all([writer, reader]);
  return out;
}

interface TcpInfo {
  state: number;
  options: number;
  snd_wscale: number;
  rcv_wscale: number;
  snd_mss: number;
  rcv_mss: number;
  total_retrans: number;
  bytes_acked: number;
  bytes_received: number;
}

interface PeerResult {
  local: string;
  peer: string;
  sent: number;
  sent_sha256: string | null;
  send_error: string | null;
  received: number;
  received_sha256: string;
  ss_established: string | null;
  tcp_info_established: TcpInfo;
  tcp_info_end: TcpInfo;
}

async function peerResult(child: Child): Promise<PeerResult> {
  await child.waitForLine('its result', (l) => l.startsWith('{"result"'), 120_000);
  const line = child.lines.find((l) => l.startsWith('{"result"')) as string;
  return (JSON.parse(line) as { result: PeerResult }).result;
}

/** What `ss -tine` says about one connection. */
function parseSs(entry: string | null): { state: string; ts: boolean; sack: boolean; wscale: [number, number] | undefined; mss: number } {
  expect(entry, 'the connection in `ss -tine`').toBeTruthy();
  const e = entry as string;
  const ws = /\bwscale:(\d+),(\d+)/.exec(e);
  return {
    state: e.split(/\s+/)[0] as string,
    ts: /(^|\s)ts(\s|$)/.test(e),
    sack: /(^|\s)sack(\s|$)/.test(e),
    wscale: ws ? [Number(ws[1]), Number(ws[2])] : undefined,
    mss: Number(/\bmss:(\d+)/.exec(e)?.[1] ?? NaN),
  };
}

/** A handshake segment as tcpdump prints it from the capture. */
interface SynLine {
  src: string;
  dst: string;
  flags: string;
  mss: number | undefined;
  sackOK: boolean;
  ts: boolean;
  wscale: number | undefined;
}

async function synsInCapture(file: string): Promise<SynLine[]> {
  const out = await run('tcpdump', ['-r', file, '-nn', '-tt', 'tcp[tcpflags] & tcp-syn != 0'], 30_000);
  const syns: SynLine[] = [];
  for (const line of out.split('\n')) {
    const m = /IP (\S+) > (\S+): Flags \[([^\]]+)\].*options \[([^\]]*)\]/.exec(line);
    if (!m) continue;
    const opts = m[4] as string;
    syns.push({
      src: (m[1] as string),
      dst: (m[2] as string).replace(/:$/, ''),
      flags: m[3] as string,
      mss: /\bmss (\d+)/.test(opts) ? Number(/\bmss (\d+)/.exec(opts)![1]) : undefined,
      sackOK: /\bsackOK\b/.test(opts),
      ts: /\bTS val \d+ ecr \d+/.test(opts),
      wscale: /\bwscale (\d+)/.test(opts) ? Number(/\bwscale (\d+)/.exec(opts)![1]) : undefined,
    });
  }
  return syns;
}

/** The largest TCP payload each source (ip.port) sent, from the capture (lengths from tcpdump). */
async function largestSegments(file: string): Promise<Map<string, number>> {
  const out = await run('tcpdump', ['-r', file, '-nn', 'tcp'], 60_000);
  const max = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /IP (\S+) > \S+: Flags .*length (\d+)/.exec(line);
    if (!m) continue;
    const n = Number(m[2]);
    if (n > (max.get(m[1] as string) ?? 0)) max.set(m[1] as string, n);
  }
  return max;
}

describe('the stack and the Linux kernel over a TAP device: data both ways, options negotiated', () => {
  it('4 MiB each way on two connections at once (kernel client -> stack, stack -> kernel server)', async () => {
    const st = stack as Stack;
    const bsd = st.bsd;
    const nsSys = await getSysctls(ns, ['net.ipv4.tcp_rmem', 'net.core.rmem_max', 'net.ipv4.tcp_timestamps', 'net.ipv4.tcp_sack', 'net.ipv4.tcp_window_scaling']);
    // what each side should offer: Linux's tcp_select_initial_window, ilog2(max(tcp_rmem[2], rmem_max)) - 15
    const kernelRmemMax = Math.max(Number(nsSys['net.ipv4.tcp_rmem']?.split(/\s+/)[2]), Number(nsSys['net.core.rmem_max']));
    const kernelWs = Math.min(14, Math.max(0, Math.floor(Math.log2(kernelRmemMax)) - 15));
    const stackWs = linuxRcvWscale(Number((st.sysctl.get('net.ipv4.tcp_rmem') as number[])[2]));
    expect(nsSys['net.ipv4.tcp_timestamps'], 'kernel timestamps on').toBe('1');
    expect(nsSys['net.ipv4.tcp_sack'], 'kernel SACK on').toBe('1');
    expect(nsSys['net.ipv4.tcp_window_scaling'], 'kernel window scaling on').toBe('1');

    // the kernel listener first, then the stack's listener and the kernel client
    const server = spawnInNs('kernel server', ns, PYTHON, [PEER_SCRIPT, 'server', HOST, String(KERNEL_PORT), String(NBYTES), '2', String(SERVER_MAXSEG)]);
    await server.waitForLine('listening', (l) => l.includes('"listening"'), 20_000);
    const lfd = bsd.socket('AF_INET', 'SOCK_STREAM');
    bsd.bind(lfd, { address: '0.0.0.0', port: STACK_PORT });
    bsd.listen(lfd, 8);
    const client = spawnInNs('kernel client', ns, PYTHON, [PEER_SCRIPT, 'client', STACK, String(STACK_PORT), String(NBYTES), '1', String(CLIENT_MAXSEG)]);
    const cfd = bsd.socket('AF_INET', 'SOCK_STREAM');
    const [accepted] = await Promise.all([bsd.acceptAsync(lfd), bsd.connectAsync(cfd, { address: HOST, port: KERNEL_PORT })]);
    expect(accepted.address).toBe(HOST);
    const [passive, active, kClient, kServer] = await Promise.all([
      exchange(st, accepted.fd, 0x51),
      exchange(st, cfd, 0x52),
      peerResult(client),
      peerResult(server),
    ]);
    cap!.file.flush();

    // --- data, both ways, both connections: what one end sent is what the other received
    for (const [name, s, k] of [['kernel client <-> stack listener', passive, kClient], ['stack client <-> kernel listener', active, kServer]] as const) {
      expect(k.send_error, `${name}: kernel send`).toBeNull();
      expect(s.sent, `${name}: stack sent`).toBe(NBYTES);
      expect(k.received, `${name}: kernel received`).toBe(NBYTES);
      expect(k.received_sha256, `${name}: stack -> kernel sha256`).toBe(s.sentSha);
      expect(k.sent, `${name}: kernel sent`).toBe(NBYTES);
      expect(s.received, `${name}: stack received`).toBe(NBYTES);
      expect(s.receivedSha, `${name}: kernel -> stack sha256`).toBe(k.sent_sha256);
    }
    expect(kClient.local.split(':')[0]).toBe(HOST);
    expect(kClient.peer).toBe(`${STACK}:${STACK_PORT}`);
    expect(kServer.local).toBe(`${HOST}:${KERNEL_PORT}`);
    expect(kServer.peer.split(':')[0]).toBe(STACK);

    if (process.env.DEBUG_KDATA) console.log(JSON.stringify([kClient, kServer], null, 1));
    // --- the kernel's view: ss -tine and TCP_INFO on both connections
    for (const [name, k, maxseg] of [['kernel client', kClient, CLIENT_MAXSEG], ['kernel server', kServer, SERVER_MAXSEG]] as const) {
      const ss = parseSs(k.ss_established);
      expect(ss.state, `${name}: ss state`).toBe('ESTAB');
      expect(ss.ts, `${name}: ss shows ts (${k.ss_established})`).toBe(true);
      expect(ss.sack, `${name}: ss shows sack`).toBe(true);
      // wscale:<the stack's shift, used on what the kernel sends... as ss prints snd_wscale first>,<its own>
      expect(ss.wscale, `${name}: ss wscale (${k.ss_established})`).toEqual([stackWs, kernelWs]);
      // the kernel sends at most its own TCP_MAXSEG less the timestamp option
      expect(ss.mss, `${name}: ss mss`).toBe(maxseg - TS_OPTION);
      const ti = k.tcp_info_established;
      expect(ti.options & 7, `${name}: TCPI_OPT_TIMESTAMPS|SACK|WSCALE`).toBe(7);
      expect([ti.snd_wscale, ti.rcv_wscale]).toEqual([stackWs, kernelWs]);
      expect(ti.snd_mss).toBe(maxseg - TS_OPTION);
      // the stack's segments as the kernel received them: at most the MSS the kernel announced
      expect(k.tcp_info_end.rcv_mss, `${name}: largest segment the kernel saw from the stack`).toBeLessThanOrEqual(maxseg - TS_OPTION);
      expect(k.tcp_info_end.state, `${name}: the kernel's socket is closed (TCP_CLOSE) after both FINs`).toBe(7);
      // after the transfer, in the kernel's counts (sequence space: the FIN counts one, and the
      // active opener's SYN one more in bytes_acked): the stack's data and FIN all arrived, and the
      // stack acknowledged all the kernel's data and its FIN
      expect(k.tcp_info_end.bytes_received, `${name}: tcpi_bytes_received`).toBe(NBYTES + 1);
      expect(k.tcp_info_end.bytes_acked, `${name}: tcpi_bytes_acked`).toBe(NBYTES + (name === 'kernel client' ? 2 : 1));
    }

    // --- the stack's view: the handshakes in the capture
    const file = cap!.file.path;
    const syns = await synsInCapture(file);
    const kClientAddr = `${kClient.local.replace(':', '.')}`;
    const stackClientAddr = kServer.peer.replace(':', '.');
    // one SYN and one SYN-ACK per connection (a retransmission on a loaded machine must say the same)
    const groups = new Map<string, SynLine[]>();
    for (const x of syns) groups.set(`${x.src} ${x.flags}`, [...(groups.get(`${x.src} ${x.flags}`) ?? []), x]);
    expect([...groups.keys()].sort(), `handshake segments in the capture: ${JSON.stringify(syns)}`).toEqual(
      [`${kClientAddr} S`, `${STACK}.${STACK_PORT} S.`, `${stackClientAddr} S`, `${HOST}.${KERNEL_PORT} S.`].sort(),
    );
    for (const g of groups.values()) for (const x of g) expect(x).toEqual(g[0]);
    const synOf = (src: string, flags: string) => (groups.get(`${src} ${flags}`) as SynLine[])[0];
    // connection 1: the kernel's SYN, the stack's SYN-ACK
    const kSyn = synOf(kClientAddr, 'S');
    const sSynAck = synOf(`${STACK}.${STACK_PORT}`, 'S.');
    // connection 2: the stack's SYN, the kernel's SYN-ACK
    const sSyn = synOf(stackClientAddr, 'S');
    const kSynAck = synOf(`${HOST}.${KERNEL_PORT}`, 'S.');
    expect(kSyn).toMatchObject({ mss: CLIENT_MAXSEG, sackOK: true, ts: true, wscale: kernelWs });
    expect(kSynAck).toMatchObject({ mss: SERVER_MAXSEG, sackOK: true, ts: true, wscale: kernelWs });
    // the stack offers the link's MSS (1500 - 40), SACK, timestamps and its own window scale
    expect(sSynAck).toMatchObject({ mss: 1460, sackOK: true, ts: true, wscale: stackWs });
    expect(sSyn).toMatchObject({ mss: 1460, sackOK: true, ts: true, wscale: stackWs });

    // the stack honours the kernel's MSS: its effective MSS is the kernel's less the TS option, and
    // no segment it sent was larger (nor one the kernel sent larger than the kernel's own)
    expect(passive.mss, 'stack MSS towards the kernel client').toBe(CLIENT_MAXSEG - TS_OPTION);
    expect(active.mss, 'stack MSS towards the kernel server').toBe(SERVER_MAXSEG - TS_OPTION);
    const largest = await largestSegments(file);
    expect(largest.get(`${STACK}.${STACK_PORT}`), 'largest segment the stack sent to the kernel client').toBe(CLIENT_MAXSEG - TS_OPTION);
    expect(largest.get(stackClientAddr), 'largest segment the stack sent to the kernel server').toBe(SERVER_MAXSEG - TS_OPTION);
    expect(largest.get(kClientAddr), 'largest segment from the kernel client').toBeLessThanOrEqual(CLIENT_MAXSEG - TS_OPTION);
    expect(largest.get(`${HOST}.${KERNEL_PORT}`), 'largest segment from the kernel server').toBeLessThanOrEqual(SERVER_MAXSEG - TS_OPTION);

    // the stack applies the kernel's window scale: the peer's window in bytes is a multiple of
    // 2^kernelWs, and grew beyond what 16 bits can say
    for (const [name, s] of [['passive', passive], ['active', active]] as const) {
      expect(s.windows.length).toBeGreaterThan(0);
      expect(s.windows.every((w) => w % (1 << kernelWs) === 0), `${name}: windows ${s.windows.slice(0, 8)}`).toBe(true);
      expect(Math.max(...s.windows), `${name}: largest window the kernel offered`).toBeGreaterThan(65535);
    }
    // the stack's ends close cleanly too: one side of each connection waits in TIME-WAIT, the other is closed
    const conns = [accepted.fd, cfd].map((fd) => bsd.connIndex(fd));
    const stateOf = (conn: number) => st.core.x.connGet(conn, ConnField.State);
    const deadline = Date.now() + 30_000;
    while (!conns.every((conn) => [ConnState.TimeWait, ConnState.Closed].includes(stateOf(conn))) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(conns.map(stateOf).every((x) => x === ConnState.TimeWait || x === ConnState.Closed), `stack states ${conns.map(stateOf)}`).toBe(true);
    const c = st.counters();
    expect(c.TcpEstabResets).toBe(0);
    expect(c.TcpOutRsts).toBe(0);
    expect(st.rxDropped).toBe(0);
    bsd.close(accepted.fd);
    bsd.close(cfd);
    bsd.close(lfd);
    await client.exited;
    await server.exited;
    expect(client.exitCode).toBe(0);
    expect(server.exitCode).toBe(0);
  }, 180_000);
});
