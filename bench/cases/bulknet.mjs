// Bulk through Node's `net` API on two stacks (src/net.ts: Socket is a readable-stream Duplex over the
// BSD layer): the client writes 64 KiB Buffers with backpressure ('drain'), the server counts the
// 'data' bytes. MemoryLink.pair({ mtu }), default delivery, real clock. Each sample moves a fixed
// amount (sampleBytes) and is timed until the server has it all: with microtask delivery a transfer
// between two stacks runs without yielding to timers, so "run for N ms" cannot be used. Imports
// dist/ (npm run build). With opts.which = 'base' and opts.baseDist (bench/run.mjs --base-dist=DIR),
// the same on an earlier build's host instead, in its own process (two hosts in one process disturb
// each other: the earlier host's pairs retransmitted, and both ran at the same slow pace).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../lib/measure.mjs';

export async function run({ runs = 7, sampleBytes = 64 << 20, baseDist, which = 'now' } = {}) {
  const hosts = which === 'base'
    ? [{ name: 'base', dist: pathToFileURL(path.resolve(baseDist) + path.sep) }]
    : [{ name: 'now', dist: new URL('../../dist/', import.meta.url) }];
  for (const h of hosts) {
    h.mod = await import(new URL('index.js', h.dist).href);
    h.net = await import(new URL('net.js', h.dist).href);
  }
  const chunk = Buffer.alloc(65536, 0x5a);
  let port = 5000;
  async function make(host, mtu) {
    const { Stack, MemoryLink } = host.mod;
    const [la, lb] = MemoryLink.pair({ mtu });
    const a = new Stack({ link: la, interfaces: [{ ip: '198.18.0.1/24' }], seed: 1 });
    const b = new Stack({ link: lb, interfaces: [{ ip: '198.18.0.2/24' }], seed: 2 });
    const p = { host: host.name, mtu, a, b, got: 0, want: 0, done: null };
    const srv = host.net.netFor(b).createServer((sock) => {
      sock.on('data', (d) => {
        p.got += d.length;
        if (p.done && p.got >= p.want) { const f = p.done; p.done = null; f(); }
      });
    });
    const lport = ++port;
    await new Promise((r) => srv.listen(lport, r));
    const cl = host.net.netFor(a).connect(lport, '198.18.0.2');
    await new Promise((r) => cl.once('connect', r));
    p.srv = srv;
    p.cl = cl;
    return p;
  }
  function sample(p, bytes) {
    return new Promise((resolve) => {
      const t0 = performance.now();
      p.want = p.got + bytes;
      p.done = () => resolve(bytes * 8 / ((performance.now() - t0) / 1000) / 1e9);
      let sent = 0;
      const pump = () => {
        while (sent < bytes) {
          sent += chunk.length;
          if (!p.cl.write(chunk)) { p.cl.once('drain', pump); return; }
        }
      };
      pump();
    });
  }
  const variants = [];
  for (const mtu of [1500, 65535]) for (const h of hosts) variants.push(await make(h, mtu));
  for (const p of variants) await sample(p, sampleBytes >> 2); // warm-up
  const samples = variants.map(() => []);
  for (let r = 0; r < runs; r++) {
    const order = variants.map((_, i) => i);
    if (r & 1) order.reverse();
    for (const i of order) {
      samples[i].push(await sample(variants[i], sampleBytes));
      await new Promise((res) => setImmediate(res));
    }
  }
  const retrans = variants.map((p) => Number(p.a.core.counter('TcpRetransSegs')));
  for (const p of variants) { p.cl.destroy(); p.srv.close(); p.a.close(); p.b.close(); }
  const figures = variants.map((p, i) => ({
    id: `bulknet${p.host === 'base' ? '_base' : ''}_mtu${p.mtu}`,
    title: `Bulk through Node's net API (wtcp/net Socket write / 'data'), two stacks, ${p.host === 'base' ? `the earlier host (${baseDist}), ` : ''}MTU ${p.mtu === 1500 ? '1500' : '65535 (core: 65521)'}`,
    value: median(samples[i]), unit: 'Gbit/s', runs, samples: samples[i].map((x) => +x.toFixed(3)),
    baselineRef: p.mtu === 1500 ? 'bulk_mtu1500' : 'bulk_mtu65521',
  }));
  return { figures, checks: { noRetransmissions: retrans.every((x) => x === 0) } };
}
