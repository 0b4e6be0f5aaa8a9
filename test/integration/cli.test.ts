// `wtcp demo` (the listen-queue overflow per personality) and the README's example, run as
// separate processes from the built package (npm install builds dist/).
import { describe, it, expect } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = `${root}dist/cli.js`;

async function wtcp(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm install (it builds dist/)`);
  try {
    const r = await run(process.execPath, [cli, ...args], { cwd: root, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('wtcp demo', () => {
  it('shows each personality keeping its own number of connections', async () => {
    const r = await wtcp('demo', '--backlog', '3', '--json');
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout) as { personality: string; clients: { outcome: string }[] }[];
    const got = Object.fromEntries(results.map((x) => [x.personality, x.clients.map((c) => c.outcome)]));
    // Linux: b+1 = 4 completed, further SYNs dropped; FreeBSD: floor(3b/2)+1 = 5, the rest reset at
    // their ACK; 4.3BSD: floor(3*3/2)+1 = 5 counting half-open ones, the rest never answered
    expect(got['linux-5.4']).toEqual([...Array(4).fill('established'), ...Array(3).fill('no answer')]);
    expect(got['freebsd-12.1']).toEqual([...Array(5).fill('established'), ...Array(2).fill('reset')]);
    expect(got['4.3bsd']).toEqual([...Array(5).fill('established'), ...Array(2).fill('no answer')]);
  });

  it('prints the ss -lnt / netstat -L view and the counters in text mode', async () => {
    const r = await wtcp('demo', '--personality', 'linux-6.13', '--backlog', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/LISTEN\s+2\s+1\s+0\.0\.0\.0:80/);
    expect(r.stdout).toMatch(/TcpExtListenOverflows \+\d+/);
  });

  it('refuses a bad flag, value or personality with status 2 and a message', async () => {
    for (const args of [['demo', '--nope'], ['demo', '--backlog', 'x'], ['demo', '--personality', 'windows'], ['frobnicate']]) {
      const r = await wtcp(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^wtcp: /);
    }
  });

  it('has --help on every command', async () => {
    for (const args of [['--help'], ['demo', '--help'], ['sysctl', '--help'], ['presets', '--help']]) {
      const r = await wtcp(...args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/usage: wtcp/);
    }
  });

  it('wtcp sysctl lists defaults and rejects bad values with the errno', async () => {
    const ok = await wtcp('sysctl', '--personality', 'linux-4.14', 'net.core.somaxconn');
    expect(ok.stdout.trim()).toBe('net.core.somaxconn = 128');
    const bad = await wtcp('sysctl', '--personality', 'freebsd-12.1', 'kern.ipc.soacceptqueue=0');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/soacceptqueue/);
  });
});

describe('examples/listen-queue.mjs (the README example)', () => {
  it('runs and shows the third client dropped on linux-5.4 at backlog 1', async () => {
    const r = await run(process.execPath, [`${root}examples/listen-queue.mjs`], { cwd: root, timeout: 60_000 });
    expect(r.stdout).toMatch(/client 3: no SYN-ACK/);
    expect(r.stdout).toMatch(/ListenOverflows 1/);
    expect(r.stdout).toMatch(/accept\(\) -> \{ fd: 4/);
  });
});
