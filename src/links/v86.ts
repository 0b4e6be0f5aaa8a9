/**
 * V86Link: a stack joined to the network adapter of a v86 emulator in the same page (or process),
 * with no relay in between. v86's NE2000 adapter publishes each frame the guest transmits as a
 * `net0-send` event on the emulator's bus and takes frames for the guest as `net0-receive`
 * events; this link listens to the first and sends the second, so the guest's Linux and the stack
 * share one Ethernet segment.
 *
 * Pass the emulator (`new V86(...)`: it has `add_listener` / `remove_listener` and `bus.send`) or
 * its bus (`register` / `unregister` / `send`). `adapter` picks `netN` for machines with several.
 */
import type { Link } from './link.js';

interface V86BusLike {
  register(name: string, fn: (data: unknown) => void, thisValue?: unknown): void;
  unregister?(name: string, fn: (data: unknown) => void): void;
  send(name: string, data?: unknown): void;
}
interface V86EmulatorLike {
  add_listener(name: string, fn: (data: unknown) => void): void;
  remove_listener?(name: string, fn: (data: unknown) => void): void;
  bus: { send(name: string, data?: unknown): void };
}
export type V86Target = V86EmulatorLike | V86BusLike;

export interface V86LinkOptions {
  /** which adapter: 0 for net0 (default) */
  adapter?: number;
  /** largest IP packet, default 1500 (v86's NE2000 takes standard Ethernet frames) */
  mtu?: number;
}

export class V86Link implements Link {
  readonly mtu: number;
  readonly sendEvent: string;
  readonly receiveEvent: string;
  /** frames from the guest handed to the stack */
  rxFrames = 0;
  /** frames to the guest */
  txFrames = 0;
  /** events from the guest that were not a frame (wrong type, too short or too long) */
  rxMalformed = 0;

  readonly #on: (name: string, fn: (data: unknown) => void) => void;
  readonly #off: (name: string, fn: (data: unknown) => void) => void;
  readonly #emit: (name: string, data: unknown) => void;
  readonly #listener = (data: unknown) => this.#fromGuest(data);
  #handler: ((frame: Uint8Array) => void) | null = null;
  #closed = false;

  constructor(target: V86Target, opts: V86LinkOptions = {}) {
    const adapter = opts.adapter ?? 0;
    if (!Number.isInteger(adapter) || adapter < 0) throw new RangeError(`V86Link adapter must be an integer >= 0, got ${adapter}`);
    const mtu = opts.mtu ?? 1500;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`V86Link mtu must be an integer 68..65535, got ${mtu}`);
    this.mtu = mtu;
    this.sendEvent = `net${adapter}-send`;
    this.receiveEvent = `net${adapter}-receive`;
    const t = target as Partial<V86EmulatorLike & V86BusLike>;
    if (typeof t?.add_listener === 'function' && typeof t.bus?.send === 'function') {
      const emu = t as V86EmulatorLike;
      this.#on = (n, f) => emu.add_listener(n, f);
      this.#off = (n, f) => emu.remove_listener?.(n, f);
      this.#emit = (n, d) => emu.bus.send(n, d);
    } else if (typeof t?.register === 'function' && typeof t.send === 'function') {
      const bus = t as V86BusLike;
      this.#on = (n, f) => bus.register(n, f, undefined);
      this.#off = (n, f) => bus.unregister?.(n, f);
      this.#emit = (n, d) => bus.send(n, d);
    } else {
      throw new TypeError('V86Link needs a v86 emulator (add_listener, bus.send) or its bus (register, send)');
    }
    this.#on(this.sendEvent, this.#listener);
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void { this.#handler = handler; }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    this.txFrames++;
    // the adapter keeps what it is given (it queues frames for the guest): hand it its own copy
    this.#emit(this.receiveEvent, frame.slice());
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    this.#off(this.sendEvent, this.#listener);
  }

  #fromGuest(data: unknown): void {
    if (this.#closed) return;
    let f: Uint8Array;
    if (data instanceof Uint8Array) f = data;
    else if (data instanceof ArrayBuffer) f = new Uint8Array(data);
    else if (ArrayBuffer.isView(data)) f = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    else { this.rxMalformed++; return; }
    if (f.length < 14 || f.length > this.mtu + 14) { this.rxMalformed++; return; }
    this.rxFrames++;
    this.#handler?.(f);
  }
}
