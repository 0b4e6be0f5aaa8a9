/**
 * Packet capture in the classic libpcap format (what `tcpdump -w` writes and `tcpdump -r`,
 * `tshark -r` and Wireshark read), as a Link wrapper that records both directions:
 *
 *   const chunks: Uint8Array[] = [];
 *   const link = new PcapLink(inner, (chunk) => chunks.push(chunk), { clock });
 *   new Stack({ link, clock, ... });
 *   // later: new Blob(chunks) in a browser, or src/links/pcap-file.ts in Node
 *
 * The sink receives the 24-byte global header at once (in the constructor), then one chunk per
 * frame: its 16-byte record header followed by the captured bytes. Chunks are fresh copies the sink
 * may keep. Timestamps come from a Clock, in microseconds: clock time plus `epoch` (milliseconds
 * since 1970 that clock time 0 stands for; default performance.timeOrigin for a RealClock, whose
 * time counts from there, and 0 for any other clock, so a VirtualClock's captures start at
 * 1970-01-01 00:00:00 and read as elapsed time).
 *
 * Format (pcap-savefile(5)), written little-endian:
 *   global header: magic 0xa1b2c3d4 (microsecond timestamps), version 2.4, thiszone 0, sigfigs 0,
 *                  snaplen, network = LINKTYPE_ETHERNET (1)
 *   record header: ts_sec, ts_usec, incl_len (captured, at most snaplen), orig_len (on the wire)
 * Classic pcap has no direction field: both directions go into one file in the order they crossed
 * the link (outgoing when `send` is called, incoming before the receiver sees the frame).
 *
 * No npm dependency: no maintained npm package writes pcap files. `pcap` (node_pcap) binds the
 * native libpcap for live capture and decoding (Node only), `pcap-parser` only reads; the format is
 * these few lines, and `tcpdump -r` / `tshark -r` validate it (test/integration/pcap.test.ts).
 *
 * Where it sits decides what it sees: PcapLink(FaultLink(link)) records what the stack sent and
 * what reached it after the faults; FaultLink(PcapLink(link)) records the wire before them.
 *
 * Browser-safe: nothing from Node. Who calls it: tests, the CLI, users who want a capture.
 */

import { RealClock, type Clock } from '../clock.js';
import type { Link } from './link.js';

export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
export const PCAP_VERSION_MAJOR = 2;
export const PCAP_VERSION_MINOR = 4;
export const LINKTYPE_ETHERNET = 1;
export const PCAP_GLOBAL_HEADER_LENGTH = 24;
export const PCAP_RECORD_HEADER_LENGTH = 16;
/** tcpdump's default snapshot length since 4.0 */
export const PCAP_DEFAULT_SNAPLEN = 262144;

/** Receives the file's bytes in order; each chunk is the sink's to keep. */
export type PcapSink = (chunk: Uint8Array) => void;

export interface PcapWriterOptions {
  /** bytes kept of each frame (default 262144); longer frames are cut, their orig_len stays whole */
  snaplen?: number;
  /** link type written in the global header (default LINKTYPE_ETHERNET) */
  linktype?: number;
}

/**
 * The format alone: writes the global header on creation and a record per `write()`. Use it to
 * capture from anything that sees frames (MemoryLink.onTap, a test harness).
 */
export class PcapWriter {
  readonly snaplen: number;
  readonly linktype: number;
  /** records written */
  records = 0;
  /** bytes handed to the sink, global header included */
  bytes = 0;
  readonly #sink: PcapSink;

  constructor(sink: PcapSink, opts: PcapWriterOptions = {}) {
    if (typeof sink !== 'function') throw new TypeError('PcapWriter: sink must be a function receiving Uint8Array chunks');
    const snaplen = opts.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x7fffffff) {
      throw new RangeError(`PcapWriter: snaplen must be an integer from 1 to 2147483647, got ${String(snaplen)}`);
    }
    const linktype = opts.linktype ?? LINKTYPE_ETHERNET;
    if (!Number.isInteger(linktype) || linktype < 0 || linktype > 0xffff) {
      throw new RangeError(`PcapWriter: linktype must be an integer from 0 to 65535, got ${String(linktype)}`);
    }
    this.snaplen = snaplen;
    this.linktype = linktype;
    this.#sink = sink;
    const h = new Uint8Array(PCAP_GLOBAL_HEADER_LENGTH);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, PCAP_MAGIC_MICROSECONDS, true);
    dv.setUint16(4, PCAP_VERSION_MAJOR, true);
    dv.setUint16(6, PCAP_VERSION_MINOR, true);
    dv.setInt32(8, 0, true); // thiszone: timestamps are UTC
    dv.setUint32(12, 0, true); // sigfigs: always 0
    dv.setUint32(16, snaplen, true);
    dv.setUint32(20, linktype, true);
    this.#emit(h);
  }

  /** Record one frame seen at `timeMs` (milliseconds since 1970, fractional). */
  write(frame: Uint8Array, timeMs: number): void {
    if (!Number.isFinite(timeMs) || timeMs < 0) throw new RangeError(`PcapWriter: timeMs must be a finite number >= 0, got ${timeMs}`);
    const incl = Math.min(frame.length, this.snaplen);
    const rec = new Uint8Array(PCAP_RECORD_HEADER_LENGTH + incl);
    const dv = new DataView(rec.buffer);
    const totalUs = Math.round(timeMs * 1000);
    const sec = Math.floor(totalUs / 1_000_000);
    const usec = totalUs - sec * 1_000_000;
    dv.setUint32(0, sec >>> 0, true); // wraps in 2106, as every classic pcap does
    dv.setUint32(4, usec, true);
    dv.setUint32(8, incl, true);
    dv.setUint32(12, frame.length, true);
    rec.set(incl === frame.length ? frame : frame.subarray(0, incl), PCAP_RECORD_HEADER_LENGTH);
    this.records++;
    this.#emit(rec);
  }

  #emit(chunk: Uint8Array): void {
    this.bytes += chunk.length;
    this.#sink(chunk);
  }
}

export type PcapDirection = 'both' | 'out' | 'in';

export interface PcapLinkOptions extends PcapWriterOptions {
  /** timestamps (default a RealClock) */
  clock?: Clock;
  /** milliseconds since 1970 that clock time 0 stands for (default: see the file header) */
  epoch?: number;
  /** which frames to record: 'out' (sent through this link), 'in' (received), or 'both' (default) */
  direction?: PcapDirection;
}

/** A Link that writes every frame crossing it to a pcap sink and otherwise changes nothing. */
export class PcapLink implements Link {
  readonly inner: Link;
  readonly writer: PcapWriter;
  readonly clock: Clock;
  readonly epoch: number;
  readonly direction: PcapDirection;
  #handler: ((frame: Uint8Array) => void) | null = null;
  #closed = false;

  constructor(inner: Link, sink: PcapSink, opts: PcapLinkOptions = {}) {
    if (inner === null || typeof inner !== 'object' || typeof inner.send !== 'function' || typeof inner.onReceive !== 'function') {
      throw new TypeError('PcapLink: inner must be a Link (send, onReceive, close, mtu)');
    }
    const clock = opts.clock ?? new RealClock();
    const epoch = opts.epoch ?? (clock instanceof RealClock ? performance.timeOrigin : 0);
    if (!Number.isFinite(epoch) || epoch < 0) throw new RangeError(`PcapLink: epoch must be a finite number >= 0 (ms since 1970), got ${epoch}`);
    const direction = opts.direction ?? 'both';
    if (direction !== 'both' && direction !== 'out' && direction !== 'in') {
      throw new RangeError(`PcapLink: direction must be 'both', 'out' or 'in', got ${String(direction)}`);
    }
    this.inner = inner;
    this.clock = clock;
    this.epoch = epoch;
    this.direction = direction;
    this.writer = new PcapWriter(sink, opts);
  }

  get mtu(): number {
    return this.inner.mtu;
  }

  /** frames recorded */
  get records(): number {
    return this.writer.records;
  }

  send(frame: Uint8Array): void {
    if (this.#closed) return;
    if (this.direction !== 'in') this.#record(frame);
    this.inner.send(frame);
  }

  onReceive(handler: ((frame: Uint8Array) => void) | null): void {
    this.#handler = handler;
    this.inner.onReceive(handler ? (frame) => this.#receive(frame) : null);
  }

  close(): void | Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handler = null;
    return this.inner.close();
  }

  #receive(frame: Uint8Array): void {
    const h = this.#handler;
    if (this.#closed || !h) return;
    if (this.direction !== 'out') this.#record(frame);
    h(frame);
  }

  #record(frame: Uint8Array): void {
    this.writer.write(frame, Math.max(0, this.epoch + this.clock.now()));
  }
}
