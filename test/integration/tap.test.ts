/**
 * TapLink against the real Linux kernel.
 *
 * Needs: Linux, root (CAP_NET_ADMIN), /dev/net/tun, iproute2 (`ip`), procps (`sysctl`),
 * iputils-ping (`ping`), and the addon built (`npm run build:native`). Without them the tests FAIL
 * with a message saying what is missing; they never skip.
 *
 * Network safety: the TAP device is moved into a network namespace this file creates (unique name),
 * only 198.18.7.0/24 (inside the 198.18.0.0/15 benchmark range) is used, and the namespace is deleted
 * in afterAll whatever happened.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TapLink } from '../../src/links/tap.js';

const TAG = `${process.pid}${Math.floor(Math.random() * 0x100).toString(16).padStart(2, '0')}`;
const NS = `wtcp-tap-${TAG}`;
const DEV = `wtap${TAG}`.slice(0, 15);
const HOST_IP = '198.18.7.1';
const OUR_IP = '198.18.7.2';
const OUR_MAC = '02:00:00:00:07:02';

// ------------------------------------------------------------------------------------------------
// helpers

function sh(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(file: string, args: string[]): boolean {
  return spawnSync(file, args, { stdio: 'ignore' }).status === 0;
}

function preflight(): void {
  if (process.platform !== 'linux') throw new Error(`TAP test needs Linux, this is ${process.platform}`);
  if (process.getuid?.() !== 0) {
    throw new Error(
      'TAP test must run as root: it creates a network namespace and a TAP device (CAP_NET_ADMIN). ' +
        'Run it as root (CI: a root container with /dev/net/tun).',
    );
  }
  if (!existsSync('/dev/net/tun')) {
    throw new Error(
      'TAP test needs /dev/net/tun: load the tun module (modprobe tun) or pass --device /dev/net/tun to the container',
    );
  }
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['sysctl', 'procps'],
    ['ping', 'iputils-ping'],
  ] as const) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) {
      throw new Error(`TAP test needs '${tool}': apt-get install -y ${pkg}`);
    }
  }
}

const macBytes = (s: string): number[] => s.split(':').map((h) => parseInt(h, 16));
const ipBytes = (s: string): number[] => s.split('.').map(Number);
const macStr = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
const ipStr = (b: Uint8Array): string => [...b].join('.');

/** Internet checksum (RFC 1071) of bytes [start, end). */
function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) & 1) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function arpFrame(op: 1 | 2, dstMac: string, sha: string, spa: string, tha: string, tpa: string): Uint8Array {
  const f = new Uint8Array(42);
  const dv = new DataView(f.buffer);
  f.set(macBytes(dstMac), 0);
  f.set(macBytes(sha), 6);
  dv.setUint16(12, 0x0806);
  dv.setUint16(14, 1); // Ethernet
  dv.setUint16(16, 0x0800); // IPv4
  f[18] = 6;
  f[19] = 4;
  dv.setUint16(20, op);
  f.set(macBytes(sha), 22);
  f.set(ipBytes(spa), 28);
  f.set(macBytes(tha), 32);
  f.set(ipBytes(tpa), 38);
  return f;
}

function icmpEchoRequest(dstMac: string, id: number, seq: number, payload: Uint8Array): Uint8Array {
  const ipLen = 20 + 8 + payload.length;
  const f = new Uint8Array(14 + ipLen);
  const dv = new DataView(f.buffer);
  f.set(macBytes(dstMac), 0);
  f.set(macBytes(OUR_MAC), 6);
  dv.setUint16(12, 0x0800);
  f[14] = 0x45;
  dv.setUint16(16, ipLen);
  dv.setUint16(18, 0x1234); // IP id
  dv.setUint16(20, 0x4000); // DF
  f[22] = 64; // TTL
  f[23] = 1; // ICMP
  f.set(ipBytes(OUR_IP), 26);
  f.set(ipBytes(HOST_IP), 30);
  dv.setUint16(24, checksum(f, 14, 34));
  f[34] = 8; // echo request
  dv.setUint16(38, id);
  dv.setUint16(40, seq);
  f.set(payload, 42);
  dv.setUint16(36, checksum(f, 34, f.length));
  return f;
}

const ethType = (f: Uint8Array): number => (f.length >= 14 ? (f[12]! << 8) | f[13]! : -1);
const isArp = (f: Uint8Array, op: number): boolean => ethType(f) === 0x0806 && f.length >= 42 && f[21] === op;
const isIcmp = (f: Uint8Array, type: number): boolean =>
  ethType(f) === 0x0800 && f.length >= 42 && f[23] === 1 && f[14 + ((f[14]! & 15) << 2)] === type;

function describeFrame(f: Uint8Array): string {
  const t = ethType(f);
  if (t === 0x0806 && f.length >= 42) {
    return `ARP op ${f[21]} ${ipStr(f.subarray(28, 32))} -> ${ipStr(f.subarray(38, 42))}`;
  }
  if (t === 0x0800 && f.length >= 34) {
    return `IPv4 proto ${f[23]} ${ipStr(f.subarray(26, 30))} -> ${ipStr(f.subarray(30, 34))}`;
  }
  return `ethertype 0x${t.toString(16)} (${f.length} bytes)`;
}

/** Copies of every received frame, and a way to wait for one. */
class Inbox {
  readonly frames: Uint8Array[] = [];
  #waiters: Array<() => void> = [];

  push(frame: Uint8Array): void {
    this.frames.push(frame.slice());
    for (const w of this.#waiters.splice(0)) w();
  }

  async waitFor(what: string, pred: (f: Uint8Array) => boolean, ms = 5000, from = 0): Promise<Uint8Array> {
    const deadline = Date.now() + ms;
    let i = from;
    for (;;) {
      for (; i < this.frames.length; i++) if (pred(this.frames[i]!)) return this.frames[i]!;
      const left = deadline - Date.now();
      if (left <= 0) {
        const seen = this.frames.slice(from).map(describeFrame);
        throw new Error(`timed out waiting for ${what}; received instead: [${seen.join('; ')}]`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

// ------------------------------------------------------------------------------------------------

describe('TapLink (Linux TAP, own network namespace)', () => {
  let link: TapLink | undefined;
  let nsCreated = false;
  let hostMac = '';
  const inbox = new Inbox();
  // A setup failure (not root, no /dev/net/tun, missing tool) fails every test with its message,
  // rather than letting them show as skipped.
  let setupError: unknown;
  const ready = (): TapLink => {
    if (setupError !== undefined) throw setupError;
    return link!;
  };

  beforeAll(async () => {
    try {
      await setup();
    } catch (e) {
      setupError = e;
    }
  });

  async function setup(): Promise<void> {
    preflight();
    sh('ip', ['netns', 'add', NS]);
    nsCreated = true;
    link = await TapLink.open({ name: DEV, netns: NS, hostAddress: `${HOST_IP}/24`, exclusive: true });
    link.onReceive((frame) => {
      inbox.push(frame);
      // Answer the kernel's ARP requests for our address, as a host would.
      if (isArp(frame, 1) && ipStr(frame.subarray(38, 42)) === OUR_IP) {
        const asker = macStr(frame.subarray(22, 28));
        link!.send(arpFrame(2, asker, OUR_MAC, OUR_IP, asker, ipStr(frame.subarray(28, 32))));
      }
    });
    const info = JSON.parse(sh('ip', ['-n', NS, '-j', 'link', 'show', 'dev', DEV])) as Array<{ address: string }>;
    hostMac = info[0]!.address;
  }

  afterAll(() => {
    // Close first: the kernel deletes the (non-persistent) device with our fd. Then the namespace.
    try {
      link?.close();
    } finally {
      if (nsCreated) sh('ip', ['netns', 'del', NS]);
      // Belt and braces: never leave our uniquely named device behind in the root namespace.
      if (tryRun('ip', ['link', 'show', 'dev', DEV])) tryRun('ip', ['link', 'del', 'dev', DEV]);
    }
  });

  it('attaches the device, moves it into the namespace and configures the kernel side', () => {
    const link = ready();
    expect(link.name).toBe(DEV);
    expect(link.netns).toBe(NS);
    expect(link.mtu).toBe(1500);
    expect(tryRun('ip', ['link', 'show', 'dev', DEV])).toBe(false); // not in the root namespace
    const addr = sh('ip', ['-n', NS, '-o', '-4', 'addr', 'show', 'dev', DEV]);
    expect(addr).toContain(`inet ${HOST_IP}/24`);
    expect(sh('ip', ['-n', NS, '-o', 'link', 'show', 'dev', DEV])).toMatch(/[<,]UP[,>]/);
    const v6 = sh('ip', ['netns', 'exec', NS, 'sysctl', '-n', `net/ipv6/conf/${DEV}/disable_ipv6`]);
    expect(v6.trim()).toBe('1');
    expect(hostMac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it('gets the kernel ARP reply to a hand-built ARP request', async () => {
    const link = ready();
    const from = inbox.frames.length;
    const tx = link.txFrames;
    link.send(arpFrame(1, 'ff:ff:ff:ff:ff:ff', OUR_MAC, OUR_IP, '00:00:00:00:00:00', HOST_IP));
    expect(link.txFrames).toBe(tx + 1);
    const f = await inbox.waitFor(`ARP reply from ${HOST_IP}`, (x) => isArp(x, 2), 5000, from);
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    expect(macStr(f.subarray(0, 6))).toBe(OUR_MAC); // Ethernet destination
    expect(macStr(f.subarray(6, 12))).toBe(hostMac); // Ethernet source
    expect(dv.getUint16(12)).toBe(0x0806);
    expect(dv.getUint16(14)).toBe(1); // htype Ethernet
    expect(dv.getUint16(16)).toBe(0x0800); // ptype IPv4
    expect(f[18]).toBe(6);
    expect(f[19]).toBe(4);
    expect(dv.getUint16(20)).toBe(2); // reply
    expect(macStr(f.subarray(22, 28))).toBe(hostMac); // sha
    expect(ipStr(f.subarray(28, 32))).toBe(HOST_IP); // spa
    expect(macStr(f.subarray(32, 38))).toBe(OUR_MAC); // tha
    expect(ipStr(f.subarray(38, 42))).toBe(OUR_IP); // tpa
  });

  it('gets the kernel echo reply to a hand-built ICMP echo request', async () => {
    const link = ready();
    const from = inbox.frames.length;
    const payload = new Uint8Array(32).map((_, i) => (i * 7 + 3) & 0xff);
    link.send(icmpEchoRequest(hostMac, 0x7702, 1, payload));
    const f = await inbox.waitFor(`ICMP echo reply from ${HOST_IP}`, (x) => isIcmp(x, 0), 5000, from);
    const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
    expect(macStr(f.subarray(0, 6))).toBe(OUR_MAC);
    expect(macStr(f.subarray(6, 12))).toBe(hostMac);
    expect(f[14]).toBe(0x45);
    const ipLen = dv.getUint16(16);
    expect(ipLen).toBe(20 + 8 + payload.length);
    expect(f.length).toBeGreaterThanOrEqual(14 + ipLen);
    expect(checksum(f, 14, 34)).toBe(0); // header checksum verifies
    expect(ipStr(f.subarray(26, 30))).toBe(HOST_IP);
    expect(ipStr(f.subarray(30, 34))).toBe(OUR_IP);
    expect(f[34]).toBe(0); // echo reply
    expect(f[35]).toBe(0);
    expect(checksum(f, 34, 14 + ipLen)).toBe(0); // ICMP checksum verifies
    expect(dv.getUint16(38)).toBe(0x7702);
    expect(dv.getUint16(40)).toBe(1);
    expect([...f.subarray(42, 14 + ipLen)]).toEqual([...payload]);
  });

  it('delivers a 2000-frame burst from the kernel in batches', async () => {
    const link = ready();
    const N = 2000;
    // The kernel must not ARP for us during the burst, and the TAP queue (default 500) must hold it.
    sh('ip', ['-n', NS, 'neigh', 'replace', OUR_IP, 'lladdr', OUR_MAC, 'dev', DEV, 'nud', 'permanent']);
    sh('ip', ['-n', NS, 'link', 'set', 'dev', DEV, 'txqueuelen', String(2 * N)]);
    const from = inbox.frames.length;
    const frames0 = link.rxFrames;
    const batches0 = link.rxBatches;
    // spawnSync blocks this event loop: all N echo requests (preloaded, no waiting for replies) are
    // queued in the TAP device before the addon reads any, so they must come out in big batches.
    const p = spawnSync(
      'ip',
      ['netns', 'exec', NS, 'ping', '-n', '-q', '-c', String(N), '-l', String(N), '-i', '0', '-W', '0.2', OUR_IP],
      { encoding: 'utf8', timeout: 20_000 },
    );
    expect(p.error).toBeUndefined();
    expect(p.stdout).toContain(`${N} packets transmitted`);
    const isBurst = (f: Uint8Array): boolean =>
      isIcmp(f, 8) && ipStr(f.subarray(26, 30)) === HOST_IP && ipStr(f.subarray(30, 34)) === OUR_IP;
    const deadline = Date.now() + 10_000;
    let got = 0;
    while (Date.now() < deadline) {
      got = inbox.frames.slice(from).filter(isBurst).length;
      if (got >= N) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const frames = link.rxFrames - frames0;
    const batches = link.rxBatches - batches0;
    expect(got).toBe(N);
    expect(frames).toBeGreaterThanOrEqual(N);
    expect(link.rxTruncated).toBe(0);
    expect(batches).toBeGreaterThan(0);
    expect(batches).toBeLessThan(frames); // one JS call per batch, not per frame
    expect(batches).toBeLessThanOrEqual(Math.ceil(N / 16)); // in practice ceil(N / 256)
  });
});

describe('TapLink errors', () => {
  it('rejects a device name longer than IFNAMSIZ with a clear Error', async () => {
    const err: unknown = await TapLink.open({ name: 'wtcp-this-name-is-far-too-long' }).then(
      () => new Error('open unexpectedly succeeded'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/^TAP: invalid device name "wtcp-this-name-is-far-too-long": longer than 15 bytes/);
    expect((err as NodeJS.ErrnoException).code).toBe('EINVAL');
  });

  it('says "run as root or grant CAP_NET_ADMIN" when the caller lacks the capability', () => {
    if (process.getuid?.() !== 0) throw new Error('this check runs as root and drops to uid 65534 (nobody)');
    if (!existsSync('/dev/net/tun')) throw new Error('this check needs /dev/net/tun (modprobe tun)');
    // Load the addon as nobody from a world-readable copy; attaching a new device then fails EPERM.
    const built = fileURLToPath(new URL('../../native/build/Release/wtcp_tap.node', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'wtcp-tap-'));
    try {
      chmodSync(dir, 0o755);
      const copy = join(dir, 'wtcp_tap.node');
      copyFileSync(built, copy);
      chmodSync(copy, 0o644);
      const script =
        'try { require(process.argv[1]).open(process.argv[2], true); console.log("{}") }' +
        ' catch (e) { console.log(JSON.stringify({ message: e.message, code: e.code })) }';
      const name = `wtpe${TAG}`.slice(0, 15);
      const p = spawnSync(process.execPath, ['-e', script, copy, name], {
        uid: 65534,
        gid: 65534,
        cwd: dir,
        encoding: 'utf8',
      });
      expect(p.error).toBeUndefined();
      const out = JSON.parse(p.stdout.trim()) as { message?: string; code?: string };
      // the ioctl fails EPERM; where /dev/net/tun itself is 0600 the open fails EACCES first
      const where = `(${name}|/dev/net/tun)`;
      expect(out.message).toMatch(new RegExp(`^TAP: permission denied opening ${where}: run as root or grant CAP_NET_ADMIN$`));
      expect(out.code).toMatch(/^(EPERM|EACCES)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
