// `npm run bench:net` (root, Linux): the stack on real links, each figure beside a baseline measured
// in the same run, variants alternated (A B A B ...), medians reported.
//
//  1. HTTP requests/s for a small response over TAP: `wtcp serve` (its own process) on a TAP in a
//     network namespace this script creates, wrk in that namespace; baseline: Node's http server
//     with the same handler on the kernel's own loopback, wrk from the host.
//  2. Bulk download over TAP: curl of 200 MB from `wtcp serve`; baseline: the same from Node's http
//     server on loopback.
//  3. The relay: frames/s and Gbit/s between two WebSocket clients through `wtcp relay` (its own
//     process); baseline: the same clients through a minimal forwarder (its own process, `ws`, every
//     message to the other client: no switching, no checks), to show what the switch costs.
//
// Network safety: the TAP and 198.18.90.0/24 exist only inside the namespace, deleted at the end;
// everything else is on 127.0.0.1.
//
// Options: --runs=N (default 5), --seconds=S per wrk/relay sample (default 4), --out=FILE
import { spawn, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { median } from './lib/measure.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const args = Object.fromEntries(process.argv.slice(2).map((a) => { const m = a.match(/^--([^=]+)(?:=(.*))?$/); return m ? [m[1], m[2] ?? true] : [a, true]; }));
const RUNS = Number(args.runs ?? 5);
const SECONDS = Number(args.seconds ?? 4);
const NS = `wtcp-bench-net-${process.pid}`;
const TAP = `wbn${process.pid}`.slice(0, 15);
const HOST_IP = '198.18.90.1';
const STACK_IP = '198.18.90.2';
const BULK = 200_000_000;

function need(cmd, pkg) {
  if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) throw new Error(`bench:net needs ${cmd}: apt-get install ${pkg}`);
}
if (process.getuid?.() !== 0) throw new Error('bench:net needs root (a TAP device and a network namespace)');
need('wrk', 'wrk'); need('curl', 'curl'); need('ip', 'iproute2'); need('taskset', 'util-linux');

const children = [];
function startProc(argv, ready, cpu) {
  return new Promise((resolve, reject) => {
    const c = spawn('taskset', ['-c', String(cpu), process.execPath, ...argv], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    let out = '';
    const t = setTimeout(() => reject(new Error(`did not start: ${argv.join(' ')}: ${out}`)), 20_000);
    const on = (d) => { out += d; const m = ready.exec(out); if (m) { clearTimeout(t); resolve({ c, m }); } };
    c.stdout.on('data', on); c.stderr.on('data', on);
    c.once('exit', (code) => { clearTimeout(t); reject(new Error(`exited ${code}: ${out}`)); });
  });
}
function cleanup() {
  for (const c of children) { try { c.kill('SIGKILL'); } catch { /* gone */ } }
  spawnSync('ip', ['netns', 'del', NS]);
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

const nsExec = (argv, timeout = 120_000) => execFileSync('ip', ['netns', 'exec', NS, ...argv], { encoding: 'utf8', timeout });
const hostExec = (argv, timeout = 120_000) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', timeout });

function wrkRps(exec, url) {
  // one thread, 16 connections, pinned to CPU 0 (the server under test is on CPU 1)
  const out = exec(['taskset', '-c', '0', 'wrk', '-t1', '-c16', `-d${SECONDS}s`, '--latency', url], (SECONDS + 30) * 1000);
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const errors = /Non-2xx|Socket errors: (.*)/.exec(out);
  if (!m) throw new Error(`wrk printed no rate: ${out}`);
  return { rps: Number(m[1]), errors: errors ? errors[0] : null };
}
function curlBps(exec, url) {
  const out = exec(['taskset', '-c', '0', 'curl', '-sS', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', url]);
  const [size, speed] = out.trim().split(' ').map(Number);
  if (size !== BULK) throw new Error(`curl got ${size} bytes, not ${BULK}`);
  return speed * 8;
}

// ---- the baseline server: Node's http, same handler as wtcp serve's, on the kernel's loopback ----
const BASELINE_SRC = `
import http from 'node:http';
const s = http.createServer((req, res) => {
  const m = /^\\/bytes\\/(\\d+)$/.exec(req.url);
  if (m) {
    const n = Number(m[1]); res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    const chunk = Buffer.alloc(65536, 0x61); let left = n;
    const pump = () => { while (left > 0) { const c = left >= chunk.length ? chunk : chunk.subarray(0, left); left -= c.length; if (!res.write(c)) { res.once('drain', pump); return; } } res.end(); };
    pump(); return;
  }
  const sock = req.socket;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  res.end('hello from wtcp (linux-5.4) at ${STACK_IP}:80\\nyou are ' + sock.remoteAddress + ':' + sock.remotePort + '; you asked for ' + req.method + ' ' + req.url + '\\n');
});
s.keepAliveTimeout = 5000;
s.listen(0, '127.0.0.1', () => console.log('listening ' + s.address().port));
`;

// ---- the relay's baseline: a forwarder with no switching (every message to every other client) ----
const FORWARDER_SRC = `
import { WebSocketServer } from 'ws';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('connection', (ws) => ws.on('message', (d, bin) => { for (const o of wss.clients) if (o !== ws && o.bufferedAmount < 4 << 20) o.send(d, { binary: bin }); }));
wss.on('listening', () => console.log('forwarding ' + wss.address().port));
`;

async function main() {
  const t0 = Date.now();
  const machine = { cpu: os.cpus()[0]?.model, cpus: os.cpus().length, kernel: os.release(), node: process.version, date: new Date().toISOString() };
  const results = { machine, runs: RUNS, seconds: SECONDS, figures: {} };
  execFileSync('ip', ['netns', 'add', NS]);
  const serve = await startProc([CLI, 'serve', '--tap', TAP, '--netns', NS, '--host-ip', `${HOST_IP}/24`, '--ip', `${STACK_IP}/24`, '--personality', 'linux-5.4'], /http on 198\.18\.90\.2:80/, 1);
  const base = await startProc(['--input-type=module', '-e', BASELINE_SRC], /listening (\d+)/, 1);
  const basePort = base.m[1];
  nsExec(['ping', '-c', '1', '-W', '2', STACK_IP]);

  // 1. small HTTP responses
  const rps = { wtcp: [], kernel: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? ['kernel', 'wtcp'] : ['wtcp', 'kernel'];
    for (const v of order) {
      const r = v === 'wtcp' ? wrkRps(nsExec, `http://${STACK_IP}/`) : wrkRps(hostExec, `http://127.0.0.1:${basePort}/`);
      if (r.errors) process.stderr.write(`  ${v}: ${r.errors}\n`);
      rps[v].push(r.rps);
    }
    process.stderr.write(`http round ${i + 1}/${RUNS}: wtcp ${Math.round(rps.wtcp.at(-1))} req/s, kernel loopback ${Math.round(rps.kernel.at(-1))} req/s\n`);
  }
  results.figures.httpSmall = { unit: 'req/s', wtcpTap: median(rps.wtcp), nodeOnLoopback: median(rps.kernel), ratio: median(rps.wtcp) / median(rps.kernel), samples: rps };

  // 2. bulk download
  const bulk = { wtcp: [], kernel: [] };
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 ? ['kernel', 'wtcp'] : ['wtcp', 'kernel'];
    for (const v of order) {
      bulk[v].push(v === 'wtcp' ? curlBps(nsExec, `http://${STACK_IP}/bytes/${BULK}`) : curlBps(hostExec, `http://127.0.0.1:${basePort}/bytes/${BULK}`));
    }
    process.stderr.write(`bulk round ${i + 1}/${RUNS}: wtcp ${(bulk.wtcp.at(-1) / 1e9).toFixed(2)} Gbit/s, kernel loopback ${(bulk.kernel.at(-1) / 1e9).toFixed(2)} Gbit/s\n`);
  }
  results.figures.bulkDownload = { unit: 'bit/s', wtcpTap: median(bulk.wtcp), nodeOnLoopback: median(bulk.kernel), ratio: median(bulk.wtcp) / median(bulk.kernel), samples: bulk };
  serve.c.kill('SIGTERM'); base.c.kill('SIGTERM');

  // 3. the relay
  const relay = await startProc([CLI, 'relay', '--port', '0'], /wtcp relay: (ws:\S+)/, 1);
  const relayUrl = relay.m[1];
  const fwd = await startProc(['--input-type=module', '-e', FORWARDER_SRC], /forwarding (\d+)/, 1);
  const directUrl = `ws://127.0.0.1:${fwd.m[1]}/`;
  const relayFigures = {};
  for (const size of [64, 1514]) {
    const s = { relay: [], direct: [] };
    for (let i = 0; i < RUNS; i++) {
      const order = i % 2 ? ['direct', 'relay'] : ['relay', 'direct'];
      for (const v of order) s[v].push(await wsRate(v === 'relay' ? relayUrl : directUrl, size));
    }
    relayFigures[size] = { unit: 'frames/s', relay: median(s.relay), forwarder: median(s.direct), ratio: median(s.relay) / median(s.direct), gbitRelay: median(s.relay) * size * 8 / 1e9, samples: s };
    process.stderr.write(`relay ${size} B frames: ${Math.round(median(s.relay))} frames/s through the relay, ${Math.round(median(s.direct))} through the minimal forwarder\n`);
  }
  results.figures.relay = relayFigures;
  fwd.c.kill('SIGTERM');
  relay.c.kill('SIGTERM');

  results.seconds_total = (Date.now() - t0) / 1000;
  const out = args.out ? String(args.out) : path.join(HERE, 'results', 'net.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2));
  const f = results.figures;
  console.log(`\nmachine: ${machine.cpu}, ${machine.cpus} CPUs, Linux ${machine.kernel}, Node ${machine.node}; ${RUNS} alternated runs, medians`);
  console.log(`HTTP, small response (wrk -t1 -c16): wtcp over TAP ${Math.round(f.httpSmall.wtcpTap)} req/s | Node http on loopback ${Math.round(f.httpSmall.nodeOnLoopback)} req/s | ratio ${f.httpSmall.ratio.toFixed(2)}`);
  console.log(`bulk download (curl, 200 MB):       wtcp over TAP ${(f.bulkDownload.wtcpTap / 1e9).toFixed(2)} Gbit/s | Node http on loopback ${(f.bulkDownload.nodeOnLoopback / 1e9).toFixed(2)} Gbit/s | ratio ${f.bulkDownload.ratio.toFixed(2)}`);
  for (const [size, r] of Object.entries(f.relay)) {
    console.log(`relay, ${size} B frames:              ${Math.round(r.relay)} frames/s (${r.gbitRelay.toFixed(2)} Gbit/s) | minimal ws forwarder ${Math.round(r.forwarder)} frames/s | ratio ${r.ratio.toFixed(2)}`);
  }
  console.log(`(JSON: ${path.relative(ROOT, out)}; ${results.seconds_total.toFixed(0)} s)`);
}

/** Frames per second from a sender to a receiver, both clients of the server at `url`, for SECONDS. */
async function wsRate(url, size) {
  const frame = Buffer.alloc(size, 0);
  // destination: the receiver's MAC (unicast, learned); source: the sender's
  frame.set([0x02, 0, 0, 0, 0, 0x02], 0); frame.set([0x02, 0, 0, 0, 0, 0x01], 6); frame.writeUInt16BE(0x0800, 12);
  const open = (u) => new Promise((res, rej) => { const w = new WebSocket(u, { perMessageDeflate: false }); w.once('open', () => res(w)); w.once('error', rej); });
  let received = 0;
  const tx = await open(url);
  const rx = await open(url);
  rx.on('message', () => { received++; });
  const hello = Buffer.alloc(60, 0); hello.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0); hello.set([0x02, 0, 0, 0, 0, 0x02], 6);
  rx.send(hello); // the relay learns the receiver's MAC
  await new Promise((r) => setTimeout(r, 100));
  received = 0;
  const tEnd = Date.now() + SECONDS * 1000;
  let t1 = 0;
  let startCount = 0;
  await new Promise((resolve) => {
    const pump = () => {
      const now = Date.now();
      if (!t1 && now > tEnd - SECONDS * 1000 + 500) { t1 = now; startCount = received; } // 0.5 s warm-up
      if (now >= tEnd) { resolve(); return; }
      for (let i = 0; i < 256 && tx.bufferedAmount < 1 << 20; i++) tx.send(frame);
      setImmediate(pump);
    };
    pump();
  });
  const rate = (received - startCount) / ((Date.now() - t1) / 1000);
  tx.close(); rx.close();
  await new Promise((r) => setTimeout(r, 200));
  return rate;
}

main().then(() => process.exit(0), (e) => { console.error(`bench:net: ${e.message}`); process.exit(1); });
