/**
 * DelayLink: wraps a Link and delays every frame it RECEIVES (frames travelling from the kernel
 * clients to the stack) by a fixed time, keeping their order; frames the stack sends pass at once.
 *
 * It is the stack target's copy of relay.py's one-way delay, so that both targets see the same
 * client->server delay and a burst's SYNs all arrive before any third ACK (see scenarios.ts TIMING).
 * Called by: stack-target.ts.
 */
import type { Link } from '../../src/links/link.js';

export class DelayLink implements Link {
  readonly mtu: number;
  #handler: ((frame: Uint8Array) => void) | null = null;
  #queue: Array<{ at: number; frame: Uint8Array }> = [];
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** how late (ms) a held frame was released at worst: the event loop was busy (host disturbance) */
  maxLateMs = 0;

  constructor(
    private readonly inner: Link,
    readonly delayMs: number,
  ) {
    this.mtu = inner.mtu;
    inner.onReceive((frame) => {
      if (this.#closed) return;
      // the view is only valid during this call (Link contract): copy it
      this.#queue.push({ at: performance.now() + delayMs, frame: frame.slice() });
      this.#arm();
    });
  }

  #arm(): void {
    if (this.#timer || this.#queue.length === 0) return;
    const wait = Math.max(0, this.#queue[0]!.at - performance.now());
    this.#timer = setTimeout(this.#release, wait);
  }

  #release = (): void => {
    this.#timer = null;
    const now = performance.now();
    while (this.#queue.length && this.#queue[0]!.at <= now + 0.5) {
      const { at, frame } = this.#queue.shift()!;
      this.maxLateMs = Math.max(this.maxLateMs, now - at);
      this.#handler?.(frame);
    }
    this.#arm();
  };

  send(frame: Uint8Array): void {
    this.inner.send(frame);
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
  }

  close(): void | Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#queue = [];
    this.#handler = null;
    return this.inner.close();
  }
}
