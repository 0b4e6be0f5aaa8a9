// The classic pcap format of src/links/pcap.ts, byte by byte, read back by test/helpers/pcap.ts.
import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../src/clock.js';
import { MemoryLink } from '../../src/links/memory.js';
import { PcapLink, PcapWriter } from '../../src/links/pcap.js';
import { parsePcap } from '../helpers/pcap.js';

function joined(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

describe('PcapWriter', () => {
  it('writes the 24-byte global header at once: magic a1b2c3d4 little-endian, 2.4, snaplen, LINKTYPE_ETHERNET', () => {
    const chunks: Uint8Array[] = [];
    new PcapWriter((c) => chunks.push(c), { snaplen: 1600 });
    expect(chunks.length).toBe(1);
    expect([...chunks[0]!]).toEqual([
      0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x06, 0, 0, 1, 0, 0, 0,
    ]);
  });

  it('writes 16-byte record headers with microsecond timestamps (rounded, carried into seconds) and cuts at snaplen', () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter((c) => chunks.push(c), { snaplen: 60 });
    const frame = Uint8Array.from({ length: 100 }, (_, i) => i);
    w.write(frame, 1_700_000_000_123.4564);
    w.write(frame.subarray(0, 42), 1999.9999996); // rounds up to exactly 2 s
    const f = parsePcap(joined(chunks));
    expect(f.header).toMatchObject({ littleEndian: true, nanoseconds: false, snaplen: 60, linktype: 1 });
    expect(f.records.map((r) => [r.timeUs, r.capturedLength, r.origLength])).toEqual([
      [1_700_000_000_123_456, 60, 100],
      [2_000_000, 42, 42],
    ]);
    expect([...f.records[0]!.frame]).toEqual([...frame.subarray(0, 60)]);
    expect(w.records).toBe(2);
    expect(w.bytes).toBe(24 + 16 + 60 + 16 + 42);
  });

  it('validates its options', () => {
    expect(() => new PcapWriter((() => {}) as never, { snaplen: 0 })).toThrow(RangeError);
    expect(() => new PcapWriter('x' as never)).toThrow(TypeError);
    expect(() => new PcapWriter(() => {}).write(new Uint8Array(1), Number.NaN)).toThrow(/timeMs/);
  });
});

describe('PcapLink', () => {
  it('records both directions in the order they cross, stamped by the clock plus epoch, and passes frames through', async () => {
    const clock = new VirtualClock(5);
    const [a, b] = MemoryLink.pair();
    const chunks: Uint8Array[] = [];
    const link = new PcapLink(a, (c) => chunks.push(c), { clock, epoch: 1000 });
    const got: number[] = [];
    link.onReceive((f) => got.push(f[0]!));
    b.onReceive(() => {});
    link.send(Uint8Array.of(1, 1, 1));
    clock.advance(2.5);
    b.send(Uint8Array.of(2, 2));
    await Promise.resolve();
    expect(got).toEqual([2]);
    const f = parsePcap(joined(chunks));
    expect(f.records.map((r) => [r.timeUs, r.frame[0]])).toEqual([
      [1_005_000, 1],
      [1_007_500, 2],
    ]);
    expect(b.received).toBe(1);
  });

  it("direction 'out' or 'in' records one side only; close() closes the inner link", async () => {
    for (const direction of ['out', 'in'] as const) {
      const [a, b] = MemoryLink.pair();
      const chunks: Uint8Array[] = [];
      const link = new PcapLink(a, (c) => chunks.push(c), { clock: new VirtualClock(), direction });
      link.onReceive(() => {});
      b.onReceive(() => {});
      link.send(Uint8Array.of(1));
      b.send(Uint8Array.of(2));
      await Promise.resolve();
      expect(parsePcap(joined(chunks)).records.map((r) => r.frame[0])).toEqual([direction === 'out' ? 1 : 2]);
      await link.close();
      expect(a.closed).toBe(true);
    }
    expect(() => new PcapLink(MemoryLink.pair()[0], () => {}, { direction: 'x' as never })).toThrow(RangeError);
  });
});
