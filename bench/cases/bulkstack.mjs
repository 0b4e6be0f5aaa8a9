// The bulk transfer of bench/cases/bulk.mjs through the whole TypeScript host instead of the core's
// exports: two `Stack`s (the default Linux personality) joined by `MemoryLink.pair({ mtu })`, the
// applications using the BSD layer (`bsd.send()` of 64 KiB while it takes data, `bsd.recv()` of
// 256 KiB until EAGAIN), one turn of Node's event loop (setImmediate) between rounds so that the
// links' microtask deliveries and the stacks' batched input run. Real clock (the stacks' own
// timers). SO_SNDBUF 384 KiB and SO_RCVBUF 1 MiB as in bulk.mjs. Imports dist/: run `npm run build`
// first. Variants alternate, one sample each per round.
import { median } from '../lib/measure.mjs';

export async function run({ runs = 7, sampleMs = 200 } = {}) {
  const { Stack, MemoryLink } = await import('../../dist/index.js');
  const { SocketError } = await import('../../dist/bsd.js');
  const again = (e) => e instanceof SocketError && e.code === 'EAGAIN';
  const tick = () => new Promise((r) => setImmediate(r));
  async function make(mtu) {
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
    return { mtu, a, b, c, s, got: 0 };
  }
  const buf = new Uint8Array(65536).fill(0x5a);
  async function sample(p, ms) {
    const t0 = performance.now();
    let got = 0, t;
    while ((t = performance.now()) - t0 < ms) {
      try { p.a.bsd.send(p.c, buf); } catch (e) { if (!again(e)) throw e; }
      await tick();
      for (;;) {
        let d;
        try { d = p.b.bsd.recv(p.s, 262144); } catch (e) { if (again(e)) break; throw e; }
        if (d.length === 0) break;
        got += d.length;
      }
    }
    return got * 8 / ((t - t0) / 1000) / 1e9;
  }
  const pairs = [await make(1500), await make(65535)];
  for (const p of pairs) await sample(p, 150);   // warm-up
  const samples = pairs.map(() => []);
  for (let r = 0; r < runs; r++) {
    const order = r & 1 ? [1, 0] : [0, 1];
    for (const i of order) samples[i].push(await sample(pairs[i], sampleMs));
  }
  const retrans = pairs.map((p) => Number(p.a.core.counter('TcpRetransSegs')));
  for (const p of pairs) { p.a.close(); p.b.close(); }
  const fig = (i, id, title) => ({
    id, title, value: median(samples[i]), unit: 'Gbit/s', runs, samples: samples[i].map((x) => +x.toFixed(3)),
    baselineRef: 'bulk_mtu1500'.replace('1500', i === 0 ? '1500' : '65521'),
  });
  return {
    figures: [
      fig(0, 'bulkstack_mtu1500', 'Bulk through Stack + BSD send/recv + MemoryLink (the whole host), MTU 1500'),
      fig(1, 'bulkstack_mtu65535', 'Bulk through Stack + BSD send/recv + MemoryLink, MemoryLink mtu 65535 (core: 65521)'),
    ],
    checks: { noRetransmissions: retrans.every((x) => x === 0) },
  };
}
