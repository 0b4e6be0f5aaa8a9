// MemoryLink and MemoryHub: in-memory cables for stacks and test peers (src/links/memory.ts).
import { describe, it, expect } from 'vitest';
import { MemoryHub, MemoryLink } from '../../src/links/memory.js';
import { buildEthernet } from '../../src/testing/frames.js';

const tick = () => new Promise<void>((r) => setImmediate(r));

function frameFrom(src: string, dst: string, tag: number): Uint8Array {
  return buildEthernet({ src, dst, type: 0x88b5, payload: Uint8Array.of(tag, 0, 0, 0) });
}

describe('MemoryLink.pair', () => {
  it('delivers what one end sends to the other end, in order, on a later microtask', async () => {
    const [a, b] = MemoryLink.pair();
    const got: number[] = [];
    b.onReceive((f) => got.push(f[0] as number));
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    a.send(Uint8Array.of(3));
    expect(got).toEqual([]); // not synchronous
    await Promise.resolve();
    expect(got).toEqual([1, 2, 3]);
    expect(a.sent).toBe(3);
    expect(b.received).toBe(3);
  });

  it('is full duplex: each end receives only what the other sent', async () => {
    const [a, b] = MemoryLink.pair();
    const atA: number[] = [];
    const atB: number[] = [];
    a.onReceive((f) => atA.push(f[0] as number));
    b.onReceive((f) => atB.push(f[0] as number));
    a.send(Uint8Array.of(10));
    b.send(Uint8Array.of(20));
    await tick();
    expect(atA).toEqual([20]);
    expect(atB).toEqual([10]);
  });

  it('copies the frame at send time, so the sender may reuse its buffer', async () => {
    const [a, b] = MemoryLink.pair();
    let got: Uint8Array | undefined;
    b.onReceive((f) => {
      got = f;
    });
    const buf = Uint8Array.of(7, 7, 7);
    a.send(buf.subarray(0, 2));
    buf.fill(9);
    await tick();
    expect(got).toEqual(Uint8Array.of(7, 7));
  });

  it('never recurses when two ends answer each other: every answer is a new microtask', async () => {
    const [a, b] = MemoryLink.pair();
    let depth = 0;
    let maxDepth = 0;
    let bounces = 0;
    const echo = (link: MemoryLink) => (f: Uint8Array) => {
      depth++;
      maxDepth = Math.max(maxDepth, depth);
      bounces++;
      if (bounces < 20_000) link.send(f);
      depth--;
    };
    a.onReceive(echo(a));
    b.onReceive(echo(b));
    a.send(Uint8Array.of(1));
    await tick();
    expect(bounces).toBe(20_000);
    expect(maxDepth).toBe(1);
  });

  it('drops frames sent to a closed end and counts them', async () => {
    const [a, b] = MemoryLink.pair();
    const got: number[] = [];
    b.onReceive((f) => got.push(f[0] as number));
    a.send(Uint8Array.of(1));
    b.close();
    a.send(Uint8Array.of(2));
    await tick();
    expect(got).toEqual([]);
    expect(b.dropped).toBe(1); // the one queued before close; the later one never reached the queue
    expect(b.closed).toBe(true);
  });

  it('drops frames that arrive while no receiver is installed', async () => {
    const [a, b] = MemoryLink.pair();
    a.send(Uint8Array.of(1));
    await tick();
    expect(b.dropped).toBe(1);
    expect(b.received).toBe(0);
  });

  it("holds frames with delivery 'manual' until flush()", async () => {
    const [a, b] = MemoryLink.pair({ delivery: 'manual' });
    const got: number[] = [];
    b.onReceive((f) => got.push(f[0] as number));
    a.send(Uint8Array.of(1));
    a.send(Uint8Array.of(2));
    await tick();
    expect(got).toEqual([]);
    expect(b.pending).toBe(2);
    expect(b.flush()).toBe(2);
    expect(got).toEqual([1, 2]);
    expect(b.pending).toBe(0);
  });

  it("with delivery 'macrotask' lets queued microtasks run first", async () => {
    const [a, b] = MemoryLink.pair({ delivery: 'macrotask' });
    const order: string[] = [];
    b.onReceive(() => order.push('frame'));
    a.send(Uint8Array.of(1));
    queueMicrotask(() => order.push('microtask'));
    await tick();
    await tick();
    expect(order).toEqual(['microtask', 'frame']);
  });

  it('reports sent and received frames to a tap', async () => {
    const [a, b] = MemoryLink.pair();
    const seen: string[] = [];
    a.onTap((f, dir) => seen.push(`a ${dir} ${f[0]}`));
    b.onTap((f, dir) => seen.push(`b ${dir} ${f[0]}`));
    b.onReceive(() => undefined);
    a.send(Uint8Array.of(5));
    await tick();
    expect(seen).toEqual(['a out 5', 'b in 5']);
  });

  it('validates its options', () => {
    expect(() => MemoryLink.pair({ mtu: 10 })).toThrow(RangeError);
    expect(() => MemoryLink.pair({ delivery: 'sync' as never })).toThrow(TypeError);
    expect(MemoryLink.pair({ mtu: 9000 })[0].mtu).toBe(9000);
    expect(MemoryLink.pair()[1].mtu).toBe(1500);
  });
});

describe('MemoryHub', () => {
  const A = '02:00:00:00:00:0a';
  const B = '02:00:00:00:00:0b';
  const C = '02:00:00:00:00:0c';

  it('floods unknown and broadcast destinations to every other port, then learns', async () => {
    const hub = new MemoryHub();
    const ports = [hub.attach(), hub.attach(), hub.attach()];
    const got: string[][] = [[], [], []];
    ports.forEach((p, i) => p.onReceive((f) => got[i]?.push(String(f[14]))));
    ports[0]?.send(frameFrom(A, 'ff:ff:ff:ff:ff:ff', 1)); // broadcast from A
    await tick();
    expect(got).toEqual([[], ['1'], ['1']]);
    ports[1]?.send(frameFrom(B, A, 2)); // A was learnt on port 0
    await tick();
    expect(got).toEqual([['2'], ['1'], ['1']]);
    ports[0]?.send(frameFrom(A, C, 3)); // C unknown: flooded
    await tick();
    expect(got).toEqual([['2'], ['1', '3'], ['1', '3']]);
    ports[2]?.send(frameFrom(C, B, 4)); // B learnt on port 1
    await tick();
    expect(got).toEqual([['2'], ['1', '3', '4'], ['1', '3']]);
    hub.close();
  });
});
