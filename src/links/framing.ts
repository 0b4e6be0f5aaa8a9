/**
 * The QEMU socket-stream framing: each Ethernet frame is preceded by its length as a 4-byte
 * big-endian integer, on a byte stream (QEMU's `-netdev stream` / `-netdev socket`, and
 * container2wasm's networking, which carries the same stream over WebSocket messages without
 * regard to frame boundaries). The encoder prefixes one frame; the decoder takes chunks of any size
 * and hands out whole frames.
 *
 * A length of 0 or above `maxFrame` cannot be resynchronised on a stream: the decoder reports it
 * (`desynced`), drops what it holds and the owner decides (the WebSocket link reconnects).
 */

export function encodeLengthPrefixed(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + frame.length);
  new DataView(out.buffer).setUint32(0, frame.length, false);
  out.set(frame, 4);
  return out;
}

export class LengthPrefixedDecoder {
  readonly maxFrame: number;
  /** frames decoded */
  frames = 0;
  /** times the stream carried an impossible length (0, or above maxFrame) */
  desynced = 0;
  #buf: Uint8Array;
  #len = 0;

  constructor(maxFrame = 65535 + 14) {
    if (!Number.isInteger(maxFrame) || maxFrame < 14) throw new RangeError(`maxFrame must be an integer >= 14, got ${maxFrame}`);
    this.maxFrame = maxFrame;
    this.#buf = new Uint8Array(Math.min(maxFrame + 4, 16384));
  }

  /** bytes held that do not yet make a whole frame */
  get pending(): number { return this.#len; }

  reset(): void { this.#len = 0; }

  /**
   * Feed bytes; `onFrame` gets each whole frame (a view valid only during the call). Returns false
   * if the stream desynchronised (what was held is dropped; later bytes start a new stream).
   */
  push(chunk: Uint8Array, onFrame: (frame: Uint8Array) => void): boolean {
    let off = 0;
    // fast path: nothing held, take whole frames straight from the chunk
    while (this.#len === 0 && chunk.length - off >= 4) {
      const n = readU32(chunk, off);
      if (n === 0 || n > this.maxFrame) return this.#desync();
      if (chunk.length - off - 4 < n) break;
      this.frames++;
      onFrame(chunk.subarray(off + 4, off + 4 + n));
      off += 4 + n;
    }
    while (off < chunk.length) {
      // header first, then the body it announces
      const need = this.#len < 4 ? 4 : 4 + readU32(this.#buf, 0);
      const take = Math.min(need - this.#len, chunk.length - off);
      this.#ensure(this.#len + take);
      this.#buf.set(chunk.subarray(off, off + take), this.#len);
      this.#len += take;
      off += take;
      if (this.#len === 4) {
        const n = readU32(this.#buf, 0);
        if (n === 0 || n > this.maxFrame) return this.#desync();
      } else if (this.#len === need && need > 4) {
        this.frames++;
        this.#len = 0;
        onFrame(this.#buf.subarray(4, need));
      }
    }
    return true;
  }

  #desync(): false {
    this.desynced++;
    this.#len = 0;
    return false;
  }

  #ensure(n: number): void {
    if (n <= this.#buf.length) return;
    const b = new Uint8Array(Math.max(n, this.#buf.length * 2));
    b.set(this.#buf.subarray(0, this.#len));
    this.#buf = b;
  }
}

function readU32(b: Uint8Array, off: number): number {
  return (((b[off] as number) << 24) | ((b[off + 1] as number) << 16) | ((b[off + 2] as number) << 8) | (b[off + 3] as number)) >>> 0;
}
