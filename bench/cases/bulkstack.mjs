// The bulk transfer of bench/cases/bulk.mjs through the whole TypeScript host instead of the core's
// exports: two `Stack`s (the default Linux personality) joined by `MemoryLink.pair({ mtu })`, the
// applications using the BSD layer, one turn of Node's event loop (setImmediate) between rounds so
// that the links' microtask deliveries and the stacks' batched input run. Real clock (the stacks' own
// timers). SO_SNDBUF 384 KiB and SO_RCVBUF 1 MiB as in bulk.mjs. Imports dist/: run `npm run build`
// first. Every pair is sampled in alternation, one sample each per round.
//
// Per round: the sender sends 64 KiB (one call), then, after the event-loop turn, the receiver reads
// 256 KiB at a time until nothing is left. Two ways of calling the BSD layer:
//   - `recv`: `bsd.send()` / `bsd.recv()`, EAGAIN caught as a thrown SocketError, a new Uint8Array
//     per recv (what the API offered before recvInto);
//   - `into`: `bsd.trySend()` / `bsd.tryRecvInto()` into one reused 256 KiB buffer (no exception, no
//     allocation per call).
// With opts.which = 'base' and opts.baseDist (bench/run.mjs --base-dist=DIR: the dist/ of an earlier
// build, next to its own build/ as in a checkout), the same transfer runs on that host instead (the
// `recv` way: the only one it has), in its own process: pairs of two hosts in one process disturb
// each other (in one trial the earlier host's garbage and timers cost the new one about 25 %).
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { median } from '../lib/measure.mjs';

export async function run({ runs = 7, sampleMs = 200, baseDist, which = 'now' } = {}) {
  const hosts = which === 'base'
    ? [{ name: 'base', dist: pathToFileURL(path.resolve(baseDist) + path.sep) }]
    : [{ name: 'now', dist: new URL('../../dist/', import.meta.url) }];
  for (const h of hosts) {
    h.mod = await import(new URL('index.js', h.dist).href);
    h.SocketError = h.mod.SocketError;
  }
  const tick = () => new Promise((r) => setImmediate(r));
  async function make(host, mtu, mode) {
    const { Stack, MemoryLink } = host.mod;
    const [la, lb] = MemoryLink.pair({ mtu });
    const a = new Stack({ link: la, interfaces: [{ ip: '198.18.0.1/24' }], seed: 1 });
    const b = new Stack({ link: lb, interfaces: [{ ip: '198.18.0.2/24' }], seed: 2 });
    const l = b.bsd.socket('AF_INET', 'SOCK_STREAM');
    b.bsd.bind(l, { address: '0.0.0.0', port: 5001 });
    b.bsd.listen(l, 16);
    const c = a.bsd.socket('AF_INET', 'SOCK_STREAM');
    a.bsd.setsockopt(c, 'SOL_SOCKET', 'SO_SNDBUF', 384 << 10);
    const acc = b.bsd.acceptAsync(l);
    await a.bsd.connectAsync(c, { address: '198.18.0.2', port: 5001 });
    const { fd: s } = await acc;
    b.bsd.setsockopt(s, 'SOL_SOCKET', 'SO_RCVBUF', 1 << 20);
    const again = (e) => e instanceof host.SocketError && e.code === 'EAGAIN';
    return { host: host.name, mtu, mode, a, b, c, s, again, EAGAIN: mode === 'into' ? -a.bsd.errno('EAGAIN') : 0 };
  }
  const buf = new Uint8Array(65536).fill(0x5a);
  const rbuf = new Uint8Array(262144);
  async function sample(p, ms) {
    const t0 = performance.now();
    let got = 0, t;
    const { a, b, c, s } = p;
    if (p.mode === 'recv') {
      while ((t = performance.now()) - t0 < ms) {
        try { a.bsd.send(c, buf); } catch (e) { if (!p.again(e)) throw e; }
        await tick();
        for (;;) {
          let d;
          try { d = b.bsd.recv(s, 262144); } catch (e) { if (p.again(e)) break; throw e; }
          if (d.length === 0) break;
          got += d.length;
        }
      }
    } else {
      while ((t = performance.now()) - t0 < ms) {
        const w = a.bsd.trySend(c, buf);
        if (w < 0 && w !== p.EAGAIN) throw new Error(`trySend: ${a.bsd.errnoName(w)}`);
        await tick();
        for (;;) {
          const n = b.bsd.tryRecvInto(s, rbuf);
          if (n <= 0) {
            if (n < 0 && n !== p.EAGAIN) throw new Error(`tryRecvInto: ${b.bsd.errnoName(n)}`);
            break;
          }
          got += n;
        }
      }
    }
    return got * 8 / ((t - t0) / 1000) / 1e9;
  }
  const variants = [];
  for (const mtu of [1500, 65535]) {
    if (which !== 'base') variants.push(await make(hosts[0], mtu, 'into'));
    variants.push(await make(hosts[0], mtu, 'recv'));
  }
  for (const p of variants) await sample(p, 150); // warm-up
  const samples = variants.map(() => []);
  for (let r = 0; r < runs; r++) {
    const order = variants.map((_, i) => i);
    if (r & 1) order.reverse();
    for (const i of order) samples[i].push(await sample(variants[i], sampleMs));
  }
  const retrans = variants.map((p) => Number(p.a.core.counter('TcpRetransSegs')));
  for (const p of variants) { p.a.close(); p.b.close(); }
  const idOf = (p) => `bulkstack${p.host === 'base' ? '_base' : p.mode === 'recv' ? '_recv' : ''}_mtu${p.mtu}`;
  const figures = variants.map((p, i) => {
    const how = p.host === 'base' ? `the earlier host (${baseDist}), bsd.send/bsd.recv`
      : p.mode === 'recv' ? 'bsd.send/bsd.recv (EAGAIN thrown, new array per recv)' : 'bsd.trySend/bsd.tryRecvInto (reused buffer)';
    const fig = {
      id: idOf(p),
      title: `Bulk through Stack + BSD + MemoryLink, ${how}, MTU ${p.mtu === 1500 ? '1500' : '65535 (core: 65521)'}`,
      value: median(samples[i]), unit: 'Gbit/s', runs, samples: samples[i].map((x) => +x.toFixed(3)),
      baselineRef: p.mtu === 1500 ? 'bulk_mtu1500' : 'bulk_mtu65521',
    };
    return fig;
  });
  return {
    figures,
    checks: { noRetransmissions: retrans.every((x) => x === 0) },
  };
}
