// The frame input path under fast-check (a bounded, seeded sample; `npm run fuzz -- --seconds N`
// runs the same property for as long as asked): structured Ethernet / ARP / IPv4 / ICMP / TCP frames
// with every header field, length, checksum and option byte open, random bytes, and mutations of the
// captured traffic in test/fuzz/corpus/, in batches against a fresh stack of each personality.
// After every batch (test/fuzz/harness.ts): no abort, no memory growth, counters consistent and
// monotonic, and a normal connection still completes. Every corpus file (captured traffic, and any
// failure `npm run fuzz` saved) is replayed whole against every personality.
//
// Reproduce a failure: WTCP_FUZZ_SEED=<seed printed by fast-check> npx vitest run test/fuzz/frames.test.ts
import fc from 'fast-check';
import { describe, it, expect } from 'vitest';
import { encodeLengthPrefixed, LengthPrefixedDecoder } from '../../src/links/framing.js';
import { MemoryLink } from '../../src/links/memory.js';
import { WebSocketLink, type WebSocketLike } from '../../src/links/websocket.js';
import { V86Link } from '../../src/links/v86.js';
import { VirtualClock } from '../../src/clock.js';
import { Stack } from '../../src/stack.js';
import { parsePcap } from '../helpers/pcap.js';
import { captureCorpus } from './capture.js';
import {
  batchArb, runArb, FUZZ_CONFIGS, loadCorpus, materialise, pcapBytes, replayFrames, runBatch, runSpecBatch, setup, teardown,
  STACK_MAC, LISTEN_PORT, type FrameSpec,
} from './harness.js';

const SEED = process.env.WTCP_FUZZ_SEED !== undefined ? Number(process.env.WTCP_FUZZ_SEED) : 0x5eed_0006;
const RUNS = Number(process.env.WTCP_FUZZ_RUNS ?? 400);
const corpusFiles = loadCorpus();
const corpus = corpusFiles.map((f) => f.frames);

describe('fuzz corpus (test/fuzz/corpus/)', () => {
  it('holds the captured traffic: every file a classic Ethernet pcap with frames', () => {
    const names = corpusFiles.map((f) => f.name);
    for (const want of ['conversation-linux-5.4.pcap', 'conversation-freebsd-12.1.pcap', 'conversation-4.3bsd.pcap',
      'synflood-linux-5.4-cookies.pcap', 'synflood-freebsd-12.1.pcap', 'synflood-4.3bsd.pcap', 'arp-ping.pcap']) {
      expect(names).toContain(want);
    }
    for (const f of corpusFiles) expect(f.frames.length, f.name).toBeGreaterThan(0);
  });

  it('is reproducible: a fresh capture equals the committed files byte for byte', async () => {
    const fresh = await captureCorpus();
    for (const [name, frames] of fresh) {
      const committed = corpusFiles.find((f) => f.name === name);
      expect(committed, name).toBeDefined();
      expect(pcapBytes(frames), name).toEqual(pcapBytes(committed?.frames ?? []));
    }
    // the SYN-flood captures carry what they are named for: cookies (Linux), the syncache's
    // retransmitted SYN-ACKs (FreeBSD)
    const synAcks = (name: string) => (fresh.get(name) ?? []).filter((f) => f.length >= 54 && f[47] === 0x12).length;
    expect(synAcks('synflood-linux-5.4-cookies.pcap')).toBe(24);
    expect(synAcks('synflood-freebsd-12.1.pcap')).toBeGreaterThan(24);
  });

  it('pcapBytes round-trips through the pcap reader', () => {
    const frames = [Uint8Array.of(1, 2, 3), new Uint8Array(60).fill(7)];
    const back = parsePcap(pcapBytes(frames));
    expect(back.header.linktype).toBe(1);
    expect(back.records.map((r) => [...r.frame])).toEqual(frames.map((f) => [...f]));
  });
});

describe('fuzz harness: its checks can fail', () => {
  it('reports WebAssembly memory growth', async () => {
    const h = await setup(FUZZ_CONFIGS[0]!, corpus);
    try {
      h.stack.core.x.memory.grow(1);
      await expect(runBatch(h, [], 0)).rejects.toThrow(/memory grew/);
    } finally {
      teardown(h);
    }
  });

  it('reports frames the counters did not see', async () => {
    const h = await setup(FUZZ_CONFIGS[0]!, corpus);
    try {
      h.link.onTap(undefined); // a frame reaches the stack without the harness counting it
      await expect(runBatch(h, [new Uint8Array(60)], 0)).rejects.toThrow(/WtcpInFrames rose by 1, 0 frames/);
    } finally {
      teardown(h);
    }
  });

  it('reports a normal connection that cannot complete (the listener closed)', async () => {
    const { normalConnection } = await import('./harness.js');
    const h = await setup(FUZZ_CONFIGS[0]!, corpus);
    try {
      h.stack.bsd.close(h.listenFd);
      await expect(normalConnection(h)).rejects.toThrow(/did not complete/);
    } finally {
      teardown(h);
    }
  });

  it('materialises structured frames against the live connection', async () => {
    const h = await setup(FUZZ_CONFIGS[0]!, corpus);
    try {
      const spec = fc.sample(batchArb({ maxFrames: 1, corpus: false }), { seed: 1, numRuns: 200 })
        .flatMap((b) => b.frames).find((s): s is Extract<FrameSpec, { proto: 'tcp' }> => s.proto === 'tcp' && s.to === 'connection');
      expect(spec).toBeDefined();
      const f = materialise(spec!, h.ctx);
      expect([...f.subarray(0, 6)]).toEqual(spec!.eth.dst === 'us' ? STACK_MAC.split(':').map((x) => parseInt(x, 16)) : [...f.subarray(0, 6)]);
      const ihl = ((f[14] as number) & 15) * 4;
      if (spec!.ip.versionIhl === null && f.length >= 14 + ihl + 4) {
        expect(((f[14 + ihl] as number) << 8) | (f[15 + ihl] as number)).toBe(h.ctx.conn.sport);
        expect(((f[16 + ihl] as number) << 8) | (f[17 + ihl] as number)).toBe(LISTEN_PORT);
      }
    } finally {
      teardown(h);
    }
  });
});

describe('fuzz: random and structured frames, mutated corpus frames (fast-check)', () => {
  for (const config of FUZZ_CONFIGS) {
    it(`${config.name}: ${RUNS} runs of 1-3 batches on a fresh stack, each batch checked`, async () => {
      await fc.assert(
        fc.asyncProperty(runArb({ maxFrames: 24, corpus: corpus.length > 0, maxRounds: 3 }), (rounds) => runSpecBatch(config, corpus, rounds)),
        { seed: SEED, numRuns: RUNS },
      );
    });
  }
});

describe('fuzz: corpus replay', () => {
  for (const config of FUZZ_CONFIGS) {
    it(`${config.name}: every corpus file, frame by frame as captured`, async () => {
      for (const f of corpusFiles) await replayFrames(config, f.frames, f.times).catch((e: Error) => {
        throw new Error(`${f.name}: ${e.message}`);
      });
    });
  }
});

describe('fuzz: the QEMU length-prefixed stream (what a WebSocket or socket link decodes first)', () => {
  it('frames split at any chunk boundaries come out whole and in order', () => {
    fc.assert(fc.property(
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 1600 }), { maxLength: 8 }),
      fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 10 }),
      (frames, cuts) => {
        const stream = Uint8Array.from(frames.flatMap((f) => [...encodeLengthPrefixed(f)]));
        const d = new LengthPrefixedDecoder();
        const out: number[][] = [];
        let off = 0;
        for (let i = 0; off < stream.length; i++) {
          const n = cuts[i % cuts.length] as number;
          expect(d.push(stream.subarray(off, off + n), (f) => out.push([...f]))).toBe(true);
          off += n;
        }
        expect(out).toEqual(frames.map((f) => [...f]));
        expect(d.pending).toBe(0);
      },
    ), { seed: SEED, numRuns: 300 });
  });

  it('any bytes: never throws, never yields an empty frame or one above maxFrame, never holds more than one frame', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }), fc.integer({ min: 14, max: 4000 }), (chunks, maxFrame) => {
      const d = new LengthPrefixedDecoder(maxFrame);
      for (const c of chunks) {
        d.push(c, (f) => {
          expect(f.length).toBeGreaterThan(0);
          expect(f.length).toBeLessThanOrEqual(maxFrame);
        });
        expect(d.pending).toBeLessThanOrEqual(maxFrame + 4);
      }
    }), { seed: SEED, numRuns: 300 });
  });
});

/** A WebSocket whose messages the test writes: the relay side of a WebSocketLink. */
class FakeWebSocket implements WebSocketLike {
  static last: FakeWebSocket | undefined;
  binaryType = 'blob';
  readyState = 1;
  bufferedAmount = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code?: number; reason?: unknown }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  sent: (Uint8Array | string)[] = [];
  closed = false;
  constructor() { FakeWebSocket.last = this; }
  send(data: Uint8Array | string): void { this.sent.push(data); }
  close(): void { this.closed = true; }
}

describe('fuzz: WebSocket messages into a stack (WebSocketLink, both framings)', () => {
  const message = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ maxLength: 20 }).map((t) => `ping:${t}`),
    fc.uint8Array({ maxLength: 1600 }).map((b) => b.buffer as ArrayBuffer),
    fc.uint8Array({ maxLength: 1600 }),
    fc.array(fc.uint8Array({ maxLength: 400 }), { maxLength: 4 }),
    fc.constantFrom(null, 5, {}, undefined),
  );
  for (const framing of ['frame', 'qemu'] as const) {
    it(`${framing}: any messages: nothing throws, every delivered frame reaches the core, pings are answered`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(message, { maxLength: 30 }), async (msgs) => {
        const link = new WebSocketLink({ url: 'ws://198.18.0.1:1/relay', framing, WebSocket: FakeWebSocket as never, reconnect: false });
        const ws = FakeWebSocket.last!;
        ws.onopen?.({});
        const stack = new Stack({ link, clock: new VirtualClock(), interfaces: [{ ip: '198.18.0.2/24' }], seed: 3, limits: { listeners: 2, synEntries: 64, connections: 16, rxBufferBytes: 64 * 1024, arpEntries: 8 } });
        const errors: Error[] = [];
        stack.on('error', (e) => errors.push(e));
        let pings = 0;
        for (const m of msgs) {
          if (typeof m === 'string' && m.startsWith('ping:')) pings++;
          ws.onmessage?.({ data: m });
          if (ws.closed) break; // a bad length prefix closes the connection (qemu framing)
        }
        await new Promise((r) => setImmediate(r));
        expect(errors).toEqual([]);
        expect(stack.core.aborted).toBeUndefined();
        expect(stack.counters().WtcpInFrames + stack.rxDropped).toBe(link.stats.rxFrames);
        if (!ws.closed) expect(ws.sent.filter((x) => typeof x === 'string' && x.startsWith('pong:')).length).toBe(pings);
        stack.close();
        link.close();
      }), { seed: SEED, numRuns: 150 });
    });
  }
});

describe('fuzz: v86 net0-send events into a stack (V86Link)', () => {
  it('any event data: nothing throws, frames of a possible size reach the core, the rest are counted', async () => {
    const data = fc.oneof(
      fc.uint8Array({ maxLength: 1600 }),
      fc.uint8Array({ maxLength: 1600 }).map((b) => b.buffer as ArrayBuffer),
      fc.uint8Array({ maxLength: 200 }).map((b) => new DataView(b.buffer)),
      fc.constantFrom(null, undefined, 'frame', 42, {}, []),
    );
    await fc.assert(fc.asyncProperty(fc.array(data, { maxLength: 30 }), async (events) => {
      let listener: ((d: unknown) => void) | undefined;
      const bus = { register: (_n: string, f: (d: unknown) => void) => { listener = f; }, send: () => undefined };
      const link = new V86Link(bus as never);
      const stack = new Stack({ link, clock: new VirtualClock(), interfaces: [{ ip: '198.18.0.2/24' }], seed: 4, limits: { listeners: 2, synEntries: 64, connections: 16, rxBufferBytes: 64 * 1024, arpEntries: 8 } });
      for (const e of events) listener?.(e);
      await new Promise((r) => setImmediate(r));
      expect(stack.core.aborted).toBeUndefined();
      expect(link.rxFrames + link.rxMalformed).toBe(events.length);
      expect(stack.counters().WtcpInFrames + stack.rxDropped).toBe(link.rxFrames);
      stack.close();
      link.close();
    }), { seed: SEED, numRuns: 100 });
  });
});

describe('fuzz: the link contract', () => {
  it('a frame view reused by the link after delivery does not change what the stack saw', async () => {
    // the harness sends through MemoryLink, which copies; check that assumption holds
    const [a, b] = MemoryLink.pair();
    const got: number[] = [];
    a.onReceive((f) => got.push(f[0] as number));
    const buf = Uint8Array.of(1, 2, 3);
    b.send(buf);
    buf[0] = 9;
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([1]);
  });
});
