/**
 * `npm start` (`wtcp start`) end to end, as a user meets it: the command runs as its own process
 * (relay + server stack + page server, with the TAP bridge in a network namespace this test
 * creates), Debian's Chromium opens the printed URL, and the stack running in the page
 * - fetches from the server stack in Node over TCP through the relay,
 * - serves HTTP that curl on the host kernel's side fetches through TAP + relay + WebSocket,
 * - shows its listen queue filling to the personality's limit when it stops accepting.
 *
 * Network safety: the TAP lives in the namespace; 198.18.80.0/24 exists only there and in memory;
 * the page server listens on 127.0.0.1.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { launchChromium, type LaunchedBrowser } from '../helpers/chromium.js';
import { checkPrerequisites, createNs, deleteNs, ipNetnsExec, nextId, nsName, tapName, run } from '../kernel/netns.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = `${root}dist/cli.js`;
let ns = '';
let child: ChildProcess | undefined;
let url = '';
let chromium: LaunchedBrowser | undefined;
let page: Page | undefined;
const pageErrors: string[] = [];

beforeAll(async () => {
  for (const f of [cli, `${root}dist/web/index.html`]) if (!existsSync(f)) throw new Error(`${f} is missing: run npm install (it builds dist/)`);
  const problems = await checkPrerequisites();
  if (!(await run('sh', ['-c', 'command -v curl']).then(() => true, () => false))) problems.push("'curl' not found: apt-get install curl");
  if (problems.length) throw new Error(`npm start test cannot run: ${problems.join('; ')}`);
  ns = nsName('start', nextId());
  await createNs(ns);
  child = spawn(process.execPath, [cli, 'start', '--port', '0', '--tap', tapName(nextId()), '--netns', ns], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`wtcp start printed no URL in 20 s: ${out}`)), 20_000);
    child!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/.exec(out);
      if (m && /bridged to tap/.test(out)) { clearTimeout(t); resolve(m[1]!); }
    });
    child!.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    child!.once('exit', (c) => { clearTimeout(t); reject(new Error(`wtcp start exited with ${c}: ${out}`)); });
  });
  chromium = await launchChromium();
  page = await chromium.browser.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(url);
  await page.waitForFunction(() => /ready|failed/.test(document.getElementById('status')?.textContent ?? ''), undefined, { timeout: 30_000 });
}, 90_000);

afterAll(async () => {
  await chromium?.close();
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
  if (ns) await deleteNs(ns);
});

describe('npm start: a stack in the browser, a server stack in Node, the host kernel on a TAP', () => {
  it('the page\'s stack comes up on the relay with its own address', async () => {
    expect(await page!.textContent('#status')).toBe('ready');
    expect(pageErrors).toEqual([]);
    expect(await page!.textContent('#ip')).toBe('198.18.80.100/24');
  });

  it('the page fetches from the server stack in Node (GET over TCP, through the relay)', async () => {
    await page!.click('#fetch');
    await page!.waitForFunction(() => /hello|failed/.test(document.getElementById('fetched')?.textContent ?? ''), undefined, { timeout: 15_000 });
    const text = await page!.textContent('#fetched');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(text).toMatch(/hello from wtcp \(linux-5\.4\) at 198\.18\.80\.2:80\nyou are 198\.18\.80\.100:\d+; you asked for GET \//);
  });

  it('curl on the host kernel\'s side reaches the server stack and the page (TAP -> relay -> WebSocket)', async () => {
    const server = await ipNetnsExec(ns, ['curl', '-sS', '-m', '10', 'http://198.18.80.2/from-curl'], 20_000);
    expect(server).toMatch(/^hello from wtcp \(linux-5\.4\) at 198\.18\.80\.2:80\nyou are 198\.18\.80\.1:\d+; you asked for GET \/from-curl\n$/);
    const inPage = await ipNetnsExec(ns, ['curl', '-sS', '-m', '10', 'http://198.18.80.100/from-curl'], 20_000);
    expect(inPage).toMatch(/^hello from the browser stack \(linux-5\.4\) at 198\.18\.80\.100:80\nyou are 198\.18\.80\.1:\d+; you asked for GET \/from-curl; request 1\n$/);
    // the page counts the request once its socket has closed, which may come just after curl's exit
    await page!.waitForFunction(() => document.getElementById('served')?.textContent === '1', undefined, { timeout: 5000 });
  });

  it('with accept() paused, the page\'s queue fills to backlog+1 (linux-5.4, backlog 4) and overflows are counted', async () => {
    await page!.click('#accepting'); // untick: stop accepting
    await page!.click('#flood');     // the Node stack opens 10 connections to the page
    await page!.waitForFunction(() => document.getElementById('q-accept')?.textContent === '5' && Number(document.getElementById('q-overflows')?.textContent) > 0, undefined, { timeout: 20_000 });
    expect(await page!.textContent('#q-backlog')).toBe('4');
    // a kernel client now gets no answer from the page's full listener
    const r = await ipNetnsExec(ns, ['curl', '-sS', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', 'http://198.18.80.100/'], 10_000).then((o) => o, (e: Error) => e.message);
    expect(r).toMatch(/timed out|Connection timed out|000/);
    expect(pageErrors).toEqual([]);
  }, 40_000);
});
