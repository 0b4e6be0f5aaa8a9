/**
 * TapLink: a Link over a Linux TAP device, through the small N-API addon in native/tap.c.
 *
 * Receive: the addon polls the TAP fd on Node's own event loop (uv_poll), reads every pending frame
 * (up to a batch cap) into one receive area, and calls into JavaScript once per batch. By default the
 * link owns that area and hands each frame to the `onReceive` handler as a view that is only valid
 * during the call. A host that wants the frames elsewhere (for instance straight in WebAssembly memory)
 * supplies the area itself with `setReceiveBuffer` and takes whole batches with `onReceiveBatch`.
 *
 * Send: one non-blocking write(2) per frame; a frame the kernel does not take right away is counted in
 * `txDrops`, never queued.
 *
 * Configuration (netns move, IPv6 off, MTU, address, link up) runs `ip` (iproute2) and, for IPv6 in a
 * namespace, `ip netns exec NS sysctl`. All of it needs root or CAP_NET_ADMIN.
 *
 * The addon is built by `npm run build:native` into native/build/Release/wtcp_tap.node.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Link } from './link.js';

/** Opaque handle of the addon. */
declare const tapHandleBrand: unique symbol;
type TapHandle = { readonly [tapHandleBrand]: true };

interface TapAddon {
  open(name: string, exclusive: boolean): { handle: TapHandle; name: string; fd: number };
  setRxBuffer(h: TapHandle, data: Uint8Array, meta: Uint32Array, maxFrame: number, recordIface?: number): void;
  start(h: TapHandle, callback: (count: number, error?: Error) => void): void;
  stop(h: TapHandle): void;
  write(h: TapHandle, frame: Uint8Array): number;
  close(h: TapHandle): void;
  stats(h: TapHandle): { rxTruncated: number; rxBatches: number; rxFrames: number };
}

export interface TapLinkOptions {
  /** device name (at most 15 bytes); a kernel template such as "wtcp%d" picks a free one */
  name: string;
  /** CIDR such as "198.18.0.1/24": the address of the kernel's side of the link */
  hostAddress?: string;
  /** move the device into this existing network namespace after attaching (our fd stays valid) */
  netns?: string;
  /** set the device MTU (default: leave the kernel's, 1500 for a new TAP) */
  mtu?: number;
  /** sysctl net.ipv6.conf.<dev>.disable_ipv6=1 before the link goes up, so that no MLD/RS/DAD frames
   * appear (default true) */
  disableIpv6?: boolean;
  /** fail with EBUSY instead of attaching if a device of that name already exists (IFF_TUN_EXCL) */
  exclusive?: boolean;
  /** most frames delivered per batch when the link owns the receive area (default 256) */
  batchFrames?: number;
}

/**
 * Batch receiver: frame i is `data.subarray(meta[2 * i], meta[2 * i] + meta[2 * i + 1])`, for i below
 * `count`. The contents are only valid during the call.
 */
export type TapBatchHandler = (data: Uint8Array, meta: Uint32Array, count: number) => void;

const ADDON_FILE = 'wtcp_tap.node';
let addon: TapAddon | undefined;

function loadAddon(): TapAddon {
  if (addon) return addon;
  if (process.platform !== 'linux') {
    throw Object.assign(new Error(`TAP: TAP links need Linux (this is ${process.platform})`), {
      code: 'ERR_TAP_UNSUPPORTED',
    });
  }
  const require = createRequire(import.meta.url);
  // src/links/tap.ts (vitest, tsx) and dist/links/tap.js (compiled) both sit two levels below the
  // package root; the other candidates cover bundles and other layouts.
  const relative = [
    '../../native/build/Release/',
    '../native/build/Release/',
    '../../../native/build/Release/',
    './native/build/Release/',
    '../../native/build/Debug/',
  ];
  const candidates = [
    ...(process.env.WTCP_TAP_ADDON ? [process.env.WTCP_TAP_ADDON] : []),
    ...relative.map((dir) => fileURLToPath(new URL(dir + ADDON_FILE, import.meta.url))),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw Object.assign(
      new Error(
        `TAP: the native addon is not built: run \`npm run build:native\` (looked for ${candidates.join(', ')})`,
      ),
      { code: 'ERR_TAP_ADDON_MISSING' },
    );
  }
  addon = require(found) as TapAddon;
  return addon;
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) {
        resolve(stdout);
        return;
      }
      const why = (stderr || '').trim() || err.message;
      const notFound = (err as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        Object.assign(
          new Error(
            notFound
              ? `TAP: cannot run '${file}': install it (Debian: iproute2 for ip, procps for sysctl)`
              : `TAP: '${file} ${args.join(' ')}' failed: ${why}`,
          ),
          { code: notFound ? 'ENOENT' : 'ERR_TAP_CONFIG', cause: err },
        ),
      );
    });
  });
}

const align8 = (n: number): number => (n + 7) & ~7;

export class TapLink implements Link {
  /** the device's real name (what the kernel calls it) */
  readonly name: string;
  /** the device MTU: the largest IP packet the link carries */
  readonly mtu: number;
  /** the network namespace holding the device, if it was moved */
  readonly netns: string | undefined;

  readonly #addon: TapAddon;
  readonly #h: TapHandle;
  readonly #maxFrame: number;
  #rxData: Uint8Array;
  #rxMeta: Uint32Array;
  #handler: ((frame: Uint8Array) => void) | null = null;
  #batchHandler: TapBatchHandler | null = null;
  #errorHandler: ((error: Error) => void) | null = null;
  #closed = false;
  #rxFrames = 0;
  #rxBatches = 0;
  #txFrames = 0;
  #txDrops = 0;

  private constructor(
    a: TapAddon,
    h: TapHandle,
    name: string,
    mtu: number,
    netns: string | undefined,
    batchFrames: number,
  ) {
    this.#addon = a;
    this.#h = h;
    this.name = name;
    this.mtu = mtu;
    this.netns = netns;
    // Ethernet header plus one VLAN tag; the kernel never hands a TAP reader more than that.
    this.#maxFrame = mtu + 18;
    const slot = align8(this.#maxFrame);
    const bytes = Math.min(batchFrames * slot, Math.max(512 * 1024, 8 * slot));
    this.#rxData = new Uint8Array(bytes);
    this.#rxMeta = new Uint32Array(2 * batchFrames);
    a.setRxBuffer(h, this.#rxData, this.#rxMeta, this.#maxFrame);
    a.start(h, this.#onBatch);
  }

  /**
   * Attaches (creating if needed) the TAP device `opts.name`, optionally moves it into `opts.netns`,
   * turns IPv6 off on it, sets the MTU and the host address, and brings it up.
   */
  static async open(opts: TapLinkOptions): Promise<TapLink> {
    const a = loadAddon();
    if (typeof opts?.name !== 'string') throw new TypeError('TAP: opts.name must be a string');
    if (opts.hostAddress !== undefined && !/^[^/\s]+\/\d{1,3}$/.test(opts.hostAddress)) {
      throw new TypeError(`TAP: hostAddress must be CIDR like 198.18.0.1/24, got "${opts.hostAddress}"`);
    }
    if (opts.mtu !== undefined && !(Number.isInteger(opts.mtu) && opts.mtu >= 68 && opts.mtu <= 65521)) {
      throw new RangeError(`TAP: mtu must be an integer from 68 to 65521, got ${opts.mtu}`);
    }
    const batchFrames = opts.batchFrames ?? 256;
    if (!(Number.isInteger(batchFrames) && batchFrames >= 1 && batchFrames <= 65536)) {
      throw new RangeError(`TAP: batchFrames must be an integer from 1 to 65536, got ${batchFrames}`);
    }
    const { handle, name } = a.open(opts.name, opts.exclusive === true);
    try {
      const ns = opts.netns;
      const ip = (...args: string[]): Promise<string> => run('ip', ns ? ['-n', ns, ...args] : args);
      if (ns) await run('ip', ['link', 'set', 'dev', name, 'netns', ns]);
      if (opts.disableIpv6 !== false && existsSync('/proc/sys/net/ipv6')) {
        // slash form: a '.' in the device name stays a '.'
        const key = `net/ipv6/conf/${name}/disable_ipv6`;
        if (ns) await run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=1`]);
        else await writeFile(`/proc/sys/${key}`, '1');
      }
      if (opts.mtu !== undefined) await ip('link', 'set', 'dev', name, 'mtu', String(opts.mtu));
      if (opts.hostAddress !== undefined) await ip('addr', 'add', opts.hostAddress, 'dev', name);
      await ip('link', 'set', 'dev', name, 'up');
      const shown = await ip('-o', 'link', 'show', 'dev', name);
      const m = / mtu (\d+)/.exec(shown);
      const mtu = opts.mtu ?? (m ? Number(m[1]) : 1500);
      return new TapLink(a, handle, name, mtu, ns, batchFrames);
    } catch (err) {
      a.close(handle); // a device the kernel created for us disappears with the fd
      throw err;
    }
  }

  /** frames read from the device (delivered or not) */
  get rxFrames(): number {
    return this.#rxFrames;
  }
  /** JS calls the addon made to deliver those frames */
  get rxBatches(): number {
    return this.#rxBatches;
  }
  /** frames longer than mtu + 18 that the kernel cut short: dropped */
  get rxTruncated(): number {
    return this.#addon.stats(this.#h).rxTruncated;
  }
  /** frames the kernel accepted */
  get txFrames(): number {
    return this.#txFrames;
  }
  /** frames the kernel refused (EAGAIN, ENOBUFS, EIO while the device is down, ...) */
  get txDrops(): number {
    return this.#txDrops;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** the receive area's frame capacity: mtu plus the Ethernet header and one VLAN tag */
  get maxFrame(): number {
    return this.#maxFrame;
  }

  send(frame: Uint8Array): void {
    if (this.#closed) {
      throw Object.assign(new Error(`TAP: send on closed link ${this.name}`), { code: 'ERR_TAP_CLOSED' });
    }
    if (this.#addon.write(this.#h, frame) >= 0) this.#txFrames++;
    else this.#txDrops++;
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
  }

  /** Takes whole batches instead of single frames; while set, the `onReceive` handler is not called. */
  onReceiveBatch(handler: TapBatchHandler | null): void {
    this.#batchHandler = handler;
  }

  /**
   * Errors after open (device deleted under us, receive area detached): the receiving stops. Without
   * a handler they become process warnings.
   */
  onError(handler: ((error: Error) => void) | null): void {
    this.#errorHandler = handler;
  }

  /**
   * Reads the next batches into `data` (e.g. a view into WebAssembly memory), one frame per 8-aligned
   * slot of up to `maxFrame` bytes (or as input records, see `recordIface`), and records [offset, length] pairs in `meta` (at most
   * meta.length / 2 frames per batch). The views are re-checked before each batch: if they became
   * detached (memory.grow), receiving stops with an ERR_TAP_RX_BUFFER error until new views come here.
   */
  setReceiveBuffer(data: Uint8Array, meta: Uint32Array, opts: { recordIface?: number } = {}): void {
    if (this.#closed) return;
    // with recordIface the frames are laid out as the core's input records (a 4-byte
    // [length][interface] header each, 4-aligned): the Stack reads a batch into its core's memory
    // and inputs it where it lies
    this.#addon.setRxBuffer(this.#h, data, meta, this.#maxFrame, opts.recordIface);
    this.#rxData = data;
    this.#rxMeta = meta;
    this.#addon.start(this.#h, this.#onBatch);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    this.#batchHandler = null;
    this.#addon.close(this.#h);
  }

  #onBatch = (count: number, error?: Error): void => {
    let failed = false;
    let firstError: unknown;
    if (count > 0) {
      this.#rxFrames += count;
      this.#rxBatches++;
      const batch = this.#batchHandler;
      if (batch) {
        try {
          batch(this.#rxData, this.#rxMeta, count);
        } catch (e) {
          failed = true;
          firstError = e;
        }
      } else {
        const data = this.#rxData;
        const meta = this.#rxMeta;
        for (let i = 0; i < count; i++) {
          const handler = this.#handler; // it may change or go away (close) inside the loop
          if (!handler) break;
          const off = meta[2 * i]!;
          try {
            handler(data.subarray(off, off + meta[2 * i + 1]!));
          } catch (e) {
            if (!failed) {
              failed = true;
              firstError = e;
            }
          }
        }
      }
    }
    if (error && !this.#closed) {
      const h = this.#errorHandler;
      if (h) h(error);
      else process.emitWarning(error);
    }
    // a throwing handler does not cost the rest of the batch; its error surfaces afterwards
    if (failed) throw firstError;
  };
}
