// Two wtcp core instances joined in memory, as two hosts on one Ethernet segment: A is 198.18.0.1
// (MAC 02:00:00:00:00:01), B is 198.18.0.2 (MAC 02:00:00:00:00:02), each on the other's /24. The
// "wire" is pump(): the frames one core queued in its output area are copied (one copy per batch,
// as MemoryLink does) into the other's input area and handed to input(), back and forth until both
// are quiet. Everything else is the cores' own work: segmentation, checksums computed on output and
// verified on input, ACK processing, receive buffers, timers.
import { makeStack } from './wtcp.mjs';
import { ip4 } from './frames.mjs';

export const A_IP = ip4('198.18.0.1');
export const B_IP = ip4('198.18.0.2');
const A_MAC = [0x02, 0, 0, 0, 0, 0x01];
const B_MAC = [0x02, 0, 0, 0, 0, 0x02];

/**
 * opts: { maxConn, maxListeners, rxChunks, knobs, ports (B listens on each), backlog, now }
 * Returns { a, b, listeners: Map(port -> listener handle on B) }.
 */
export async function makePair(opts = {}) {
  const common = {
    maxListeners: opts.maxListeners ?? 64, maxSyn: opts.maxSyn ?? 4096, maxConn: opts.maxConn ?? 4096,
    rxChunks: opts.rxChunks ?? 1024, knobs: opts.knobs, now: opts.now ?? 0, listen: false,
  };
  const a = await makeStack({ ...common, maxConn: opts.maxConnA ?? common.maxConn, ip: A_IP, macLo: 1, peerIp: B_IP, peerMac: B_MAC, gateway: B_IP });
  const b = await makeStack({ ...common, maxConn: opts.maxConnB ?? common.maxConn, ip: B_IP, macLo: 2, peerIp: A_IP, peerMac: A_MAC, gateway: A_IP });
  const listeners = new Map();
  for (const port of opts.ports ?? [80]) {
    const l = b.w.listenerOpen(0, port, opts.backlog ?? 65535, 0);
    if (l < 0) throw new Error(`listenerOpen ${port}: ${l}`);
    listeners.set(port, l);
  }
  return new Pair(a, b, listeners);
}

export class Pair {
  constructor(a, b, listeners) {
    this.a = a; this.b = b; this.listeners = listeners;
    this.inCap = a.w.inputCap();
    this.frames = 0;      // frames carried
    this.bytes = 0;       // frame bytes carried
  }

  /** Move src's queued output frames into dst and process them; false when src had none. */
  move(src, dst, now) {
    const sw = src.w, dw = dst.w;
    const count = sw.outputCount();
    if (count === 0) { sw.eventsReset(); return false; }
    const len = sw.outputLen();
    const sm = src.mem(), dm = dst.mem();
    const out = sw.outputPtr(), inp = dw.inputPtr();
    this.frames += count;
    if (len <= this.inCap) {
      dm.set(sm.subarray(out, out + len), inp);
      sw.outputReset(); sw.eventsReset();
      dw.input(count, now);
      this.bytes += len;
      return true;
    }
    // more than one input area's worth: split on record boundaries. The records must be taken out
    // of src first (dst's input() may not touch src, but src's area is reset only once).
    let off = 0, n = 0, start = 0;
    const batches = [];
    for (let i = 0; i < count; i++) {
      const rl = (4 + (sm[out + off] | (sm[out + off + 1] << 8)) + 3) & ~3;
      if (off + rl - start > this.inCap) { batches.push([start, off, n]); start = off; n = 0; }
      off += rl; n++;
    }
    batches.push([start, off, n]);
    const copy = sm.slice(out, out + len);   // rare path (bulk bursts bigger than 256 KiB)
    sw.outputReset(); sw.eventsReset();
    for (const [s, e, k] of batches) {
      dm.set(copy.subarray(s, e), inp);
      dw.input(k, now);
    }
    this.bytes += len;
    return true;
  }

  /** Carry frames both ways until neither side has anything queued. Returns rounds taken. */
  pump(now, maxRounds = 1000) {
    let r = 0;
    for (; r < maxRounds; r++) {
      const x = this.move(this.a, this.b, now);
      const y = this.move(this.b, this.a, now);
      if (!x && !y) break;
    }
    return r;
  }
}
