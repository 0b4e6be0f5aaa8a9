#!/usr/bin/env node
// npm run soak -- [--minutes M] [--interval S] [--rate N] [--workers N] [--personality NAME] [--tap]
//
// A long run of steady connection churn with data between two stacks, watching for leaks. Stack A
// (198.18.50.1) runs `--workers` clients that each loop: connect to stack B (198.18.50.2) port 7,
// then one of
//   - 80 %: send 0..256 KiB of random bytes, shutdown(SHUT_WR), read B's sha256 of them, compare;
//   - 10 %: send some bytes and abort (SO_LINGER 0, close(): a RST, B's recv fails ECONNRESET);
//   - 10 %: connect and close without data;
// paced so that A opens at most `--rate` connections a second in all. B's server hashes what it
// reads until EOF, sends the digest and closes. A closes first (its FIN after the data), so
// TIME-WAIT sits on A: about 0.9 x rate x 60 s records and as many of A's ephemeral ports.
// The stacks are joined in memory (MemoryLink), or with --tap through two TAP devices bridged in a
// network namespace this script creates (root; only 198.18.50.0/24, no address on the kernel side;
// the namespace is deleted at the end and on Ctrl-C).
//
// Every `--interval` seconds it prints: connections done / failed, MB moved, each stack's WASM
// memory (stack.memoryBytes()) and connection records in use (ESTABLISHED / TIME-WAIT / other), the
// JS heap after a forced GC (run with --expose-gc, as `npm run soak` does) and the process RSS,
// and key counters. At the end it stops the clients, lets the live connections finish, and prints a
// verdict: "no leak" if, from the end of the warm-up (the first max(75 s, 25 %) of the run, long
// enough for TIME-WAIT to reach its steady population) to the end, the WASM memory did not change,
// the JS heap grew less than max(8 MiB, 10 %), no stack ran out of buffer memory (WtcpNoMemory),
// every connection that was not in TIME-WAIT was gone after the drain, and every exchange that ran
// to completion had a matching digest; otherwise the growth it saw.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Stack, MemoryLink } from '../dist/index.js';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1];
  if (v === undefined) throw new Error(`--${name} needs a value`);
  return v;
}
if (args.includes('--help')) {
  console.log(fileURLToPath(import.meta.url));
  console.log('npm run soak -- [--minutes M (1)] [--interval S (10)] [--rate N (200)] [--workers N (16)] [--personality NAME (linux-6.18)] [--tap]');
  process.exit(0);
}
const MINUTES = Number(opt('minutes', '1'));
const INTERVAL_S = Number(opt('interval', '10'));
const RATE = Number(opt('rate', '200'));
const WORKERS = Number(opt('workers', '16'));
const PERSONALITY = opt('personality', 'linux-6.18');
const TAP = args.includes('--tap');
for (const [k, v] of Object.entries({ MINUTES, INTERVAL_S, RATE, WORKERS })) {
  if (!(v > 0)) { console.error(`soak: bad ${k}: ${v}`); process.exit(2); }
}
const gc = globalThis.gc;
if (!gc) console.log('soak: no --expose-gc: the heap figures include garbage not yet collected');

const A_IP = '198.18.50.1';
const B_IP = '198.18.50.2';
const PORT = 7;
const CONNS = Math.max(4096, Math.ceil(RATE * 75) + 1024); // A keeps ~rate x 60 s in TIME-WAIT
const limits = { connections: CONNS, rxBufferBytes: 64 << 20 };

// ---------------------------------------------------------------- links
let ns = '';
let taps = [];
async function links() {
  if (!TAP) return MemoryLink.pair();
  if (process.getuid?.() !== 0) throw new Error('--tap needs root (it creates a network namespace and TAP devices)');
  const { TapLink } = await import('../dist/links/tap.js');
  ns = `wtcp-soak-${process.pid}`;
  const sh = (...a) => execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  sh('netns', 'add', ns);
  try { execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']); } catch { /* no IPv6 */ }
  sh('-n', ns, 'link', 'add', 'br0', 'type', 'bridge');
  sh('-n', ns, 'link', 'set', 'br0', 'up');
  const a = await TapLink.open({ name: `wsk${process.pid}a`.slice(0, 15), netns: ns });
  const b = await TapLink.open({ name: `wsk${process.pid}b`.slice(0, 15), netns: ns });
  taps = [a, b];
  for (const t of [a, b]) {
    sh('-n', ns, 'link', 'set', t.name, 'master', 'br0');
    sh('-n', ns, 'link', 'set', t.name, 'up');
  }
  return [a, b];
}
function cleanup() {
  for (const t of taps) { try { t.close(); } catch { /* closed */ } }
  taps = [];
  if (ns) { try { execFileSync('ip', ['netns', 'del', ns]); } catch { /* gone */ } ns = ''; }
}

// ---------------------------------------------------------------- stacks
const [linkA, linkB] = await links();
const A = new Stack({ personality: PERSONALITY, interfaces: [{ ip: `${A_IP}/24` }], link: linkA, limits });
const B = new Stack({ personality: PERSONALITY, interfaces: [{ ip: `${B_IP}/24` }], link: linkB, limits });
process.on('SIGINT', () => { stopping = true; deadline = 0; console.log('\nsoak: interrupted, finishing'); });

const stats = { done: 0, failed: 0, aborted: 0, empty: 0, bytes: 0, digestMismatch: 0, errors: new Map() };
let stopping = false;
let deadline = Date.now() + MINUTES * 60_000;

function noteError(e) {
  const k = e?.code ?? e?.message ?? String(e);
  stats.errors.set(k, (stats.errors.get(k) ?? 0) + 1);
}

// B: hash until EOF, answer the digest, close
const lfd = B.bsd.socket('AF_INET', 'SOCK_STREAM');
B.bsd.setsockopt(lfd, 'SOL_SOCKET', 'SO_REUSEADDR', 1);
B.bsd.bind(lfd, { address: '0.0.0.0', port: PORT });
B.bsd.listen(lfd, 1024);
let serverLive = 0;
const serverAbort = new AbortController();
(async () => {
  for (;;) {
    let c;
    try { c = await B.bsd.acceptAsync(lfd, { signal: serverAbort.signal }); } catch { return; }
    serverLive++;
    (async () => {
      const h = createHash('sha256');
      try {
        for (;;) {
          const d = await B.bsd.recvAsync(c.fd, 1 << 20);
          if (d.length === 0) break;
          h.update(d);
        }
        await B.bsd.sendAsync(c.fd, h.digest());
      } catch { /* the client aborted */ }
      try { B.bsd.close(c.fd); } catch { /* closed */ }
      serverLive--;
    })();
  }
})();

// A: paced clients
let tokens = 0;
let lastRefill = performance.now();
async function takeToken() {
  for (;;) {
    const now = performance.now();
    tokens = Math.min(RATE / 10 + 1, tokens + ((now - lastRefill) / 1000) * RATE);
    lastRefill = now;
    if (tokens >= 1) { tokens--; return; }
    await new Promise((r) => setTimeout(r, Math.max(1, ((1 - tokens) / RATE) * 1000)));
  }
}

async function readExactly(fd, n) {
  const parts = [];
  let got = 0;
  while (got < n) {
    const d = await A.bsd.recvAsync(fd, n - got);
    if (d.length === 0) break;
    parts.push(d);
    got += d.length;
  }
  return Buffer.concat(parts);
}

async function worker() {
  while (!stopping && Date.now() < deadline) {
    await takeToken();
    if (stopping || Date.now() >= deadline) break;
    const fd = A.bsd.socket('AF_INET', 'SOCK_STREAM');
    try {
      await A.bsd.connectAsync(fd, { address: B_IP, port: PORT });
      const r = Math.random();
      if (r < 0.1) {
        stats.empty++;
      } else if (r < 0.2) {
        await A.bsd.sendAsync(fd, randomBytes(1 + Math.floor(Math.random() * 32768)));
        A.bsd.setsockopt(fd, 'SOL_SOCKET', 'SO_LINGER', 0); // close() below aborts with a RST
        stats.aborted++;
      } else {
        const data = randomBytes(Math.floor(Math.random() * 262144));
        let off = 0;
        while (off < data.length) off += await A.bsd.sendAsync(fd, data.subarray(off, off + 65536));
        A.bsd.shutdown(fd, 'SHUT_WR');
        const digest = await readExactly(fd, 32);
        if (!digest.equals(createHash('sha256').update(data).digest())) stats.digestMismatch++;
        stats.bytes += data.length;
        stats.done++;
      }
    } catch (e) {
      stats.failed++;
      noteError(e);
    }
    try { A.bsd.close(fd); } catch { /* closed */ }
  }
}

// ---------------------------------------------------------------- sampling
const STATE_NAMES = { 4: 'estab', 10: 'tw' };
function connStates(st) {
  const out = { estab: 0, tw: 0, other: 0 };
  for (let c = 0; c < CONNS; c++) {
    const s = st.core.x.connGet(c, 0 /* ConnField.State */);
    if (s < 0 || s === 0) continue;
    out[STATE_NAMES[s] ?? 'other']++;
  }
  return out;
}
const MB = (n) => (n / 1048576).toFixed(1);
const t0 = Date.now();
const samples = [];
function sample(label) {
  gc?.();
  const mu = process.memoryUsage();
  const ca = A.counters(), cb = B.counters();
  const s = {
    t: (Date.now() - t0) / 1000,
    wasmA: A.memoryBytes(), wasmB: B.memoryBytes(), heap: mu.heapUsed, rss: mu.rss,
    connsA: connStates(A), connsB: connStates(B),
    noMem: (ca.WtcpNoMemory ?? 0) + (cb.WtcpNoMemory ?? 0),
  };
  samples.push(s);
  const errs = [...stats.errors].map(([k, v]) => `${k}:${v}`).join(',') || '-';
  console.log(
    `${label} t=${s.t.toFixed(0).padStart(4)}s conns ok ${stats.done} abort ${stats.aborted} empty ${stats.empty} failed ${stats.failed} (${errs}) ` +
    `data ${MB(stats.bytes)} MB | wasm A ${MB(s.wasmA)} B ${MB(s.wasmB)} MiB | heap ${MB(s.heap)} rss ${MB(s.rss)} MiB | ` +
    `A estab/tw/other ${s.connsA.estab}/${s.connsA.tw}/${s.connsA.other} B ${s.connsB.estab}/${s.connsB.tw}/${s.connsB.other} | ` +
    `A active ${ca.TcpActiveOpens} B passive ${cb.TcpPassiveOpens} retrans ${ca.TcpRetransSegs + cb.TcpRetransSegs} ` +
    `resets out A ${ca.TcpOutRsts} B ${cb.TcpOutRsts} overflows ${cb.TcpExtListenOverflows} nomem ${s.noMem}`,
  );
  return s;
}

console.log(`soak: ${PERSONALITY}, ${MINUTES} min, ${WORKERS} clients, <= ${RATE} connections/s, ${TAP ? 'two TAP devices bridged in namespace ' + ns : 'in memory'}; a sample every ${INTERVAL_S} s`);
sample('start');
const timer = setInterval(() => sample('     '), INTERVAL_S * 1000);
const workers = Array.from({ length: WORKERS }, () => worker());
await Promise.all(workers);
clearInterval(timer);
// drain: the server finishes what is in flight; only TIME-WAIT (and nothing else) may remain
const drainUntil = Date.now() + 10_000;
while ((serverLive > 0 || connStates(A).estab + connStates(B).estab + connStates(A).other + connStates(B).other > 0) && Date.now() < drainUntil) {
  await new Promise((r) => setTimeout(r, 100));
}
const end = sample('end  ');
serverAbort.abort();

// ---------------------------------------------------------------- verdict
const runS = end.t;
const warmS = Math.max(75, runS * 0.25);
const base = samples.find((s) => s.t >= warmS && s !== end) ?? null;
const problems = [];
const notes = [];
if (samples.some((s) => s.wasmA !== samples[0].wasmA || s.wasmB !== samples[0].wasmB)) {
  problems.push(`WASM memory grew: A ${MB(samples[0].wasmA)} -> ${MB(end.wasmA)} MiB, B ${MB(samples[0].wasmB)} -> ${MB(end.wasmB)} MiB`);
}
if (end.noMem > 0) problems.push(`the stacks ran out of buffer memory ${end.noMem} times (WtcpNoMemory)`);
const leftover = end.connsA.estab + end.connsA.other + end.connsB.estab + end.connsB.other;
if (leftover > 0) problems.push(`${leftover} connections other than TIME-WAIT still held after the drain`);
if (stats.digestMismatch > 0) problems.push(`${stats.digestMismatch} exchanges with a wrong digest`);
if (stats.done === 0) problems.push('no exchange completed');
if (base) {
  const growth = end.heap - base.heap;
  const allowed = Math.max(8 << 20, base.heap * 0.1);
  const perMin = growth / ((end.t - base.t) / 60);
  notes.push(`JS heap ${MB(base.heap)} MiB at t=${base.t.toFixed(0)} s (after warm-up) -> ${MB(end.heap)} MiB at the end (${growth >= 0 ? '+' : ''}${MB(growth)} MiB, ${MB(perMin)} MiB/min; allowed ${MB(allowed)} MiB)`);
  if (growth > allowed) problems.push(`JS heap grew ${MB(growth)} MiB after the warm-up (${MB(perMin)} MiB/min)`);
  const twGrowth = end.connsA.tw - base.connsA.tw;
  notes.push(`A's TIME-WAIT records ${base.connsA.tw} -> ${end.connsA.tw} (steady once the first ones expire after 60 s)`);
  if (twGrowth > Math.max(200, base.connsA.tw * 0.3)) problems.push(`TIME-WAIT records kept growing after the warm-up (+${twGrowth})`);
} else {
  notes.push(`run shorter than the ${warmS.toFixed(0)}-s warm-up: heap growth not judged (JS heap ${MB(samples[0].heap)} -> ${MB(end.heap)} MiB)`);
}
const rate = (stats.done + stats.aborted + stats.empty) / runS;
console.log(`soak: ${stats.done + stats.aborted + stats.empty} connections (${rate.toFixed(0)}/s), ${MB(stats.bytes)} MB hashed both ends, ${stats.failed} failed`);
for (const n of notes) console.log(`soak: ${n}`);
A.close();
B.close();
cleanup();
if (problems.length === 0) {
  console.log('soak: verdict: no leak');
  process.exit(0);
} else {
  for (const p of problems) console.log(`soak: verdict: ${p}`);
  process.exit(1);
}
