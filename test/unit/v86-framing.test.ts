// The v86 network-adapter link (src/links/v86.ts) and the QEMU length-prefixed framing
// (src/links/framing.ts).
//
// v86's bus is a pair of connectors: what one end sends, the listeners of the other end get. The
// NE2000 device sits on one end and publishes the guest's frames as `net0-send`; network adapters
// (and `emulator.add_listener`) sit on the other end and answer with `net0-receive`. The bus below
// has that shape; the "guest" behind it is a second stack, so a real TCP connection crosses it.
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { Stack } from '../../src/stack.js';
import { V86Link } from '../../src/links/v86.js';
import type { Link } from '../../src/links/link.js';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../../src/links/framing.js';
import { netFor } from '../../src/net.js';
import type { Socket } from '../../src/net.js';

type Listener = (data: unknown) => void;
class BusEnd {
  pair!: BusEnd;
  listeners = new Map<string, { fn: Listener; thisValue: unknown }[]>();
  register(name: string, fn: Listener, thisValue?: unknown): void {
    const l = this.listeners.get(name) ?? [];
    l.push({ fn, thisValue });
    this.listeners.set(name, l);
  }
  unregister(name: string, fn: Listener): void {
    this.listeners.set(name, (this.listeners.get(name) ?? []).filter((l) => l.fn !== fn));
  }
  send(name: string, data?: unknown): void {
    for (const l of this.pair.listeners.get(name) ?? []) l.fn.call(l.thisValue, data);
  }
}
function busPair(): [BusEnd, BusEnd] {
  const a = new BusEnd(); const b = new BusEnd();
  a.pair = b; b.pair = a;
  return [a, b];
}

/** The guest's NIC on the device end: frames it transmits go out as net0-send; net0-receive reaches it (asynchronously, as an interrupt would). */
class FakeNe2k implements Link {
  readonly mtu = 1500;
  #handler: ((f: Uint8Array) => void) | null = null;
  received = 0;
  constructor(readonly bus: BusEnd) {
    bus.register('net0-receive', (data) => {
      this.received++;
      const f = data as Uint8Array;
      queueMicrotask(() => this.#handler?.(f));
    });
  }
  send(frame: Uint8Array): void { const copy = frame.slice(); queueMicrotask(() => this.bus.send('net0-send', copy)); }
  onReceive(h: ((f: Uint8Array) => void) | null): void { this.#handler = h; }
  close(): void { this.#handler = null; }
}

describe('V86Link', () => {
  it('joins a stack to a v86-style NE2000 on the bus: a TCP connection carries 1 MiB both ways', async () => {
    const [adapterEnd, deviceEnd] = busPair();
    const nic = new FakeNe2k(deviceEnd);
    const emulator = { bus: adapterEnd, add_listener: (n: string, f: Listener) => adapterEnd.register(n, f), remove_listener: (n: string, f: Listener) => adapterEnd.unregister(n, f) };
    const link = new V86Link(emulator);
    const host = new Stack({ link, interfaces: [{ ip: '198.18.50.1/24' }] });
    const guest = new Stack({ link: nic, interfaces: [{ ip: '198.18.50.2/24' }] });
    try {
      const srv = netFor(host).createServer((s: Socket) => s.pipe(s));
      await new Promise<void>((r) => srv.listen({ port: 7, host: '198.18.50.1' }, r));
      const data = Buffer.alloc(1 << 20, 0);
      for (let i = 0; i < data.length; i++) data[i] = (i * 2654435761) >>> 24;
      const sock = netFor(guest).connect(7, '198.18.50.1');
      const chunks: Buffer[] = [];
      sock.on('data', (c: Buffer) => chunks.push(c));
      const done = new Promise<void>((resolve, reject) => { sock.once('end', resolve); sock.once('error', reject); });
      sock.end(data);
      await done;
      const back = Buffer.concat(chunks);
      expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
      expect(link.rxFrames).toBeGreaterThan(100);
      expect(link.txFrames).toBe(nic.received);
      srv.close();
    } finally {
      host.close(); guest.close();
    }
    link.close();
    expect(adapterEnd.listeners.get('net0-send')).toEqual([]);
  });

  it('takes the bus itself, another adapter number, and counts events that are not frames', () => {
    const [adapterEnd, deviceEnd] = busPair();
    const link = new V86Link(adapterEnd, { adapter: 1 });
    expect([link.sendEvent, link.receiveEvent]).toEqual(['net1-send', 'net1-receive']);
    const got: number[] = [];
    link.onReceive((f) => got.push(f.length));
    deviceEnd.send('net1-send', new Uint8Array(60));
    deviceEnd.send('net1-send', new Uint8Array(60).buffer);
    deviceEnd.send('net1-send', 'not a frame');
    deviceEnd.send('net1-send', new Uint8Array(5));
    deviceEnd.send('net1-send', new Uint8Array(1600));
    deviceEnd.send('net0-send', new Uint8Array(60)); // another adapter's
    expect(got).toEqual([60, 60]);
    expect(link.rxMalformed).toBe(3);
    const seen: Uint8Array[] = [];
    deviceEnd.register('net1-receive', (d) => seen.push(d as Uint8Array));
    const f = new Uint8Array(64).fill(7);
    link.send(f);
    f.fill(0); // the adapter got its own copy
    expect(seen.length).toBe(1);
    expect(seen[0]![0]).toBe(7);
  });

  it('refuses what is not a v86 emulator or bus', () => {
    expect(() => new V86Link({} as never)).toThrow(/v86 emulator/);
    expect(() => new V86Link(busPair()[0], { adapter: -1 })).toThrow(RangeError);
  });
});

describe('QEMU length-prefixed framing', () => {
  it('decodes any split of a stream of frames into the same frames', () => {
    let x = 12345;
    const rnd = (n: number) => { x = (x * 1103515245 + 12345) >>> 0; return x % n; };
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 500; i++) {
      const f = new Uint8Array(14 + rnd(1500));
      for (let j = 0; j < f.length; j++) f[j] = rnd(256);
      frames.push(f);
    }
    const stream = Buffer.concat(frames.map((f) => encodeLengthPrefixed(f)));
    for (const maxChunk of [1, 3, 7, 100, 1600, 5000, stream.length]) {
      const d = new LengthPrefixedDecoder(1514);
      const out: Buffer[] = [];
      let allOk = true;
      for (let off = 0; off < stream.length;) {
        const n = 1 + rnd(maxChunk);
        allOk &&= d.push(stream.subarray(off, off + n), (f) => out.push(Buffer.from(f)));
        off += n;
      }
      expect(allOk).toBe(true);
      expect(out.length).toBe(frames.length);
      for (let i = 0; i < frames.length; i++) expect(out[i]!.equals(Buffer.from(frames[i]!))).toBe(true);
      expect(d.pending).toBe(0);
    }
  });

  it('reports a zero or oversized length as a desynchronised stream and starts over', () => {
    const d = new LengthPrefixedDecoder(1514);
    const out: number[] = [];
    expect(d.push(Uint8Array.of(0, 0, 0, 0), (f) => out.push(f.length))).toBe(false);
    expect(d.push(Uint8Array.of(0, 0), (f) => out.push(f.length))).toBe(true);
    expect(d.push(Uint8Array.of(0x10, 0), (f) => out.push(f.length))).toBe(false); // 4096 > 1514
    expect(d.desynced).toBe(2);
    expect(d.pending).toBe(0);
    expect(d.push(encodeLengthPrefixed(new Uint8Array(60)), (f) => out.push(f.length))).toBe(true);
    expect(out).toEqual([60]);
  });
});
