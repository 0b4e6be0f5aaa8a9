/**
 * Network namespaces and child processes for the kernel-comparison harness.
 *
 * Owns: running `ip` / `sysctl` / `tcpdump` / helper scripts, naming and creating namespaces
 * (`wtcp-kc-<role>-<pid>-<n>`), deleting them (also stale ones left by a crashed earlier run), and
 * the prerequisite check (root, iproute2, tcpdump, python3). Every process started here is tracked by
 * pid and ended by pid, never by name.
 * Called by: kernel-target.ts, stack-target.ts, run-scenario.ts, capture.ts and the test file.
 *
 * Network safety: addresses are only ever configured inside namespaces created here, and only from
 * 198.18.0.0/15 (assertBenchmarkAddress).
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';

export const NS_PREFIX = 'wtcp-kc-';
/** TAP devices are created in the root namespace before they move: their names carry our pid too */
export const TAP_PREFIX = 'wkc';
export const PYTHON = '/usr/bin/python3';

const NS_NAME_RE = /^wtcp-kc-[a-z]+-(\d+)-\d+$/;
const TAP_NAME_RE = /^wkc(\d+)t\d+$/;

let nameCounter = 0;

/** A fresh, process-unique sequence number for names. */
export function nextId(): number {
  return ++nameCounter;
}

export function nsName(role: string, id: number): string {
  return `${NS_PREFIX}${role}-${process.pid}-${id}`;
}

/** At most 15 bytes: "wkc" + pid (<= 7 digits) + "t" + id (<= 4 digits). */
export function tapName(id: number): string {
  const name = `${TAP_PREFIX}${process.pid}t${id}`;
  if (name.length > 15) throw new Error(`tap name too long: ${name}`);
  return name;
}

/** 198.18.0.0/15 (RFC 2544 benchmarking) is the only range this harness may configure. */
export function assertBenchmarkAddress(cidrOrIp: string): void {
  const ip = cidrOrIp.split('/')[0]!;
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`not an IPv4 address: ${cidrOrIp}`);
  }
  if (!(parts[0] === 198 && (parts[1] === 18 || parts[1] === 19))) {
    throw new Error(`refusing to configure ${cidrOrIp}: only 198.18.0.0/15 is allowed in this harness`);
  }
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly stderr: string,
    cause: unknown,
  ) {
    super(`'${command}' failed: ${stderr.trim() || String((cause as Error)?.message ?? cause)}`);
    this.name = 'CommandError';
  }
}

/** Runs a command to completion and returns its stdout. */
export function run(file: string, args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new CommandError([file, ...args].join(' '), stderr ?? '', err));
      else resolve(stdout);
    });
  });
}

export function ipNetnsExec(ns: string, args: string[], timeoutMs?: number): Promise<string> {
  return run('ip', ['netns', 'exec', ns, ...args], timeoutMs);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    if (dir && isExecutable(`${dir}/${cmd}`)) return `${dir}/${cmd}`;
  }
  return undefined;
}

/**
 * Everything the harness needs, as a list of human-readable problems (empty = all good). The test
 * fails with these messages; it never skips.
 */
export async function checkPrerequisites(): Promise<string[]> {
  const problems: string[] = [];
  if (process.platform !== 'linux') problems.push(`needs Linux (this is ${process.platform})`);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push(`needs root (uid ${process.getuid()}): it creates network namespaces, veth pairs and TAP devices`);
  }
  if (!which('ip')) problems.push("'ip' not found: apt-get install iproute2");
  if (!which('tcpdump')) problems.push("'tcpdump' not found: apt-get install tcpdump");
  if (!which('sysctl')) problems.push("'sysctl' not found: apt-get install procps");
  if (!isExecutable(PYTHON)) problems.push(`${PYTHON} not found: apt-get install python3`);
  if (!existsSync('/dev/net/tun')) problems.push('/dev/net/tun missing: the stack target needs TAP devices');
  if (problems.length === 0) {
    // network namespaces must actually work (some containers forbid them)
    const probe = nsName('probe', nextId());
    try {
      await run('ip', ['netns', 'add', probe]);
    } catch (e) {
      problems.push(`cannot create a network namespace: ${(e as Error).message}`);
    } finally {
      await run('ip', ['netns', 'del', probe]).catch(() => undefined);
    }
  }
  return problems;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function killNsPids(ns: string): Promise<void> {
  const out = await run('ip', ['netns', 'pids', ns]).catch(() => '');
  for (const line of out.split('\n')) {
    const pid = Number(line.trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Deletes namespaces (and root-namespace TAP devices) with this harness's prefix whose creating
 * process is dead: leftovers of a crashed earlier run. Namespaces of live processes (a parallel run)
 * are left alone. Processes still inside a stale namespace were started by that run; they are
 * ended by pid.
 */
export async function cleanupStale(): Promise<string[]> {
  const removed: string[] = [];
  const list = await run('ip', ['netns', 'list']).catch(() => '');
  for (const line of list.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = NS_NAME_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await killNsPids(name);
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  const links = await run('ip', ['-o', 'link', 'show']).catch(() => '');
  for (const line of links.split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    if (!name) continue;
    const m = TAP_NAME_RE.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await run('ip', ['link', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/**
 * Deletes every namespace (and root-namespace TAP device) this process created that is still there:
 * the last sweep of a test run, for runs that never reached their own teardown.
 */
export async function cleanupOwn(): Promise<string[]> {
  const removed: string[] = [];
  const list = await run('ip', ['netns', 'list']).catch(() => '');
  for (const line of list.split('\n')) {
    const name = line.trim().split(/\s+/)[0] ?? '';
    const m = NS_NAME_RE.exec(name);
    if (!m || Number(m[1]) !== process.pid) continue;
    await deleteNs(name);
    removed.push(name);
  }
  const links = await run('ip', ['-o', 'link', 'show']).catch(() => '');
  for (const line of links.split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1];
    const m = name ? TAP_NAME_RE.exec(name) : null;
    if (!name || !m || Number(m[1]) !== process.pid) continue;
    await run('ip', ['link', 'del', name]).catch(() => undefined);
    removed.push(name);
  }
  return removed;
}

/** Resolves with `p`, or after `ms` with undefined (for teardown steps that must not hang a run). */
export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve(undefined), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/**
 * Creates a namespace with IPv6 off (no router solicitations, DAD or MLD in captures) and lo up.
 * `default.disable_ipv6` also covers devices moved in later (a TAP).
 */
export async function createNs(name: string): Promise<void> {
  if (!name.startsWith(NS_PREFIX)) throw new Error(`namespace ${name} lacks the ${NS_PREFIX} prefix`);
  await run('ip', ['netns', 'add', name]);
  if (existsSync('/proc/sys/net/ipv6')) {
    await setSysctls(name, { 'net.ipv6.conf.all.disable_ipv6': 1, 'net.ipv6.conf.default.disable_ipv6': 1 });
  }
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
}

/** Ends what is left inside and deletes the namespace; never throws. */
export async function deleteNs(name: string): Promise<void> {
  if (!name.startsWith(NS_PREFIX)) return;
  await killNsPids(name);
  await run('ip', ['netns', 'del', name]).catch(() => undefined);
}

/** True if the sysctl exists on this kernel (the set of names is the same in every namespace). */
export function sysctlExists(key: string): boolean {
  return existsSync('/proc/sys/' + key.replace(/\./g, '/'));
}

export async function setSysctls(ns: string, settings: Record<string, number | string>): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  if (args.length) await ipNetnsExec(ns, ['sysctl', '-q', '-w', ...args]);
}

/** Reads sysctls back (to record in the result what the run really used). */
export async function getSysctls(ns: string, keys: string[]): Promise<Record<string, string>> {
  const out = await ipNetnsExec(ns, ['sysctl', '-e', ...keys]).catch(() => '');
  const result: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^(\S+)\s*=\s*(.*)$/.exec(line.trim());
    if (m) result[m[1]!] = m[2]!;
  }
  return result;
}

/** `nstat`-style counters of a namespace from /proc/net/netstat and /proc/net/snmp ("TcpExtListenOverflows"). */
export async function readCounters(ns: string): Promise<Record<string, number>> {
  const text = await ipNetnsExec(ns, ['cat', '/proc/net/netstat', '/proc/net/snmp']).catch(() => '');
  const lines = text.split('\n');
  const counters: Record<string, number> = {};
  for (let i = 0; i + 1 < lines.length; i++) {
    const head = lines[i]!.split(/\s+/);
    const vals = lines[i + 1]!.split(/\s+/);
    if (head[0] !== vals[0] || !head[0]?.endsWith(':')) continue;
    const prefix = head[0].slice(0, -1);
    for (let k = 1; k < head.length; k++) {
      const v = Number(vals[k]);
      if (head[k] && Number.isFinite(v)) counters[prefix + head[k]] = v;
    }
    i++;
  }
  return counters;
}

/** A child process with a line reader on stdout and stderr kept for diagnostics. */
export class Child {
  readonly proc: ChildProcess;
  readonly lines: string[] = [];
  stderr = '';
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;
  #waiters: Array<() => void> = [];

  constructor(
    readonly label: string,
    file: string,
    args: string[],
  ) {
    this.proc = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exitCode = code;
        this.exitSignal = signal;
        live.delete(this);
        resolve();
        this.#wake();
      });
      this.proc.once('error', (err) => {
        this.stderr += `\n[spawn error] ${err.message}`;
        live.delete(this);
        resolve();
        this.#wake();
      });
    });
    createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      this.lines.push(line);
      this.#wake();
    });
    this.proc.stderr!.setEncoding('utf8');
    this.proc.stderr!.on('data', (d: string) => {
      this.stderr += d;
      this.#wake();
    });
  }

  get running(): boolean {
    return this.exitCode === null && this.exitSignal === null && live.has(this);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `pred` holds (checked on every stdout line / stderr chunk / exit); rejects on timeout or exit. */
  async waitFor(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred()) return;
      if (!this.running) {
        throw new Error(
          `${this.label} exited (code ${this.exitCode}, signal ${this.exitSignal}) before ${what}; stderr: ${this.stderr.trim().slice(-2000)}`,
        );
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.trim().slice(-2000)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 1000));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForLine(what: string, test: (line: string) => boolean, timeoutMs: number): Promise<void> {
    return this.waitFor(what, () => this.lines.some(test), timeoutMs);
  }

  /** Sends `signal` to this child's pid, then SIGKILL after graceMs if it has not exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
    if (!this.running || this.proc.pid === undefined) return;
    try {
      this.proc.kill(signal);
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        if (this.running) this.proc.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }, graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

const live = new Set<Child>();

/** Ends every child this module started that is still running (used by the test's afterAll). */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop('SIGKILL', 1000)));
}

/** Spawns `file args` inside namespace `ns` (through `ip netns exec`). */
export function spawnInNs(label: string, ns: string, file: string, args: string[]): Child {
  return new Child(label, 'ip', ['netns', 'exec', ns, file, ...args]);
}
