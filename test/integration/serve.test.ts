/**
 * `wtcp serve` and `wtcp relay` as a user runs them (separate processes from dist/cli.js), with the
 * host kernel's real clients on the other side: ping, curl, nc and tshark in a network namespace
 * this test creates, reaching the stack over a TAP device, and over relay + WebSocket + TAP; and a
 * listener with --accept-rate 0 and a small backlog, filled by real kernel clients, read back with
 * `wtcp stats`.
 *
 * Network safety: the TAP devices are moved into the namespace; only 198.18.64.0/22 is used, and
 * only inside it. The control endpoints and the relay listen on 127.0.0.1.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  checkPrerequisites, createNs, deleteNs, ipNetnsExec, nextId, nsName, tapName, run, PYTHON,
} from '../kernel/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = `${root}dist/cli.js`;
let ns = '';
let tmp = '';
const children: ChildProcess[] = [];

/** Starts a wtcp command; resolves with the process and its stdout once `ready` matches. */
function start(args: string[], ready: RegExp): Promise<{ child: ChildProcess; out: () => string; match: RegExpMatchArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`wtcp ${args[0]} did not start in 20 s: ${out}${err}`)), 20_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, out: () => out, match: m }); }
    });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`wtcp ${args[0]} exited with ${code}: ${out}${err}`)); });
  });
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) { resolve(child.exitCode); return; }
    child.removeAllListeners('exit');
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** tshark on a device of the namespace, writing `pcap`; resolves once it captures. */
async function startTshark(dev: string, pcap: string, filter: string): Promise<ChildProcess> {
  const cap = spawn('ip', ['netns', 'exec', ns, 'tshark', '-i', dev, '-w', pcap, '-f', filter], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(cap);
  let capErr = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`tshark did not start: ${capErr}`)), 15_000);
    cap.stderr!.on('data', (d: Buffer) => { capErr += d.toString(); if (/Capturing on/.test(capErr)) { clearTimeout(t); resolve(); } });
  });
  await new Promise((r) => setTimeout(r, 1000)); // "Capturing on" comes a little before the capture does
  return cap;
}

function wtcp(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { cwd: root, timeout: 30_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof (e as { code?: unknown }).code === 'number' ? (e as { code: number }).code : -1) : 0, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm install (it builds dist/)`);
  const problems = await checkPrerequisites();
  for (const tool of ['curl', 'nc', 'tshark', 'ping']) {
    const found = await run('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);
    if (!found) problems.push(`'${tool}' not found: apt-get install ${tool === 'nc' ? 'netcat-openbsd' : tool === 'ping' ? 'iputils-ping' : tool}`);
  }
  if (problems.length) throw new Error(`wtcp serve test cannot run: ${problems.join('; ')}`);
  ns = nsName('serve', nextId());
  await createNs(ns);
  tmp = mkdtempSync(join(tmpdir(), 'wtcp-serve-'));
}, 60_000);

afterAll(async () => {
  await Promise.all(children.map(stop));
  if (ns) await deleteNs(ns);
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('wtcp serve over TAP, real clients in a namespace', () => {
  let control = '';
  beforeAll(async () => {
    const s = await start(
      ['serve', '--tap', tapName(nextId()), '--netns', ns, '--host-ip', '198.18.64.1/24', '--ip', '198.18.64.2/24',
        '--personality', 'linux-6.18', '--control', '127.0.0.1:0'],
      /control at http:\/\/(127\.0\.0\.1:\d+)\/stats/,
    );
    control = s.match[1]!;
  }, 30_000);

  it('answers ping', async () => {
    const out = await ipNetnsExec(ns, ['ping', '-c', '3', '-i', '0.2', '-W', '2', '198.18.64.2'], 20_000);
    expect(out).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
  });

  it('curl gets the greeting (naming curl\'s own address) and a 20 MB body, intact in size', async () => {
    const hello = await ipNetnsExec(ns, ['curl', '-sS', '-m', '10', 'http://198.18.64.2/hi']);
    expect(hello).toMatch(/^hello from wtcp \(linux-6\.18\) at 198\.18\.64\.2:80\nyou are 198\.18\.64\.1:\d+; you asked for GET \/hi\n$/);
    const big = await ipNetnsExec(ns, ['curl', '-sS', '-m', '60', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', 'http://198.18.64.2/bytes/20000000'], 70_000);
    expect(big).toBe('200 20000000');
    const up = await ipNetnsExec(ns, ['sh', '-c', 'head -c 3000000 /dev/zero | curl -sS -m 30 --data-binary @- http://198.18.64.2/upload'], 40_000);
    expect(up).toBe('received 3000000 bytes\n');
  }, 120_000);

  it('tshark on the kernel\'s side sees a clean handshake with the negotiated options and no bad checksum', async () => {
    const pcap = join(tmp, 'kernel-side.pcap');
    const tap = (await ipNetnsExec(ns, ['ip', '-o', 'link', 'show'])).split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]).find((n) => n?.startsWith('wkc'));
    expect(tap).toBeDefined();
    const cap = await startTshark(tap!, pcap, 'tcp port 80');
    await ipNetnsExec(ns, ['curl', '-sS', '-m', '10', '-o', '/dev/null', 'http://198.18.64.2/bytes/200000']);
    await new Promise((r) => setTimeout(r, 300));
    await stop(cap);
    const fields = await run('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields',
      '-e', 'ip.src', '-e', 'tcp.flags.str', '-e', 'tcp.options.mss_val', '-e', 'tcp.options.wscale.shift', '-e', 'tcp.options.sack_perm',
      '-e', 'tcp.options.timestamp.tsval', '-e', 'tcp.checksum.status', '-e', 'ip.checksum.status', '-e', '_ws.malformed', '-e', '_ws.expert.severity']);
    const rows = fields.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBeGreaterThan(100);
    const synAck = rows.find((r) => r[0] === '198.18.64.2' && /S/.test(r[1]!) && /A/.test(r[1]!));
    expect(synAck, 'the stack\'s SYN-ACK').toBeDefined();
    expect(synAck![2]).toBe('1460');
    expect(Number(synAck![3])).toBeGreaterThan(0); // window scaling answered
    expect(synAck![4]).not.toBe(''); // SACK permitted
    expect(synAck![5]).not.toBe(''); // timestamps
    // every checksum of the stack's good (status 1 = Good with checking on; the kernel's own may be
    // left to offload, so only the stack's are checked)
    for (const r of rows.filter((x) => x[0] === '198.18.64.2')) {
      expect(r[6]).toBe('1');
      expect(r[7]).toBe('1');
      expect(r[8]).toBe('');
    }
  }, 60_000);

  it('nc talks to an echo server (a second stack on its own TAP)', async () => {
    await start(['serve', '--tap', tapName(nextId()), '--netns', ns, '--host-ip', '198.18.65.1/24', '--ip', '198.18.65.2/24', '--app', 'echo'], /echo on 198\.18\.65\.2:7/);
    const out = await ipNetnsExec(ns, ['sh', '-c', 'printf "echo me, wtcp\\n" | nc -N -w 5 198.18.65.2 7'], 20_000);
    expect(out).toBe('echo me, wtcp\n');
  }, 40_000);

  it('wtcp stats prints the listener as ss -lnt does and the counters that moved', async () => {
    const r = await wtcp(['stats', '--control', control]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^http on 198\.18\.64\.2:80, linux-6\.18, backlog 128/);
    expect(r.stdout).toMatch(/LISTEN\s+0\s+128\s+0\.0\.0\.0:80/);
    expect(r.stdout).toMatch(/TcpPassiveOpens\s+[1-9]/);
    expect(r.stdout).toMatch(/IcmpInEchos\s+3\b/);
    const j = await wtcp(['stats', '--control', control, '--json']);
    const snap = JSON.parse(j.stdout) as { accepted: number; counters: Record<string, number> };
    expect(snap.accepted).toBeGreaterThanOrEqual(4);
    expect(snap.counters.TcpInCsumErrors).toBe(0);
  });
});

describe('--accept-rate 0 with a small backlog, filled by real kernel clients', () => {
  it('linux-6.13, backlog 2: exactly backlog+1 clients connect, the rest get no SYN-ACK; stats show the queue', async () => {
    const s = await start(
      ['serve', '--tap', tapName(nextId()), '--netns', ns, '--host-ip', '198.18.66.1/24', '--ip', '198.18.66.2/24',
        '--personality', 'linux-6.13', '--backlog', '2', '--accept-rate', '0', '--control', '127.0.0.1:0'],
      /control at http:\/\/(127\.0\.0\.1:\d+)\/stats/,
    );
    // six kernel clients one after another (each waits for its connect or gives up after 3 s)
    const script = [
      'import socket, json',
      'out = []',
      'for i in range(6):',
      '    s = socket.socket(); s.settimeout(3)',
      '    try:',
      '        s.connect(("198.18.66.2", 80)); out.append("connected")',
      '    except socket.timeout: out.append("timeout")',
      '    except OSError as e: out.append("error %d" % e.errno)',
      '    globals().setdefault("keep", []).append(s)',
      'print(json.dumps(out))',
    ].join('\n');
    const res = JSON.parse(await ipNetnsExec(ns, [PYTHON, '-c', script], 60_000)) as string[];
    expect(res).toEqual(['connected', 'connected', 'connected', 'timeout', 'timeout', 'timeout']);
    const r = await wtcp(['stats', '--control', s.match[1]!, '--json']);
    const snap = JSON.parse(r.stdout) as { accepted: number; listeners: { acceptQueue: number; backlog: number }[]; counters: Record<string, number> };
    expect(snap.accepted).toBe(0);
    expect(snap.listeners[0]).toMatchObject({ acceptQueue: 3, backlog: 2 });
    expect(snap.counters.TcpExtListenOverflows).toBeGreaterThanOrEqual(3);
    expect(snap.counters.TcpExtListenDrops).toBe(snap.counters.TcpExtListenOverflows);
    await stop(s.child);
  }, 90_000);
});

describe('--accept-rate 0, freebsd-12.1, backlog 2: real kernel clients see FreeBSD\'s rules', () => {
  it('floor(3b/2)+1 = 4 connections stay; later clients complete the handshake and are then reset', async () => {
    const s = await start(
      ['serve', '--tap', tapName(nextId()), '--netns', ns, '--host-ip', '198.18.68.1/24', '--ip', '198.18.68.2/24',
        '--personality', 'freebsd-12.1', '--backlog', '2', '--accept-rate', '0', '--control', '127.0.0.1:0'],
      /control at http:\/\/(127\.0\.0\.1:\d+)\/stats/,
    );
    // each client connects, then waits up to 1 s for data: a reset shows up as ECONNRESET (104)
    const script = [
      'import socket, json, errno',
      'out = []; keep = []',
      'for i in range(6):',
      '    s = socket.socket(); s.settimeout(3)',
      '    try:',
      '        s.connect(("198.18.68.2", 80))',
      '    except socket.timeout: out.append("timeout"); continue',
      '    except OSError as e: out.append("connect error %s" % errno.errorcode.get(e.errno, e.errno)); continue',
      '    s.settimeout(1)',
      '    try:',
      '        d = s.recv(1); out.append("eof" if d == b"" else "data")',
      '    except socket.timeout: out.append("connected")',
      '    except OSError as e: out.append("reset" if e.errno == errno.ECONNRESET else "error %d" % e.errno)',
      '    keep.append(s)',
      'print(json.dumps(out))',
    ].join('\n');
    const res = JSON.parse(await ipNetnsExec(ns, [PYTHON, '-c', script], 60_000)) as string[];
    expect(res).toEqual(['connected', 'connected', 'connected', 'connected', 'reset', 'reset']);
    const r = await wtcp(['stats', '--control', s.match[1]!]);
    // FreeBSD's view of the queue: netstat -Lan's qlen/incqlen/maxqlen
    expect(r.stdout).toMatch(/tcp4\s+4\/0\/2\s+\*\.80/);
    await stop(s.child);
  }, 90_000);
});

describe('relay + WebSocket + TAP: the host kernel reaches a stack that only has a WebSocket', () => {
  it('curl in the namespace -> TAP -> wtcp relay -> ws -> wtcp serve, and back', async () => {
    const relay = await start(['relay', '--port', '0', '--tap', tapName(nextId()), '--netns', ns, '--host-ip', '198.18.67.1/24'], /wtcp relay: (ws:\/\/127\.0\.0\.1:\d+\/)/);
    await start(['serve', '--ws', relay.match[1]!, '--ip', '198.18.67.2/24', '--personality', 'freebsd-12.1'], /http on 198\.18\.67\.2:80 \(freebsd-12\.1/);
    const hello = await ipNetnsExec(ns, ['curl', '-sS', '-m', '10', 'http://198.18.67.2/via-relay'], 20_000);
    expect(hello).toMatch(/^hello from wtcp \(freebsd-12\.1\) at 198\.18\.67\.2:80\nyou are 198\.18\.67\.1:\d+; you asked for GET \/via-relay\n$/);
    const big = await ipNetnsExec(ns, ['curl', '-sS', '-m', '60', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', 'http://198.18.67.2/bytes/5000000'], 70_000);
    expect(big).toBe('200 5000000');
    const ping = await ipNetnsExec(ns, ['ping', '-c', '2', '-i', '0.2', '-W', '2', '198.18.67.2'], 20_000);
    expect(ping).toMatch(/2 received, 0% packet loss/);
    // an echo stack on the same relay, and tshark on the kernel's side of the relay's TAP
    await start(['serve', '--ws', relay.match[1]!, '--ip', '198.18.67.3/24', '--app', 'echo'], /echo on 198\.18\.67\.3:7/);
    const tap = (await ipNetnsExec(ns, ['ip', '-o', 'link', 'show'])).split('\n')
      .map((l) => /^\d+: ([^:@]+).*\n?/.exec(l)).filter((m) => m !== null).map((m) => m![1]!)
      .filter((n) => n.startsWith('wkc'));
    const pcap = join(tmp, 'relay-side.pcap');
    const cap = await startTshark(tap.at(-1)!, pcap, 'tcp port 7');
    const echoed = await ipNetnsExec(ns, ['sh', '-c', 'printf "through the relay\\n" | nc -N -w 5 198.18.67.3 7'], 20_000);
    expect(echoed).toBe('through the relay\n');
    await new Promise((r) => setTimeout(r, 300));
    await stop(cap);
    const rows = (await run('tshark', ['-r', pcap, '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-e', 'ip.src', '-e', 'tcp.flags.str', '-e', 'tcp.checksum.status', '-e', '_ws.malformed']))
      .trim().split('\n').map((l) => l.split('\t'));
    const fromStack = rows.filter((r) => r[0] === '198.18.67.3');
    expect(fromStack.some((r) => /A/.test(r[1]!) && /S/.test(r[1]!))).toBe(true);
    expect(fromStack.some((r) => /F/.test(r[1]!))).toBe(true);
    for (const r of fromStack) { expect(r[2]).toBe('1'); expect(r[3]).toBe(''); }
  }, 120_000);

  it('bad flags: a clear message and status 2; a missing relay: status 1 with the reason', async () => {
    const a = await wtcp(['serve', '--ip', '198.18.0.2/24']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/exactly one link/);
    const b = await wtcp(['serve', '--ws', 'ws://127.0.0.1:9/', '--ip', '198.18.0.2/24', '--app', 'gopher']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--app must be one of http, echo, discard/);
    const c = await wtcp(['serve', '--tap', 'x', '--ip', 'nonsense']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--ip wants an IPv4 address with a prefix/);
    const d = await wtcp(['relay', '--netns', 'x']);
    expect(d.code).toBe(2);
    const e = await wtcp(['stats', '--control', '127.0.0.1:9']);
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/cannot read http:\/\/127\.0\.0\.1:9\/stats/);
    for (const cmd of ['serve', 'relay', 'stats']) {
      const h = await wtcp([cmd, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`^usage: wtcp ${cmd}`));
    }
  }, 60_000);
});
