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
import { MemoryLink } from '../../src/links/memory.js';
import { parsePcap } from '../helpers/pcap.js';
import { captureCorpus } from './capture.js';
import {
  batchArb, runArb, FUZZ_CONFIGS, loadCorpus, materialise, pcapBytes, replayFrames, runBatch, runSpecBatch, setup, teardown,
  STACK_MAC, LISTEN_PORT, type FrameSpec,
} from './harness.js';

const SEED = process.env.WTCP_FUZZ_SEED !== undefined ? Number(process.env.WTCP_FUZZ_SEED) : 0x5eed_0006;
const RUNS = Number(process.env.WTCP_FUZZ_RUNS ?? 250);
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
    it(`${config.name}: ${RUNS} batches, each checked`, async () => {
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
      for (const f of corpusFiles) await replayFrames(config, f.frames).catch((e: Error) => {
        throw new Error(`${f.name}: ${e.message}`);
      });
    });
  }
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
