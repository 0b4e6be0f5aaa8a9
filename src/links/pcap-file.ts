/**
 * Node only: pcap captures into a file. The format and the Link wrapper are browser-safe in
 * src/links/pcap.ts; this file adds the file system.
 *
 *   const cap = capturePcapFile(inner, '/tmp/run.pcap', { clock });
 *   new Stack({ link: cap.link, clock, ... });
 *   ...
 *   cap.file.close();            // or await cap.link.close(): closes the inner link and the file
 *
 * Writes are synchronous and buffered: chunks collect in memory and go to the file with
 * fs.writeSync when 64 KiB have gathered, on `flush()` and on `close()`. Synchronous writes keep
 * the file complete whenever control returns to the caller after a flush (a test can run tshark
 * on it at once) and never reorder chunks.
 */

import { closeSync, openSync, writeSync } from 'node:fs';
import type { Link } from './link.js';
import { PcapLink, type PcapLinkOptions, type PcapSink } from './pcap.js';

export interface PcapFileOptions {
  /** append to an existing file instead of truncating it (default false). Appending a second
   * global header makes a file that readers refuse: use it only for a file without one. */
  append?: boolean;
  /** bytes gathered before a write (default 65536; 0 writes every chunk at once) */
  bufferBytes?: number;
}

/** A pcap sink writing to a file. */
export class PcapFileWriter {
  readonly path: string;
  /** bytes written to the file so far */
  bytesWritten = 0;
  readonly #limit: number;
  #fd: number | undefined;
  #chunks: Uint8Array[] = [];
  #buffered = 0;

  constructor(path: string, opts: PcapFileOptions = {}) {
    if (typeof path !== 'string' || path === '') throw new TypeError('PcapFileWriter: path must be a non-empty string');
    const limit = opts.bufferBytes ?? 65536;
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`PcapFileWriter: bufferBytes must be an integer >= 0, got ${String(limit)}`);
    this.path = path;
    this.#limit = limit;
    this.#fd = openSync(path, opts.append ? 'a' : 'w');
  }

  get closed(): boolean {
    return this.#fd === undefined;
  }

  /** The sink to give PcapLink / PcapWriter (bound). */
  readonly sink: PcapSink = (chunk: Uint8Array): void => {
    if (this.#fd === undefined) throw new Error(`PcapFileWriter: ${this.path} is closed`);
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered > this.#limit) this.flush();
  };

  /** Write everything gathered to the file now. */
  flush(): void {
    const fd = this.#fd;
    if (fd === undefined || this.#chunks.length === 0) return;
    const all = this.#chunks.length === 1 ? (this.#chunks[0] as Uint8Array) : concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    let off = 0;
    while (off < all.length) off += writeSync(fd, all, off, all.length - off);
    this.bytesWritten += all.length;
  }

  /** Flush and close the file. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    try {
      this.flush();
    } finally {
      closeSync(this.#fd);
      this.#fd = undefined;
    }
  }
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A PcapLink around `inner` writing to `path`; closing the link also closes the file. */
export function capturePcapFile(
  inner: Link,
  path: string,
  opts: PcapLinkOptions & PcapFileOptions = {},
): { link: PcapLink; file: PcapFileWriter } {
  const { append, bufferBytes, ...linkOpts } = opts;
  const file = new PcapFileWriter(path, {
    ...(append !== undefined ? { append } : {}),
    ...(bufferBytes !== undefined ? { bufferBytes } : {}),
  });
  let link: PcapLink;
  try {
    link = new PcapLink(inner, file.sink, linkOpts);
  } catch (e) {
    file.close();
    throw e;
  }
  const closeInner = link.close.bind(link);
  link.close = (): void | Promise<void> => {
    try {
      return closeInner();
    } finally {
      file.close();
    }
  };
  return { link, file };
}
